"""The server on PostgreSQL (real sockets, a real throwaway cluster): `hubbub serve --store`
refuses to start in one line when PostgreSQL is unreachable; history, accounts and registered
channels live in PostgreSQL across a server restart; PostgreSQL stopped and started under a
running server refuses new messages and fails history reads meanwhile, and loses none of the
messages that were echoed."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.config import Config
from hubbub.history.postgres import PostgresStore
from support.config import server_config
from support.irc_client import IrcClient, clients
from support.postgres_server import PostgresServer, find_bindir, shared_server
from support.servers import ThreadedServer, free_port

PASSWORD = "postgres-pass-123"
FAST = {"hash_time_cost": 1, "hash_memory_kib": 64}
CAPS = ["echo-message", "message-tags", "server-time", "batch", "draft/chathistory"]
# Long enough for PostgreSQL to come back and the writer's back-off (at most 5 s) to retry.
DEADLINE = 60.0


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    shared_server()  # skips (or fails under HUBBUB_REQUIRE_E2E=1) without PostgreSQL
    with PostgresServer(find_bindir()) as server:
        yield server


def config_for(tmp_path: Path, url: str) -> Config:
    return server_config(
        tmp_path / "data",
        history={"backend": "postgres", "url": url, "commit_interval_ms": 5},
        accounts=FAST,
    )


def test_serve_with_postgres_unreachable_says_so_in_one_line(tmp_path: Path) -> None:
    url = f"postgresql://hubbub@127.0.0.1:{free_port()}/hubbub"
    done = subprocess.run(
        [sys.executable, "-m", "hubbub", "serve", "--store", url, "--port", "0", "--no-web"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one clear line, no traceback
    assert "cannot start" in lines[0] and url in lines[0]
    assert "cannot connect to PostgreSQL" in lines[0]


def test_history_accounts_and_channels_live_in_postgres(tmp_path: Path) -> None:
    url = shared_server().new_schema_url()
    with ThreadedServer(config_for(tmp_path, url)) as server:
        alice = IrcClient(server.address)
        with clients(alice):
            alice.register("alice", caps=CAPS)
            alice.send(f"REGISTER * * {PASSWORD}")
            alice.expect("900")
            alice.join("#kept")
            alice.send("PRIVMSG ChanServ :REGISTER #kept", "TOPIC #kept :kept in postgres")
            alice.until(lambda x: x.command == "NOTICE" and "now registered" in x.text)
            for n in range(3):
                alice.send(f"PRIVMSG #kept :message {n}")
            alice.fence()
    # A new server (and a new data directory: nothing comes from the SQLite file).
    with ThreadedServer(config_for(tmp_path / "second", url)) as server:
        bob, alice = IrcClient(server.address), IrcClient(server.address)
        with clients(bob, alice):
            bob.register("bob", caps=["batch", "server-time"])  # replayed on join
            replay = bob.join("#kept") + bob.fence()  # the replay follows NAMES
            texts = [x.text for x in replay if x.command == "PRIVMSG"]
            assert texts == ["message 0", "message 1", "message 2"]
            assert any(x.command == "332" and x.text == "kept in postgres" for x in replay)
            alice.register("alice2")
            alice.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
            alice.expect("900")


def send_until(client: IrcClient, text: str, want: str) -> list[str]:
    """Send `text` until the answer is `want` (PRIVMSG: echoed, FAIL: refused); the msgids of
    the messages echoed on the way."""
    echoed: list[str] = []
    deadline = time.monotonic() + DEADLINE
    while True:
        assert time.monotonic() < deadline, f"never answered {want}"
        client.send(f"PRIVMSG #room :{text} {len(echoed)}")
        line = client.until(lambda x: x.command in ("PRIVMSG", "FAIL"))[-1]
        if line.command == "PRIVMSG":
            echoed.append(line.tags["msgid"])
        else:
            assert line.params[:3] == ["PRIVMSG", "TEMPORARILY_UNAVAILABLE", "#room"]
        if line.command == want:
            return echoed
        time.sleep(0.05)  # a pause between attempts, not a synchronisation


def refused_at_last(client: IrcClient, target: str) -> None:
    """Send to `target` (the client asked for no echo: nothing acknowledges what is accepted)
    until a message is refused; a fence after each tells accepted (nothing) from refused."""
    deadline = time.monotonic() + DEADLINE
    for count in itertools.count():
        assert time.monotonic() < deadline, "never refused"
        client.send(f"PRIVMSG {target} :during {count}")
        failed = [x for x in client.fence() if x.command == "FAIL"]
        if failed:
            assert failed[0].params[:3] == ["PRIVMSG", "TEMPORARILY_UNAVAILABLE", target]
            return
        time.sleep(0.05)  # a pause between attempts, not a synchronisation


def test_postgres_restarted_under_the_server_loses_nothing_echoed(
    tmp_path: Path, own_server: PostgresServer
) -> None:
    """An echo is written only once its message is committed (the sender's output waits for
    it), so the outage is found by a sender that is acknowledged nothing (bob: no
    echo-message, another room); what it sent before the writer knew is kept and stored once
    PostgreSQL is back. Then everybody is refused, reads fail, and everything echoed is stored."""
    with ThreadedServer(config_for(tmp_path, own_server.url)) as server:
        alice = IrcClient(server.address)
        bob = IrcClient(server.address)
        with clients(alice, bob):
            alice.register("alice", caps=CAPS)
            bob.register("bob", caps=[cap for cap in CAPS if cap != "echo-message"])
            alice.join("#room")
            bob.join("#other")
            echoed = send_until(alice, "before", "PRIVMSG")
            own_server.stop()
            refused_at_last(bob, "#other")  # once the writer knows
            assert send_until(alice, "refused", "FAIL") == []  # refused as well, not held
            # Reads fail clearly (chathistory spec: "If no message history can be returned due
            # to an error, the MESSAGE_ERROR error code SHOULD be returned").
            alice.send("CHATHISTORY LATEST #room * 100")
            failed = alice.until(lambda x: x.command in ("FAIL", "BATCH"))[-1]
            assert failed.command == "FAIL", failed.raw
            assert failed.params[:4] == ["CHATHISTORY", "MESSAGE_ERROR", "LATEST", "#room"]
            own_server.start()
            echoed += send_until(alice, "after", "PRIVMSG")  # accepted again once it caught up
            alice.send("CHATHISTORY LATEST #room * 100")
            batch = alice.until(lambda x: x.command == "BATCH" and x.params[0].startswith("-"))
            replayed = [x.tags["msgid"] for x in batch if x.command == "PRIVMSG"]
            assert [msgid for msgid in replayed if msgid in echoed] == echoed
    reader = PostgresStore(own_server.url)
    stored = [r.msgid for r in reader.latest("#room", 1000)]
    kept = reader.latest("#other", 1000)
    reader.close()
    assert stored == echoed  # every echoed message, once, in order
    # What bob sent before the writer knew of the outage was kept, then stored.
    assert kept and kept[0].params[1] == "during 0"
