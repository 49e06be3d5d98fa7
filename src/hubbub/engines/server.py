"""What every engine without asyncio shares: the workers and the core, the core lock, admission,
the timeout sweep and the core's tick, REHASH, and a graceful shutdown.

An `EngineServer` is the non-asyncio counterpart of `hubbub.app.App` plus
`hubbub.transport.listener.Listener`. `start()` opens the history, account and registry workers
(the same `HistoryWorker`, `AccountWorker`, `RegistryWorker` as the asyncio app, so history is
as durable), builds the core, binds the listening sockets and starts the engine's threads
(`_start_io`, the subclass's part); it returns the bound addresses. `stop()` shuts down in the
asyncio app's order: stop accepting, the core says ERROR to everyone, connections get
`shutdown_grace` seconds to take their last bytes, the rest are dropped, then the history
worker stores and commits everything it was handed.

Worker answers come back through a `Mailbox` (see there) wrapped so that each answer runs as a
core call: `core_call(done, result)` holds the core lock, then flushes what the answer wrote.

Engines that cannot serve TLS, WebSocket, the PROXY protocol or the metrics listener (all of
them, for now: those live on asyncio) refuse a configuration that asks for them at `start()`,
with a `EngineRefused` naming the setting, before anything is opened.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from hubbub import __version__, logsetup
from hubbub.accounts.backends import open_account_store
from hubbub.accounts.passwords import Hasher
from hubbub.accounts.service import LoopAccountService
from hubbub.accounts.worker import AccountWorker
from hubbub.config import Config, ConfigError
from hubbub.core.liveconfig import live_config
from hubbub.core.ports import AccountService, HistoryService, Ports, RegistryService
from hubbub.engines.connection import EngineConnection
from hubbub.engines.mailbox import Mailbox
from hubbub.engines.rwlock import FairRWLock
from hubbub.history.backends import describe_store, open_store
from hubbub.history.service import LoopHistoryService
from hubbub.history.store import HistoryStore
from hubbub.history.worker import HistoryWorker
from hubbub.ops.datalock import DataLock
from hubbub.randomness import SystemRandomness
from hubbub.registry.backends import open_registry_store
from hubbub.registry.service import LoopRegistryService
from hubbub.registry.worker import RegistryWorker
from hubbub.timezones import zone_named
from hubbub.transport.connection import Core, format_address
from hubbub.transport.fdlimit import ensure_fd_limit
from hubbub.transport.listener import CLOSE_GRACE, MAX_PENDING_LINES, sweep_interval_for

__all__ = ["EngineCore", "EngineRefused", "EngineServer", "refusal"]

log = logging.getLogger("hubbub.engines")

#: Seconds the clients get to take their last bytes at shutdown before they are cut off.
SHUTDOWN_GRACE = 2.0

T = TypeVar("T")


class EngineCore(Core, Protocol):
    """What an engine needs of the chat core: the transport's surface plus shutdown."""

    def shutdown(self, reason: str) -> None: ...


CoreFactory = Callable[[Config, HistoryService], EngineCore]


class EngineRefused(ConfigError):
    """The configuration asks for something this engine does not serve."""


def refusal(config: Config, engine: str) -> str | None:
    """Why `engine` (one without asyncio) cannot serve `config`, or None."""
    asks = []
    if config.tls.cert:
        asks.append("TLS (tls.cert)")
    if config.web.enabled:
        asks.append("the web client and WebSocket (web.enabled; --no-web turns it off)")
    if config.listen.proxy_protocol:
        asks.append("the PROXY protocol (listen.proxy_protocol)")
    if config.metrics.enabled:
        asks.append("the metrics listener (metrics.enabled)")
    if not asks:
        return None
    return (
        f"the {engine} engine serves plain IRC over TCP only; this configuration asks for "
        + ", ".join(asks)
        + ": turn those off, or use --engine asyncio"
    )


class _NoLock:
    """The select engine's core lock: one thread does everything, so nothing to exclude."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _CorePoster:
    """What the worker services are given as their "loop": each answer becomes a core call
    (lock held, output flushed) on the engine's mailbox thread."""

    def __init__(self, server: EngineServer) -> None:
        self._server = server

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        self._server.mailbox.call_soon_threadsafe(self._server.core_call, callback, *args)


def _default_core(
    config: Config, history: HistoryService, accounts: AccountService, registry: RegistryService
) -> EngineCore:
    """The chat core with the application's seams (as hubbub.app builds it)."""
    from hubbub.core.server import ChatServer

    zone_named(config.history.replay_time_zone)
    ports = Ports(
        history,
        accounts,
        registry,
        Hasher.from_config,
        SystemRandomness(),
        time.time(),
        zone_named,
    )
    return ChatServer(config, ports)


def _retention_sweep(
    store: HistoryStore, *, now_ms: int, max_count: int, max_age_ms: int, per_account: int
) -> int:
    """One retention sweep, on the history thread: how many records went."""
    dropped = store.prune(now_ms, max_count, max_age_ms)
    return dropped + store.prune_private(per_account)


class EngineServer(ABC):
    """One running server on an engine without asyncio. Subclasses provide the I/O threads."""

    #: The engine's name, as `--engine` spells it.
    engine = ""
    #: Whether engine threads other than one call into the core (then the lock is real).
    shared_core = True
    #: Whether a connection that sends messages while the history writer is past its
    #: high-water mark is held (`EngineConnection.held`; the engine then waits on the worker's
    #: `room` before it reads that client again).
    holds_senders = False

    def __init__(
        self,
        config: Config,
        *,
        core_factory: CoreFactory | None = None,
        reload: Callable[[], Config] | None = None,
        shutdown_grace: float = SHUTDOWN_GRACE,
        close_grace: float = CLOSE_GRACE,
        max_pending: int = MAX_PENDING_LINES,
        sweep_interval: float | None = None,
    ) -> None:
        self._core_factory = core_factory
        self._reload = reload
        self.shutdown_grace = shutdown_grace
        self.close_grace = close_grace
        self.max_pending = max_pending
        self.fixed_sweep = sweep_interval
        self.apply_config(config)
        # The core lock: every call into the core holds its write side (see the package's
        # docstring for why no command is a reader).
        self.rwlock = FairRWLock()
        self._nolock = _NoLock()
        self.core: Any = None
        self.dirty: list[EngineConnection] = []
        self.mailbox = Mailbox(self._wake)
        self.connections: set[EngineConnection] = set()
        self.per_address: dict[str, int] = {}
        self._admission = threading.Lock()
        self._emptied = threading.Condition(self._admission)
        self.listening: list[socket.socket] = []
        self.addresses: list[tuple[str, int]] = []
        self.sendq_drops = 0
        self.throttles = 0
        #: Times a sender was held until the history writer caught up (for tests, measurements).
        self.holds = 0
        # Acknowledgement after commit: connections whose output waits for a history commit
        # (core lock), and whether a wake-up from the writer's thread is on its way (one at most).
        self.commit_waiting: list[EngineConnection] = []
        self.commit_wake_posted = False
        self.worker: HistoryWorker | None = None
        self.accounts_worker: AccountWorker | None = None
        self.registry_worker: RegistryWorker | None = None
        self._data_lock: DataLock | None = None
        self._log_queue = False
        self._started = False
        self.stopping = threading.Event()
        self._stopped = False
        now = time.monotonic()
        self._next_sweep = now
        self._next_retention = now

    # -- settings --------------------------------------------------------------------------------

    def apply_config(self, config: Config) -> None:
        """Use `config` from now on (start, REHASH), as the asyncio listeners do."""
        self.config = config
        self.sendq_bytes = config.limits.sendq_bytes
        self.invalid_utf8 = config.limits.invalid_utf8
        flood = config.flood
        self.flood: tuple[int, float] | None = (
            (flood.burst, flood.lines_per_second) if flood.enabled else None
        )
        interval = self.fixed_sweep
        self.sweep_interval = sweep_interval_for(config) if interval is None else interval
        self.ping_bytes = f"PING :{config.server.name}\r\n".encode()

    # -- the core lock and core calls ------------------------------------------------------------

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the core (every caller into the core is a writer)."""
        if self.shared_core:
            return self.rwlock.write()
        return self._nolock

    def take_dirty(self) -> list[EngineConnection]:
        """The connections written to by the core call just made (core lock held)."""
        dirty = self.dirty
        if dirty:
            self.dirty = []
            for conn in dirty:
                conn.dirty = False
        return dirty

    def flush_all(self, dirty: list[EngineConnection]) -> None:
        """Send what a core call wrote (core lock released)."""
        for conn in dirty:
            conn.flush()

    def core_call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` with the core lock held, then flush what it wrote."""
        with self.locked():
            try:
                result = fn(*args)
            finally:
                dirty = self.take_dirty()
        self.flush_all(dirty)
        return result

    # -- acknowledgement after commit ------------------------------------------------------------

    def wait_commit(self, conn: EngineConnection) -> None:
        """`conn`'s output waits for a history commit (core lock held)."""
        waiting = self.commit_waiting
        waiting.append(conn)
        worker = self.worker
        # The commit may have come before the list had anyone to wake (its callback saw none):
        # look once more, now that it has; if so nothing of it waits yet, nothing need wait.
        if worker is None or worker.committed >= conn.commit_wait:
            waiting.pop()
            conn.commit_wait = 0

    def commits_done(self) -> None:
        """On the history writer's thread after each commit: one core call at most on its way
        to let go the output that waited for it."""
        if self.commit_waiting and not self.commit_wake_posted:
            self._post_commit_wake()

    def _post_commit_wake(self) -> None:
        self.commit_wake_posted = True
        self.mailbox.call_soon_threadsafe(self.core_call, self._release_committed)

    def _release_committed(self) -> None:
        """Core lock held: the connections whose mark is committed flush after this call."""
        self.commit_wake_posted = False
        worker = self.worker
        if worker is None:
            return
        mark = worker.committed
        waiting = self.commit_waiting
        self.commit_waiting = still = []
        for conn in waiting:
            if not conn.committed(mark):
                still.append(conn)

    def end(self, conn: EngineConnection, reason: str) -> None:
        """End a connection from outside the core lock."""
        self.core_call(conn.end_locked, reason)

    @abstractmethod
    def _wake(self) -> None:
        """A worker's answer was posted: wake the thread that runs them."""

    # -- admission -------------------------------------------------------------------------------

    def admit(self, conn: EngineConnection) -> str | None:
        """Count a new connection, or say why it is refused."""
        limits = self.config.limits
        with self._admission:
            if len(self.connections) >= limits.max_clients:
                return "Server is full"
            count = self.per_address.get(conn.host, 0)
            if count >= limits.clients_per_ip:
                return "Too many connections from your IP address"
            self.per_address[conn.host] = count + 1
            self.connections.add(conn)
            conn.counted = True
            return None

    def forget(self, conn: EngineConnection) -> None:
        with self._admission:
            if not conn.counted or conn not in self.connections:
                return
            self.connections.discard(conn)
            left = self.per_address.get(conn.host, 1) - 1
            if left > 0:
                self.per_address[conn.host] = left
            else:
                self.per_address.pop(conn.host, None)
            if not self.connections:
                self._emptied.notify_all()

    def connect(self, conn: EngineConnection, *, secure: bool = False) -> bool:
        """Admit `conn` and introduce it to the core; False if it was refused (then it has been
        told why, and its socket must be closed by the caller)."""
        refusal_text = self.admit(conn)
        if refusal_text is not None:
            conn.core_done = True
            conn.closing = True
            conn.reason = refusal_text
            log.info("refused %s: %s", conn.label, refusal_text)
            with contextlib.suppress(OSError):
                conn.sock.send(b"ERROR :" + refusal_text.encode() + b"\r\n", socket.MSG_DONTWAIT)
            return False
        log.info("connect %s (%d clients)", conn.label, len(self.connections))
        try:
            conn.session = self.core_call(
                functools.partial(self.core.connect, secure=secure),
                conn,
                conn.host,
                conn.port,
                time.time(),
            )
        except Exception:
            log.exception("the core failed to accept %s", conn.label)
            conn.core_done = True
            conn.reason = "Internal error"
            conn.write(b"ERROR :Internal error\r\n")
            conn.closing = True
            conn.close_requested = True
            conn.flush()
            return False
        return True

    # -- the sweep, the tick and retention (called by the engine, core lock NOT held) -------------

    def housekeeping(self, now: float) -> float:
        """Timeouts, the core's tick and history retention when due; returns when to call
        again (a monotonic time)."""
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_interval
            self.core_call(self._sweep_locked, now)
            tick = getattr(self.core, "tick", None)
            if tick is not None:
                try:
                    self.core_call(tick, time.time())
                except Exception:
                    log.exception("the core's periodic tick failed")
        if now >= self._next_retention:
            self._next_retention = now + self.config.history.prune_interval
            self._retention()
        return min(self._next_sweep, self._next_retention)

    def _sweep_locked(self, now: float) -> None:
        """Registration and PING timeouts, and closes that took too long (core lock held)."""
        t = self.config.timeouts
        registration = t.registration
        ping_interval = t.ping_interval
        ping_timeout = t.ping_timeout
        with self._admission:
            connections = list(self.connections)
        for conn in connections:
            try:
                if conn.closing:
                    if conn.close_requested and now >= conn.close_deadline and not conn.ended:
                        conn.abort()
                    continue
                if conn.session is None:
                    continue
                if not conn.session.registered and now - conn.connected_at >= registration:
                    conn.end_locked("Registration timed out")
                    continue
                if conn.paused or conn.held or conn.commit_wait:
                    # Throttled, held, or its output waiting for the disk: busy, not idle (a
                    # PING would wait behind the acknowledgement, and the wait is the server's).
                    continue
                bucket = conn.bucket
                if bucket is not None and (now - conn.last_rx) * bucket.rate >= bucket.burst:
                    conn.bucket = None  # full again: an idle connection need not hold one
                if conn.ping_sent is None:
                    if now - conn.last_rx >= ping_interval:
                        conn.ping_sent = now
                        conn.write(self.ping_bytes)
                elif now - conn.ping_sent >= ping_timeout:
                    conn.end_locked(f"Ping timeout: {round(now - conn.last_rx)} seconds")
            except Exception:
                log.exception("timeout sweep failed for %s", conn.label)

    def _retention(self) -> None:
        """Submit one retention sweep to the history worker (its answer is only logged)."""
        worker = self.worker
        history = self.config.history
        if worker is None:
            return
        max_count = history.max_messages_per_room
        max_age_ms = int(history.max_age_days * 86_400_000)
        per_account = history.private_per_account if history.store_private else 0
        if max_count <= 0 and max_age_ms <= 0 and per_account <= 0:
            return
        now_ms = int(time.time() * 1000)

        def sweep(store: HistoryStore) -> int:
            return _retention_sweep(
                store,
                now_ms=now_ms,
                max_count=max_count,
                max_age_ms=max_age_ms,
                per_account=per_account,
            )

        def report(future: Future[int]) -> None:
            try:
                dropped = future.result()
            except Exception as exc:
                log.error("history retention sweep failed: %s", exc)
                return
            if dropped:
                log.info("history retention: dropped %d old messages", dropped)

        worker.submit(sweep).add_done_callback(report)

    # -- start -----------------------------------------------------------------------------------

    def describe_history(self) -> str:
        history = self.config.history
        return describe_store(history.backend, self.config.history_path, history.url)

    def start(self) -> list[tuple[str, int]]:
        """Open the workers, build the core, listen and start the engine's threads. On failure
        whatever was started is stopped again and the exception propagates."""
        if self._started:
            raise RuntimeError("start() called twice")
        self._started = True
        config = self.config
        why = refusal(config, self.engine)
        if why is not None:
            raise EngineRefused(why)
        logsetup.start_queue(config.log.queue_length)
        self._log_queue = True
        try:
            self._open_backends()
            ensure_fd_limit(config.limits.max_clients)
            self._listen()
            self._start_io()
        except BaseException:
            self.stop(quiet=True)
            raise
        where = ", ".join(format_address(host, port) for host, port in self.addresses)
        log.info(
            "hubbub %s listening on %s (history: %s; engine: %s)",
            __version__,
            where,
            self.describe_history(),
            self.engine,
        )
        return list(self.addresses)

    def open_history_store(self) -> HistoryStore:
        """A new history store of the configured back-end (called on the history thread).

        The one place this engine opens it, as `App.open_history_store` is for asyncio:
        `hubbub.bench.slowstore` wraps what it returns."""
        history = self.config.history
        return open_store(history.backend, self.config.history_path, history.url)

    def _open_backends(self) -> None:
        config = self.config
        config.data_path.mkdir(parents=True, exist_ok=True)
        backend = config.history.backend
        path = config.history_path
        url = config.history.url
        self.worker = HistoryWorker(
            self.open_history_store,
            commit_interval_ms=config.history.commit_interval_ms,
            max_pending=config.history.max_pending,
        )
        self.worker.start()
        self.worker.on_commit(self.commits_done)
        if backend == "sqlite":
            self._data_lock = DataLock(path).acquire()
        poster = _CorePoster(self)
        history = LoopHistoryService(self.worker, poster)
        self.accounts_worker = AccountWorker(lambda: open_account_store(backend, path, url))
        self.accounts_worker.start()
        accounts = LoopAccountService(self.accounts_worker, poster)
        self.registry_worker = RegistryWorker(lambda: open_registry_store(backend, path, url))
        self.registry_worker.start()
        registry = LoopRegistryService(self.registry_worker, poster)
        if self._core_factory is None:
            core = _default_core(config, history, accounts, registry)
            core.rehash_hook = self._rehash_for_core  # type: ignore[attr-defined]
        else:
            core = self._core_factory(config, history)
        self.core = core
        # The core asked for the account names, registered channels and bans when it was made:
        # let those answers in before anyone connects (each worker answers in order).
        self.accounts_worker.submit(lambda store: None).result()
        self.registry_worker.submit(lambda store: None).result()
        self.run_mail()

    def run_mail(self) -> None:
        """Run every worker answer waiting now (each is a core call)."""
        for callback, args in self.mailbox.take_all():
            try:
                callback(*args)
            except Exception:
                log.exception("a worker's answer failed in the core")

    def _listen(self) -> None:
        """One listening socket per configured host; with port 0 they try to share the first
        one's port (as the asyncio listener does)."""
        config = self.config
        for host in config.listen.hosts:
            port = config.listen.port
            sock: socket.socket | None = None
            if port == 0 and self.addresses:
                with contextlib.suppress(OSError):
                    sock = _bind(host, self.addresses[0][1])
            if sock is None:
                sock = _bind(host, port)
            self.listening.append(sock)
            name = sock.getsockname()
            self.addresses.append((str(name[0]), int(name[1])))

    @abstractmethod
    def _start_io(self) -> None:
        """Start the engine's threads (the listening sockets are bound)."""

    # -- REHASH ------------------------------------------------------------------------------------

    def rehash_in_background(self, done: Callable[[str | None], None] | None = None) -> None:
        """REHASH and SIGHUP: read the configuration on a thread of its own (file I/O never on a
        core thread), then apply it as a core call; `done(error or None)` inside it."""

        def read() -> None:
            error: str | None = None
            config: Config | None = None
            if self._reload is None:
                log.info("rehash: no configuration file to re-read")
            else:
                try:
                    config = self._reload()
                    zone_named(config.history.replay_time_zone)
                except ConfigError as exc:
                    log.error("rehash failed, the configuration stays as it was: %s", exc)
                    error = str(exc)
                except Exception as exc:
                    log.exception("rehash failed, the configuration stays as it was")
                    error = str(exc) or type(exc).__name__
            self.mailbox.call_soon_threadsafe(
                self.core_call, self._apply_rehash, config, error, done
            )

        threading.Thread(target=read, name="hubbub-rehash", daemon=True).start()

    def _apply_rehash(
        self,
        config: Config | None,
        error: str | None,
        done: Callable[[str | None], None] | None,
    ) -> None:
        if config is not None:
            config, ignored = live_config(self.config, config)
            if ignored:
                log.warning("rehash: these settings need a restart: %s", ", ".join(ignored))
            rehash = getattr(self.core, "rehash", None)
            if rehash is not None:
                rehash(config)
            if (config.log.level, config.log.format) != (
                self.config.log.level,
                self.config.log.format,
            ):
                logsetup.configure(config.log.level, config.log.format)
            logsetup.resize_queue(config.log.queue_length)
            if self.worker is not None:
                self.worker.max_pending = config.history.max_pending
            self.apply_config(config)
        if done is not None:
            done(error)

    def _rehash_for_core(self, done: Callable[[str | None], None]) -> None:
        self.rehash_in_background(done)

    # -- shutdown ------------------------------------------------------------------------------

    def stop(self, reason: str = "Server shutting down", *, quiet: bool = False) -> None:
        """Shut down gracefully (idempotent): history is committed and closed when it returns."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._shut_down(reason, quiet)
        finally:
            if self._log_queue:
                self._log_queue = False
                logsetup.stop_queue()

    def _shut_down(self, reason: str, quiet: bool) -> None:
        if not quiet:
            log.info("shutting down: %s", reason)
        self.stopping.set()
        for sock in self.listening:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self.core is not None and self._io_running():
            try:
                self.on_core_thread(self._core_shutdown, reason)
            except Exception:
                log.exception("the core failed to shut down cleanly")
            if not self._wait_empty(self.shutdown_grace):
                log.info(
                    "%d connections did not close in time; aborting them", len(self.connections)
                )
                for conn in self._snapshot():
                    conn.abort()
                self._wait_empty(1.0)
        self._stop_io()
        for sock in self.listening:
            sock.close()
        self.listening.clear()
        # Answers arriving now have no core to go to; a worker waiting for room gets out.
        self.mailbox.close()
        if self.worker is not None:
            self.worker.stop()
            if not quiet:
                log.info("history flushed and closed (%s)", self.describe_history())
        if self.accounts_worker is not None:
            self.accounts_worker.stop()
        if self.registry_worker is not None:
            self.registry_worker.stop()
        if self._data_lock is not None:
            self._data_lock.release()
            self._data_lock = None

    def _core_shutdown(self, reason: str) -> None:
        self.core_call(self.core.shutdown, reason)

    def on_core_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on a thread where core calls may run, wait for it and return its
        result (here, when the core is locked; the select engine: on its loop)."""
        return fn(*args)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """A core call from any thread (tests, tools): on a core thread, lock held, flushed."""
        result: T = self.on_core_thread(self.core_call, fn, *args)
        return result

    def _snapshot(self) -> list[EngineConnection]:
        with self._admission:
            return list(self.connections)

    def _wait_empty(self, timeout: float) -> bool:
        with self._admission:
            return self._emptied.wait_for(lambda: not self.connections, timeout)

    @abstractmethod
    def _io_running(self) -> bool:
        """Whether the engine's threads were started (and so can close connections)."""

    @abstractmethod
    def _stop_io(self) -> None:
        """Stop the engine's threads and close every socket still open."""

    # -- the foreground server ------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self) -> Iterator[list[tuple[str, int]]]:
        addresses = self.start()
        try:
            yield addresses
        finally:
            self.stop()


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (IPv6 sockets are IPv6 only, as asyncio's)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock
