"""Human-readable tables and the JSON line of a benchmark record."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["json_line", "table"]


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "  ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) if value else "-"
    return str(value)


_LABELS = {
    "setup_s": "setup (s)",
    "messages_sent": "messages sent",
    "messages_per_s": "messages/s",
    "deliveries_expected": "deliveries expected",
    "deliveries": "deliveries received",
    "deliveries_per_s": "deliveries/s",
    "active_s": "first send to last delivery (s)",
    "lost": "lost",
    "duplicated": "duplicated",
    "out_of_order": "out of order",
    "disconnected": "clients disconnected",
    "refused": "refused by the server (FAIL)",
    "latency_ms": "latency (ms)",
    "latency_samples": "latency samples",
    "checked_receivers": "receivers checked in full",
    "generator_cpu_s": "generator CPU (s)",
    "generator_cpu_pct": "generator CPU (% of a core)",
    "server_cpu_s": "server CPU (s)",
    "server_cpu_pct": "server CPU (% of a core)",
    "setup_errors": "setup errors",
    "registered": "registered",
    "failed": "failed",
    "failures": "failures",
    "elapsed_s": "elapsed (s)",
    "connections_per_s": "connections/s",
    "registration_ms": "registration (ms)",
    "server_rss_before_kb": "server RSS before (KiB)",
    "server_rss_after_kb": "server RSS after (KiB)",
    "rss_per_connection_kb": "server RSS per connection (KiB)",
    "server_threads": "server threads (after)",
    "stalled": "stalled readers",
    "stalled_cut_off": "stalled readers cut off by the server",
    "joiner_caps": "joiners' capabilities",
    "join_phase_s": "first JOIN to last answer (s)",
    "joins_per_s": "JOINs/s",
    "join_to_echo_ms": "JOIN → own JOIN (ms)",
    "join_to_names_ms": "JOIN → end of NAMES (ms)",
    "join_to_done_ms": "JOIN → whole answer (ms)",
    "names_replies": "end of NAMES received",
    "lines_per_join": "lines per JOIN (joiner, mean)",
    "lines_per_join_max": "lines per JOIN (joiner, max)",
    "bytes_per_join": "bytes per JOIN (joiner, mean)",
    "bytes_per_join_max": "bytes per JOIN (joiner, max)",
    "fanout_latency_ms": "JOIN → member sees it (ms)",
    "server_cpu_per_join_ms": "server CPU per JOIN (ms)",
    "join_errors": "JOIN errors",
    "same_node_latency_ms": "latency, sender on the same server (ms)",
    "same_node_samples": "deliveries from the same server (checked)",
    "cross_node_latency_ms": "latency, sender on another server (ms)",
    "cross_node_samples": "deliveries from another server (checked)",
}


def table(record: dict[str, Any]) -> str:
    """The record as aligned `name  value` lines under a title."""
    params = "  ".join(f"{k}={_fmt(v)}" for k, v in record.get("params", {}).items())
    lines = [f"hubbub bench {record['scenario']} against {record['server']}", f"  {params}"]
    results = record.get("results", {})
    rows = [
        (_LABELS.get(key, key.replace("_", " ")), _fmt(value)) for key, value in results.items()
    ]
    width = max((len(name) for name, _ in rows), default=0)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)
