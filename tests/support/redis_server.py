"""A real `redis-server` for tests: a free loopback port, a temporary directory, no mocks.

`RedisServer` starts Debian's redis-server (scripts/install-test-deps installs it) on
127.0.0.1, by default without persistence (`--save '' --appendonly no`); `persistent=True`
keeps an append-only file fsynced on every write, for restart tests. `stop()` / `kill()` and
`start()` again reuse the same port and directory, so clients see the same Redis come back
(empty, or with its data when persistent). Fixtures: `redis_server` and `redis_url`; import
them into a conftest.py.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.servers import free_port
from support.waiting import wait_for

REDIS_SERVER = "redis-server"


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process on a loopback port; restartable on that same port."""

    def __init__(self, *, persistent: bool = False) -> None:
        executable = shutil.which(REDIS_SERVER)
        if executable is None:
            raise RuntimeError("redis-server is not installed: run scripts/install-test-deps")
        self.executable = executable
        self.persistent = persistent
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="hubbub-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            *persistence,
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        process = self.process
        wait_for(
            lambda: process.poll() is not None or _answers_ping(self.port),
            what=f"redis-server answering on port {self.port}",
        )
        if process.poll() is not None:
            log = (self.directory / "redis.log").read_text(errors="replace")
            raise RuntimeError(f"redis-server exited ({process.returncode}):\n{log[-2000:]}")

    def stop(self) -> None:
        """SIGTERM and wait (a persistent server writes its append-only file first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-whatever."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a hung or partitioned Redis)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.resume()
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, empty redis-server without persistence, for one test."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of a fresh redis-server (redis://127.0.0.1:PORT/0)."""
    return redis_server.url
