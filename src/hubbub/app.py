"""Wiring and lifecycle: config → history store → chat core → TCP listeners; signals; shutdown.

`run(config)` is what `hubbub serve` calls: it runs the server on uvloop when that is installed
(asyncio's own loop otherwise) until SIGINT or SIGTERM, then shuts down gracefully and returns
the exit status. `App` is the same server as an object, for tests that run it in-process:

    app = App(config)
    addresses = await app.start()   # [(host, port), ...] actually bound
    ...
    await app.stop()

Shutdown order: stop accepting; the core says `ERROR :Server shutting down` to every client and
closes its link; the transport gives those connections a bounded moment to flush (then aborts
what is left); the history worker stores and commits everything it was handed, closes the
store, and only then does `run` return.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from hubbub import __version__, engines, logsetup
from hubbub.accounts.backends import open_account_store
from hubbub.accounts.passwords import Hasher
from hubbub.accounts.service import LoopAccountService
from hubbub.accounts.worker import AccountWorker
from hubbub.config import Config, ConfigError
from hubbub.core.liveconfig import live_config
from hubbub.core.ports import AccountService, HistoryService, Network, Ports, RegistryService
from hubbub.heap import freeze_startup_heap
from hubbub.history.backends import describe_store, open_store
from hubbub.history.service import LoopHistoryService
from hubbub.history.store import HistoryStore
from hubbub.history.worker import HistoryWorker
from hubbub.metrics.http import MetricsServer
from hubbub.ops.datalock import DataLock
from hubbub.randomness import SystemRandomness
from hubbub.registry.backends import open_registry_store
from hubbub.registry.service import LoopRegistryService
from hubbub.registry.worker import RegistryWorker
from hubbub.timezones import zone_named
from hubbub.tls import ServerTls
from hubbub.transport.connection import Core, format_address
from hubbub.transport.fdlimit import ensure_fd_limit
from hubbub.transport.listener import sweep_interval_for
from hubbub.transport.tcp import TcpServer
from hubbub.transport.websocket import WebServer

if TYPE_CHECKING:
    from hubbub.cluster.node import Node
    from hubbub.registry.store import RegistryStore

__all__ = ["App", "AppCore", "run"]

log = logging.getLogger("hubbub.app")

#: Seconds the clients get to take their last bytes at shutdown before they are cut off.
SHUTDOWN_GRACE = 2.0


class AppCore(Core, Protocol):
    """What the application needs of the chat core: the transport's surface plus shutdown."""

    def shutdown(self, reason: str) -> None: ...


CoreFactory = Callable[[Config, HistoryService], AppCore]


def _default_core(
    config: Config,
    history: HistoryService,
    accounts: AccountService,
    registry: RegistryService,
    network: Network | None = None,
) -> AppCore:
    from hubbub.core.server import ChatServer

    # The core's seams (hubbub.core.ports): its services, hashing on the account worker, the
    # system's randomness, the start time (the core reads no clock) and time zones by name.
    # The configured zone is looked up now, before serving, so the loop never reads the zone
    # database later.
    zone_named(config.history.replay_time_zone)
    ports = Ports(
        history,
        accounts,
        registry,
        Hasher.from_config,
        SystemRandomness(),
        time.time(),
        zone_named,
        room_log=logsetup.room_logger(),
        network=network,
    )
    return ChatServer(config, ports)


class App:
    """One running server: history worker, chat core, listeners and the retention task."""

    #: The plain IRC listener's class (another engine may bring its own, e.g. Twisted's).
    tcp_server_class: type[TcpServer] = TcpServer

    def __init__(
        self,
        config: Config,
        *,
        core_factory: CoreFactory | None = None,
        shutdown_grace: float = SHUTDOWN_GRACE,
        reload: Callable[[], Config] | None = None,
    ) -> None:
        self.config = config
        # REHASH / SIGHUP: how to read the configuration again (`hubbub serve` passes the
        # config file and its command-line overrides); None: nothing to re-read.
        self._reload = reload
        self.shutdown_grace = shutdown_grace
        self._core_factory = core_factory
        self.worker: HistoryWorker | None = None
        self.history: LoopHistoryService | None = None
        self.core: AppCore | None = None
        self.tcp: TcpServer | None = None
        # Accounts: their own store connection on their own thread (hubbub.accounts).
        self.accounts_worker: AccountWorker | None = None
        self.accounts: LoopAccountService | None = None
        # Registered channels and server bans: the same again (hubbub.registry).
        self.registry_worker: RegistryWorker | None = None
        self.registry: LoopRegistryService | None = None
        # The TLS listener (config.tls), when a certificate is configured.
        self.tls: ServerTls | None = None
        self.tls_server: TcpServer | None = None
        self.tls_addresses: list[tuple[str, int]] = []
        # The web client and IRC over WebSocket (config.web); None when off or not bound.
        self.web: WebServer | None = None
        self.web_addresses: list[tuple[str, int]] = []
        self.addresses: list[tuple[str, int]] = []
        self._prune_task: asyncio.Task[None] | None = None
        self._log_queue = False  # whether this app started the console's log queue
        # The core's clock (`core.tick`), driven by the app once per interval.
        self._tick_task: asyncio.Task[None] | None = None
        self._started = False
        self._stopped = False
        # /metrics, /healthz, /readyz on their own port ([metrics]); None when off.
        self.metrics: MetricsServer | None = None
        self.metrics_addresses: list[tuple[str, int]] = []
        self._data_lock: DataLock | None = None
        # Cluster mode ([cluster] url): this process's node on the Redis bus (docs/cluster.md).
        self.node: Node | None = None

    def open_history_store(self) -> HistoryStore:
        """A new history store of the configured back-end (called on the history thread).

        The one place the store is opened: `hubbub.bench.slowstore` wraps what it returns."""
        history = self.config.history
        return open_store(history.backend, self.config.history_path, history.url)

    def open_registry_store(self) -> RegistryStore:
        """A new registry store of the configured back-end (called on the registry thread)."""
        history = self.config.history
        return open_registry_store(history.backend, self.config.history_path, history.url)

    def describe_history(self) -> str:
        history = self.config.history
        return describe_store(history.backend, self.config.history_path, history.url)

    async def start(self) -> list[tuple[str, int]]:
        """Open the history store, build the core and listen. Returns the bound addresses.

        On failure (port in use, unwritable data directory, …) whatever was started is stopped
        again and the exception propagates.
        """
        if self._started:
            raise RuntimeError("App.start() called twice")
        self._started = True
        config = self.config
        loop = asyncio.get_running_loop()
        # From here on the loop never writes a log line itself (room messages are logged at
        # INFO); stop() writes out what is queued.
        logsetup.start_queue(config.log.queue_length)
        self._log_queue = True
        try:
            config.data_path.mkdir(parents=True, exist_ok=True)
            backend = config.history.backend
            path = config.history_path
            url = config.history.url
            self.worker = HistoryWorker(
                self.open_history_store,
                commit_interval_ms=config.history.commit_interval_ms,
                max_pending=config.history.max_pending,
            )
            # Opening the store proves it writable; if not, start() raises StoreUnwritable (an
            # OSError: serve() logs it as one line and the server does not start). So does an
            # unreachable PostgreSQL (DatabaseUnavailable, an OSError too).
            self.worker.start()
            if backend == "sqlite":
                # One process per database: a second server, or `hubbub restore`, is refused
                # while this one runs (hubbub.ops.datalock). After the store opened, so an
                # unwritable directory is reported as the store's clear error first.
                self._data_lock = DataLock(path).acquire()
            self.history = LoopHistoryService(self.worker, loop)
            self.accounts_worker = AccountWorker(lambda: open_account_store(backend, path, url))
            self.accounts_worker.start()
            self.accounts = LoopAccountService(self.accounts_worker, loop)
            self.registry_worker = RegistryWorker(self.open_registry_store)
            self.registry_worker.start()
            self.registry = LoopRegistryService(self.registry_worker, loop)
            if config.cluster.url:
                self.node = await _join_cluster(config)
            if self._core_factory is None:
                self.core = _default_core(
                    config, self.history, self.accounts, self.registry, self.node
                )
                self.core.rehash_hook = self._rehash_for_core  # type: ignore[attr-defined]
                if self.node is not None:
                    self.node.attach(self.core, self.history)  # type: ignore[arg-type]
            else:
                self.core = self._core_factory(config, self.history)
            # The core asked for the account names, the registered channels and the server bans
            # when it was made; let those answers in before anyone connects (each worker runs
            # calls in order; its answers come in order).
            await asyncio.wrap_future(self.accounts_worker.submit(lambda store: None))
            await asyncio.wrap_future(self.registry_worker.submit(lambda store: None))
            ensure_fd_limit(config.limits.max_clients)
            self.tcp = self.tcp_server_class(config, self.core)
            # Senders are held while the history writer is behind (back-pressure).
            self.tcp.history_room = self.worker
            # A sender's acknowledgement goes out once its message is committed.
            self.tcp.watch_commits(self.worker)
            self.addresses = await self.tcp.start()
            if config.tls.cert:
                self.tls = ServerTls(config.tls.cert, config.tls.key or None)
                self.tls_server = TcpServer(
                    config,
                    self.core,
                    ssl_context=self.tls.context,
                    port=config.tls.port,
                    hosts=config.tls.hosts or None,
                )
                self.tls_server.history_room = self.worker
                self.tls_server.watch_commits(self.worker)
                self.tls_addresses = await self.tls_server.start()
                # Clients per address and in total count every listener together.
                self.tcp.peers.append(self.tls_server)
                self.tls_server.peers.append(self.tcp)
        except BaseException:
            await self.stop(quiet=True)
            raise
        where = ", ".join(format_address(host, port) for host, port in self.addresses)
        log.info(
            "hubbub %s listening on %s (history: %s)", __version__, where, self.describe_history()
        )
        if self.tls is not None:
            log.info(
                "TLS on %s (certificate %s, SHA-256 %s)",
                ", ".join(format_address(host, port) for host, port in self.tls_addresses),
                self.tls.cert,
                self.tls.fingerprint,
            )
        await self._start_web()
        self._start_retention()
        self._start_tick()
        await self._start_metrics()
        return list(self.addresses)

    def listeners(self) -> list[tuple[str, Any]]:
        """The client listeners by transport name (for hubbub.metrics)."""
        named = (("tcp", self.tcp), ("tls", self.tls_server), ("websocket", self.web))
        return [(name, server) for name, server in named if server is not None]

    def readiness(self) -> list[str]:
        """What keeps the server from serving, for /readyz (empty: ready)."""
        problems: list[str] = []
        if self._stopped:
            problems.append("shutting down")
        elif not self.addresses:
            problems.append("not listening")
        worker = self.worker
        if worker is None or not worker.running:
            problems.append("history store not running")
        elif worker.failing:
            problems.append("history store failing to write")
        elif not worker.available:
            problems.append("history writer behind (history.max_pending records wait)")
        if self.node is not None and not self.node.bus.available:
            problems.append("cluster bus unavailable (room events are refused)")
        return problems

    async def _start_metrics(self) -> None:
        """The metrics listener, when [metrics] enabled. A port that cannot be bound stops the
        start (an operator who asked for metrics wants to know at once)."""
        settings = self.config.metrics
        if not settings.enabled:
            return
        self.metrics = MetricsServer(self, self.readiness, settings.host, settings.port)
        try:
            self.metrics_addresses = await self.metrics.start()
        except BaseException:
            self.metrics = None
            await self.stop(quiet=True)
            raise
        where = ", ".join(format_address(host, port) for host, port in self.metrics_addresses)
        log.info("metrics at http://%s/metrics (health: /healthz, /readyz)", where)

    def _start_tick(self) -> None:
        """The core's clock-driven work (nick grace periods, …): one task, one call per
        interval, whatever the number of listeners."""
        tick = getattr(self.core, "tick", None)
        if tick is None:
            return
        self._tick_task = asyncio.get_running_loop().create_task(
            self._tick_forever(tick), name="hubbub-tick"
        )

    async def _tick_forever(self, tick: Callable[[float], None]) -> None:
        while True:
            await asyncio.sleep(sweep_interval_for(self.config))
            try:
                tick(time.time())
            except Exception:
                log.exception("the core's periodic tick failed")

    async def _start_web(self) -> None:
        """Start the web listener beside TCP. A web port that cannot be bound is logged as an
        error and IRC carries on without the web client (see docs/web.md)."""
        if not self.config.web.enabled:
            return
        assert self.core is not None and self.tcp is not None
        # Clients per address and in total count TCP, TLS and WebSocket connections together.
        peers = [server for server in (self.tcp, self.tls_server) if server is not None]
        web = WebServer(self.config, self.core, peers=peers)
        web.history_room = self.worker
        if self.worker is not None:
            web.watch_commits(self.worker)
        try:
            self.web_addresses = await web.start()
        except OSError as exc:
            hosts = ", ".join(self.config.web.hosts)
            log.error(
                "web client not started: cannot listen on %s port %d: %s "
                "(set web.port or --web-port, or --no-web)",
                hosts,
                self.config.web.port,
                exc.strerror or exc,
            )
            return
        self.web = web
        for server in peers:
            server.peers.append(web)
        log.info("web client at %s", ", ".join(web.urls()))

    def _start_retention(self) -> None:
        self._prune_task = asyncio.get_running_loop().create_task(
            self._retention(), name="hubbub-retention"
        )

    async def _retention(self) -> None:
        """A sweep at start, then every `history.prune_interval`: age and count limits, then
        the private quota per account. The limits are read at each sweep (REHASH changes them)."""
        worker = self.worker
        assert worker is not None
        while True:
            history = self.config.history
            max_count = history.max_messages_per_room
            max_age_ms = int(history.max_age_days * 86_400_000)
            per_account = history.private_per_account if history.store_private else 0
            now_ms = int(time.time() * 1000)
            if max_count > 0 or max_age_ms > 0 or per_account > 0:
                future = worker.submit(
                    functools.partial(
                        _sweep,
                        now_ms=now_ms,
                        max_count=max_count,
                        max_age_ms=max_age_ms,
                        per_account=per_account,
                    )
                )
                try:
                    dropped = await asyncio.wrap_future(future)
                except Exception as exc:
                    # Once per sweep; the writer reports a failing store by itself.
                    log.error("history retention sweep failed: %s", exc)
                else:
                    if dropped:
                        log.info("history retention: dropped %d old messages", dropped)
            await asyncio.sleep(history.prune_interval)

    async def stop(self, reason: str = "Server shutting down", *, quiet: bool = False) -> None:
        """Shut down gracefully (idempotent); history is committed and closed when it returns,
        and every queued log line written (even when shutting down failed)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            await self._shut_down(reason, quiet)
        finally:
            if self._log_queue:
                self._log_queue = False
                await asyncio.to_thread(logsetup.stop_queue)

    async def _shut_down(self, reason: str, quiet: bool) -> None:
        if not quiet:
            log.info("shutting down: %s", reason)
        if self.metrics is not None:
            await self.metrics.stop()
            self.metrics = None
        if self._prune_task is not None:
            self._prune_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prune_task
            self._prune_task = None
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None
        tcp = self.tcp
        if tcp is not None:
            tcp.stop_accepting()
        if self.tls_server is not None:
            self.tls_server.stop_accepting()
        web = self.web
        if web is not None:
            web.stop_accepting()
        if self.core is not None:
            try:
                self.core.shutdown(reason)
            except Exception:
                log.exception("the core failed to shut down cleanly")
        # Every listener's connections flush at the same time, within one grace period.
        listeners = (tcp, web, self.tls_server)
        closing = [server.close(self.shutdown_grace) for server in listeners if server is not None]
        await asyncio.gather(*closing)
        if self.node is not None:  # after the core sent its users' QUITs to the bus
            await self.node.stop()
            self.node = None
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop)
            if not quiet:
                log.info("history flushed and closed (%s)", self.describe_history())
        if self.accounts_worker is not None:
            await asyncio.to_thread(self.accounts_worker.stop)
        if self.registry_worker is not None:
            await asyncio.to_thread(self.registry_worker.stop)
        if self._data_lock is not None:  # every store is closed: the database is free
            self._data_lock.release()
            self._data_lock = None

    async def rehash(self) -> str | None:
        """REHASH and SIGHUP: read the configuration again and hand it to the core (operators,
        MOTD, limits, …; see `hubbub.core.liveconfig.live_config`), apply the new limits to new
        connections, and reload the TLS certificate. Returns an error text, or None."""
        self.reload_tls()
        if self._reload is None:
            log.info("rehash: no configuration file to re-read")
            return None
        try:
            config = await asyncio.to_thread(self._reload)
            # Off the loop too: a new replay time zone is read from the zone database now.
            await asyncio.to_thread(zone_named, config.history.replay_time_zone)
        except ConfigError as exc:
            log.error("rehash failed, the configuration stays as it was: %s", exc)
            return str(exc)
        except Exception as exc:
            log.exception("rehash failed, the configuration stays as it was")
            return str(exc) or type(exc).__name__
        config, ignored = live_config(self.config, config)
        if ignored:
            log.warning("rehash: these settings need a restart: %s", ", ".join(ignored))
        core = self.core
        if core is not None and hasattr(core, "rehash"):
            core.rehash(config)
        if (config.log.level, config.log.format) != (self.config.log.level, self.config.log.format):
            from hubbub.logsetup import configure

            configure(config.log.level, config.log.format)
        logsetup.resize_queue(config.log.queue_length)
        if self.worker is not None:
            self.worker.max_pending = config.history.max_pending
        self.config = config
        for server in (self.tcp, self.tls_server, self.web):
            if server is not None:
                server.apply_config(config)  # limits, flood, timeouts (and web origins)
        return None

    def _rehash_for_core(self, done: Callable[[str | None], None]) -> None:
        """The core's REHASH command: rehash in a task, then tell the core how it went."""
        task = asyncio.get_running_loop().create_task(self.rehash(), name="hubbub-rehash")
        task.add_done_callback(lambda t: done(None if t.cancelled() else t.result()))

    def reload_tls(self) -> bool:
        """SIGHUP: load the TLS certificate again for new connections (existing ones stay)."""
        if self.tls is None:
            log.info("rehash: no TLS certificate configured, nothing to reload")
            return False
        return self.tls.reload()


async def _join_cluster(config: Config) -> Node:
    """This process's node on the cluster's bus; OSError (one line in the log) if Redis
    cannot be reached."""
    from hubbub.cluster.bus import BusUnavailable
    from hubbub.cluster.node import Node

    node = Node(config.cluster)
    try:
        await node.start()
    except BusUnavailable as error:
        raise OSError(f"the cluster bus at {config.cluster.url} is unavailable: {error}") from error
    except ValueError as error:  # another live node has this node id, or bad timings
        raise OSError(f"cluster: {error}") from error
    return node


def _sweep(
    store: HistoryStore, *, now_ms: int, max_count: int, max_age_ms: int, per_account: int
) -> int:
    """One retention sweep, on the history thread: how many records went."""
    dropped = store.prune(now_ms, max_count, max_age_ms)
    return dropped + store.prune_private(per_account)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(
    config: Config, reload: Callable[[], Config] | None = None, *, app_class: type[App] = App
) -> int:
    """Run the server in the foreground until SIGINT or SIGTERM; return the exit status.

    0 after a clean shutdown; 1 if the server could not start. `reload` reads the
    configuration again for REHASH and SIGHUP. A `server.engine` other than asyncio runs the
    server on that engine instead (hubbub.engines). With `[cluster] workers` above 1, that many
    processes (hubbub.cluster.workers).
    """
    if config.server.engine == "twisted":
        return _run_twisted(config, reload)
    if config.server.engine != "asyncio":
        return engines.run(config, reload)
    if config.cluster.workers > 1:
        from hubbub.cluster.workers import run_workers

        return run_workers(config, functools.partial(_run_one, reload=reload, app_class=app_class))
    return _run_one(config, reload, app_class=app_class)


def _run_one(
    config: Config, reload: Callable[[], Config] | None = None, *, app_class: type[App] = App
) -> int:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(serve(config, reload=reload, app_class=app_class))


def _run_twisted(config: Config, reload: Callable[[], Config] | None) -> int:
    """The Twisted engine: this App on Twisted's asyncio reactor (hubbub.engines.twisted_engine).
    Imported by name when chosen: Twisted is an optional extra, and that module builds on this
    one."""
    try:
        twisted_engine = importlib.import_module("hubbub.engines.twisted_engine")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith(("twisted", "zope")):
            raise
        log.error("cannot start: the twisted engine needs Twisted: pip install 'hubbub[twisted]'")
        return 1
    status: int = twisted_engine.run(config, reload)
    return status


async def serve(
    config: Config,
    *,
    ready: Callable[[list[tuple[str, int]]], Any] | None = None,
    reload: Callable[[], Config] | None = None,
    app_class: type[App] = App,
) -> int:
    """The body of `run`, on an already running loop (`app_class`: another engine's App)."""
    loop = asyncio.get_running_loop()
    app = app_class(config, reload=reload)
    try:
        addresses = await app.start()
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    except Exception:
        log.exception("cannot start")
        return 1
    freeze_startup_heap()
    if ready is not None:
        ready(addresses)
    stop = asyncio.Event()
    received: list[str] = []

    def on_signal(signum: int) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    installed: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signal support (Windows): Ctrl-C still works
        installed.append(signum)
    sighup = getattr(signal, "SIGHUP", None)
    rehashes: set[asyncio.Task[str | None]] = set()

    def on_sighup() -> None:
        log.info("SIGHUP: rehashing")
        task = loop.create_task(app.rehash(), name="hubbub-rehash")
        rehashes.add(task)
        task.add_done_callback(rehashes.discard)

    if sighup is not None:
        try:
            loop.add_signal_handler(sighup, on_sighup)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        else:
            installed.append(sighup)
    try:
        await stop.wait()
    finally:
        for installed_signum in installed:
            loop.remove_signal_handler(installed_signum)
        if received:
            log.info("received %s", received[0])
        await app.stop()
    return 0
