"""Opening hubbub's SQLite file, shared by the history, account and registry stores.

Each store opens its own connection (on its own worker thread) to the same file. WAL lets them
work side by side, and `synchronous=NORMAL` makes every committed transaction survive the
process being killed, which is the durability hubbub promises (docs/architecture.md).

The history versions its schema with `PRAGMA user_version`; the other components keep theirs in
a `hubbub_schema` table, one row per component, so they can evolve independently.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["component_version", "migrate_component", "open_database"]


def open_database(path: Path, setup: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    """Connect (creating the file and its directory if absent), set the shared pragmas, then run
    the store's `setup`; the connection is closed again if anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        setup(db)
    except BaseException:
        db.close()
        raise
    return db


def component_version(db: sqlite3.Connection, component: str) -> int:
    """The schema version a component recorded in `hubbub_schema` (0: none yet)."""
    try:
        row = db.execute(
            "SELECT version FROM hubbub_schema WHERE component = ?", (component,)
        ).fetchone()
    except sqlite3.OperationalError:  # no such table yet
        return 0
    return int(row[0]) if row is not None else 0


def migrate_component(
    db: sqlite3.Connection,
    path: Path,
    component: str,
    version: int,
    schema: str,
    upgrades: Mapping[int, str] | None = None,
) -> None:
    """Create a component's tables (`schema` must create `hubbub_schema` too) unless they are
    current; refuse a file written by a newer hubbub.

    `upgrades[v]` is the SQL that takes an existing version-`v` schema to version `v + 1`
    (adding a column, say, which `CREATE TABLE IF NOT EXISTS` cannot); they run in order, in
    the same transaction as `schema`, before it."""
    found = component_version(db, component)
    if found > version:
        raise RuntimeError(
            f"{path}: {component} schema version {found} is newer than this hubbub"
            f" understands ({version})"
        )
    if found < version:
        steps = "".join((upgrades or {})[v] for v in range(found, version) if found > 0)
        with db:
            db.executescript("BEGIN;" + steps + schema)
            db.execute(
                "INSERT OR REPLACE INTO hubbub_schema (component, version) VALUES (?, ?)",
                (component, version),
            )
