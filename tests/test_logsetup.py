"""The console log: written by a listener thread while a server runs, bounded, drained at exit.

The loop must never write a log line itself (issue 9: at INFO, every room message is logged, and
a synchronous write per message cost ~40 % of fan-out). These tests watch which thread writes,
block the writer to pile records up, and check nothing queued is lost at shutdown.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub import logsetup
from support.config import server_config, write_config
from support.irc_client import IrcClient
from support.servers import ServerProcess, ThreadedServer
from support.waiting import wait_for

DEADLINE = 10.0


class Console:
    """Stands in for sys.stderr: remembers each write and the thread that made it; `hold`
    makes the next write wait (inside the writer) until `release`."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []
        self._gate = threading.Event()
        self._gate.set()
        self.blocked = threading.Event()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        if not self._gate.is_set():
            self.blocked.set()
            self._gate.wait(DEADLINE)
        with self._lock:
            self.writes.append((text, threading.current_thread().name))
        return len(text)

    def flush(self) -> None:
        pass

    def hold(self) -> None:
        self.blocked.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(text for text, _ in self.writes)

    def writer_of(self, fragment: str) -> str:
        with self._lock:
            (thread,) = [name for text, name in self.writes if fragment in text]
        return thread


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    """hubbub's console handler at INFO, writing into a `Console`; removed again afterwards."""
    stream = Console()
    # Not sys.stderr itself: pytest's capture sets that again when each test phase begins.
    redirected = property(lambda writer: stream, lambda writer, value: None)
    monkeypatch.setattr(logsetup._StderrWriter, "stream", redirected)
    root = logging.getLogger()
    hubbub_logger = logging.getLogger("hubbub")
    levels = root.level, hubbub_logger.level
    logsetup.configure("INFO")
    yield stream
    stream.release()
    while logsetup._users:
        logsetup.stop_queue()
    root.removeHandler(logsetup._console())
    root.setLevel(levels[0])
    hubbub_logger.setLevel(levels[1])


def test_a_room_message_is_logged_by_the_log_thread_not_the_loop(
    console: Console, tmp_path: Path
) -> None:
    """The INFO line per room message stays (a feature), written off the event loop; the
    lines logged during shutdown are all written before the server's stop returns."""
    with ThreadedServer(server_config(tmp_path)) as server:
        alice = IrcClient(server.address)
        alice.register("alice")
        alice.join("#lobby")
        alice.send("PRIVMSG #lobby :hello from the loop")
        wait_for(lambda: "#lobby <alice> hello from the loop" in console.text, what="the room line")
        alice.close()
    assert console.writer_of("#lobby <alice> hello from the loop") == "hubbub-log"
    # The last line of the shutdown, queued on the loop, is out once stop() has returned.
    assert "history flushed and closed" in console.text
    assert not logsetup._console().queued


def test_records_queued_at_stop_are_all_written_in_order(console: Console) -> None:
    log = logging.getLogger("hubbub.test")
    logsetup.start_queue(1000)
    console.hold()
    log.info("first")
    assert console.blocked.wait(DEADLINE)  # the listener sits in the write of "first"
    for number in range(200):
        log.info("line %d", number)
    assert "line 0" not in console.text
    console.release()
    logsetup.stop_queue()
    lines = console.text.splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["first"] + [
        f"line {n}" for n in range(200)
    ]
    # After the queue: written directly, on the caller's thread.
    log.info("after")
    assert console.writer_of("after") == threading.current_thread().name


def test_flush_returns_once_what_was_logged_before_it_is_written(console: Console) -> None:
    """The suite ends each phase of a test with `flush` (tests/conftest.py), so an in-process
    server's lines are written while that phase's output is captured."""
    log = logging.getLogger("hubbub.test")
    logsetup.start_queue(1000)
    console.hold()
    log.info("first")
    assert console.blocked.wait(DEADLINE)  # the listener sits in the write of "first"
    log.info("second")
    waiting = logsetup._console().queue

    def release_once_flush_waits() -> None:
        wait_for(lambda: waiting.qsize() == 2, what="flush's marker behind the second line")
        console.release()

    releaser = threading.Thread(target=release_once_flush_waits)
    releaser.start()
    logsetup.flush()
    assert console.text.endswith(": second\n")
    releaser.join(DEADLINE)
    logsetup.stop_queue()


def test_a_full_queue_drops_and_counts_instead_of_blocking(console: Console) -> None:
    log = logging.getLogger("hubbub.test")
    logsetup.start_queue(5)
    console.hold()
    log.info("stuck")
    assert console.blocked.wait(DEADLINE)  # the listener cannot take anything more
    before = logsetup.dropped()
    caller = threading.Thread(target=lambda: [log.info("flood %d", n) for n in range(50)])
    caller.start()
    caller.join(DEADLINE)
    assert not caller.is_alive(), "logging blocked on a full queue"
    assert logsetup.dropped() - before == 45  # 5 fit in the queue
    console.release()
    logsetup.stop_queue()
    text = console.text
    assert [f"flood {n}" in text for n in range(6)] == [True] * 5 + [False]
    # One report for the incident, not one per dropped record.
    assert text.count("could not keep up") == 1
    assert "could not keep up: 45 log records dropped" in text


def test_records_keep_what_was_true_when_logged(console: Console) -> None:
    """Arguments that could change before the listener formats them, and tracebacks, are
    rendered at the call; immutable ones are not (the room message line)."""
    log = logging.getLogger("hubbub.test")
    logsetup.start_queue(100)
    console.hold()
    log.info("stuck")
    assert console.blocked.wait(DEADLINE)
    members = ["alice"]
    log.info("members %s", members)
    log.info(members)  # not even a str message
    members.append("mallory")
    try:
        raise ValueError("broken store")
    except ValueError:
        log.exception("storing failed")
        failure = logging.LogRecord(
            "hubbub.test", logging.ERROR, "", 0, "failed", None, sys.exc_info()
        )
    handler = logsetup._console()
    # A traceback is rendered at the call: the queued copy holds its text, not its frames.
    prepared = handler.prepare(failure)
    assert prepared.exc_info is None and "ValueError: broken store" in (prepared.exc_text or "")
    room_line = logging.LogRecord(
        "hubbub.chat", logging.INFO, "", 0, "%s <%s> %s", ("#a", "b", "c"), None
    )
    assert handler.prepare(room_line) is room_line  # nothing copied or formatted on the loop
    console.release()
    logsetup.stop_queue()
    assert "members ['alice']\n" in console.text
    assert "hubbub.test: ['alice']\n" in console.text
    assert "ValueError: broken store" in console.text


@pytest.mark.parametrize("format", ["text", "json"])
def test_the_room_logger_writes_the_line_log_info_writes_without_a_record_on_the_loop(
    console: Console, monkeypatch: pytest.MonkeyPatch, format: str
) -> None:
    """`room_logger` (the core's INFO line per room message, issue 9's fan-out cost) writes
    the very line `log.info` writes, and makes no LogRecord on the calling thread while the
    queue runs and hubbub's handler is the only one; with another handler (pytest's log
    capture here), it is `log.info`, so that handler sees the record too."""
    import json

    logsetup.configure("INFO", format)
    handler = logsetup._console()
    room_log = logsetup.room_logger()
    captured = logging.getLogger().handlers[:]
    assert captured != [handler]  # pytest's capture handlers are there: the plain path
    room_log("#a", "b", "by log.info")
    # Only hubbub's handler, as in a server process: the queue path.
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    logsetup.start_queue(100)
    made_by: list[str] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: object, **kwargs: object) -> logging.LogRecord:
        made_by.append(threading.current_thread().name)
        return factory(*args, **kwargs)

    logging.setLogRecordFactory(counting)
    try:
        logging.getLogger("hubbub.chat").info("%s <%s> %s", "#a", "b", "by log.info")
        room_log("#a", "b", "by the room logger")
        logsetup.stop_queue()
    finally:
        logging.setLogRecordFactory(factory)
        logsetup.configure("INFO")
    caller = threading.current_thread().name
    assert made_by.count(caller) == 1  # the log.info call's, not the room logger's
    lines = console.text.splitlines()
    assert len(lines) == 3
    if format == "json":
        entries = [json.loads(line) for line in lines]
        for entry in entries:
            del entry["time"]  # milliseconds apart
        assert entries[1] == entries[0]
        assert entries[2] == {**entries[1], "message": "#a <b> by the room logger"}
    else:
        # Same text after the time stamp (the two calls may fall in different seconds).
        assert lines[1][19:] == lines[0][19:] == " INFO  hubbub.chat: #a <b> by log.info"
        assert lines[2][19:] == " INFO  hubbub.chat: #a <b> by the room logger"


def test_a_stopped_server_process_writes_its_last_lines(tmp_path: Path) -> None:
    """`hubbub serve` at the default level: the room message is in its log, and so is the
    last line it logs on the way out (SIGTERM)."""
    config = write_config(tmp_path / "hubbub.toml", tmp_path / "data")
    with ServerProcess(config) as server:
        alice = IrcClient(server.address)
        alice.register("alice")
        alice.join("#lobby")
        alice.send("PRIVMSG #lobby :said out loud")
        wait_for(lambda: "#lobby <alice> said out loud" in server.text, what="the room line")
        alice.close()
        assert server.terminate() == 0
        wait_for(lambda: "history flushed and closed" in server.text, what="the last line")
    assert "INFO  hubbub.chat: #lobby <alice> said out loud" in server.text


def test_json_format_is_one_line_per_record_even_with_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """log.format = "json": a record with a traceback is one JSON object on one line."""
    import json

    logsetup.configure("INFO", "json")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("hubbub.test").exception("it failed for %s", "alice")
        logging.getLogger("hubbub.test").info("next")
    finally:
        logsetup.configure("INFO")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "ERROR"
    assert first["logger"] == "hubbub.test"
    assert first["message"] == "it failed for alice"
    assert "ValueError: boom" in first["exception"]
    assert first["time"].endswith("Z")
    assert second["message"] == "next"
    assert "exception" not in second


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError):
        logsetup.configure("INFO", "xml")
