"""The real server, run two ways: in-process on a thread (`ThreadedServer`) or as a child
process (`ServerProcess`, for restarts, kill -9 and signals).

Both run any engine (issue 13): `ThreadedServer(config, engine="threads")` runs that engine's
`EngineServer` in-process instead of the asyncio `App`, `ServerProcess(path, engine=...)`
passes `--engine`. The `engine` fixture (tests/conftest.py: `ENGINES`) parametrises a test over
all of them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub import engines
from hubbub.app import App
from hubbub.config import Config
from support.waiting import wait_for

START_WAIT = 15.0

#: Every engine, for parametrised fixtures.
ENGINES = engines.ENGINES


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine in turn (a test module or conftest imports this fixture to run its tests
    once per engine; pass it to `ThreadedServer` / `ServerProcess`)."""
    name: str = request.param
    return name


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a port nobody listens on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThreadedServer:
    """The real `App`, in-process, on its own event loop in a background thread.

    Use it as a context manager (or `start()` / `stop()`). `address` is the first IRC
    listener, `web_port` and `url` the web listener's (when the config turns it on); `call`
    runs a function on the server's loop. `reload` is what REHASH re-reads, as in `hubbub
    serve`. `app_class` replaces the engine's App (a subclass of it, e.g. one whose
    `open_history_store` wraps the store).
    """

    def __init__(
        self,
        config: Config,
        *,
        shutdown_grace: float | None = None,
        reload: Callable[[], Config] | None = None,
        engine: str = "asyncio",
        app_class: type[App] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self._app_class = app_class
        # The server of an engine without asyncio (hubbub.engines), when `engine` names one.
        self.engine_server: Any = None
        self.app: App | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.address: tuple[str, int] = ("", 0)
        self.web_address: tuple[str, int] = ("", 0)
        self._app_options: dict[str, Any] = {"reload": reload}
        if shutdown_grace is not None:
            self._app_options["shutdown_grace"] = shutdown_grace
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def web_port(self) -> int:
        return self.web_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/"

    def start(self) -> ThreadedServer:
        if self.engine not in ("asyncio", "twisted"):  # twisted: an App, run below
            self.engine_server = engines.make_server(self.config, self.engine, **self._app_options)
            self.address = self.engine_server.start()[0]
            return self
        self._thread.start()
        if not self._ready.wait(START_WAIT):
            raise TimeoutError("the server did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            import uvloop

            factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
        except ImportError:  # pragma: no cover
            factory = None
        if self.engine == "twisted":  # the loop the Twisted engine runs on (its run())
            factory = asyncio.SelectorEventLoop
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(self._main())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app_class = self._app_class or _app_class(self.engine)
        self.app = app_class(self.config, **self._app_options)
        addresses = await self.app.start()
        self.address = addresses[0]
        if self.app.web_addresses:
            self.web_address = self.app.web_addresses[0]
        self._ready.set()
        await self._stop.wait()
        await self.app.stop()

    @property
    def core(self) -> Any:
        """The chat core, whatever the engine."""
        if self.engine_server is not None:
            return self.engine_server.core
        assert self.app is not None
        return self.app.core

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's loop thread (another engine: with its core lock held) and
        return its result."""
        if self.engine_server is not None:
            return self.engine_server.call(fn)
        assert self.loop is not None
        result: list[Any] = []
        done = threading.Event()

        def run() -> None:
            try:
                result.append(fn())
            finally:
                done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(START_WAIT)
        return result[0] if result else None

    def stop(self) -> None:
        if self.engine_server is not None:
            self.engine_server.stop()
            return
        if self.loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread.ident is not None:
            self._thread.join(START_WAIT)
            assert not self._thread.is_alive(), "the server thread did not stop"
        if self._error is not None:
            raise self._error


def _app_class(engine: str) -> type[App]:
    """The App an engine built on asyncio runs: the Twisted engine's (an optional extra, so
    imported only when asked for), or hubbub.app's."""
    if engine == "twisted":
        from hubbub.engines.twisted_engine import TwistedApp

        return TwistedApp
    return App


LISTENING = re.compile(r"listening on (\S+?):(\d+)")


class ServerProcess:
    """`hubbub serve` as a child process. The bound port is read from its log; with a log level
    that hides it, pass `port` (then ready means: the port accepts a connection)."""

    def __init__(
        self, config_file: Path, *extra: str, port: int | None = None, engine: str = "asyncio"
    ) -> None:
        self.args = [
            *(sys.executable, "-m", "hubbub", "serve", "--config", str(config_file)),
            *("--no-web", *extra),
        ]
        if engine != "asyncio":
            self.args += ["--engine", engine]
        if port is not None:
            self.args += ["--port", str(port)]
        self.fixed_port = port
        self.log: list[str] = []
        self.address: tuple[str, int] = ("", 0)
        self.proc: subprocess.Popen[str] | None = None
        self._listening = threading.Event()
        self._pump_thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.address[1]

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
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        if self.fixed_port is not None:
            self._wait_accepting(self.fixed_port)
        elif not self._listening.wait(START_WAIT):
            self.close()
            raise TimeoutError("the server never said where it listens:\n" + self.text)
        return self

    def _wait_accepting(self, port: int) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited at start:\n" + self.text)
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
            except OSError:
                return False
            return True

        try:
            wait_for(ready, START_WAIT, f"the server to accept connections on port {port}")
        except BaseException:
            self.close()
            raise
        self.address = ("127.0.0.1", port)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the server (if it still runs) and close the pipe of its log."""
        self.kill()
        # The log's pipe ends with the process: the pump reads it to its end, then it is
        # closed here (left open, it was an unclosed file for every server a test started).
        if self._pump_thread is not None:
            self._pump_thread.join(START_WAIT)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for text in self.proc.stderr:
            self.log.append(text.rstrip("\n"))
            match = LISTENING.search(text)
            if match and not self._listening.is_set():
                self.address = (match.group(1).strip("[]"), int(match.group(2)))
                self._listening.set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def text(self) -> str:
        """Everything the server logged so far."""
        return "\n".join(self.log)

    def diagnostics(self, limit: int = 6000) -> str:
        """The server's state and the end of its log, for a failure message."""
        code = None if self.proc is None else self.proc.poll()
        status = "running" if self.proc is not None and code is None else f"exit status {code}"
        text = self.text
        return f"--- hubbub serve ({status}) log:\n{text[-limit:]}"

    def terminate(self, timeout: float = START_WAIT) -> int:
        """SIGTERM, then the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
