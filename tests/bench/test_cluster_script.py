"""benchmarks/cluster.py's own arithmetic: sequencing cost from Redis counters, the history
write rate from row samples, the listening-socket count it waits on, and its table."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_cluster() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("cluster_script", BENCHMARKS / "cluster.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


cluster = load_cluster()


def test_sequencing_cost_per_message_from_counter_deltas() -> None:
    before = {"reads": 100, "evalsha": 10, "hget": 5, "publish": 10}
    after = {"reads": 400, "evalsha": 1010, "hget": 5, "publish": 1010, "xadd": 1000}
    figures = cluster.sequencing(before, after, 1000)
    assert figures["evalsha_per_message"] == 1.0
    assert figures["round_trips_per_message"] == 0.3
    assert figures["redis_commands_per_message"] == 3.0  # evalsha, publish, xadd; hget idle
    assert list(figures["commands"]) == ["evalsha", "publish", "xadd"]


def test_history_rate_from_first_new_row_to_last() -> None:
    sampler = cluster.RowSampler.__new__(cluster.RowSampler)
    sampler.error = ""
    # The highest seq as sampled (it moves by more than the rows: conflicting inserts of the
    # second node use numbers too), and the rows counted once it stopped moving.
    sampler.samples = [(0.0, 50), (0.2, 50), (0.4, 250), (1.4, 2050), (1.6, 2050), (1.8, 2050)]
    sampler.rows = 1000
    figures = sampler.figures(1000)
    assert figures["rows"] == 1000
    assert figures["missing"] == 0
    assert figures["records_per_s"] == 1000.0  # 1000 rows between 0.4 s and 1.4 s
    assert sampler.figures(1003)["missing"] == 3


def test_listening_sockets_counts_sockets_on_the_port() -> None:
    with socket.socket() as first, socket.socket() as second:
        for sock in (first, second):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        second.bind(("127.0.0.1", port))
        assert cluster.listening_sockets(port) == 0
        first.listen()
        assert cluster.listening_sockets(port) == 1
        second.listen()
        assert cluster.listening_sockets(port) == 2


def test_table_shows_each_configuration_and_skips_empty_metrics() -> None:
    entry: dict[str, Any] = {
        "runs": 1,
        "deliveries_per_s": 1000.0,
        "lost": 0,
        "cross_node_latency_ms.p99": None,
        "command": "hubbub bench fanout -C 200",
    }
    results = {
        "date": "2026-12-02T03:00:00",
        "quick": True,
        "machine": {"nproc": "2", "cpu": "x", "kernel": "k", "memory": "m", "python": "3.11",
                    "load_before": "0"},
        "redis": "7.0.15",
        "postgres": "15",
        "pinning": {"single": "taskset -c 0"},
        "servers": {"single": {"version": "hubbub"}},
        "scenarios": {"fanout": {"single": entry, "one-node": {**entry, "lost": 2}}},
    }  # fmt: skip
    text = cluster.markdown(results)
    assert "not a result" in text
    assert "| metric (median) | single | one-node |" in text
    assert "| lost | 0 | 2 |" in text
    assert "cross_node_latency_ms.p99" not in text
