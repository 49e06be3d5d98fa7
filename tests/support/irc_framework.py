"""irc-framework, the IRC library Kiwi IRC (and many bots) are built on, as a client program in
the tests: tests/e2e/irc-framework/client.mjs runs one client under Node.js; what the library
reports comes back as JSON events, one per line, and the test's commands go in the same way.

The package is pinned in tests/e2e/irc-framework/package.json (and its lock file), installed by
scripts/install-test-deps into that directory's node_modules.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from support.programs import WAIT, not_installed, require_programs, tail

CLIENT_DIR = Path(__file__).resolve().parent.parent / "e2e" / "irc-framework"
CLIENT = CLIENT_DIR / "client.mjs"

Event = dict[str, Any]


def require_irc_framework() -> None:
    """Skip the test (fail it under HUBBUB_REQUIRE_E2E=1) unless Node.js and the package are
    installed."""
    require_programs("node")
    if not (CLIENT_DIR / "node_modules" / "irc-framework" / "package.json").is_file():
        not_installed("irc-framework")


class IrcFramework:
    """One irc-framework client connected to `address` as `nick`, asking for `caps` beyond
    the library's own. Its events are kept in order (`events`); `first` waits for one."""

    def __init__(self, address: tuple[str, int], nick: str, caps: Iterable[str] = ()) -> None:
        host, port = address
        self.nick = nick
        self.events: list[Event] = []
        self._read = 0  # events before this one were looked at by `first` already
        self._incoming: queue.Queue[Event | None] = queue.Queue()
        self._errors: list[str] = []
        self.process = subprocess.Popen(
            ["node", str(CLIENT), host, str(port), nick, *caps],
            cwd=CLIENT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._pumps = [
            threading.Thread(target=self._pump, daemon=True),
            threading.Thread(target=self._pump_errors, daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._incoming.put(json.loads(line))
        self._incoming.put(None)  # the program ended

    def _pump_errors(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._errors.append(line.rstrip("\n"))

    def send(self, **command: str) -> None:
        """One command for the client (`do=` join, say, whois, raw or quit, and its fields);
        run once the client has registered."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def first(self, predicate: Callable[[Event], bool], what: str, timeout: float = WAIT) -> Event:
        """The first event not looked at yet that matches (those before it are passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            while self._read < len(self.events):
                event = self.events[self._read]
                self._read += 1
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            try:
                event = self._incoming.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(f"irc-framework: {what} never came") from None
            if event is None:
                self._incoming.put(None)  # (for the next wait: still ended)
                raise AssertionError(f"irc-framework ended before {what}")
            self.events.append(event)

    def until(self, predicate: Callable[[Event], bool], what: str) -> list[Event]:
        """The events up to and including the first match (`first`)."""
        start = self._read
        self.first(predicate, what)
        return self.events[start : self._read]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)
        # Its pipes end with it: the pumps read them to their end, then all three are closed
        # (left open, they were unclosed files at the next garbage collection).
        for pump in self._pumps:
            pump.join(WAIT)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def diagnostics(self) -> str:
        events = "\n".join(json.dumps(event) for event in self.events)
        errors = "\n".join(self._errors)
        return f"irc-framework events:\n{tail(events)}\nits stderr:\n{tail(errors)}"
