"""`hubbub oper-hash`: the argon2id hash of an operator password, for `[[operators]]`.

The password is read without echo from the terminal (twice, to catch typos), or as one line from
standard input when that is not a terminal or `--stdin` is given (for scripts). Only the hash is
printed; the password is never written anywhere.
"""

from __future__ import annotations

import argparse
import getpass
import sys

__all__ = ["add_commands"]

MIN_LENGTH = 8


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "oper-hash",
        help="hash an IRC operator password for the [[operators]] config",
        description="Read a password (without echo, or from standard input) and print its "
        "argon2id hash and the [[operators]] table that uses it.",
    )
    parser.add_argument("--name", metavar="NAME", default="admin", help="the operator's name")
    parser.add_argument(
        "--host", metavar="MASK", default="*@*", help="user@host mask the operator must match"
    )
    parser.add_argument(
        "--stdin", action="store_true", help="read the password as one line of standard input"
    )
    parser.set_defaults(handler=_oper_hash)


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Operator password: ")
    second = getpass.getpass("Again: ")
    if first != second:
        print("hubbub: the two passwords differ", file=sys.stderr)
        return None
    return first


def _oper_hash(args: argparse.Namespace) -> int:
    from argon2 import PasswordHasher

    from hubbub.config.loader import toml_string

    try:
        password = _read_password(args.stdin)
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return 130
    if password is None:
        return 1
    if len(password) < MIN_LENGTH:
        print(f"hubbub: choose a password of at least {MIN_LENGTH} characters", file=sys.stderr)
        return 1
    phc = PasswordHasher().hash(password)
    print(phc)
    print("\n# Add to your configuration, then REHASH (or kill -HUP the server):", file=sys.stderr)
    print(
        f"[[operators]]\nname = {toml_string(args.name)}\npassword = {toml_string(phc)}\n"
        f"host = {toml_string(args.host)}",
        file=sys.stderr,
    )
    return 0
