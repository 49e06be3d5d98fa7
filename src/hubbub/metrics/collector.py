"""A Prometheus collector that reads hubbub's counters at scrape time.

Nothing is updated on the chat path for Prometheus: the core, the listeners and the history
worker keep plain integers (`hubbub.core.counters.Counters`, `Listener.sendq_drops` /
`throttles`, `HistoryWorker.commit_seconds` …) and `ServerCollector.collect` reads them when
someone scrapes. Collection runs on the event loop (the HTTP listener is an asyncio server), so
it sees the core's dictionaries between two callbacks, never in the middle of a change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from hubbub import logsetup
from hubbub.core.counters import FANOUT_BUCKETS
from hubbub.history.worker import COMMIT_BUCKETS

__all__ = ["ServerCollector", "ServerView"]


class ServerView(Protocol):
    """What the collector reads of the running application (`hubbub.app.App`)."""

    core: Any
    worker: Any
    node: Any  # hubbub.cluster.node.Node in cluster mode, else None

    def listeners(self) -> Sequence[tuple[str, Any]]: ...


def _histogram(
    name: str, doc: str, bounds: Sequence[float], counts: Sequence[int], total: float
) -> HistogramMetricFamily:
    """A histogram from per-bucket counts (one more count than bounds: the +Inf bucket)."""
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(bounds, counts, strict=False):
        running += count
        buckets.append((repr(float(bound)), running))
    running += sum(counts[len(bounds) :])
    buckets.append(("+Inf", running))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


class ServerCollector(Collector):
    """Every hubbub metric, read from `view` when collected."""

    def __init__(self, view: ServerView) -> None:
        self.view = view

    def collect(self) -> Iterator[Any]:
        yield from self._connections()
        yield from self._core()
        yield from self._history()
        yield from self._cluster()
        dropped = CounterMetricFamily(
            "hubbub_log_records_dropped", "Log records dropped because the log queue was full."
        )
        dropped.add_metric([], logsetup.dropped())
        yield dropped

    def _connections(self) -> Iterator[Any]:
        connections = GaugeMetricFamily(
            "hubbub_connections",
            "Open client connections by transport and state (registered or not yet).",
            labels=["transport", "state"],
        )
        drops = CounterMetricFamily(
            "hubbub_sendq_drops",
            "Connections dropped because their send queue exceeded limits.sendq_bytes.",
            labels=["transport"],
        )
        throttles = CounterMetricFamily(
            "hubbub_flood_throttles",
            "Times a client's input was paused by its flood bucket.",
            labels=["transport"],
        )
        for transport, listener in self.view.listeners():
            registered = unregistered = 0
            for conn in list(listener.connections):
                session = conn.session
                if session is not None and session.registered:
                    registered += 1
                else:
                    unregistered += 1
            connections.add_metric([transport, "registered"], registered)
            connections.add_metric([transport, "unregistered"], unregistered)
            drops.add_metric([transport], listener.sendq_drops)
            throttles.add_metric([transport], listener.throttles)
        yield connections
        yield drops
        yield throttles

    def _core(self) -> Iterator[Any]:
        core = self.view.core
        counters = getattr(core, "counters", None)
        if counters is None:  # a stand-in core (tests) keeps no counters
            return
        users = GaugeMetricFamily("hubbub_users", "Registered users online.")
        users.add_metric([], core.registered_count)
        yield users
        channels = GaugeMetricFamily("hubbub_channels", "Channels that exist now.")
        channels.add_metric([], len(core.channels))
        yield channels
        members = GaugeMetricFamily(
            "hubbub_channel_members", "Channel memberships, summed over every channel."
        )
        members.add_metric([], sum(len(channel.members) for channel in core.channels.values()))
        yield members
        registrations = CounterMetricFamily(
            "hubbub_registrations", "Connections that completed registration."
        )
        registrations.add_metric([], counters.registrations)
        yield registrations
        received = CounterMetricFamily(
            "hubbub_messages_received",
            "Commands received and handled, by command.",
            labels=["command"],
        )
        for command, count in sorted(counters.commands_in.items()):
            received.add_metric([command], count)
        yield received
        delivered = CounterMetricFamily(
            "hubbub_deliveries",
            "Lines fanned out to other clients, by the command that caused them.",
            labels=["command"],
        )
        for command, count in sorted(counters.deliveries.items()):
            delivered.add_metric([command or "other"], count)
        yield delivered
        # Bucket k of the core's histogram holds sizes up to 2**k - 1 (hubbub.core.counters).
        bounds = [float(2**k - 1) for k in range(FANOUT_BUCKETS - 1)]
        yield _histogram(
            "hubbub_fanout_recipients",
            "Recipients per fan-out (one per message to a room, a QUIT to neighbours, …).",
            bounds,
            counters.fanout_sizes,
            float(sum(counters.deliveries.values())),
        )
        logins = CounterMetricFamily(
            "hubbub_logins",
            "Login attempts (SASL, NickServ IDENTIFY) by result.",
            labels=["result"],
        )
        logins.add_metric(["success"], counters.login_successes)
        logins.add_metric(["failure"], counters.login_failures)
        logins.add_metric(["throttled"], counters.login_throttles)
        yield logins
        bans = CounterMetricFamily(
            "hubbub_ban_refusals", "Connections refused by a server ban, by kind.", labels=["kind"]
        )
        bans.add_metric(["kline"], counters.kline_refusals)
        bans.add_metric(["dline"], counters.dline_refusals)
        yield bans
        rooms = CounterMetricFamily(
            "hubbub_room_flood_throttles", "Messages refused by a channel's +f limit."
        )
        rooms.add_metric([], counters.room_flood_throttles)
        yield rooms

    def _cluster(self) -> Iterator[Any]:
        node = self.view.node
        if node is None:
            return
        bus = node.bus
        available = GaugeMetricFamily(
            "hubbub_cluster_bus_available",
            "1 while this node reaches the cluster bus (Redis); room events are refused at 0.",
        )
        available.add_metric([], 1 if bus.available else 0)
        yield available
        heartbeats = CounterMetricFamily(
            "hubbub_cluster_heartbeats", "Bus heartbeats completed (lease renewed, gaps swept)."
        )
        heartbeats.add_metric([], bus.heartbeats)
        yield heartbeats

    def _history(self) -> Iterator[Any]:
        worker = self.view.worker
        if worker is None:
            return
        pending = GaugeMetricFamily(
            "hubbub_history_pending", "History records accepted and not yet committed."
        )
        pending.add_metric([], worker.pending)
        yield pending
        failing = GaugeMetricFamily(
            "hubbub_history_store_failing", "1 while the history store fails to write."
        )
        failing.add_metric([], 1 if worker.failing else 0)
        yield failing
        for name, value, doc in (
            ("hubbub_history_commits", worker.commits, "Successful history commits."),
            ("hubbub_history_store_incidents", worker.incidents, "History store failures."),
            (
                "hubbub_history_refused",
                worker.refused,
                "Records refused because history.max_pending records waited.",
            ),
            (
                "hubbub_history_failed_appends",
                worker.failed_appends,
                "Records the store could not take (dropped alone).",
            ),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], value)
            yield family
        yield _histogram(
            "hubbub_history_commit_seconds",
            "Time one history commit took.",
            COMMIT_BUCKETS,
            list(worker.commit_seconds),
            worker.commit_seconds_sum,
        )
