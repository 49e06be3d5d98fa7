"""Plots from the JSON that `benchmarks/compare` writes: one PNG per metric, for the docs.

    .venv/bin/pip install -e '.[plots]'      # matplotlib, for this script only
    .venv/bin/python benchmarks/plot.py benchmarks/results/2026-12-02.json \
        --metric deliveries_per_s --out docs/img/fanout.png

Each scenario is a group of bars, one per server in the results (their medians), with each
server's ratio to ngIRCd written over its bar. Nothing is computed here that the JSON does not
hold: the figures in the doc and the picture come from the same file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

LABELS = {
    "deliveries_per_s": "deliveries per second (median)",
    "latency_ms.p99": "p99 latency, ms (median)",
    "rss_per_connection_kb": "RSS per idle connection, KiB (median)",
    "joins_per_s": "JOINs per second (median)",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a JSON file from benchmarks/compare")
    parser.add_argument("--metric", default="deliveries_per_s")
    parser.add_argument("--scenarios", default="", help="comma-separated (default: all with it)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="")
    opts = parser.parse_args()
    results: dict[str, Any] = json.loads(opts.results.read_text())
    servers = list(results["servers"])
    wanted = [s for s in opts.scenarios.split(",") if s]
    scenarios = [
        name
        for name, entry in results["scenarios"].items()
        if (not wanted or name in wanted)
        and any(opts.metric in entry.get(server, {}) for server in servers)
    ]
    if not scenarios:
        parser.error(f"no scenario in {opts.results} has {opts.metric}")
    width = 0.8 / len(servers)
    figure, axes = plt.subplots(figsize=(3.6 + 1.9 * len(scenarios), 4.2), dpi=110)
    for index, server in enumerate(servers):
        xs, heights, notes = [], [], []
        for position, scenario in enumerate(scenarios):
            entry = results["scenarios"][scenario]
            value = entry.get(server, {}).get(opts.metric)
            if value is None:
                continue
            reference = entry.get("ngircd", {}).get(opts.metric)
            xs.append(position + (index - (len(servers) - 1) / 2) * width)
            heights.append(value)
            notes.append(f"{value / reference:.2f}x" if reference and server != "ngircd" else "")
        bars = axes.bar(xs, heights, width * 0.95, label=server)
        for bar, note in zip(bars, notes, strict=True):
            if note:
                axes.annotate(
                    note,
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    axes.set_xticks(range(len(scenarios)), scenarios)
    axes.set_ylabel(LABELS.get(opts.metric, opts.metric))
    axes.set_title(opts.title or f"{opts.results.stem}: {opts.metric} (ratios to ngIRCd)")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(opts.out)
    print(f"wrote {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
