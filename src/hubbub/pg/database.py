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

A connection that dies holding uncommitted writes loses them: the next `commit` then raises
`DatabaseUnavailable` once, whichever call noticed, so that the writer hears of it (the history
worker appends its whole uncommitted batch again) instead of committing what the new connection
holds as if it were everything.
"""

from __future__ import annotations

import logging
import select
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
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
    if not url:
        return "PostgreSQL (libpq defaults)"
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _gone(connection: Connection) -> bool:
    """Whether the connection itself is lost (rather than one statement having failed)."""
    return connection.closed or connection.broken


def _hung_up(connection: Connection) -> bool:
    """Whether an idle connection was closed by the server meanwhile (PostgreSQL restarted: it
    sent its clients a farewell and hung up). Looks without waiting: an idle connection is sent
    nothing otherwise (hubbub uses no LISTEN), so a readable socket means it is over."""
    # poll, not select: a server with thousands of clients gives a reconnection a descriptor
    # above select's limit.
    poller = select.poll()
    try:
        poller.register(connection.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


def _passing(exc: psycopg.Error) -> bool:
    """Whether a statement's error says "not now" rather than "never": PostgreSQL shutting down
    or refusing connections, out of resources, a deadlock or serialisation conflict (SQLSTATE
    classes 08, 53, 57, 40): the same statement may well work when tried again."""
    return isinstance(exc, psycopg.OperationalError)


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
        # Writes were made in the open transaction since the last commit.
        self._dirty = False
        # An open transaction with writes was lost (the connection died, or the transaction
        # was aborted): the next `commit` says so instead of committing what is left.
        self._lost = False
        self.connect()

    def _unavailable(self, exc: BaseException, what: str) -> DatabaseUnavailable:
        return DatabaseUnavailable(f"{self.name}: {what} ({_first_line(exc)})")

    def connect(self) -> Connection:
        """The live connection, connecting (and running `setup`) if there is none."""
        connection = self._connection
        if connection is not None and not _gone(connection):
            status = connection.info.transaction_status
            if status == pq.TransactionStatus.INERROR:
                # Aborted outside any step (should not happen): what it held is gone.
                connection.rollback()
                self._forget_writes()
            # Idle (nothing uncommitted to lose): a connection the server hung up on is
            # replaced before use, so the first call after a PostgreSQL restart works.
            if status != pq.TransactionStatus.IDLE or not _hung_up(connection):
                return connection
        if connection is not None:
            self._drop()
        try:
            connection = psycopg.connect(
                self.url, autocommit=self._autocommit, connect_timeout=CONNECT_TIMEOUT
            )
        except psycopg.Error as exc:
            raise self._unavailable(exc, "cannot connect to PostgreSQL") from exc
        try:
            self._setup(connection)
        except psycopg.Error as exc:
            connection.close()
            if _gone(connection) or _passing(exc):
                raise self._unavailable(exc, "PostgreSQL connection lost") from exc
            raise
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _forget_writes(self) -> None:
        if self._dirty:
            self._lost = True
        self._dirty = False

    def _drop(self) -> None:
        """Forget a broken connection (and the writes of its open transaction)."""
        if self._connection is not None:
            try:
                self._connection.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)
        self._connection = None
        self._forget_writes()

    @contextmanager
    def step(self, write: bool = False) -> Iterator[Connection]:
        """The connection, for statements that succeed or fail together (see the module
        docstring). `write`: they change data (so they are lost if the connection dies before
        `commit`). A lost connection or a passing refusal (`_passing`) is raised as
        `DatabaseUnavailable`; any other error as it is, the open transaction intact."""
        connection = self.connect()
        try:
            if self._autocommit:
                with connection.transaction():
                    yield connection
            else:
                connection.execute("SAVEPOINT hubbub_step")
                try:
                    yield connection
                except psycopg.Error:
                    if not _gone(connection):
                        connection.execute("ROLLBACK TO SAVEPOINT hubbub_step")
                    raise
                connection.execute("RELEASE SAVEPOINT hubbub_step")
                if write:
                    self._dirty = True
        except psycopg.Error as exc:
            unavailable = self._unavailable_for(connection, exc)
            if unavailable is None:
                raise
            raise unavailable from exc

    def write_many(
        self, statement: str, rows: Sequence[Sequence[Any]], first: str | None = None
    ) -> None:
        """`statement` once per row (psycopg's executemany), as a `step(write=True)` would run
        it (inside a savepoint, or its own transaction with autocommit), in one round trip:
        the savepoint, the rows and the release go out together in pipeline mode rather than
        waiting for each other (a history batch is written many times a second; three round
        trips each woke the writer thread and had it take the GIL back three times). `first`:
        a statement run before the rows, in the same round trip (a lock to take). Errors as
        `step` raises them."""
        connection = self.connect()
        try:
            if self._autocommit:
                with connection.transaction(), connection.cursor() as cursor:
                    if first is not None:
                        cursor.execute(first)
                    cursor.executemany(statement, rows)
                return
            try:
                with connection.pipeline(), connection.cursor() as cursor:
                    cursor.execute("SAVEPOINT hubbub_step")
                    if first is not None:
                        cursor.execute(first)
                    cursor.executemany(statement, rows)
                    cursor.execute("RELEASE SAVEPOINT hubbub_step")
            except psycopg.Error:
                # A failed row skipped the rest and the release; the savepoint came before it
                # (had it failed itself, the connection is gone or was already aborted).
                if not _gone(connection):
                    connection.execute("ROLLBACK TO SAVEPOINT hubbub_step")
                raise
            self._dirty = True
        except psycopg.Error as exc:
            unavailable = self._unavailable_for(connection, exc)
            if unavailable is None:
                raise
            raise unavailable from exc

    def _unavailable_for(
        self, connection: Connection, exc: psycopg.Error
    ) -> DatabaseUnavailable | None:
        """A statement's error as `DatabaseUnavailable` when the connection is lost or the
        refusal is passing (`_passing`); None when it is the statement's own (raised as is)."""
        if _gone(connection):
            self._drop()
            return self._unavailable(exc, "PostgreSQL connection lost")
        if _passing(exc):
            return self._unavailable(exc, "PostgreSQL refused for now")
        return None

    def writes_lost(self) -> None:
        """The writes of the open transaction were lost where its writer did not hear of it (a
        commit made on the way to something else failed): the next `commit` raises once."""
        self._lost = True

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
            # Whatever went wrong, nothing of the transaction is durable: the caller writes
            # it again (the history worker keeps every uncommitted record).
            self._dirty = False
            if _gone(connection):
                self._drop()
                raise self._unavailable(exc, "PostgreSQL connection lost") from exc
            raise self._unavailable(exc, "PostgreSQL refused the commit") from exc
        self._dirty = False

    def close(self) -> None:
        """Commit what is open and close the connection."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not self._autocommit and not _gone(connection):
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
