"""Part 2 of accounts end to end (real core, SQLite, sockets): a registered channel survives a
restart; K-lines and D-lines refuse connections and expire in real time; REHASH re-reads the
config file; SIGHUP does the same in a child process; no operator password reaches a DEBUG log."""

from __future__ import annotations

import dataclasses
import logging
import signal
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from hubbub.config import Config, Operator
from hubbub.config.loader import load_config
from support.config import server_config, write_config
from support.irc_client import IrcClient, Line, clients
from support.servers import ServerProcess, ThreadedServer
from support.waiting import wait_for

PASSWORD = "persist-pass-123"
OPER_PASSWORD = "oper-pass-456"
FAST = {"hash_time_cost": 1, "hash_memory_kib": 64}


def fast_hash(password: str) -> str:
    return PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(password)


def config_for(data: Path, **operators: str) -> Config:
    config = server_config(data, accounts=FAST)
    found = tuple(Operator(name, fast_hash(pw)) for name, pw in operators.items())
    return dataclasses.replace(config, operators=found)


def notice_with(text: str) -> object:
    return lambda x: x.command == "NOTICE" and text in x.text


def admitted(address: tuple[str, int], nick: str) -> bool:
    """Whether a fresh connection gets through registration (no K-line or D-line in force)."""
    client = IrcClient(address)
    with clients(client):
        try:
            return any(x.command == "001" for x in client.register(nick))
        except (EOFError, TimeoutError):
            return False


def login(client: IrcClient, nick: str, account: str | None = None) -> None:
    client.register(nick)
    client.send(f"PRIVMSG NickServ :IDENTIFY {account or nick} {PASSWORD}")
    client.expect("900")


def test_registered_channel_survives_a_restart(engine: str, tmp_path: Path) -> None:
    config = config_for(tmp_path / "data")
    with ThreadedServer(config, engine=engine) as server:
        alice = IrcClient(server.address)
        with clients(alice):
            alice.register("alice")
            alice.send(f"REGISTER * * {PASSWORD}")
            alice.expect("900")
            alice.join("#keep")
            alice.send(
                "TOPIC #keep :Kept across restarts",
                "MODE #keep +kmt sekrit",
                "MODE #keep +b *!*@banned.example",
                "PRIVMSG ChanServ :REGISTER #keep",
            )
            alice.until(notice_with("now registered"))
            alice.send("MODE #keep +l 42")  # a change after registering is saved too
            alice.expect("MODE")
    with ThreadedServer(config, engine=engine) as server:  # the same data directory: a restart
        bob, alice = IrcClient(server.address), IrcClient(server.address)
        with clients(bob, alice):
            bob.register("bob")
            bob.send("LIST #keep")
            listed = [x for x in bob.expect("323") if x.command == "322"]
            assert [x.params[1:] for x in listed] == [["#keep", "0", "Kept across restarts"]]
            bob.send("JOIN #keep")
            assert bob.expect("475")[-1].params[1] == "#keep"  # +k survived
            login(alice, "alice")
            lines = alice.join("#keep")  # the owner: no key needed, opped
            assert next(x for x in lines if x.command == "332").text == "Kept across restarts"
            assert "@alice" in next(x for x in lines if x.command == "353").text
            alice.send("MODE #keep", "MODE #keep b")
            mode = alice.expect("324")[-1]
            assert mode.params[2:] == ["+klmnt", "sekrit", "42"]
            assert alice.expect("367")[-1].params[2] == "*!*@banned.example"


def test_klines_and_dlines_refuse_and_expire(engine: str, tmp_path: Path) -> None:
    config = config_for(tmp_path / "data", root=OPER_PASSWORD)
    with ThreadedServer(config, engine=engine) as server:
        op, victim = IrcClient(server.address), IrcClient(server.address)
        with clients(op, victim):
            op.register("op")
            op.send(f"OPER root {OPER_PASSWORD}")
            op.expect("381")
            victim.register("victim")
            op.send("KLINE 2s *@127.0.0.1 :cool off")
            op.until(notice_with("K-line added"))
            closing = victim.until_closed()
            assert any(x.command == "465" for x in closing)
            refused = IrcClient(server.address)
            with clients(refused):
                refused.send("NICK late", "USER late 0 * :Late")
                got = refused.until_closed()
                assert got[0].command == "465" and got[-1].command == "ERROR"
            # The K-line expires after 2 s, on the sweep that follows (about once a second).
            wait_for(lambda: admitted(server.address, "again"), 10, "the K-line to expire")
            op.send("DLINE 2s 127.0.0.1 :no more")
            op.until(notice_with("D-line added"))
            dlined = IrcClient(server.address)
            with clients(dlined):
                got = dlined.until_closed()
                assert [x.command for x in got] == ["ERROR"] and "D-lined: no more" in got[0].text
            op.send("KLINE *@192.0.2.99 :permanent")  # kept across the restart below
            op.until(notice_with("K-line added"))
            wait_for(lambda: admitted(server.address, "fine"), 10, "the D-line to expire")
    with ThreadedServer(config, engine=engine) as server:
        op = IrcClient(server.address)
        with clients(op):
            op.register("op")
            op.send(f"OPER root {OPER_PASSWORD}")
            op.expect("381")  # OPER is answered once the hash is checked off the loop
            op.send("STATS k", "STATS d")
            lines = op.expect("219") + op.expect("219")
            assert [x.params[1:3] for x in lines if x.command == "216"] == [["K", "*@192.0.2.99"]]
            assert not [x for x in lines if x.command == "225"]  # the D-line expired


def operators_toml(**operators: str) -> str:
    return "".join(
        f'\n[[operators]]\nname = "{name}"\npassword = "{fast_hash(pw)}"\n'
        for name, pw in operators.items()
    )


def test_rehash_reads_the_config_file_again(
    engine: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hubbub")
    data = tmp_path / "data"
    path = tmp_path / "hubbub.toml"
    base = "\n[web]\nenabled = false\n[accounts]\nhash_time_cost = 1\nhash_memory_kib = 64\n"
    write_config(path, data, base)
    path.write_text(path.read_text().replace("[server]\n", '[server]\nmotd = "old motd"\n')
                    + operators_toml(root=OPER_PASSWORD))  # fmt: skip
    # The App re-reads the file on REHASH, as `hubbub serve` does.
    with ThreadedServer(
        load_config(path), reload=lambda: load_config(path), engine=engine
    ) as server:
        op, newbie = IrcClient(server.address), IrcClient(server.address)
        with clients(op, newbie):
            assert any("old motd" in x.text for x in op.register("op"))
            op.send("OPER root wrong-oper-guess")
            op.expect("464")
            op.send(f"OPER root {OPER_PASSWORD}")
            op.expect("381")
            newbie.register("newbie")
            newbie.send("OPER newbie newbie-pass-789")
            newbie.expect("464")
            path.write_text(
                path.read_text().replace("old motd", "new motd")
                + operators_toml(newbie="newbie-pass-789")
            )
            op.send("REHASH")
            op.expect("382")
            op.until(notice_with("REHASH done"))
            newbie.send("MOTD")
            assert any("new motd" in x.text for x in newbie.expect("376"))
            newbie.send("OPER newbie newbie-pass-789")
            newbie.expect("381")
            newbie.send("WALLOPS :hello opers")
            wallops = op.expect("WALLOPS")[-1]
            assert wallops.text == "hello opers" and wallops.nick == "newbie"
            op.send("KILL newbie :bye now")
            newbie.until_closed()
    text = caplog.text
    assert "OPER root ***" in text  # DEBUG was on, and the line was masked
    assert "oper root KILLed newbie (bye now)" in text
    for secret in (OPER_PASSWORD, "wrong-oper-guess", "newbie-pass-789"):
        assert secret not in text


def test_sighup_rehashes_a_running_server(engine: str, tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "hubbub.toml",
        tmp_path / "data",
        "\n[web]\nenabled = false\n" if "web" in Config.__dataclass_fields__ else "",
    )
    path.write_text(path.read_text().replace("[server]\n", '[server]\nmotd = "before"\n'))
    with ServerProcess(path, engine=engine) as server:
        client = IrcClient(server.address)
        with clients(client):
            assert any("before" in x.text for x in client.register("watcher"))
            path.write_text(path.read_text().replace('"before"', '"after the HUP"'))
            assert server.proc is not None
            server.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "configuration reloaded" in server.text, 10, "the reload")
            client.send("MOTD")
            lines: list[Line] = client.expect("376")
            assert any("after the HUP" in x.text for x in lines)
        assert server.terminate() == 0
