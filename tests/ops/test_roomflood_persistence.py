"""+f on a registered channel survives a restart; a registry written before +f is upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hubbub.registry.model import RegisteredChannel
from hubbub.registry.sqlite import SCHEMA_VERSION, SqliteRegistryStore
from support.config import server_config
from support.irc_client import IrcClient, clients
from support.servers import ThreadedServer

FAST = {"hash_time_cost": 1, "hash_memory_kib": 64}
PASSWORD = "correct-horse-battery"


def test_a_registered_channel_keeps_its_flood_limit_across_a_restart(tmp_path: Path) -> None:
    config = server_config(tmp_path / "data", accounts=FAST)
    with ThreadedServer(config) as server:
        alice = IrcClient(server.address)
        with clients(alice):
            alice.register("alice")
            alice.send(f"REGISTER * * {PASSWORD}")
            alice.expect("900")
            alice.join("#keep")
            alice.send("PRIVMSG ChanServ :REGISTER #keep")
            alice.until(lambda x: x.command == "NOTICE" and "now registered" in x.text)
            alice.send("MODE #keep +f 4:30")
            alice.expect("MODE")
            alice.fence()
    with ThreadedServer(config) as server:
        bob = IrcClient(server.address)
        with clients(bob):
            bob.register("bob")
            bob.join("#keep")
            bob.send("MODE #keep")
            mode = bob.expect("324")[-1]
            assert "f" in mode.params[2]
            assert "4:30" in mode.params[3:]


def test_a_version_1_registry_gains_the_flood_column(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE hubbub_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
        INSERT INTO hubbub_schema VALUES ('registry', 1);
        CREATE TABLE channels (
            fold TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL,
            registered_ms INTEGER NOT NULL, created INTEGER NOT NULL, ops TEXT NOT NULL,
            topic TEXT NOT NULL, topic_setter TEXT NOT NULL, topic_time INTEGER NOT NULL,
            flags TEXT NOT NULL, chan_key TEXT NOT NULL, chan_limit INTEGER NOT NULL,
            bans TEXT NOT NULL, history_access TEXT NOT NULL
        );
        INSERT INTO channels VALUES ('#old', '#old', 'alice', 1, 1, '[]', '', '', 0, 'nt', '',
            0, '[]', 'everyone');
        CREATE TABLE server_bans (
            seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, mask TEXT NOT NULL,
            reason TEXT NOT NULL, setter TEXT NOT NULL, set_ms INTEGER NOT NULL,
            expires_ms INTEGER NOT NULL, UNIQUE (kind, mask)
        );
        """
    )
    db.commit()
    db.close()
    store = SqliteRegistryStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 4  # (every upgrade since, in turn)
        old = store.get_channel("#old")
        assert old is not None and old.flood == "" and old.state_version == (0, 0)
        store.create_channel(RegisteredChannel("#new", "#new", "bob", 2, flood="5:10"))
        new = store.get_channel("#new")
        assert new is not None and new.flood == "5:10"
    finally:
        store.close()
