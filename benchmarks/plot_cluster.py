"""Plots from the JSON that `benchmarks/cluster` writes: one PNG for docs/cluster.md.

    .venv/bin/pip install -e '.[plots]'      # matplotlib, for this script only
    .venv/bin/python benchmarks/plot_cluster.py benchmarks/results/cluster-2026-12-03.json

writes `docs/img/<stem>.png` (or `--out`), two panels side by side:

* left: fan-out C=200 S=10 deliveries/s of each configuration (ngircd when the run has it,
  single, one-node, workers-2, two-nodes), one bar per configuration (its median), each run a
  dot;
* right: at the crossnode rate, the latency of ngIRCd and of hubbub's single process with every
  client on the one server (the same-run reference, when the run has it: scenario
  at-crossnode-rate), then the cross-node latency of every crossnode scenario (node B beside
  node A, node B on the generator's core, node B alone with node A on the generator's core),
  p50 and p99 bars (medians), each run a dot, with the target line (p99 ≤ 5 ms). A run of
  crossnode alone (`--crossnode-rate`) has only this panel.

Every bar is a median the JSON holds and every dot one of its runs: nothing is computed here.
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

TARGET_P99_MS = 5.0
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def runs(entry: dict[str, Any], metric: str) -> list[float]:
    """The per-run values of a metric (the JSON's "<metric> (runs)" list)."""
    return [float(value) for value in entry.get(f"{metric} (runs)", []) if value is not None]


def throughput(axes: Axes, fanout: dict[str, Any]) -> None:
    names = list(fanout)
    medians = [float(fanout[name]["deliveries_per_s"]) / 1e6 for name in names]
    axes.bar(names, medians, color="#4c72b0")
    for index, name in enumerate(names):
        values = [value / 1e6 for value in runs(fanout[name], "deliveries_per_s")]
        axes.scatter([index] * len(values), values, color="black", s=10, zorder=3)
        axes.annotate(
            f"{medians[index]:.2f} M",
            (index, medians[index]),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 3),
            textcoords="offset points",
        )
    axes.set_ylabel("deliveries per second, millions (median; dots: runs)")
    axes.set_title("fan-out C=200 S=10, as fast as possible")


def latency(
    axes: Axes, bars: dict[str, tuple[dict[str, Any], str]], rate: float, which: str
) -> None:
    """`bars`: label -> (the configuration's entry, the prefix of its latency metrics)."""
    labels = list(bars)
    width = 0.38
    highest = float(TARGET_P99_MS)
    for offset, quantile, colour in ((-width / 2, "p50", "#55a868"), (width / 2, "p99", "#c44e52")):
        positions = [index + offset for index in range(len(labels))]
        metrics = [f"{bars[label][1]}.{quantile}" for label in labels]
        medians = [
            float(bars[label][0][metric]) for label, metric in zip(labels, metrics, strict=True)
        ]
        axes.bar(positions, medians, width, color=colour, label=quantile)
        for position, label, metric, median in zip(
            positions, labels, metrics, medians, strict=True
        ):
            values = runs(bars[label][0], metric)
            highest = max(highest, median, *values)
            axes.scatter([position] * len(values), values, color="black", s=10, zorder=3)
            axes.annotate(
                f"{median:.2f}",
                (position, median),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 3),
                textcoords="offset points",
            )
    # Named in the legend, not beside the line: there it ran into the bars' figures.
    axes.axhline(
        TARGET_P99_MS,
        color="grey",
        linestyle="--",
        linewidth=1,
        label=f"target: p99 ≤ {TARGET_P99_MS:g} ms",
    )
    axes.set_xticks(range(len(labels)), labels, fontsize=8)  # five three-line labels side by side
    axes.set_ylabel("latency, ms (two nodes: cross-node; median; dots: runs)")
    axes.set_title(f"fan-out at {rate:,.0f} msg/s ({which}): one server, two nodes apart")
    axes.set_ylim(0, highest * 1.3)  # room above every run's dot for the legend
    axes.legend(loc="upper right")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a JSON file from benchmarks/cluster")
    parser.add_argument("--out", type=Path, help="the PNG to write (docs/img/<stem>.png)")
    opts = parser.parse_args()
    results: dict[str, Any] = json.loads(opts.results.read_text())
    scenarios = results["scenarios"]
    bars: dict[str, tuple[dict[str, Any], str]] = {}
    reference = scenarios.get("at-crossnode-rate", {})
    for name, label in (("ngircd", "ngIRCd,\none server"), ("single", "hubbub,\none process")):
        if name in reference:
            bars[label] = (reference[name], "latency_ms")
    for name, entry in scenarios.items():
        if name.startswith("crossnode") and "two-nodes" in entry:
            label = {
                "crossnode": "two nodes,\nB beside A",
                "crossnode-b-with-generator": "two nodes,\nB beside\nthe generator",
                "crossnode-b-alone": "two nodes,\nB alone, A\nbeside the generator",
            }[name]
            bars[label] = (entry["two-nodes"], "cross_node_latency_ms")
    half_load = results.get("half_load_rate", {})
    rate = float(half_load.get("messages_per_s", 0.0))
    # A run of crossnode alone (--crossnode-rate) has no fan-out and no half-load figure.
    given = half_load.get("half_of") == "--crossnode-rate"
    if "fanout" in scenarios:
        figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
        throughput(left, scenarios["fanout"])
    else:
        figure, right = plt.subplots(1, 1, figsize=(10, 4.8))
    latency(right, bars, rate, "a given rate" if given else "half load")
    machine = results.get("machine", {})
    # Where Redis and PostgreSQL ran (`--stores-cpu`): runs that differ only in that look alike.
    stores = str(results.get("pinning", {}).get("redis, postgres", ""))
    pinned = (
        stores.split(" (")[0].replace("every process and thread on ", "") if "CPU" in stores else ""
    )
    figure.suptitle(
        f"hubbub as a cluster — {results.get('date', '')}, {machine.get('nproc', '?')} CPUs, "
        f"Redis {results.get('redis', '?')}, PostgreSQL {results.get('postgres', '?')}"
        + (f" (both on {pinned})" if pinned else ""),
        fontsize=10,
    )
    figure.tight_layout()
    out = opts.out or DOCS_IMG / f"{opts.results.stem}.png"
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
