"""Storage errors never lose an acknowledged message (issue 11, item 9).

Before: with the disk full, 3,000 PRIVMSGs were echoed and 80 stored, with 395 tracebacks in
the log; with a read-only database file the server started and stored nothing. Now the server
refuses to start on a store it cannot write, keeps and retries what it accepted when writes
fail, logs one line per incident, and refuses new messages (FAIL … TEMPORARILY_UNAVAILABLE)
until the store recovers.

Tests run as root here, and root ignores permission bits. So "read-only" is made with what
stops root too: the immutable attribute (`chattr +i`) on the file or the directory, or, for a
full disk, a small tmpfs mounted for the test. Each skips with its reason where the machine does
not allow it (not root, no chattr, mount not permitted); as another user, chmod does the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from history_helpers import rec

from hubbub.history.memory import MemoryStore
from hubbub.history.record import Record
from hubbub.history.sqlite import SqliteStore
from hubbub.history.store import StoreUnwritable
from hubbub.history.worker import HistoryWorker
from support.config import server_config, write_config
from support.irc_client import IrcClient, Line
from support.servers import ThreadedServer
from support.waiting import wait_for

DEADLINE = 20.0
#: Seconds between two looks at the writer's state while a client's echo is awaited.
POLL = 0.05


class FullDiskStore(MemoryStore):
    """A real store whose writes fail like SQLite's on a full disk while `full` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.full = threading.Event()
        self.attempts = 0

    def append(self, records: Sequence[Record]) -> None:
        if self.full.is_set():
            self.attempts += 1
            raise sqlite3.OperationalError("database or disk is full")
        super().append(records)


def started(store: MemoryStore, max_pending: int = 1000) -> HistoryWorker:
    worker = HistoryWorker(lambda: store, max_pending=max_pending, retry_first=0.01, retry_max=0.05)
    worker.start()
    return worker


# -- the worker ------------------------------------------------------------------------------


def test_a_full_disk_keeps_every_record_retries_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FullDiskStore()
    worker = started(store)
    store.full.set()
    with caplog.at_level(logging.INFO, logger="hubbub.history"):
        for n in range(100):
            assert worker.append(rec("#a", n))
        wait_for(lambda: worker.failing, what="the worker noticed the failure")
        assert not worker.available
        for n in range(100, 150):  # already accepted ones still come in: kept too
            worker.append(rec("#a", n))
        wait_for(lambda: store.attempts >= 3, what="retries")
        assert worker.flush(timeout=0.01) is False  # nothing is durable yet
        store.full.clear()
        assert worker.flush(timeout=DEADLINE)
    assert [r.msgid for r in store.latest("#a", 1000)] == [f"#a/{n}" for n in range(150)]
    assert worker.available and worker.pending == 0 and worker.incidents == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in errors] == ["history store failing"]
    assert all(r.exc_info is None for r in caplog.records)  # not one traceback
    recovered = [r.getMessage() for r in caplog.records if "recovered" in r.getMessage()]
    assert len(recovered) == 1 and recovered[0].endswith(", 150 records written")
    worker.stop()


def test_pending_records_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    store = FullDiskStore()
    store.full.set()
    worker = started(store, max_pending=10)
    with caplog.at_level(logging.WARNING, logger="hubbub.history"):
        accepted = [worker.append(rec("#a", n)) for n in range(15)]
    assert accepted == list(range(1, 11)) + [0] * 5  # each record's mark; 0: refused
    assert caplog.text.count("history writer behind: 10 records wait") == 1  # once
    assert worker.refused == 5 and worker.pending == 10 and not worker.available
    store.full.clear()
    assert worker.flush(timeout=DEADLINE)
    assert worker.pending == 0 and worker.available
    assert len(store.latest("#a", 100)) == 10
    worker.stop()


def test_stopping_while_the_store_fails_says_what_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FullDiskStore()
    worker = started(store)
    store.full.set()
    for n in range(7):
        worker.append(rec("#a", n))
    wait_for(lambda: worker.failing, what="the failure")
    with caplog.at_level(logging.ERROR, logger="hubbub.history"):
        worker.stop(timeout=DEADLINE)
    assert not worker.running
    assert "still failing at shutdown: 7 accepted records not stored" in caplog.text


# -- a real full disk --------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def grow(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def test_a_really_full_disk_loses_no_accepted_record(tmp_path: Path) -> None:
    """SQLite rolls the whole open transaction back on SQLITE_FULL: the worker must write the
    records it had appended before the failure again, not only the failing batch."""
    with tmpfs(tmp_path / "disk", "256k") as disk:
        worker = HistoryWorker(lambda: SqliteStore(disk / "h.db"), retry_first=0.01, retry_max=0.05)
        worker.start()
        accepted: list[Record] = []
        text = "x" * 900
        n = 0
        while not worker.failing:
            assert n < 10_000, "the disk never filled up"
            record = rec("#a", n, text=text)
            if worker.append(record):
                accepted.append(record)
            n += 1
            if n % 20 == 0:
                worker.flush(timeout=0.5)  # let the thread catch up: fill in commits
        assert not worker.available
        grow(disk, "16m")
        assert worker.flush(timeout=DEADLINE)
        worker.stop()
        reader = SqliteStore(disk / "h.db")
        stored = reader.latest("#a", 100_000)
        reader.close()
    assert [r.msgid for r in stored] == [r.msgid for r in accepted]


# -- start-up ----------------------------------------------------------------------------------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make `path` unwritable even for root (immutable attribute); chmod for other users."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"root ignores permissions and chattr +i failed here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def serve_once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubbub", "serve", "--config", str(config), "--no-web"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("what", ["file", "directory"])
def test_the_server_refuses_to_start_on_a_read_only_store(tmp_path: Path, what: str) -> None:
    data = tmp_path / "data"
    SqliteStore(data / "history.sqlite3").close()  # an existing, valid database
    config = write_config(tmp_path / "hubbub.toml", data)
    target = data / "history.sqlite3" if what == "file" else data
    with read_only(target):
        done = serve_once(config)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one clear line, no traceback
    assert "cannot start" in lines[0]
    assert "history.sqlite3: the history database cannot be written" in lines[0]


def test_a_read_only_store_is_refused_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteStore(path).close()
    with read_only(path), pytest.raises(StoreUnwritable, match="readonly"):
        SqliteStore(path)


def test_a_file_that_is_not_a_database_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(b"not a database, just some text that happens to be here" * 40)
    with pytest.raises(StoreUnwritable) as caught:
        SqliteStore(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


# -- the server: refused, never acknowledged and lost -----------------------------------------


def echo_or_failing(client: IrcClient, worker: HistoryWorker) -> Line | None:
    """The echo (or refusal) of the message `client` just sent, or None once the history
    writer is failing: the echo then waits for the commit, which waits for the disk."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if worker.failing:
            return None
        try:
            line = client.line(POLL)
        except TimeoutError:
            continue
        if line.command in ("PRIVMSG", "FAIL"):
            return line
    raise AssertionError("neither an echo nor a failing store")


def test_a_full_disk_refuses_messages_and_loses_none_that_were_echoed(tmp_path: Path) -> None:
    """With the disk full, the message whose commit failed is kept and its echo waits for the
    disk (an echo is written only once its message is committed); other senders get FAIL
    PRIVMSG TEMPORARILY_UNAVAILABLE. Once there is room again, the held echo comes, and every
    message that was echoed is in the history."""
    with tmpfs(tmp_path / "disk", "1m") as disk:
        config = server_config(disk / "data", history={"commit_interval_ms": 5})
        with ThreadedServer(config) as server:
            assert server.app is not None and server.app.worker is not None
            worker = server.app.worker
            alice = IrcClient(server.address)
            alice.register("alice", caps=["echo-message", "message-tags", "server-time"])
            alice.join("#room")
            bob = IrcClient(server.address)  # no echo: acknowledged nothing, never held
            bob.register("bob")
            bob.join("#room")
            echoed: list[str] = []
            text = "y" * 400
            line: Line | None = None
            for n in range(20_000):
                alice.send(f"PRIVMSG #room :{n} {text}")
                line = echo_or_failing(alice, worker)
                if line is None:
                    break
                assert line.command == "PRIVMSG", line.raw
                echoed.append(line.tags["msgid"])
            assert line is None, "the disk never filled up"
            bob.send("PRIVMSG #room :refused")
            failed = bob.first(lambda x: x.command == "FAIL")
            assert failed.params[:3] == ["PRIVMSG", "TEMPORARILY_UNAVAILABLE", "#room"]
            grow(disk, "64m")
            # The kept message is committed by the first retry that succeeds: its echo comes.
            held = alice.first(lambda x: x.command == "PRIVMSG", DEADLINE, "the held echo")
            echoed.append(held.tags["msgid"])
            # Refused until the retry succeeds (within RETRY_MAX): then echoed again.
            deadline = time.monotonic() + DEADLINE
            while True:
                assert time.monotonic() < deadline, "the store never recovered"
                alice.send("PRIVMSG #room :after")
                line = alice.until(lambda x: x.command in ("PRIVMSG", "FAIL"))[-1]
                if line.command == "PRIVMSG":
                    echoed.append(line.tags["msgid"])
                    break
                time.sleep(0.05)  # a pause between attempts, not a synchronisation
            alice.close()
            bob.close()
        reader = SqliteStore(disk / "data" / "history.sqlite3")
        stored = {r.msgid for r in reader.latest("#room", 100_000)}
        reader.close()
    assert len(echoed) > 10
    missing = [msgid for msgid in echoed if msgid not in stored]
    assert missing == []
