"""`hubbub chat`: the terminal client — full-screen (Textual) or line mode (`--plain`).

`main(args)` is what `hubbub chat` calls (from `hubbub.cli`, which imports this package only
when the subcommand runs). The pieces:

* `commands` — what the user typed → an action (pure); `complete` — nick completion (pure);
* `state` / `model` — the client's view of the network as a sans-IO state machine (pure);
  `state` assembles `ClientState` from its parts in the `state_*` modules;
* `connection` — the one asyncio TCP connection: framing, reconnect with backoff;
* `plain` — line mode; `ui` — the Textual application;
* `format` — times, nick colours, the one-line text form.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from hubbub.client.options import PASSWORD_ENV, ChatOptions, default_nick, parse_servers

__all__ = ["ChatOptions", "chat_servers", "main", "options_from_args"]


def options_from_args(args: argparse.Namespace) -> ChatOptions:
    """The options for a parsed `hubbub chat` command line (asks for --password if needed)."""
    password: str | None = None
    if args.password:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            password = getpass.getpass("server password: ")
    nick = args.nick or default_nick()
    rooms = tuple(args.room) if args.room else ("#lobby",)
    plain = bool(args.plain or args.once)
    servers = chat_servers(args)
    (host, port), *more = servers
    return ChatOptions(
        host, port, nick, rooms, plain, bool(args.once), password, more_servers=tuple(more)
    )


def chat_servers(args: argparse.Namespace) -> list[tuple[str, int]]:
    """The servers to try, in order: `--host`/`--port` (unless only `--server` was given),
    then every `--server`, duplicates dropped. Raises ValueError for a malformed one."""
    servers: list[tuple[str, int]] = []
    if args.host is not None or not args.server:
        servers.append((args.host or "127.0.0.1", args.port))
    for value in args.server or ():
        servers.extend(parse_servers(value, args.port))
    return list(dict.fromkeys(servers))


def main(args: argparse.Namespace) -> int:
    """Run the client; returns the exit status (0 ok, 1 connection trouble, 130 Ctrl-C)."""
    if not (1 <= args.port <= 65535):
        print(f"hubbub: --port {args.port} is not a TCP port (1-65535)", file=sys.stderr)
        return 2
    try:
        chat_servers(args)
    except ValueError as exc:
        print(f"hubbub: --server {exc}", file=sys.stderr)
        return 2
    try:
        options = options_from_args(args)
    except (EOFError, KeyboardInterrupt):
        print("hubbub: no password given", file=sys.stderr)
        return 2
    if not options.plain and not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("hubbub: not a terminal; using --plain line mode", file=sys.stderr)
        options = ChatOptions(**{**options.__dict__, "plain": True})
    try:
        if options.plain:
            from hubbub.client.plain import run_plain

            return asyncio.run(run_plain(options, sys.stdin, sys.stdout, sys.stderr))
        from hubbub.client.ui import run_ui

        status: int = run_ui(options)
        return status
    except KeyboardInterrupt:
        return 130
