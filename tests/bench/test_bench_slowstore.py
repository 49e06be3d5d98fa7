"""`python -m hubbub.bench.slowstore`: the real server with a history store slowed per write."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hubbub import engines
from hubbub.bench.slowstore import ENGINES, SlowStore, main, slowed
from hubbub.engines.server import EngineServer
from hubbub.history.memory import MemoryStore
from hubbub.history.record import Record
from support.config import server_config
from support.irc_client import IrcClient, clients
from support.servers import START_WAIT, free_port
from support.waiting import wait_for


def record(number: int) -> Record:
    return Record(
        target="#room",
        msgid=f"m{number}",
        time_ms=1000 + number,
        source="alice!~alice@127.0.0.1",
        command="PRIVMSG",
        params=("#room", f"line {number}"),
    )


def test_every_append_waits_first_and_everything_else_is_the_inner_store() -> None:
    slept: list[float] = []
    inner = MemoryStore()
    store = SlowStore(inner, 0.05, sleep=slept.append)
    store.append([record(1), record(2)])
    store.append([record(3)])
    assert slept == [0.05, 0.05]
    assert store.appends == 2
    store.commit()
    assert [r.msgid for r in store.latest("#room", 10)] == ["m1", "m2", "m3"]


def test_slowed_wraps_what_the_app_opens() -> None:
    class Opener:
        def open_history_store(self) -> MemoryStore:
            return MemoryStore()

    opened = slowed(Opener, 0.25)().open_history_store()
    assert isinstance(opened, SlowStore)
    assert opened.delay == 0.25
    assert isinstance(opened.inner, MemoryStore)


def test_slowed_wraps_what_an_engine_server_opens(tmp_path: Path) -> None:
    """The threads, select and hybrid engines open their store in `EngineServer`: the wrapper
    subclasses their server class the same way, and `engines.run` takes the subclass."""
    config = server_config(tmp_path, history={"backend": "memory"})
    for name in engines.RUNNERS:
        slow_class = slowed(engines.server_class_of(name), 0.25)
        assert issubclass(slow_class, EngineServer)
        opened = slow_class(config).open_history_store()
        assert isinstance(opened, SlowStore)
        assert isinstance(opened.inner, MemoryStore)


def test_every_engine_is_offered_and_an_unknown_one_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert set(ENGINES) == {"asyncio", "twisted", *engines.RUNNERS}
    assert main(["--engine", "nonesuch"]) == 2
    assert "not supported" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ENGINES)
def test_the_slowed_server_chats_and_keeps_its_history(tmp_path: Path, engine: str) -> None:
    port = free_port()
    data = tmp_path / "data"
    config = tmp_path / "hubbub.toml"
    config.write_text('[flood]\nenabled = false\n[listen]\nhosts = ["127.0.0.1"]\n')
    command = [sys.executable, "-m", "hubbub.bench.slowstore", "--write-delay-ms", "50"]
    command += ["--engine", engine, "--config", str(config), "--port", str(port)]
    command += ["--data-dir", str(data), "--no-web"]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def accepting() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the server exited: {process.communicate()[1]}")
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
            except OSError:
                return False
            return True

        wait_for(accepting, START_WAIT, "the slowed server to listen")
        alice, bob = IrcClient(("127.0.0.1", port)), IrcClient(("127.0.0.1", port))
        with clients(alice, bob):
            alice.register("alice")
            bob.register("bob")
            alice.join("#slow")
            bob.join("#slow")
            texts = [f"slow {i}" for i in range(30)]
            alice.say("#slow", *texts)
            got = bob.until(lambda x: x.command == "PRIVMSG" and x.text == texts[-1])
            assert [x.text for x in got if x.command == "PRIVMSG"] == texts
            os.kill(process.pid, signal.SIGTERM)
            bob.until_closed()
        _, errors = process.communicate(timeout=START_WAIT)
        assert process.returncode == 0, errors
        assert "history store slowed: 50 ms before every write" in errors
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(START_WAIT)
    database = sqlite3.connect(data / "history.sqlite3")
    try:
        stored = [params for (params,) in database.execute("SELECT params FROM records")]
    finally:
        database.close()
    for text in texts:
        assert any(text in params for params in stored), text
