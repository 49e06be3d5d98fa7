"""The engines: the same sans-IO core driven by different concurrency designs.

`hubbub serve --engine NAME` (or `[server] engine`) picks one; `asyncio` is the default and is
`hubbub.app` itself. The others live here and share one non-asyncio connection
(`hubbub.engines.connection`) and one server shell (`hubbub.engines.server`: workers, core,
admission, timeouts, REHASH, shutdown); each adds only how its threads mind the sockets.

* `asyncio`: one event loop (uvloop); the core needs no lock.
* `threads`: a thread per connection (plus a writer thread while it is behind on output), an
  acceptor per listening socket and a housekeeper; the core under a fair readers-writers lock,
  every core call a writer.
* `select`: one `selectors` loop (epoll) on one thread; the core needs no lock.
* `hybrid`: `server.engine_loops` select loops, each owning a share of the connections; the
  core under the same fair lock.

Every engine keeps the asyncio engine's rules: the 512 + 8191 byte line limits
(`LineReader`), `limits.invalid_utf8`, flood control with the same token bucket and answer
costs, `limits.sendq_bytes` ("SendQ exceeded": a sender never waits for a slow recipient; only
what the kernel refuses waits, drained by the recipient's own thread or loop), registration and
PING timeouts, `limits.clients_per_ip` and `limits.max_clients`, a graceful shutdown that lets
clients take their last bytes and then flushes history, and durable history through the same
`HistoryWorker`. Worker answers (history, accounts, registry) come back through a bounded
mailbox (`hubbub.engines.mailbox`) and run as core calls, with the core lock held.

What only asyncio serves: TLS, the web client and IRC over WebSocket, the PROXY protocol and
the metrics listener. The other engines refuse a configuration that asks for them, at start,
with an error naming the settings (`hubbub.engines.server.refusal`); the web client is on by
default, so run them with `--no-web`.

Why every core call is a writer (threads, hybrid): see `hubbub.engines.threads`. In short,
`ChatServer.receive` mutates shared state for every command, queries included (the time, the
command counters, the dispatch flag, per-session activity, output cost and waiting replies), so
running two "queries" at once under a read lock would race.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from hubbub.config import Config
from hubbub.config.schema import ServerSection, rule_of
from hubbub.heap import freeze_startup_heap

__all__ = ["ENGINES", "make_server", "run", "server_class_of"]

log = logging.getLogger("hubbub.engines")

#: Every engine `--engine` accepts, as `server.engine` lists them (asyncio is hubbub.app, not
#: built here, and twisted is hubbub.app on Twisted; every other one has its entry in RUNNERS).
ENGINES: tuple[str, ...] = rule_of(ServerSection, "engine").choices


def _threads() -> type[Any]:
    from hubbub.engines.threads import ThreadsServer

    return ThreadsServer


def _select() -> type[Any]:
    from hubbub.engines.selectloop import SelectServer

    return SelectServer


def _hybrid() -> type[Any]:
    from hubbub.engines.hybrid import HybridServer

    return HybridServer


#: The engines built here, by name: how to get each one's server class (imported when chosen).
RUNNERS: dict[str, Callable[[], type[Any]]] = {
    "threads": _threads,
    "select": _select,
    "hybrid": _hybrid,
}


def server_class_of(engine: str) -> type[Any]:
    """The server class (an `EngineServer`) of `engine`, one of RUNNERS."""
    if engine not in RUNNERS:
        raise ValueError(f"no engine {engine!r} here (engines: {', '.join(RUNNERS)})")
    return RUNNERS[engine]()


def make_server(config: Config, engine: str | None = None, **options: Any) -> Any:
    """An `EngineServer` for `engine` (default: `config.server.engine`), not yet started."""
    return server_class_of(engine or config.server.engine)(config, **options)


def run(
    config: Config,
    reload: Callable[[], Config] | None = None,
    *,
    server_class: type[Any] | None = None,
    ready: Callable[[list[tuple[str, int]]], object] | None = None,
) -> int:
    """`hubbub serve` on an engine without asyncio: serve until SIGINT or SIGTERM (SIGHUP
    rehashes), then shut down gracefully. 0 after a clean shutdown, 1 if it could not start.

    `server_class`: a subclass of the engine's server class to run instead of it (as
    `hubbub.app.run`'s `app_class`; `hubbub.bench.slowstore` wraps its history store).
    `ready`: called with the listening addresses once the server serves and its signal
    handlers are in place (as `hubbub.app.serve`'s)."""
    from hubbub.config import ConfigError

    if server_class is None:
        server_class = server_class_of(config.server.engine)
    server = server_class(config, reload=reload)
    try:
        addresses: list[tuple[str, int]] = server.start()
    except (OSError, ConfigError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    except Exception:
        log.exception("cannot start")
        return 1
    freeze_startup_heap()
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    def on_sighup(signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP: rehashing")
        server.rehash_in_background()

    previous: dict[int, Any] = {}
    for signum, handler in (
        (signal.SIGINT, on_signal),
        (signal.SIGTERM, on_signal),
        (getattr(signal, "SIGHUP", None), on_sighup),
    ):
        if signum is None:
            continue
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread
            continue
    if ready is not None:
        ready(addresses)
    try:
        while not stop.wait(1.0):  # the wait wakes for signals on the main thread
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            log.info("received %s", received[0])
        server.stop()
    return 0
