"""The part every PostgreSQL store (history, accounts, registry) opens the same way: one
`Database` for its URL, its tables created or checked on each new connection, and its schema
version readable for `hubbub doctor`.

Each store only says which component it is, its schema (and the upgrades of older versions
of it), and whether its steps commit on their
own (accounts, registry) or accumulate until the history worker commits a batch. `_write` is
the one-statement write the accounts and registry stores make for most of their changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from hubbub.pg.database import (
    Connection,
    Database,
    component_version,
    describe,
    migrate_component,
)

__all__ = ["ComponentStore"]


class ComponentStore:
    """A store holding one component's tables in a PostgreSQL database (created if absent).

    `name` is the URL without its password; `_db` the store's connection, for its statements.
    """

    def __init__(
        self,
        url: str,
        component: str,
        version: int,
        schema: str,
        *,
        autocommit: bool,
        upgrades: Mapping[int, str] | None = None,
    ) -> None:
        self.name = describe(url)
        self._component = component
        self._version = version
        self._schema = schema
        self._upgrades = upgrades  # the SQL taking a version-v schema to v + 1
        # Last: connecting runs `_setup`, which needs the fields above.
        self._db = Database(url, self._setup, autocommit=autocommit)

    def _setup(self, connection: Connection) -> None:
        migrate_component(
            connection, self.name, self._component, self._version, self._schema, self._upgrades
        )

    @property
    def schema_version(self) -> int:
        """The version the database records for this component (0: none yet)."""
        with self._db.step() as db:
            return component_version(db, self._component)

    def _write(self, sql: str, args: Sequence[Any]) -> bool:
        """Run one writing statement in a step of its own: whether it changed a row. A
        constraint refusing it (a name taken, no such account) is "no change", the answer the
        store contracts give for it, rather than an error."""
        try:
            with self._db.step(write=True) as db:
                return db.execute(sql, args).rowcount > 0
        except psycopg.IntegrityError:
            return False
