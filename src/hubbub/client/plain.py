"""`hubbub chat --plain`: line mode, for pipes, scripts and plain terminals.

Two readers run at once and never wait for each other: a thread reads standard input line by
line (a blocking read, so it gets a thread of its own: the classic "send thread") and hands each
line to the event loop, while the loop reads the socket (`Connection.run`) and prints every
incoming line as it comes — `[HH:MM] <nick> text`. Lines of a room other than the current one
carry its name after the time. Mistakes and connection trouble go to standard error as one
line each, prefixed `hubbub:`.

With `--once` the client joins, sends every line of standard input, waits until the server has
echoed them back (echo-message; otherwise a short moment), says QUIT and exits: 0 when all was
sent, 1 when a line was refused or the connection failed. Without `--once` the end of standard
input leaves the client listening until Ctrl-C or `/quit`, and it reconnects if the server goes
away (the first connection must succeed — on one of the servers of the list, each tried once —
or it exits 1 at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, TextIO

from hubbub.client.commands import Quit, parse_input
from hubbub.client.connection import Backoff, ConnectFailed, Connection, now_ms
from hubbub.client.format import plain_line
from hubbub.client.model import Event, Fatal, Joined, Kind, LinesAdded, LinesChanged, Registered
from hubbub.client.options import ChatOptions
from hubbub.client.state import SERVER, WANTED_CAPS, ClientState

__all__ = ["run_plain"]

READY_TIMEOUT = 15.0  # seconds to register and join before giving up
ECHO_TIMEOUT = 5.0  # seconds --once waits for its messages to come back
NO_ECHO_GRACE = 0.3  # ...or this long when the server has no echo-message


class _Printer:
    def __init__(self, state: ClientState, out: TextIO, err: TextIO) -> None:
        self.state = state
        self.out = out
        self.err = err
        self.ready = asyncio.Event()
        self.refused = 0
        self.quiet = False  # set while quitting: the goodbye is not news

    def events(self, events: list[Event]) -> None:
        errors: dict[str, None] = {}  # one line per error, even when it went to several windows
        for event in events:
            if isinstance(event, LinesAdded):
                for line in event.lines:
                    if line.kind is Kind.ERROR:
                        errors[line.text] = None
                    elif event.buffer != SERVER:
                        window = None
                        if event.buffer != self.state.active:
                            window = self.state.buffers[event.buffer].name
                        print(plain_line(line, now_ms(), window), file=self.out, flush=True)
            elif isinstance(event, LinesChanged) and event.buffer != SERVER:
                # An edit: print the message again, as it reads now (marked "(edited)").
                window = None
                if event.buffer != self.state.active:
                    window = self.state.buffers[event.buffer].name
                print(plain_line(event.line, now_ms(), window), file=self.out, flush=True)
            elif (isinstance(event, Joined) and event.buffer == self.state.active) or (
                isinstance(event, Registered) and self.state.active == SERVER
            ):
                self.ready.set()
            elif isinstance(event, Fatal):
                errors[event.reason] = None
        if not self.quiet:
            for text in errors:
                self.error(text)

    def error(self, text: str) -> None:
        print(f"hubbub: {text}", file=self.err, flush=True)

    def status(self, text: str) -> None:
        # Connection trouble, and which server of the list we moved to; not "connecting…".
        if text.startswith(("disconnected", "cannot connect", "now on")) and not self.quiet:
            self.error(text)


def _read_lines(
    stdin: TextIO, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]
) -> None:
    """The input thread: every line of `stdin` into `queue`, then None at the end."""

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: we are exiting anyway
            loop.call_soon_threadsafe(queue.put_nowait, item)

    try:
        for line in stdin:
            put(line)
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    finally:
        put(None)


async def run_plain(options: ChatOptions, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    """Run line mode until the input ends (--once), /quit, or the connection fails."""
    state = ClientState(
        options.nick,
        options.rooms,
        password=options.password,
        wanted_caps=WANTED_CAPS if options.caps is None else options.caps,
    )
    printer = _Printer(state, out, err)
    connection = Connection(
        state,
        options.host,
        options.port,
        printer.events,
        reconnect=False,  # until the first connection has worked
        backoff=Backoff(options.backoff_base),
        on_status=printer.status,
        more_servers=options.more_servers,
    )
    runner = asyncio.create_task(connection.run(), name="hubbub-chat-socket")
    try:
        status = await _session(options, state, connection, printer, runner, stdin)
    finally:
        connection.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(runner, 2.0)
    return status


async def _session(
    options: ChatOptions,
    state: ClientState,
    connection: Connection,
    printer: _Printer,
    runner: asyncio.Task[None],
    stdin: TextIO,
) -> int:
    ready = asyncio.create_task(printer.ready.wait())
    done, _ = await asyncio.wait(
        {runner, ready}, timeout=READY_TIMEOUT, return_when="FIRST_COMPLETED"
    )
    if ready not in done:
        ready.cancel()
        if runner in done:
            return _failed(printer, runner)
        printer.error(f"{connection.where} did not let us in within {READY_TIMEOUT:.0f} s")
        return 1
    connection.reconnect = not options.once

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(
        target=_read_lines, args=(stdin, loop, queue), name="hubbub-chat-stdin", daemon=True
    ).start()
    while True:
        getter = asyncio.create_task(queue.get())
        waiting: set[asyncio.Task[Any]] = {runner, getter}
        finished, _ = await asyncio.wait(waiting, return_when="FIRST_COMPLETED")
        if getter not in finished:
            getter.cancel()
            return _failed(printer, runner)
        text = getter.result()
        if text is None:
            break
        action = parse_input(text)
        if action is None:
            continue
        if isinstance(action, Quit):
            printer.quiet = True
            await connection.quit(action.reason or "Leaving")
            return 1 if printer.refused else 0
        events = state.perform(action, now_ms())
        if any(
            isinstance(e, LinesAdded) and any(ln.kind is Kind.ERROR for ln in e.lines)
            for e in events
        ):
            printer.refused += 1
        connection.perform(events)

    if not options.once:
        with contextlib.suppress(ConnectFailed):
            await runner  # listen on until Ctrl-C or the server says goodbye for good
        return 0
    # --once: the input is all sent; wait for the echoes, then leave.
    loop_time = loop.time()
    if "echo-message" in state.caps:
        while (
            state.awaiting_echo > 0
            and connection.is_open
            and loop.time() - loop_time < ECHO_TIMEOUT
        ):
            await asyncio.sleep(0.02)
        if state.awaiting_echo > 0:
            printer.error(f"{state.awaiting_echo} message(s) were not echoed back in time")
            printer.refused += 1
    else:
        await asyncio.sleep(NO_ECHO_GRACE)
    printer.quiet = True
    await connection.quit("done")
    return 1 if printer.refused else 0


def _failed(printer: _Printer, runner: asyncio.Task[None]) -> int:
    exc = runner.exception()
    if exc is not None and not isinstance(exc, ConnectFailed):
        raise exc
    printer.error(str(exc) if exc is not None else "the connection ended")
    return 1
