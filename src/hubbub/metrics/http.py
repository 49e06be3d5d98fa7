"""The metrics listener: `/metrics` (Prometheus text format), `/healthz` and `/readyz`.

A deliberately small HTTP/1.1 server on asyncio, on its own port (`[metrics]`), answering one
GET per connection and closing. It runs on the event loop, so a scrape reads the core's state
between two callbacks and never races it (prometheus_client's own HTTP server runs on a thread,
which would iterate the core's dictionaries while the loop changes them). Requests are bounded
(size and time); anything but GET of these three paths gets 404 / 405.

It also measures the event loop's lag: a task asks to wake every `LAG_INTERVAL` seconds and
records how late it actually woke (`hubbub_event_loop_lag_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from hubbub.metrics.collector import ServerCollector, ServerView

__all__ = ["LAG_INTERVAL", "MetricsServer"]

log = logging.getLogger("hubbub.metrics")

#: Seconds between two event-loop lag measurements.
LAG_INTERVAL = 1.0
#: Longest request head accepted, and how long a client may take to send it.
MAX_REQUEST = 8192
REQUEST_TIMEOUT = 5.0

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: Says whether the server is ready, and if not, why: a list of problems (empty: ready).
Readiness = Callable[[], list[str]]


class MetricsServer:
    """`/metrics`, `/healthz`, `/readyz` on `host`:`port`, plus the loop-lag task."""

    def __init__(self, view: ServerView, readiness: Readiness, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.readiness = readiness
        self.registry = CollectorRegistry(auto_describe=False)
        # process_resident_memory_bytes, process_open_fds, CPU time (Linux /proc).
        ProcessCollector(registry=self.registry)
        self.registry.register(ServerCollector(view))
        self.loop_lag = Histogram(
            "hubbub_event_loop_lag_seconds",
            "How late a periodic task woke up: the event loop's lag.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._server: asyncio.Server | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.addresses: list[tuple[str, int]] = []

    async def start(self) -> list[tuple[str, int]]:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True, limit=MAX_REQUEST
        )
        for sock in self._server.sockets:
            name = sock.getsockname()
            self.addresses.append((str(name[0]), int(name[1])))
        self._lag_task = asyncio.get_running_loop().create_task(
            self._measure_lag(), name="hubbub-loop-lag"
        )
        return list(self.addresses)

    async def stop(self) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
            self._lag_task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _measure_lag(self) -> None:
        while True:
            due = time.monotonic() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self.loop_lag.observe(max(0.0, time.monotonic() - due))

    def render(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a GET of `path`."""
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/healthz":
            # Alive: the event loop ran this code.
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if path == "/readyz":
            problems = self.readiness()
            if problems:
                body = "".join(f"not ready: {problem}\n" for problem in problems)
                return 503, "text/plain; charset=utf-8", body.encode()
            return 200, "text/plain; charset=utf-8", b"ready\n"
        return 404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz, /readyz\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                status, kind, body = 400, "text/plain; charset=utf-8", b"bad request\n"
            elif parts[0] not in ("GET", "HEAD"):
                status, kind, body = 405, "text/plain; charset=utf-8", b"GET only\n"
            else:
                status, kind, body = self.render(parts[1].split("?", 1)[0])
                if parts[0] == "HEAD":
                    body = b""
            reason = {
                200: "OK",
                400: "Bad Request",
                404: "Not Found",
                405: "Method Not Allowed",
                503: "Service Unavailable",
            }[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass  # a client that went away or sent too much: nothing to answer
        except Exception:
            log.exception("the metrics listener failed on a request")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
