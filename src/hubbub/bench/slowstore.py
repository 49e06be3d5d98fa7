"""The server with a slow disk under its history: each write of the history store takes longer.

    python -m hubbub.bench.slowstore --write-delay-ms 50 [--engine ENGINE] \\
        --config hubbub.toml --port 6667 --data-dir DIR

runs the real server (the same application, core and history worker as `hubbub serve`) whose
history store waits `--write-delay-ms` before every `append` (one batch of records written by
the history thread). benchmarks/engines starts the server this way for its slow-store scenario
and asks whether any client waits for the disk: nothing on the loop should, since appends are
a queue put and the writer thread batches while it waits.

Why a wrapper module and not a setting or a patch:
* a `[history]` setting would put a fault injector into every production configuration and its
  documentation, for a question only a benchmark asks;
* replacing `open_store` from outside (monkeypatching) silently misses every module that
  imported it by name, and hides from a reader of `hubbub.app` that the store is not the real one;
* `App.open_history_store` is the one place the application opens its store, an ordinary
  method, and `EngineServer.open_history_store` is the same for the threads, select and hybrid
  engines: this module subclasses the engine's App (asyncio, twisted) or server class (the
  others) and wraps what that method returns, and hands the subclass to the engine's `run`
  (`app_class=`, `server_class=`). Nothing else changes, and the server's own code carries no
  benchmark switch.

This is the one module of `hubbub.bench` that runs the server; the load generator never imports
it (it speaks IRC on the wire, like any client). The engine's module is imported by name at run
time, because the engine is chosen on the command line, Twisted is an optional extra, and
`hubbub.bench` may not import the core (an import-linter contract) even through an engine.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from hubbub.config import Config, ConfigError
from hubbub.config.loader import load_config
from hubbub.config.schema import ServerSection, rule_of
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from hubbub.logsetup import configure

__all__ = ["SlowStore", "main", "slowed"]

log = logging.getLogger("hubbub.bench")

#: The engines that run `hubbub.app`'s App: name → (module, its run function, its App class).
APP_ENGINES: dict[str, tuple[str, str, str]] = {
    "asyncio": ("hubbub.app", "run", "App"),
    "twisted": ("hubbub.engines.twisted_engine", "run", "TwistedApp"),
}

#: Every engine this wrapper can start: every engine `server.engine` accepts; those not above
#: are `hubbub.engines`' (an `EngineServer` subclass each, run by `hubbub.engines.run`).
ENGINES: tuple[str, ...] = rule_of(ServerSection, "engine").choices


class SlowStore:
    """A history store whose every `append` first waits `delay` seconds; all else as `inner`."""

    def __init__(
        self, inner: HistoryStore, delay: float, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.inner = inner
        self.delay = delay
        self.sleep = sleep
        self.appends = 0

    def append(self, records: Sequence[Record]) -> None:
        # On the history thread: this is the disk being slow, not the loop waiting.
        self.sleep(self.delay)
        self.appends += 1
        self.inner.append(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def slowed(app_class: type[Any], delay: float) -> type[Any]:
    """`app_class` (an App or an EngineServer) whose history store is a `SlowStore` waiting
    `delay` s per write."""

    def open_history_store(self: Any) -> HistoryStore:
        store = app_class.open_history_store(self)
        log.info("history store slowed: %g ms before every write", delay * 1000)
        return cast(HistoryStore, SlowStore(store, delay))

    return type(
        f"Slow{app_class.__name__}", (app_class,), {"open_history_store": open_history_store}
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hubbub.bench.slowstore",
        description="Run hubbub with a history store slowed by a fixed delay per write.",
    )
    parser.add_argument("--write-delay-ms", type=float, default=50.0, help="per write (50)")
    parser.add_argument("--engine", default="asyncio", help=f"one of {', '.join(ENGINES)}")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--port", type=int, help="listen.port")
    parser.add_argument("--data-dir", help="server.data_dir")
    parser.add_argument("--web-port", type=int, help="web.port")
    parser.add_argument("--no-web", action="store_true", help="web.enabled = false")
    parser.add_argument("--log-level", help="log.level")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.engine not in ENGINES:
        print(
            f"slowstore: engine {args.engine!r} is not supported (engines: {', '.join(ENGINES)})",
            file=sys.stderr,
        )
        return 2
    overrides: dict[str, object] = {}
    for key, value in (
        ("listen.port", args.port),
        ("server.data_dir", args.data_dir),
        ("web.port", args.web_port),
        ("log.level", args.log_level),
    ):
        if value is not None:
            overrides[key] = value
    if args.no_web:
        overrides["web.enabled"] = False
    overrides["server.engine"] = args.engine  # whatever the file says: the engine run here
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"slowstore: {exc}", file=sys.stderr)
        return 2
    configure(config.log.level, config.log.format)
    delay = args.write_delay_ms / 1000

    def reload() -> Config:
        return load_config(args.config, overrides)

    if args.engine not in APP_ENGINES:
        engines = importlib.import_module("hubbub.engines")
        server_class = slowed(engines.server_class_of(args.engine), delay)
        return cast(int, engines.run(config, reload, server_class=server_class))
    module_name, run_name, app_name = APP_ENGINES[args.engine]
    module = importlib.import_module(module_name)
    run = cast(Callable[..., int], getattr(module, run_name))
    return run(config, reload, app_class=slowed(getattr(module, app_name), delay))


if __name__ == "__main__":
    sys.exit(main())
