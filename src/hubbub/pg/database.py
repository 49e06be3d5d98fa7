"""One PostgreSQL connection for one store on one thread, through psycopg 3's synchronous API.

Each store (history, accounts, registry) runs on a thread of its own and makes plain blocking
calls, so the blocking driver fits them as they are: no event loop of its own per thread (see
docs/operations.md, "PostgreSQL", for why psycopg rather than asyncpg).

`Database` holds the connection and gets a new one when it broke (PostgreSQL restarted, the
network dropped it). Connection trouble surfaces as `DatabaseUnavailable`, an `OSError`, which is
what the history worker already treats as "the store cannot write now: keep the records and
retry" (`hubbub.history.worker.is_store_failure`), and what the other stores' callers turn into
"temporarily unavailable". Any other error is the statement's own (bad data, a bug).

Every `step` runs inside a savepoint (or, with autocommit, its own transaction), so a statement
that fails undoes only that step: in PostgreSQL a failed statement otherwise aborts the whole
open transaction, and with it a batch of history records the worker believes are appended.

A connection that dies holding uncommitted writes loses them. When a write step sees it, the
caller knows (the history worker then writes its whole uncommitted batch again); when only a read
sees it, the next `commit` raises `DatabaseUnavailable` once, so that the writer hears of it
instead of committing an empty transaction on the new connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
from psycopg import pq
from psycopg.rows import TupleRow

# A connection as the stores use it: rows come back as tuples.
Connection = psycopg.Connection[TupleRow]

__all__ = [
    "CONNECT_TIMEOUT",
    "Connection",
    "Database",
    "DatabaseUnavailable",
    "component_version",
    "describe",
    "is_postgres_url",
    "migrate_component",
]

log = logging.getLogger("hubbub.pg")

#: Seconds a connection attempt may take before the store reports PostgreSQL unreachable.
CONNECT_TIMEOUT = 5
# Serialises schema creation between nodes starting together (any constant of our own).
_MIGRATION_LOCK = 0x68756262  # "hubb"


class DatabaseUnavailable(OSError):
    """PostgreSQL cannot be reached, or the connection broke. `str()` is one line."""


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _broken(exc: BaseException, connection: Connection | None) -> bool:
    """Whether `exc` means the connection is gone (rather than that a statement failed)."""
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return connection is not None and (connection.closed or connection.broken)


class Database:
    """One connection to `url`, remade when it broke; see the module docstring.

    `setup(connection)` runs on every new connection (creating the schema; it must commit).
    With `autocommit`, each step is its own transaction; without it, steps accumulate in one
    transaction until `commit`.
    """

    def __init__(
        self,
        url: str,
        setup: Callable[[Connection], None],
        autocommit: bool,
    ) -> None:
        self.url = url
        self.name = describe(url)
        self._setup = setup
        self._autocommit = autocommit
        self._connection: Connection | None = None
        # Writes were made on the current connection since its last commit.
        self._dirty = False
        # A connection died with uncommitted writes that no write step was told about.
        self._lost = False
        self.connect()

    def connect(self) -> Connection:
        """The live connection, connecting (and running `setup`) if there is none."""
        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            connection = psycopg.connect(
                self.url, autocommit=self._autocommit, connect_timeout=CONNECT_TIMEOUT
            )
        except psycopg.Error as exc:
            raise DatabaseUnavailable(
                f"{self.name}: cannot connect to PostgreSQL ({_first_line(exc)})"
            ) from exc
        try:
            self._setup(connection)
        except psycopg.Error as exc:
            connection.close()
            if _broken(exc, connection):
                raise DatabaseUnavailable(
                    f"{self.name}: PostgreSQL connection lost ({_first_line(exc)})"
                ) from exc
            raise
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _drop(self, exc: BaseException, write: bool) -> DatabaseUnavailable:
        """Forget a broken connection; the error to raise."""
        if self._connection is not None:
            try:
                self._connection.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)
        self._connection = None
        if self._dirty and not write:
            self._lost = True
        self._dirty = False
        return DatabaseUnavailable(f"{self.name}: PostgreSQL connection lost ({_first_line(exc)})")

    @contextmanager
    def step(self, write: bool = False) -> Iterator[Connection]:
        """The connection, for statements that succeed or fail together (see the module
        docstring). `write`: they change data (so they are lost if the connection dies before
        `commit`)."""
        connection = self.connect()
        try:
            if self._autocommit:
                with connection.transaction():
                    yield connection
            else:
                connection.execute("SAVEPOINT hubbub_step")
                try:
                    yield connection
                except psycopg.Error as exc:
                    if not _broken(exc, connection):
                        connection.execute("ROLLBACK TO SAVEPOINT hubbub_step")
                    raise
                connection.execute("RELEASE SAVEPOINT hubbub_step")
                if write:
                    self._dirty = True
        except psycopg.Error as exc:
            if _broken(exc, connection):
                raise self._drop(exc, write) from exc
            raise

    def commit(self) -> None:
        """Commit the open transaction (no-op with autocommit). Raises `DatabaseUnavailable`
        when writes made since the last commit were lost with a broken connection."""
        if self._lost:
            self._lost = False
            raise DatabaseUnavailable(
                f"{self.name}: the PostgreSQL connection was lost before the commit"
            )
        connection = self._connection
        if connection is None or self._autocommit:
            return
        try:
            connection.commit()
        except psycopg.Error as exc:
            if _broken(exc, connection):
                raise self._drop(exc, write=True) from exc
            raise
        self._dirty = False

    @property
    def in_transaction(self) -> bool:
        connection = self._connection
        return connection is not None and (
            connection.info.transaction_status != pq.TransactionStatus.IDLE
        )

    def close(self) -> None:
        """Commit what is open and close the connection."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not self._autocommit and not connection.closed:
                connection.commit()
        finally:
            connection.close()


def component_version(connection: Connection, component: str) -> int:
    """The schema version a component recorded in `hubbub_schema` (0: none yet)."""
    found = connection.execute("SELECT to_regclass('hubbub_schema')").fetchone()
    if found is None or found[0] is None:
        return 0
    row = connection.execute(
        "SELECT version FROM hubbub_schema WHERE component = %s", (component,)
    ).fetchone()
    return int(row[0]) if row is not None else 0


def migrate_component(
    connection: Connection,
    name: str,
    component: str,
    version: int,
    schema: str,
    upgrades: Mapping[int, str] | None = None,
) -> None:
    """Create a component's tables unless they are current, and refuse a database written by a
    newer hubbub, like `hubbub.sqlitedb.migrate_component` (same `hubbub_schema` table, same
    `upgrades` convention). In one transaction, under an advisory lock, so that nodes starting
    together do not create the same tables at once. Commits."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        connection.execute(
            "CREATE TABLE IF NOT EXISTS hubbub_schema ("
            " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        found = component_version(connection, component)
        if found > version:
            raise RuntimeError(
                f"{name}: {component} schema version {found} is newer than this hubbub"
                f" understands ({version})"
            )
        if found < version:
            if found > 0:
                for step in range(found, version):
                    if (upgrades or {}).get(step):
                        connection.execute((upgrades or {})[step])
            connection.execute(schema)
            connection.execute(
                "INSERT INTO hubbub_schema (component, version) VALUES (%s, %s)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, version),
            )
    if not connection.autocommit:
        connection.commit()
