"""A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, one `postgres`
on a free loopback port, removed again at the end.

`PostgresServer` is a context manager (`start()` on entry, `close()` on exit). `stop()` and
`start()` stop the server (fast shutdown) and start it again on the same port with the same
data, for tests of a database restarted under a running hubbub. `url` names the test database
(`postgresql://postgres@127.0.0.1:PORT/hubbub_tests`); `new_schema_url()` gives a URL whose
connections work in a fresh, empty schema of it (isolation between tests without the cost of
a CREATE DATABASE each).

The fixtures (import them into a conftest): `postgres_server` and `postgres_url` are
session-scoped and share one cluster per test process (made on first use, removed at exit);
`fresh_postgres_url` is a new schema per test. Without PostgreSQL binaries they skip with the
reason, unless HUBBUB_REQUIRE_E2E=1 (the README's test command), where they fail.

Binaries: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin (Debian keeps them
off PATH), else PATH. PostgreSQL refuses to run as root: as root, the directory is given to the
`postgres` user (Debian's package creates it) and initdb and postgres run as that user. They are
started with `subprocess.Popen(user=...)` rather than through `runuser`: the same switch of
user, but the process we hold is the postmaster itself, so SIGINT is its fast shutdown (runuser
answers a signal by killing its child after two seconds).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import psycopg
import pytest

from support.servers import free_port
from support.waiting import wait_for

__all__ = [
    "PostgresServer",
    "PostgresUnavailable",
    "find_bindir",
    "fresh_postgres_url",
    "postgres_server",
    "postgres_url",
    "shared_server",
]

DATABASE = "hubbub_tests"
USER = "postgres"
# Starting (recovery after a crash included) is slow on a loaded machine: a generous deadline.
START_TIMEOUT = 60.0


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine."""


def find_bindir() -> Path | None:
    """The directory holding initdb and postgres, if PostgreSQL is installed."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        )
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(path) for path in versions]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    return None


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; see the module docstring."""

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise PostgresUnavailable(
                "no PostgreSQL binaries (initdb, postgres): install them with"
                " scripts/install-test-deps (Debian's postgresql package)"
            )
        self.bindir = found
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="hubbub-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log_path = self.root / "postgres.log"
        self._as_root = os.getuid() == 0
        self._process: subprocess.Popen[bytes] | None = None
        self._schemas = itertools.count(1)
        self._lock = threading.Lock()
        self._initialised = False

    @property
    def url(self) -> str:
        return self.database_url(DATABASE)

    def database_url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (benchmarks pin it to a core)."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _run_as(self) -> dict[str, object]:
        """Popen arguments that run a program as the postgres user (when we are root)."""
        if not self._as_root:
            return {}
        return {"user": USER, "group": USER, "extra_groups": []}

    def _initdb(self) -> None:
        self.sockets.mkdir()
        if self._as_root:
            for path in (self.root, self.sockets):
                shutil.chown(path, USER, USER)
        result = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                USER,
                "--auth=trust",  # loopback only, a throwaway cluster
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            cwd=self.root,
            check=False,
            **self._run_as(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
            )
        self._initialised = True

    def start(self) -> PostgresServer:
        """Start the server (initialising the cluster the first time) and wait until it
        accepts connections; the test database exists afterwards."""
        if self.running:
            return self
        if not self._initialised:
            self._initdb()
        log = open(self.log_path, "ab")  # noqa: SIM115 (the server writes it while it runs)
        try:
            self._process = subprocess.Popen(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    # A throwaway cluster: durability against power cuts is not tested here
                    # (a fast shutdown still writes everything), speed is welcome.
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                start_new_session=True,  # a Ctrl-C of pytest is not the server's fast shutdown
                **self._run_as(),  # type: ignore[call-overload]
            )
        finally:
            log.close()
        wait_for(self._accepts, START_TIMEOUT, f"PostgreSQL accepting on port {self.port}")
        self._create_database()
        return self

    def _accepts(self) -> bool:
        process = self._process
        if process is None or process.poll() is not None:
            raise RuntimeError(f"postgres exited while starting:\n{self.log_tail()}")
        try:
            with psycopg.connect(self.database_url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _create_database(self) -> None:
        with psycopg.connect(self.database_url("postgres"), autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                connection.execute(f'CREATE DATABASE "{DATABASE}"')

    def new_schema_url(self) -> str:
        """A URL whose connections use a new, empty schema (`search_path`) of the database."""
        with self._lock:
            schema = f"test_{os.getpid()}_{next(self._schemas)}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
        return f"{self.url}?options=-csearch_path%3D{schema}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT: running transactions are rolled back, clients disconnected,
        everything committed is on disk); the data and the port stay for `start`."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_shared: PostgresServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> PostgresServer:
    """The test process's one cluster, started on first use and removed at exit. Skips the
    calling test when PostgreSQL is not installed (fails under HUBBUB_REQUIRE_E2E=1)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            try:
                server = PostgresServer()
            except PostgresUnavailable as exc:
                if os.environ.get("HUBBUB_REQUIRE_E2E") == "1":
                    pytest.fail(f"HUBBUB_REQUIRE_E2E=1 but {exc}", pytrace=False)
                pytest.skip(str(exc))
            atexit.register(server.close)
            server.start()
            _shared = server
        elif not _shared.running:
            _shared.start()  # a test stopped it and failed before starting it again
        return _shared


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The session's PostgreSQL cluster (shared; a test that stops it must start it again)."""
    return shared_server()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of the session's test database."""
    return postgres_server.url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A URL of a new, empty schema of the session's test database, for this test alone."""
    server = shared_server()
    url = server.new_schema_url()
    yield url
    schema = url.rpartition("%3D")[2]
    with contextlib.suppress(psycopg.Error), psycopg.connect(server.url, autocommit=True) as db:
        db.execute(f'DROP SCHEMA "{schema}" CASCADE')
