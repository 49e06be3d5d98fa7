"""`hubbub migrate --from sqlite:PATH --to postgresql://…`: move a single server's SQLite file
(history, accounts, registered channels and server bans) into PostgreSQL.

Idempotent, so it can be run again (after an interruption, or to pick up what a server still
running on the SQLite file wrote since): a history record already in PostgreSQL (same target and
msgid) is skipped, as is an edit already linked to its message, an account or a registered
channel whose name is taken there, and a server ban of the same kind and mask. What is skipped
is left as PostgreSQL has it. Read markers only ever move forward, so they are merged.

History records keep their order: they are read in the SQLite file's append order and inserted
in it, in batches (one transaction each). The SQLite file is opened with the SQLite stores first,
which bring an older file's schema up to date, as starting the server on it would.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import psycopg

from hubbub.pg.database import CONNECT_TIMEOUT, describe, is_postgres_url

__all__ = ["MigrationReport", "add_commands", "migrate"]

#: History records per PostgreSQL transaction.
BATCH = 1000

_RECORDS = (
    "SELECT target, msgid, time_ms, source, command, params, tags, account, party_a, party_b,"
    " edited_ms FROM records ORDER BY seq"
)
_INSERT_RECORD = (
    "INSERT INTO records (target, msgid, time_ms, source, command, params, tags, account,"
    " party_a, party_b, edited_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (target, msgid) DO NOTHING RETURNING 1"
)
_EDITS = (
    "SELECT target, msgid, edit_msgid, time_ms, text, previous, account FROM edits ORDER BY seq"
)
_INSERT_EDIT = (
    "INSERT INTO edits (target, msgid, edit_msgid, time_ms, text, previous, account)"
    " SELECT %s, %s, %s, %s, %s, %s, %s WHERE NOT EXISTS ("
    " SELECT 1 FROM edits WHERE target = %s AND msgid = %s AND edit_msgid = %s) RETURNING 1"
)


@dataclass
class MigrationReport:
    """What one run copied (the rest was there already)."""

    records: int = 0
    records_skipped: int = 0
    edits: int = 0
    accounts: int = 0
    accounts_skipped: int = 0
    read_markers: int = 0
    channels: int = 0
    channels_skipped: int = 0
    bans: int = 0

    def lines(self) -> list[str]:
        return [
            f"{field.name.replace('_', ' ')}: {getattr(self, field.name)}" for field in fields(self)
        ]


def migrate(
    source: Path, url: str, progress: Callable[[str], None] = lambda line: None
) -> MigrationReport:
    """Copy the SQLite file at `source` into the PostgreSQL database at `url` (its tables
    created if absent). Raises `FileNotFoundError` without a source file, `DatabaseUnavailable`
    (an OSError) when PostgreSQL cannot be reached."""
    from hubbub.accounts.postgres import PostgresAccountStore
    from hubbub.accounts.sqlite import SqliteAccountStore
    from hubbub.history.postgres import PostgresStore
    from hubbub.history.sqlite import SqliteStore
    from hubbub.registry.postgres import PostgresRegistryStore
    from hubbub.registry.sqlite import SqliteRegistryStore

    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such SQLite file")
    report = MigrationReport()
    # Both sides' schemas current (the PostgreSQL tables made) before anything is copied.
    SqliteStore(source).close()
    PostgresStore(url).close()
    with (
        _closing(SqliteAccountStore(source)) as old_accounts,
        _closing(PostgresAccountStore(url)) as new_accounts,
    ):
        _accounts(source, old_accounts, new_accounts, report)
    progress(f"accounts: {report.accounts} copied, {report.accounts_skipped} already there")
    with (
        _closing(SqliteRegistryStore(source)) as old_registry,
        _closing(PostgresRegistryStore(url)) as new_registry,
    ):
        _registry(old_registry, new_registry, report)
    progress(f"channels: {report.channels} copied; server bans: {report.bans} copied")
    _history(source, url, report, progress)
    return report


class _closing:
    """`with` for the stores (they have `close`, not the context protocol)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __enter__(self) -> Any:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def _read_only(source: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)


def _accounts(source: Path, old: Any, new: Any, report: MigrationReport) -> None:
    with _read_only(source) as db:
        markers = db.execute("SELECT fold, target, time_ms FROM read_markers").fetchall()
    for account in old.accounts():
        if new.create(account):
            report.accounts += 1
        else:
            report.accounts_skipped += 1
            continue
        values = old.metadata(account.fold)
        if values:
            new.save_metadata(account.fold, values)
    for fold, target, time_ms in markers:
        # Forward only: a marker PostgreSQL already has further on stays.
        if new.set_read_marker(fold, target, time_ms) is not None:
            report.read_markers += 1


def _registry(old: Any, new: Any, report: MigrationReport) -> None:
    metadata = old.channel_metadata()
    for channel in old.channels():
        if not new.create_channel(channel):
            report.channels_skipped += 1
            continue
        report.channels += 1
        if metadata.get(channel.fold):
            new.change_channel_metadata(channel.fold, sorted(metadata[channel.fold].items()))
    there = {(ban.kind, ban.mask) for ban in new.bans()}
    for ban in old.bans():  # oldest first, so they keep their order
        if (ban.kind, ban.mask) not in there:
            new.add_ban(ban)
            report.bans += 1


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    while True:
        rows = cursor.fetchmany(BATCH)
        if not rows:
            return
        yield rows


def _history(
    source: Path, url: str, report: MigrationReport, progress: Callable[[str], None]
) -> None:
    with _read_only(source) as old, psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as new:
        old.execute("BEGIN")  # one snapshot, even while a server writes the file
        for rows in _chunks(old.execute(_RECORDS)):
            with new.transaction(), new.cursor() as cursor:
                cursor.executemany(_INSERT_RECORD, rows, returning=True)
                copied = _returned(cursor)
            report.records += copied
            report.records_skipped += len(rows) - copied
            progress(f"history: {report.records} records copied")
        for rows in _chunks(old.execute(_EDITS)):
            with new.transaction(), new.cursor() as cursor:
                cursor.executemany(
                    _INSERT_EDIT, [(*row, row[0], row[1], row[2]) for row in rows], returning=True
                )
                report.edits += _returned(cursor)
        old.rollback()


def _returned(cursor: psycopg.Cursor[Any]) -> int:
    """How many of an executemany's statements returned their row (inserted one)."""
    count = 0
    while True:
        count += len(cursor.fetchall())
        if not cursor.nextset():
            return count


# -- the command -----------------------------------------------------------------------------------


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "migrate",
        help="copy a SQLite database (history, accounts, channels, bans) into PostgreSQL",
        description="Copy the history, accounts, registered channels and server bans of a "
        "single server's SQLite file into a PostgreSQL database (its tables are created if "
        "absent). Running it again copies only what is missing: nothing is duplicated.",
    )
    command.add_argument(
        "--from", dest="source", metavar="sqlite:PATH", required=True, help="the SQLite file"
    )
    command.add_argument(
        "--to",
        dest="target",
        metavar="URL",
        required=True,
        help="the PostgreSQL database, postgresql://USER@HOST[:PORT]/DATABASE",
    )
    command.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    source: str = args.source
    target: str = args.target
    if not source.startswith("sqlite:"):
        print(f"hubbub: --from: expected sqlite:PATH, got {source!r}", file=sys.stderr)
        return 2
    if not is_postgres_url(target):
        print(f"hubbub: --to: expected a postgresql:// URL, got {target!r}", file=sys.stderr)
        return 2
    path = Path(source.removeprefix("sqlite:")).expanduser()
    try:
        report = migrate(path, target, progress=lambda line: print(line, file=sys.stderr))
    except (OSError, psycopg.Error) as exc:  # no file, PostgreSQL unreachable: one line
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"hubbub: migrate: {reason}", file=sys.stderr)
        return 1
    print(f"migrated {path} to {describe(target)}")
    for line in report.lines():
        print(f"  {line}")
    return 0
