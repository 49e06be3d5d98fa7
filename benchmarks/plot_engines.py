"""Plots from the JSON that `benchmarks/engines` writes: three PNGs for docs/engines.md.

    .venv/bin/pip install -e '.[plots]'      # matplotlib, for this script only
    .venv/bin/python benchmarks/plot_engines.py benchmarks/results/engines-2026-12-03.json

writes, into docs/img/ (or --out-dir), with the JSON's name as prefix:

* `<stem>-throughput.png`: deliveries/s of fanout200, fanout1000 and rooms, one bar per server,
  each hubbub's ratio to the reference engine (asyncio on one core) over its bar;
* `<stem>-latency.png`: p99 latency of the steady run and of the same run with a reader that
  stopped and with a slowed history store, per server, each slow bar's ratio to the steady one;
* `<stem>-idle.png`: for the idle connections, RSS per connection and the server's threads.

Every number drawn is a median the JSON holds; nothing is computed here but ratios of them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

LABELS = {
    "deliveries_per_s": "deliveries per second (median)",
    "latency_ms.p99": "p99 latency, ms (median)",
    "rss_per_connection_kb": "RSS per idle connection, KiB (median)",
    "server_threads": "server threads with the idle clients (median)",
}


def base_name(server: str) -> str:
    """`asyncio@1+slowstore50ms` → `asyncio@1`: the slowed server is the same engine."""
    return server.split("+", 1)[0]


def servers_of(results: dict[str, Any]) -> list[str]:
    """The measured servers, in the run's order, slowed variants folded into their engine."""
    names: list[str] = []
    for name in [*results.get("order", []), *results["servers"]]:
        if base_name(name) not in names:
            names.append(base_name(name))
    return names


def value(entry: dict[str, Any], server: str, metric: str) -> float | None:
    """The median of `metric` for `server` (or its slowed variant) in one scenario."""
    for name, summary in entry.items():
        if base_name(name) == server and isinstance(summary, dict):
            found = summary.get(metric)
            return float(found) if isinstance(found, int | float) else None
    return None


def grouped_bars(
    axes: Axes,
    results: dict[str, Any],
    groups: list[str],
    metric: str,
    ratio_to: str | None,
    ratio_within_group: str | None = None,
) -> None:
    """One group of bars per scenario in `groups`, one bar per server; over each bar its ratio
    to server `ratio_to` in the same scenario, or to scenario `ratio_within_group` of the same
    server."""
    servers = servers_of(results)
    width = 0.8 / len(servers)
    for index, server in enumerate(servers):
        xs, heights, notes = [], [], []
        for position, scenario in enumerate(groups):
            entry = results["scenarios"].get(scenario, {})
            height = value(entry, server, metric)
            if height is None:
                continue
            if ratio_within_group is not None:
                base = value(results["scenarios"].get(ratio_within_group, {}), server, metric)
                show = scenario != ratio_within_group
            else:
                base = value(entry, ratio_to, metric) if ratio_to else None
                show = server != ratio_to
            xs.append(position + (index - (len(servers) - 1) / 2) * width)
            heights.append(height)
            notes.append(f"{height / base:.2f}x" if base and show else "")
        bars = axes.bar(xs, heights, width * 0.95, label=server)
        for bar, note in zip(bars, notes, strict=True):
            if note:
                axes.annotate(
                    note,
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                    rotation=90,
                )
    axes.set_xticks(range(len(groups)), groups)
    axes.set_ylabel(LABELS.get(metric, metric))
    axes.grid(axis="y", alpha=0.3)


def present(results: dict[str, Any], scenarios: list[str]) -> list[str]:
    return [s for s in scenarios if s in results["scenarios"]]


def save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a JSON file from benchmarks/engines")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/img"))
    opts = parser.parse_args()
    results: dict[str, Any] = json.loads(opts.results.read_text())
    reference = results.get("reference", "asyncio@1")
    stem = opts.results.stem
    drawn = 0

    throughput = present(results, ["fanout200", "fanout1000", "rooms"])
    if throughput:
        figure, axes = plt.subplots(figsize=(4 + 2.2 * len(throughput), 4.4), dpi=110)
        grouped_bars(axes, results, throughput, "deliveries_per_s", reference)
        axes.set_title(f"{stem}: fan-out (ratios to {reference})")
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        save(figure, opts.out_dir / f"{stem}-throughput.png")
        drawn += 1

    latency = present(results, ["steady200", "slowreader200", "slowstore200"])
    if latency:
        figure, axes = plt.subplots(figsize=(4 + 2.2 * len(latency), 4.4), dpi=110)
        grouped_bars(axes, results, latency, "latency_ms.p99", None, ratio_within_group="steady200")
        axes.set_title(f"{stem}: p99 of the others (ratios to steady200)")
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        save(figure, opts.out_dir / f"{stem}-latency.png")
        drawn += 1

    if "idle10k" in results["scenarios"]:
        figure, (memory, threads) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
        grouped_bars(memory, results, ["idle10k"], "rss_per_connection_kb", reference)
        grouped_bars(threads, results, ["idle10k"], "server_threads", None)
        threads.set_yscale("log")
        memory.set_title("memory per idle connection")
        threads.set_title("server threads (log scale)")
        threads.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        save(figure, opts.out_dir / f"{stem}-idle.png")
        drawn += 1

    if not drawn:
        parser.error(f"{opts.results} has none of the scenarios these plots draw")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
