"""`hubbub backup`, `hubbub restore` and `hubbub doctor` (see hubbub.ops.backup, .doctor)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hubbub.config import Config, ConfigError
from hubbub.config.loader import load_config

__all__ = ["add_commands"]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup",
        help="copy the database (history, accounts, channels, bans) while the server runs",
        description="Take a consistent copy of hubbub's SQLite database with SQLite's online "
        "backup API. Safe while the server runs; the copy is checked before it is kept.",
    )
    _where(backup)
    backup.add_argument("--to", metavar="FILE", type=Path, required=True, help="backup file")
    backup.set_defaults(handler=_backup)

    restore = commands.add_parser(
        "restore",
        help="check a backup and put it back (the server must be stopped)",
        description="Check FILE (integrity, schema versions), then make it the database of "
        "the data directory. Refused while a server runs on it; the replaced database is kept "
        "as <file>.before-restore.",
    )
    restore.add_argument("--from", dest="source", metavar="FILE", type=Path, required=True)
    _where(restore)
    restore.set_defaults(handler=_restore)

    doctor = commands.add_parser(
        "doctor",
        help="check a setup: configuration, limits, data directory, certificate",
        description="Check the configuration, the file-descriptor limit, the data directory "
        "and database, and the TLS certificate, and say what to fix. Exit status 1 on a "
        "problem.",
    )
    doctor.add_argument("-c", "--config", metavar="FILE", type=Path, help="the config file")
    doctor.add_argument("--data-dir", metavar="DIR", help="override server.data_dir")
    doctor.set_defaults(handler=_doctor)


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", type=Path, help="the config file")
    parser.add_argument("--data-dir", metavar="DIR", help="the data directory (server.data_dir)")


def _config(args: argparse.Namespace) -> Config | None:
    overrides: dict[str, object] = {}
    if args.data_dir is not None:
        overrides["server.data_dir"] = args.data_dir
    try:
        return load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"hubbub: {exc}", file=sys.stderr)
        return None


def _database(args: argparse.Namespace) -> Path | None:
    if args.config is None and args.data_dir is None:
        print("hubbub: say where the database is: --data-dir DIR or --config FILE", file=sys.stderr)
        return None
    config = _config(args)
    if config is None:
        return None
    if config.history.backend == "postgres":
        print(
            "hubbub: history.backend is postgres: back the database up with PostgreSQL's own"
            " tools (pg_dump; docs/operations.md)",
            file=sys.stderr,
        )
        return None
    if config.history.backend != "sqlite":
        print("hubbub: history.backend is memory: there is nothing to back up", file=sys.stderr)
        return None
    return config.history_path


def _backup(args: argparse.Namespace) -> int:
    from hubbub.ops.backup import BackupError, backup

    database = _database(args)
    if database is None:
        return 2
    try:
        summary = backup(database, args.to)
    except (BackupError, OSError) as exc:
        print(f"hubbub: {exc}", file=sys.stderr)
        return 1
    print(
        f"backed up {database} to {args.to}: {summary.records} messages, "
        f"{summary.size} bytes, integrity ok"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from hubbub.ops.backup import BackupError, restore

    database = _database(args)
    if database is None:
        return 2
    try:
        summary = restore(args.source, database)
    except (BackupError, OSError) as exc:
        print(f"hubbub: {exc}", file=sys.stderr)
        return 1
    print(
        f"restored {args.source} to {database}: {summary.records} messages, integrity ok"
        f" (the previous database, if any, is {database.name}.before-restore)"
    )
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from hubbub.ops.doctor import check, has_problems

    config = _config(args)
    if config is None:
        print("problem  the configuration does not load (above); fix it first", file=sys.stderr)
        return 1
    where = args.config.absolute() if args.config is not None else "defaults (no --config)"
    print(f"ok       configuration: {where}")
    findings = check(config)
    for finding in findings:
        print(finding)
    if has_problems(findings):
        print("hubbub doctor: problems found (see above)")
        return 1
    print("hubbub doctor: no problems found")
    return 0
