"""A small blocking IRC test client and ways to run the real server, for the integration tests.

The client is deliberately independent of hubbub's own protocol code: it parses just enough
(tags, source, command, params) to check what the server sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from hubbub.app import App
from hubbub.config import Config, FloodSection, ListenSection, ServerSection, WebSection

TIMEOUT = 5.0


@dataclasses.dataclass
class Line:
    raw: str
    tags: dict[str, str]
    source: str
    command: str
    params: list[str]

    @property
    def nick(self) -> str:
        return self.source.split("!", 1)[0]

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""


def _unescape(value: str) -> str:
    out = []
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def parse(raw: str) -> Line:
    rest = raw
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        tag_text, _, rest = rest[1:].partition(" ")
        for item in tag_text.split(";"):
            key, _, value = item.partition("=")
            tags[key] = _unescape(value)
    source = ""
    rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
    params: list[str] = []
    command, _, rest = rest.lstrip(" ").partition(" ")
    while rest:
        rest = rest.lstrip(" ")
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        if param:
            params.append(param)
    return Line(raw, tags, source, command.upper(), params)


class IrcClient:
    """One blocking connection; answers PING by itself while reading."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        timeout: float = TIMEOUT,
        rcvbuf: int | None = None,
    ) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.timeout = timeout
        self.buffer = b""
        self.closed = False
        self.nick = ""

    # -- sending ---------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, *lines: str) -> None:
        self.send_raw(b"".join(line.encode() + b"\r\n" for line in lines))

    # -- receiving -------------------------------------------------------------------------

    def line(self, timeout: float | None = None) -> Line:
        """The next line (not counting PINGs, which are answered). EOFError once closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                raw, self.buffer = self.buffer[:newline], self.buffer[newline + 1 :]
                line = parse(raw.rstrip(b"\r").decode("utf-8", "replace"))
                if line.command == "PING":
                    self.send("PONG :" + line.text)
                    continue
                return line
            if self.closed:
                raise EOFError("the server closed the connection")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete line from the server in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError("no complete line from the server in time") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.buffer += chunk

    def until(self, predicate: Callable[[Line], bool], timeout: float | None = None) -> list[Line]:
        """Lines up to and including the first one that matches."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen: list[Line] = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.line(max(remaining, 0.001))
            except TimeoutError:
                got = "\n".join(x.raw for x in seen[-20:])
                raise TimeoutError(f"expected line never came; last lines:\n{got}") from None
            seen.append(line)
            if predicate(line):
                return seen

    def expect(self, command: str, timeout: float | None = None) -> list[Line]:
        return self.until(lambda line: line.command == command, timeout)

    def quiet(self, period: float = 0.3) -> list[Line]:
        """Every line that arrives until none has for `period` seconds."""
        out: list[Line] = []
        while True:
            try:
                out.append(self.line(period))
            except (TimeoutError, EOFError):
                return out

    def until_closed(self, timeout: float | None = None) -> list[Line]:
        out: list[Line] = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                out.append(self.line(max(deadline - time.monotonic(), 0.001)))
            except EOFError:
                return out

    # -- conversations ---------------------------------------------------------------------

    def register(self, nick: str, caps: Iterable[str] = ()) -> list[Line]:
        """CAP LS 302 / CAP REQ / CAP END, NICK, USER; returns the lines up to the MOTD's end."""
        caps = list(caps)
        self.nick = nick
        self.send("CAP LS 302", f"NICK {nick}", f"USER {nick} 0 * :{nick} the tester")
        lines = self.until(lambda x: x.command == "CAP" and x.params[1:2] == ["LS"])
        if caps:
            self.send("CAP REQ :" + " ".join(caps))
            lines += self.until(
                lambda x: x.command == "CAP" and x.params[1:2] in (["ACK"], ["NAK"])
            )
            if lines[-1].params[1] != "ACK":
                raise AssertionError(f"caps refused: {lines[-1].raw}")
        self.send("CAP END")
        lines += self.until(lambda x: x.command in ("376", "422"))
        return lines

    def join(self, channel: str) -> list[Line]:
        """JOIN and wait for the end of NAMES; replay may follow (read it separately)."""
        self.send(f"JOIN {channel}")
        return self.until(lambda x: x.command == "366")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def batches(lines: Iterable[Line]) -> dict[str, tuple[Line, list[Line]]]:
    """ref -> (the BATCH + line, the lines inside it), for every batch seen."""
    found: dict[str, tuple[Line, list[Line]]] = {}
    for line in lines:
        if line.command == "BATCH" and line.params and line.params[0].startswith("+"):
            found[line.params[0][1:]] = (line, [])
        elif "batch" in line.tags and line.tags["batch"] in found:
            found[line.tags["batch"]][1].append(line)
    return found


def read_batch(client: IrcClient, kind: str = "chathistory") -> tuple[Line, list[Line]]:
    """Read until a batch of `kind` opens and closes; return its opening line and contents."""
    lines = client.until(lambda x: x.command == "BATCH" and x.params[1:2] == [kind])
    ref = lines[-1].params[0][1:]
    lines += client.until(lambda x: x.command == "BATCH" and x.params[:1] == ["-" + ref])
    return batches(lines)[ref]


# -- running the server ----------------------------------------------------------------------


def server_config(data_dir: Path, **sections: dict[str, Any]) -> Config:
    """A config for tests: 127.0.0.1, a free port, data in `data_dir`, flood control off."""
    base = Config(
        server=ServerSection(data_dir=str(data_dir)),
        listen=ListenSection(hosts=("127.0.0.1",), port=0),
        flood=FloodSection(enabled=False),
        web=WebSection(enabled=False),  # not the fixed port 8080 in every test
    )
    changes = {
        name: dataclasses.replace(getattr(base, name), **values)
        for name, values in sections.items()
    }
    return dataclasses.replace(base, **changes)


class ThreadedServer:
    """The real `App`, in-process, on its own event loop in a background thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.app: App | None = None
        self.address: tuple[str, int] = ("", 0)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the server did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            import uvloop

            factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
        except ImportError:  # pragma: no cover
            factory = None
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(self._main())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.app = App(self.config)
        addresses = await self.app.start()
        self.address = addresses[0]
        self._ready.set()
        await self._stop.wait()
        await self.app.stop()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's loop thread and return its result."""
        assert self._loop is not None
        result: list[Any] = []
        done = threading.Event()

        def run() -> None:
            try:
                result.append(fn())
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        assert done.wait(5)
        return result[0] if result else None

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        assert not self._thread.is_alive(), "the server thread did not stop"
        if self._error is not None:
            raise self._error


LISTENING = re.compile(r"listening on (\S+?):(\d+)")


class ServerProcess:
    """`hubbub serve` as a child process; the bound port is read from its log."""

    def __init__(self, config_file: Path, *extra: str) -> None:
        self.args = [
            *(sys.executable, "-m", "hubbub", "serve", "--config", str(config_file)),
            *("--no-web", *extra),
        ]
        self.log: list[str] = []
        self.address: tuple[str, int] = ("", 0)
        self.proc: subprocess.Popen[str] | None = None
        self._listening = threading.Event()

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._listening.wait(15):
            self.kill()
            raise TimeoutError("the server never said where it listens:\n" + self.text)
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for text in self.proc.stderr:
            self.log.append(text.rstrip("\n"))
            match = LISTENING.search(text)
            if match and not self._listening.is_set():
                self.address = (match.group(1).strip("[]"), int(match.group(2)))
                self._listening.set()

    @property
    def text(self) -> str:
        return "\n".join(self.log)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def write_config(path: Path, data_dir: Path, extra: str = "") -> Path:
    path.write_text(
        f'[server]\ndata_dir = "{data_dir}"\n\n[listen]\nhosts = ["127.0.0.1"]\nport = 0\n\n'
        f"[flood]\nenabled = false\n{extra}"
    )
    return path


@contextlib.contextmanager
def clients(*items: IrcClient) -> Iterator[None]:
    try:
        yield
    finally:
        for client in items:
            client.close()
