"""`hubbub backup` and `hubbub restore`: consistent copies of the SQLite state.

Everything durable (history, accounts, registered channels, server bans) lives in one SQLite
file. `backup` copies it with SQLite's online backup API in ONE step: one read transaction over
the whole copy, so the copy is the database as of one instant, while the server keeps writing
(WAL: readers never block the writer nor the other way round). It runs in its own process
(`hubbub backup`), never on the server's event loop. The copy is written next to the target,
checked (`PRAGMA integrity_check`), switched to a self-contained rollback journal, synced and
renamed into place: a backup file is complete or absent.

`restore` checks a backup first (a SQLite file, intact, with schema versions this hubbub can
read), then takes the data directory's lock (`hubbub.ops.datalock`: it refuses while a server
runs on the directory), keeps the current database as `<file>.before-restore`, removes its
stale `-wal` / `-shm` (a WAL left beside a different database would be replayed into it) and
puts the copy in place.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hubbub.accounts.sqlite import COMPONENT as ACCOUNTS
from hubbub.accounts.sqlite import SCHEMA_VERSION as ACCOUNTS_VERSION
from hubbub.history.sqlite import SCHEMA_VERSION as HISTORY_VERSION
from hubbub.ops.datalock import DataLock
from hubbub.registry.sqlite import COMPONENT as REGISTRY
from hubbub.registry.sqlite import SCHEMA_VERSION as REGISTRY_VERSION
from hubbub.sqlitedb import component_version

__all__ = ["BackupError", "Summary", "backup", "check_backup", "restore"]


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Summary:
    """What a checked database holds."""

    history_version: int
    records: int
    size: int


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    else:
        db = sqlite3.connect(path)
    db.execute("PRAGMA busy_timeout=10000")
    return db


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _summary(db: sqlite3.Connection, path: Path) -> Summary:
    """Check `db`: intact, hubbub's, versions this hubbub understands."""
    try:
        result = [row[0] for row in db.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a SQLite database ({exc})") from exc
    if result != ["ok"]:
        raise BackupError(f"{path}: integrity check failed: {'; '.join(result[:5])}")
    (history,) = db.execute("PRAGMA user_version").fetchone()
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if history == 0 or "records" not in tables:
        raise BackupError(f"{path}: not a hubbub database (no history tables)")
    if history > HISTORY_VERSION:
        raise BackupError(
            f"{path}: history schema version {history} is newer than this hubbub reads"
            f" ({HISTORY_VERSION}); restore it with a newer hubbub"
        )
    for component, known in ((ACCOUNTS, ACCOUNTS_VERSION), (REGISTRY, REGISTRY_VERSION)):
        found = component_version(db, component)
        if found > known:
            raise BackupError(
                f"{path}: {component} schema version {found} is newer than this hubbub reads"
                f" ({known}); restore it with a newer hubbub"
            )
    (messages,) = db.execute("SELECT count(*) FROM records").fetchone()
    return Summary(int(history), int(messages), path.stat().st_size)


def backup(database: Path, target: Path) -> Summary:
    """Copy `database` (which a server may be writing) to `target`, consistently."""
    if not database.is_file():
        raise BackupError(f"{database}: no such database (check --data-dir)")
    if target.exists() and target.is_dir():
        raise BackupError(f"{target}: is a directory; name the backup file")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = _connect(database, read_only=False)
    try:
        copy = sqlite3.connect(partial)
        try:
            # pages=-1: the whole database in one step, i.e. one read transaction: a snapshot.
            source.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no WAL
            summary = _summary(copy, partial)
        finally:
            copy.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {database} failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    _sync(partial)
    partial.replace(target)
    with contextlib.suppress(OSError):  # the rename itself survives a crash once the dir is synced
        _sync(target.parent)
    return summary


def check_backup(path: Path) -> Summary:
    """Check a backup file without changing it."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    db = _connect(path, read_only=True)
    try:
        return _summary(db, path)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a SQLite database ({exc})") from exc
    finally:
        db.close()


def restore(source: Path, database: Path) -> Summary:
    """Check `source`, then make it the database at `database` (no server may be running)."""
    summary = check_backup(source)
    with DataLock(database):
        incoming = database.with_name(database.name + ".restoring")
        incoming.unlink(missing_ok=True)
        src = _connect(source, read_only=True)
        try:
            copy = sqlite3.connect(incoming)
            try:
                src.backup(copy, pages=-1)
                copy.execute("PRAGMA journal_mode=DELETE")
                _summary(copy, incoming)
            finally:
                copy.close()
        except BaseException:
            incoming.unlink(missing_ok=True)
            raise
        finally:
            src.close()
        _sync(incoming)
        if database.exists():
            # Fold the current WAL into the old file before keeping it, so it is whole.
            with contextlib.suppress(sqlite3.Error):
                old = sqlite3.connect(database)
                try:
                    old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    old.close()
            database.replace(database.with_name(database.name + ".before-restore"))
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        incoming.replace(database)
        with contextlib.suppress(OSError):
            _sync(database.parent)
    return summary
