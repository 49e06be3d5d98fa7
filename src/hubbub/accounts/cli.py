"""`hubbub cert` and `hubbub accounts …`: certificates and accounts from the command line.

`hubbub accounts` works on the database directly (its own SQLite connection; WAL lets it run
beside a running server), so an operator can approve registrations before OPER exists:

    hubbub accounts list [--pending]      every account (or those awaiting approval)
    hubbub accounts approve NAME          make a pending account usable, at once
    hubbub accounts reject NAME           delete a pending account

A running server reads the pending flag from the database at each login, so an approval takes
effect immediately. `reject` frees the name in the database; a running server keeps treating
the name as registered for nick enforcement until it restarts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hubbub.config import ConfigError
from hubbub.config.loader import load_config

__all__ = ["add_commands"]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cert = commands.add_parser(
        "cert",
        help="make a self-signed TLS certificate and key for local use",
        description="Write a self-signed certificate (hubbub.crt) and its private key "
        "(hubbub.key, readable by you only) into DIR, and print the [tls] settings that use "
        "them. Clients will warn that nobody vouches for it: for local use and testing; use a "
        "certificate from a CA (such as Let's Encrypt) for a public server.",
    )
    cert.add_argument("--out", metavar="DIR", type=Path, default=Path("."), help="where to write")
    cert.add_argument(
        "--host", metavar="NAME", default="localhost", help="the server's host name (CN)"
    )
    cert.set_defaults(handler=_cert)

    accounts = commands.add_parser(
        "accounts",
        help="list, approve or reject accounts (works on the database directly)",
        description="Work on the account database of a configuration (the history database "
        "file). Safe while the server runs.",
    )
    accounts.set_defaults(help_parser=accounts)
    sub = accounts.add_subparsers(title="commands", metavar="COMMAND")
    for name, text in (
        ("list", "list accounts"),
        ("approve", "approve a pending account"),
        ("reject", "delete a pending account"),
    ):
        command = sub.add_parser(name, help=text, description=text.capitalize() + ".")
        command.add_argument("-c", "--config", metavar="FILE", type=Path, help="config file")
        command.add_argument("--data-dir", metavar="DIR", help="server.data_dir")
        if name == "list":
            command.add_argument("--pending", action="store_true", help="only pending ones")
        else:
            command.add_argument("name", metavar="NAME", help="the account")
        command.set_defaults(handler=_accounts, action=name)


def _cert(args: argparse.Namespace) -> int:
    from hubbub.tls import make_certificate

    out: Path = args.out
    cert_path, key_path = out / "hubbub.crt", out / "hubbub.key"
    try:
        fingerprint = make_certificate(cert_path, key_path, args.host)
    except OSError as exc:
        print(f"hubbub: cannot write the certificate: {exc}", file=sys.stderr)
        return 1
    print(f"certificate: {cert_path.absolute()}")
    print(f"key:         {key_path.absolute()}")
    print(f"SHA-256:     {fingerprint}")
    print("\nAdd to your configuration:\n")
    print(f'[tls]\ncert = "{cert_path.absolute()}"\nkey = "{key_path.absolute()}"')
    return 0


def _accounts(args: argparse.Namespace) -> int:
    from hubbub.accounts.sqlite import SqliteAccountStore
    from hubbub.accounts.store import AccountStore
    from hubbub.protocol.casemap import Casemapping

    overrides: dict[str, object] = {}
    if args.data_dir is not None:
        overrides["server.data_dir"] = args.data_dir
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"hubbub: {exc}", file=sys.stderr)
        return 2
    if config.history.backend == "memory":
        print("hubbub: accounts are kept in memory (history.backend = memory)", file=sys.stderr)
        return 2
    path = config.history_path
    fold = Casemapping.from_name(config.server.casemapping).fold
    store: AccountStore
    if config.history.backend == "postgres":
        from hubbub.accounts.postgres import PostgresAccountStore

        try:
            store = PostgresAccountStore(config.history.url)
        except OSError as exc:  # DatabaseUnavailable: one line
            print(f"hubbub: {exc}", file=sys.stderr)
            return 1
    else:
        if not path.exists():
            print(f"hubbub: no database at {path}", file=sys.stderr)
            return 1
        store = SqliteAccountStore(path)
    try:
        if args.action == "list":
            found = store.accounts(pending_only=args.pending)
            for account in found:
                created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(account.created_ms / 1000))
                state = "pending" if account.pending else "active"
                print(f"{account.name}\t{state}\t{created}\t{account.email or '-'}")
            if not found:
                print("no accounts" + (" awaiting approval" if args.pending else ""))
            return 0
        key = fold(args.name)
        target = store.get(key)
        if target is None or not target.pending:
            what = "no such account" if target is None else "not pending"
            print(f"hubbub: {args.name}: {what}", file=sys.stderr)
            return 1
        if args.action == "approve":
            store.approve(key)
            print(f"approved {target.name}")
        else:
            store.delete(key)
            print(f"rejected {target.name} (deleted)")
        return 0
    finally:
        store.close()
