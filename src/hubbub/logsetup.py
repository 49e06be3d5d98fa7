"""Console logging for the server: one line per record on standard error.

    2026-11-24 21:05:03 INFO  hubbub.net: listening on 127.0.0.1:6667

`configure` may be called any number of times; the last level wins and there is only ever one
hubbub handler. The chosen level applies to hubbub's own loggers; other libraries' loggers
(asyncio, …) only show warnings and errors, so DEBUG stays readable.

While a server runs, a record costs the thread that logs it (the event loop) no write: the app
calls `start_queue` at start, after which the handler puts each record on a bounded queue and a
`QueueListener` thread formats and writes it. `stop_queue` (at shutdown, after errors too)
writes out everything still queued and goes back to writing directly. At INFO the core logs
every room message, so this is the fan-out hot path: the loop's part is the `LogRecord` and one
`put` on a C `SimpleQueue`, nothing else (see `_StderrHandler.prepare` for why the record may be
formatted later, on another thread). The listener writes what it finds waiting in one call, and
makes the time text once per second; records skip the thread, process and source-line lookups
hubbub's format never shows. Together that took the per-message cost of the INFO line from
about 18 to about 8 microseconds of CPU (`log.info` plus the listener's share, measured with
the core driven directly, 200 members, one core).

When the queue is full (the console cannot keep up: a slow terminal, a pipe nobody reads),
a record is dropped rather than the loop blocked. Drops are counted (`dropped()`) and reported
by one WARNING line per incident: when the listener has caught up (the queue ran empty), or
every `REMIND_SECONDS` while the queue stays busy, and at `stop_queue`.

With `format="json"` (`log.format`), each record is one JSON object on one line, for log
shippers: `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, and
`exception` (the whole traceback, its line breaks escaped) — one line per incident, never a
traceback spread over many lines. Formatting stays on the listener thread.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

__all__ = [
    "DEFAULT_QUEUE_LENGTH",
    "FORMAT",
    "FORMATS",
    "LEVELS",
    "JsonFormatter",
    "configure",
    "dropped",
    "flush",
    "resize_queue",
    "room_logger",
    "start_queue",
    "stop_queue",
]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")
FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Records waiting for the console at most (`log.queue_length` in the configuration).
DEFAULT_QUEUE_LENGTH = 10_000
#: Lines the listener thread writes in one call at most.
HOLD_LINES = 256
#: Seconds the listener waits, once one line has woken it, before writing: the lines of the
#: next loop turns join it in one write. A wake-up per room message (a context switch and a
#: GIL handover on the loop's core) cost more than formatting the line (`perf` on a server
#: under fan-out: half of this thread's samples were switching in).
LINGER = 0.002
#: While the queue stays busy, a drop incident is reported at most this often (seconds).
REMIND_SECONDS = 30.0

#: A room message waiting for the listener (`room_logger`): time, logger name, room, nick, text.
RoomLine = tuple[float, str, str, str, str]
ROOM_FORMAT = "%s <%s> %s"

# Arguments of these types cannot change between the log call and a later formatting, so a
# record whose arguments are all of them is handed to the listener thread as it is.
_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None)})


class _Formatter(logging.Formatter):
    """The console format, with the time text made once per second rather than per record:
    at INFO every room message is a record, and `time.strftime` per line was most of the cost
    of formatting it."""

    def __init__(self) -> None:
        super().__init__(FORMAT, DATE_FORMAT)
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._time_text(record.created)

    def _time_text(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # one thread formats at a time (the handler's lock)
            self._second_text = time.strftime(DATE_FORMAT, self.converter(created))
            self._second = second
        return self._second_text

    def format_room(self, line: RoomLine) -> str:
        """A room message line (`room_logger`) exactly as `format` renders its record."""
        created, name, room, nick, text = line
        return f"{self._time_text(created)} INFO  {name}: {room} <{nick}> {text}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class _StderrWriter(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time (it may be replaced, e.g. by tests).

    On the listener thread, lines are collected and written in one call when the queue runs
    empty (`hold_lines` / `write_held`): a write per line was a system call per room
    message."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.held: list[str] | None = None

    def hold_lines(self) -> None:
        self.held = []

    def write_held(self) -> None:
        held, self.held = self.held, None
        if held:
            self.stream.write("".join(held))
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        held = self.held
        if held is None:
            super().emit(record)
            return
        try:
            held.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _StderrHandler(logging.handlers.QueueHandler):
    """hubbub's one console handler: writes through `writer` directly, or, while `queued`, puts
    records on its bounded queue for the listener thread (see the module docstring)."""

    # A SimpleQueue (C, no Python-level lock or condition per put): the loop's cost of a
    # record is one `put`. It is bounded by `limit`, checked with `qsize` before the put: other
    # threads may log at the same moment, so the bound is exact to within a few records.
    queue: queue.SimpleQueue[logging.LogRecord | RoomLine | threading.Event | None]

    def __init__(self) -> None:
        super().__init__(queue.SimpleQueue())
        self.limit = DEFAULT_QUEUE_LENGTH
        self.writer = _StderrWriter()
        self.writer.setFormatter(_Formatter())
        # Switched under the handler's lock (which `Handler.handle` holds around `emit`), so no
        # record is put on the queue after `stop_queue` has drained it.
        self.queued = False
        self.dropped = 0
        self._unreported = 0
        self._incident_since = 0.0
        self._drops_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.queued:
            self.writer.handle(record)
            return
        if self.queue.qsize() >= self.limit:
            self._drop()
            return
        try:
            self.queue.put(self.prepare(record))
        except Exception:
            self.handleError(record)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record to queue. The stdlib's version formats it here, on the logging thread;
        this one leaves formatting to the listener when that cannot change the text: when the
        message is a str and every argument an immutable str/int/float/bool/bytes/None (every
        hot-path call in hubbub: the room message line logs two names and the text, all str).
        Anything else (an object, a list, a dict of arguments, a traceback) is rendered now, on
        a copy, so the line says what was true at the call and other handlers still see the
        original."""
        args = record.args
        plain = type(record.msg) is str and (
            not args or (type(args) is tuple and all(type(arg) in _IMMUTABLE for arg in args))
        )
        if plain and record.exc_info is None:
            return record
        copy = logging.makeLogRecord(record.__dict__)
        if not plain:
            try:
                copy.msg = record.getMessage()
                copy.args = None
            except Exception:
                pass  # left as it is: the writer reports the broken call when it formats it
        if record.exc_info is not None:
            # The traceback keeps its frames (and their locals) alive and could be formatted
            # after they changed: render it now, then let go of it.
            if not record.exc_text:
                assert self.writer.formatter is not None
                copy.exc_text = self.writer.formatter.formatException(record.exc_info)
            copy.exc_info = None
        return copy

    def flush(self) -> None:
        """Wait until the listener has written everything queued. `logging.shutdown` calls
        this at interpreter exit, so a process that ends without `stop_queue` (an error on the
        way out) still writes its last lines."""
        listener = _listener
        if self.queued and listener is not None and listener.alive:
            written = threading.Event()
            self.queue.put(written)  # the listener sets it when it gets there
            written.wait()
        self.writer.flush()

    def _drop(self) -> None:
        with self._drops_lock:
            self.dropped += 1
            if not self._unreported:
                self._incident_since = time.monotonic()
            self._unreported += 1

    def report_drops(self, final: bool = False) -> None:
        """Write the WARNING for the records dropped since the last one, if it is time: the
        queue has run empty, the incident has lasted REMIND_SECONDS, or `final`."""
        if not self._unreported:
            return
        with self._drops_lock:
            count = self._unreported
            if not count:
                return
            busy = self.queue.qsize() > 0
            if busy and not final and time.monotonic() - self._incident_since < REMIND_SECONDS:
                return
            self._unreported = 0
            total = self.dropped
        warning = logging.LogRecord(
            "hubbub.log",
            logging.WARNING,
            __file__,
            0,
            "the console could not keep up: %d log records dropped (%d since start; the queue"
            " holds log.queue_length = %d)",
            (count, total, self.limit),
            None,
        )
        self.writer.handle(warning)


class _Listener(logging.handlers.QueueListener):
    """The thread that writes queued records, and reports drops once it has caught up."""

    def __init__(self, handler: _StderrHandler) -> None:
        super().__init__(handler.queue, handler.writer)
        self.owner = handler

    def dequeue(self, block: bool) -> logging.LogRecord:
        # The queue carries room lines (tuples), flush events and the stop (None) too, which
        # `handle` tells apart; the stdlib's signature names only LogRecord.
        queue = self.owner.queue
        if not block or queue.qsize():
            return queue.get(block)  # type: ignore[return-value]
        record = queue.get()
        if type(record) is tuple or isinstance(record, logging.LogRecord):
            time.sleep(LINGER)  # (see LINGER; a flush or the stop is not delayed)
        return record  # type: ignore[return-value]

    def handle(self, record: logging.LogRecord | RoomLine | threading.Event) -> None:
        writer = self.owner.writer
        if isinstance(record, threading.Event):  # `flush` waits for what came before it
            writer.write_held()
            writer.flush()
            record.set()
            return
        if writer.held is None:
            writer.hold_lines()
        if type(record) is tuple:  # a room message (room_logger): formatted here, not on the loop
            formatter = writer.formatter
            if type(formatter) is _Formatter:
                with writer.lock:  # type: ignore[union-attr]
                    line = formatter.format_room(record)
                held = writer.held
                assert held is not None
                held.append(line + writer.terminator)
            else:
                writer.handle(_room_record(record))
        else:
            writer.handle(record)  # type: ignore[arg-type]
        # Written out in one call once nothing more waits (or every HOLD_LINES lines).
        held = writer.held
        if held is None or len(held) >= HOLD_LINES or self.owner.queue.qsize() == 0:
            writer.write_held()
        if self.owner._unreported:
            self.owner.report_drops()

    def start(self) -> None:
        super().start()
        if self._thread is not None:
            self._thread.name = "hubbub-log"

    @property
    def alive(self) -> bool:
        thread: threading.Thread | None = self._thread
        return thread is not None and thread.is_alive()

    def enqueue_sentinel(self) -> None:
        self.owner.queue.put(None)  # the stdlib's sentinel; the queue's bound is the handler's


_handler: _StderrHandler | None = None
_listener: _Listener | None = None
_users = 0
_state = threading.Lock()


def _console() -> _StderrHandler:
    global _handler
    if _handler is None:
        _handler = _StderrHandler()
    return _handler


def configure(level: str, format: str = "text") -> None:
    """Send log records to stderr at `level` (DEBUG, INFO, WARNING or ERROR; any case), as
    readable text or JSON lines (`format`)."""
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    if format not in FORMATS:
        raise ValueError(f"unknown log format {format!r}; expected one of {', '.join(FORMATS)}")
    number = logging.getLevelNamesMapping()[name]
    # What a record costs the thread that logs it (the event loop: every room message at
    # INFO): hubbub's format shows no thread, process or source line, so a record need not
    # look them up (the logging HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    root = logging.getLogger()
    handler = _console()
    if handler not in root.handlers:
        root.addHandler(handler)
    formatter = JsonFormatter() if format == "json" else _Formatter()
    with handler.writer.lock:  # type: ignore[union-attr]
        handler.writer.setFormatter(formatter)
    root.setLevel(max(number, logging.WARNING))
    logging.getLogger("hubbub").setLevel(number)


def start_queue(length: int = DEFAULT_QUEUE_LENGTH) -> None:
    """From now on, write log records on a listener thread, at most `length` waiting.

    Counted: every call needs its `stop_queue` (two servers in one process share the thread).
    """
    global _listener, _users
    if length < 1:
        raise ValueError("the log queue length must be at least 1")
    with _state:
        _users += 1
        if _users > 1:
            return
        handler = _console()
        resize_queue(length)
        _listener = _Listener(handler)
        _listener.start()
        with handler.lock:  # type: ignore[union-attr]
            handler.queued = True


def stop_queue() -> None:
    """Undo one `start_queue`; the last one writes out everything queued (and a drop report)
    before it returns, then records are written directly again. Blocks until then: call it
    off the event loop (`asyncio.to_thread`)."""
    global _listener, _users
    with _state:
        if _users == 0:
            return
        _users -= 1
        if _users > 0:
            return
        handler = _console()
        listener, _listener = _listener, None
        if listener is not None:
            listener.stop()  # everything queued before the sentinel is written
        handler.writer.write_held()  # what the listener collected last, before the sentinel
        with handler.lock:  # type: ignore[union-attr]
            handler.queued = False
            # Records put after the sentinel, before the switch: in order, before any direct one.
            while True:
                try:
                    record = handler.queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(record, threading.Event):
                    record.set()
                elif type(record) is tuple:
                    handler.writer.handle(_room_record(record))
                elif record is not None:
                    handler.writer.handle(record)  # type: ignore[arg-type]
        handler.report_drops(final=True)


def resize_queue(length: int) -> None:
    """Change how many records may wait (REHASH applies `log.queue_length` this way)."""
    _console().limit = length


def dropped() -> int:
    """Records dropped because the queue was full, since the process started."""
    return _console().dropped


def flush() -> None:
    """Wait until every record logged so far is written (by the listener thread, if the queue
    runs). Blocks: not on the event loop. The test suite calls it at the end of each test's
    phases, so a server's lines land in that phase's captured output rather than on the
    terminal while the runner reports."""
    _console().flush()


def _room_record(line: RoomLine) -> logging.LogRecord:
    """The LogRecord a room message line stands for (for a formatter other than the text one)."""
    created, name, room, nick, text = line
    record = logging.LogRecord(name, logging.INFO, "", 0, ROOM_FORMAT, (room, nick, text), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


def room_logger(name: str = "hubbub.chat") -> Callable[[str, str, str], None]:
    """The INFO line per room message (`<room> <<nick>> <text>` on logger `name`), made cheap
    for the event loop, which calls it for every message at the default level.

    While the console's queue runs and hubbub's handler is the only one the record would reach
    (the usual case in a server), a call puts one tuple on the queue: no LogRecord, no handler
    chain, no lock; the listener thread formats it into exactly the line `log.info` would have
    written (same text, same time stamp, same JSON fields), and the queue's bound and drop count
    apply as to any record. Otherwise (no queue yet, another handler attached: a test's log
    capture, a library's), it is `logging.getLogger(name).info(...)`, so every handler sees it.
    """
    logger = logging.getLogger(name)
    chain = []  # the loggers between `name` and the root, whose handlers would see the record
    node: logging.Logger | None = logger
    while node is not None and node is not logging.root:
        chain.append(node)
        node = node.parent if node.propagate else None
    root = logging.getLogger()
    handler = _console()
    put = handler.queue.put
    qsize = handler.queue.qsize
    enabled = logger.isEnabledFor
    wall = time.time
    info = logging.INFO

    def room_message(room: str, nick: str, text: str) -> None:
        if not enabled(info):
            return
        handlers = root.handlers
        if handler.queued and len(handlers) == 1 and handlers[0] is handler:
            for node in chain:
                if node.handlers or node.filters:
                    break
            else:
                if handler.filters:
                    pass
                elif qsize() >= handler.limit:
                    handler._drop()
                    return
                else:
                    put((wall(), name, room, nick, text))
                    return
        logger.info(ROOM_FORMAT, room, nick, text)

    return room_message
