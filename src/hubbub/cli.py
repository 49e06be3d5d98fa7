"""The `hubbub` command: `hubbub serve`, `hubbub chat`, `hubbub config check FILE` / `defaults`,
and the operator's tools (`backup`, `restore`, `doctor`: hubbub.ops.cli).

Exit status: 0 on success, 2 for a bad command line or configuration, 1 when the server cannot
start, 130 after Ctrl-C. `main` returns the status instead of raising SystemExit, so tests can
call it directly.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from hubbub import __version__
from hubbub.config import Config, ConfigError
from hubbub.config.loader import load_config
from hubbub.config.text import defaults_text, render_config
from hubbub.logsetup import LEVELS, configure

__all__ = ["build_parser", "main"]

# The flag that sets each overridden key, to name it in error messages.
FLAG_FOR_KEY = {
    "listen.hosts": "--host",
    "listen.port": "--port",
    "server.data_dir": "--data-dir",
    "log.level": "--log-level",
    "history.backend": "--memory",
    "history.url": "--store",
    "web.port": "--web-port",
    "web.enabled": "--no-web",
    "tls.cert": "--tls-cert",
    "tls.key": "--tls-key",
    "metrics.port": "--metrics-port",
    "server.engine": "--engine",
    "cluster.url": "--cluster",
    "cluster.workers": "--workers",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse has printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:  # no subcommand: say what there is
        args.help_parser.print_help(sys.stderr)
        return 2
    return handler(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubbub",
        description="hubbub: a multi-party IRC chat server whose rooms remember.",
    )
    parser.add_argument("--version", action="version", version=f"hubbub {__version__}")
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the chat server",
        description="Run the chat server in the foreground until SIGINT or SIGTERM. Settings "
        "come from the defaults, then --config FILE, then the flags below.",
    )
    serve.add_argument(
        "-c", "--config", metavar="FILE", type=Path, help="read settings from this TOML file"
    )
    serve.add_argument(
        "--host",
        metavar="HOST",
        action="append",
        help="address to listen on; repeat for several (replaces listen.hosts)",
    )
    serve.add_argument(
        "--port", metavar="N", type=int, help="TCP port to listen on; 0 picks a free one"
    )
    serve.add_argument(
        "--data-dir",
        metavar="DIR",
        help="directory for durable state such as the history database (server.data_dir)",
    )
    serve.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=str.upper,
        choices=LEVELS,
        help=f"log verbosity: {', '.join(LEVELS)} (log.level)",
    )
    serve.add_argument(
        "--memory",
        action="store_true",
        help="keep history in memory only; nothing survives a restart (history.backend)",
    )
    serve.add_argument(
        "--store",
        metavar="URL",
        help="keep history, accounts and registered channels in this PostgreSQL database, "
        "postgresql://USER@HOST[:PORT]/DATABASE (history.backend = postgres, history.url), "
        "or in the SQLite file sqlite:PATH (history.backend = sqlite, history.path)",
    )
    serve.add_argument(
        "--web-port",
        metavar="N",
        type=int,
        help="port of the web client and IRC over WebSocket; 0 picks a free one (web.port)",
    )
    serve.add_argument(
        "--no-web",
        action="store_true",
        help="do not serve the web client nor IRC over WebSocket (web.enabled = false)",
    )
    serve.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="TLS certificate (PEM); turns the TLS listener on (tls.cert; see `hubbub cert`)",
    )
    serve.add_argument("--tls-key", metavar="FILE", help="its private key (tls.key)")
    serve.add_argument(
        "--metrics-port",
        metavar="N",
        type=int,
        help="serve /metrics, /healthz and /readyz on this port (metrics.enabled, metrics.port)",
    )
    serve.add_argument(
        "--engine",
        metavar="NAME",
        # Checked with the configuration (server.engine's choices), so that a new engine is
        # added in one place.
        help="how connections are run: asyncio (default), threads (one per connection), "
        "select (one selectors loop), hybrid (several loops) or twisted (hubbub[twisted]); "
        "threads, select and hybrid are plain TCP only (server.engine)",
    )
    serve.add_argument(
        "--cluster",
        metavar="URL",
        help="join the cluster on this Redis bus, redis://HOST:PORT/DB (cluster.url)",
    )
    serve.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="N processes sharing the ports, each a node of the cluster (cluster.workers; "
        "needs --cluster)",
    )
    serve.set_defaults(handler=_serve)

    chat = commands.add_parser(
        "chat",
        help="chat from a terminal: full-screen, or line mode with --plain",
        description="Connect to an IRC server (hubbub or another) and chat: a full-screen "
        "terminal client, or with --plain a line-mode client for pipes and scripts. "
        "Type /help inside for the commands.",
    )
    chat.add_argument("--host", metavar="HOST", default="127.0.0.1", help="server address")
    chat.add_argument("--port", metavar="N", type=int, default=6667, help="server port")
    chat.add_argument("--nick", metavar="NICK", help="your nick (default: your login name)")
    chat.add_argument(
        "--room",
        metavar="#ROOM",
        action="append",
        help="room to join; repeat for several (default: #lobby)",
    )
    chat.add_argument(
        "--plain",
        action="store_true",
        help="line mode: print each message as a line, send each line of standard input",
    )
    chat.add_argument(
        "--once",
        action="store_true",
        help="with --plain: send standard input, wait for the echo, quit (for scripts)",
    )
    chat.add_argument(
        "--password",
        action="store_true",
        help="send a server password, read from $HUBBUB_PASSWORD or asked for",
    )
    chat.set_defaults(handler=_chat)

    config = commands.add_parser(
        "config",
        help="check a configuration file or print the defaults",
        description="Work with configuration files without starting the server.",
    )
    config.set_defaults(help_parser=config)
    config_commands = config.add_subparsers(title="commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check",
        help="validate a configuration file and print the configuration it gives",
        description="Validate FILE and print the effective configuration (every default "
        "filled in, the password hidden). Exit status 2 and a message naming the key if FILE "
        "is not valid.",
    )
    check.add_argument("file", metavar="FILE", type=Path, help="the TOML file to check")
    check.set_defaults(handler=_config_check)
    defaults = config_commands.add_parser(
        "defaults",
        help="print a complete commented configuration with every default",
        description="Print a configuration file listing every section and key at its default "
        "value, each explained: a starting point for your own.",
    )
    defaults.set_defaults(handler=_config_defaults)

    bench = commands.add_parser(
        "bench",
        help="load-test an IRC server (hubbub or any other) on this machine",
        description="Drive an IRC server on loopback with many clients and measure it: "
        "fan-out, rooms, connections, history. Works against any server.",
    )
    # The scenarios' flags (argparse only); the generator is imported when a benchmark runs.
    from hubbub.bench.options import add_scenarios

    add_scenarios(bench)
    bench.set_defaults(handler=_bench, help_parser=bench)

    # `hubbub cert` and `hubbub accounts list|approve|reject`.
    from hubbub.accounts.cli import add_commands as add_account_commands

    add_account_commands(commands)
    # `hubbub oper-hash`.
    from hubbub.opercli import add_commands as add_oper_commands

    add_oper_commands(commands)
    # `hubbub backup`, `restore` and `doctor`.
    from hubbub.ops.cli import add_commands as add_ops_commands

    add_ops_commands(commands)
    # `hubbub migrate` (SQLite to PostgreSQL).
    from hubbub.pg.migrate import add_commands as add_migrate_commands

    add_migrate_commands(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.host:
        overrides["listen.hosts"] = tuple(args.host)
    if args.port is not None:
        overrides["listen.port"] = args.port
    if args.data_dir is not None:
        overrides["server.data_dir"] = args.data_dir
    if args.log_level is not None:
        overrides["log.level"] = args.log_level
    if args.memory:
        overrides["history.backend"] = "memory"
    if args.store is not None:
        overrides.update(store_overrides(args.store))
    if args.tls_cert is not None:
        overrides["tls.cert"] = args.tls_cert
    if args.tls_key is not None:
        overrides["tls.key"] = args.tls_key
    if args.web_port is not None:
        overrides["web.port"] = args.web_port
    if args.no_web:
        overrides["web.enabled"] = False
    if args.engine is not None:
        overrides["server.engine"] = args.engine
    if args.metrics_port is not None:
        overrides["metrics.enabled"] = True
        overrides["metrics.port"] = args.metrics_port
    if args.cluster is not None:
        overrides["cluster.url"] = args.cluster
    if args.workers is not None:
        overrides["cluster.workers"] = args.workers
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        return _config_failed(exc)
    if config.cluster.workers > 1 and not config.cluster.url:
        print(
            "hubbub: --workers (cluster.workers) needs --cluster (cluster.url): worker "
            "processes form one network only through the cluster's bus",
            file=sys.stderr,
        )
        return 2
    configure(config.log.level, config.log.format)
    # Imported here: the CLI (config check, --help, …) works without the server's modules.
    try:
        app = importlib.import_module("hubbub.app")
    except ModuleNotFoundError as exc:
        if exc.name != "hubbub.app":
            raise
        print("hubbub: this build has no server (hubbub.app is missing)", file=sys.stderr)
        return 1
    run = cast(Callable[..., int | None], app.run)

    def reload() -> Config:  # REHASH and SIGHUP: the same file and flags, read again
        return load_config(args.config, overrides)

    # Older stand-ins for hubbub.app (tests) take the config alone.
    extra = {"reload": reload} if "reload" in inspect.signature(run).parameters else {}
    try:
        status = run(config, **extra)
    except KeyboardInterrupt:
        return 130
    return status if isinstance(status, int) else 0


def store_overrides(store: str) -> dict[str, object]:
    """The settings `--store` stands for: `sqlite:PATH`, or a PostgreSQL URL (any other value
    is refused as history.url, naming --store)."""
    if store.startswith("sqlite:"):
        return {"history.backend": "sqlite", "history.path": store.removeprefix("sqlite:")}
    return {"history.backend": "postgres", "history.url": store}


def _chat(args: argparse.Namespace) -> int:
    # Imported here: the server, --help and config commands never load the client or Textual.
    client = importlib.import_module("hubbub.client")
    run = cast(Callable[[argparse.Namespace], int], client.main)
    return run(args)


def _config_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        return _config_failed(exc)
    lines = [f"{args.file.absolute()} is valid. The configuration it gives:"]
    lines.append(f"data directory: {config.data_path}")
    if config.history.backend == "sqlite":
        lines.append(f"history database: {config.history_path}")
    print(render_config(config, hide_password=True, header="\n".join(lines)), end="")
    return 0


def _config_defaults(args: argparse.Namespace) -> int:
    print(defaults_text(), end="")
    return 0


def _bench(args: argparse.Namespace) -> int:
    if getattr(args, "scenario", None) is None:  # `hubbub bench` alone: list the scenarios
        args.help_parser.print_help(sys.stderr)
        return 2
    # Imported here: asyncio, multiprocessing and the generator only when a benchmark runs.
    from hubbub.bench.command import main as bench_main

    return bench_main(args)


def _config_failed(exc: ConfigError) -> int:
    if exc.override and exc.key in FLAG_FOR_KEY:
        message = f"{FLAG_FOR_KEY[exc.key]}: {exc.detail}"
    elif exc.key is not None and exc.file is not None:
        message = f"{exc.file}: {exc}"
    else:
        message = str(exc)
    print(f"hubbub: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
