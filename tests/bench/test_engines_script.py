"""benchmarks/engines.py's own arithmetic: the steady rate, the slow runs against the steady
one, the CPUs of the all-cores runs, and the table (the servers and runs are compare.py's)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_engines() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("engines_script", BENCHMARKS / "engines.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


engines = load_engines()


def summary(**medians: Any) -> dict[str, Any]:
    return {"runs": 3, **medians}


def test_the_steady_rate_is_half_the_slowest_fanout_median_per_receiver() -> None:
    results: dict[str, Any] = {
        "scenarios": {
            "fanout200": {
                "commands": {},
                "asyncio@1": summary(deliveries_per_s=2_000_000.0),
                "threads@1": summary(deliveries_per_s=796_000.0),
            }
        }
    }
    assert engines.steady_rate(results) == 2000.0  # 0.5 * 796,000 / 199
    assert engines.steady_rate({"scenarios": {}}) == 500.0


def test_slow_runs_are_compared_with_the_same_engines_steady_run() -> None:
    results: dict[str, Any] = {
        "scenarios": {
            "steady200": {
                "asyncio@1": summary(**{"latency_ms.p99": 4.0}),
                "twisted@1": summary(**{"latency_ms.p99": 10.0}),
            },
            "slowreader200": {"asyncio@1": summary(**{"latency_ms.p99": 6.0})},
            "slowstore200": {
                "commands": {},
                "twisted@1+slowstore50ms": summary(**{"latency_ms.p99": 25.0}),
                "select@1+slowstore50ms": summary(**{"latency_ms.p99": 25.0}),
            },
        }
    }
    engines.compare_with_steady(results)
    scenarios = results["scenarios"]
    assert scenarios["slowreader200"]["asyncio@1"]["p99_vs_steady200"] == 1.5
    assert scenarios["slowstore200"]["twisted@1+slowstore50ms"]["p99_vs_steady200"] == 2.5
    # No steady run to compare with: no ratio rather than a made-up one.
    assert scenarios["slowstore200"]["select@1+slowstore50ms"]["p99_vs_steady200"] is None


def test_all_cores_means_every_cpu_but_the_generators() -> None:
    mine = sorted(os.sched_getaffinity(0))
    others = engines.all_cpus_but(str(mine[0]))
    if len(mine) == 1:  # nothing left: the one core the pinned runs use
        assert others == engines.compare.SERVER_CPU
    else:
        assert others == ",".join(str(cpu) for cpu in mine[1:])
    assert engines.all_cpus_but(f"{mine[0]}-{mine[-1]}") == engines.compare.SERVER_CPU


def test_the_table_shows_ratios_to_asyncio_and_ngircd() -> None:
    results: dict[str, Any] = {
        "date": "2026-12-02T00:00:00",
        "machine": {
            "nproc": "4",
            "cpu": "cpu",
            "kernel": "k",
            "memory": "m",
            "python": "3.11",
            "load_before": "0",
        },
        "pinning": {"one core": "taskset -c 0"},
        "order": ["asyncio@1", "threads@1", "ngircd"],
        "servers": {name: {"version": name} for name in ("asyncio@1", "ngircd", "threads@1")},
        "scenarios": {
            "fanout200": {
                "commands": {"asyncio@1": "hubbub bench fanout"},
                "asyncio@1": summary(deliveries_per_s=2e6),
                "threads@1": summary(deliveries_per_s=1e6),
                "ngircd": summary(deliveries_per_s=4e6),
            }
        },
    }
    text = engines.markdown(results)
    assert "| metric (median) | asyncio@1 | threads@1 | ngircd |" in text
    assert "| deliveries_per_s / asyncio@1 | 1.00x | 0.50x | 2.00x |" in text
    assert "| deliveries_per_s / ngircd | 0.50x | 0.25x | 1.00x |" in text
