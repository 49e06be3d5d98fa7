"""`hubbub bench SCENARIO …`: run one benchmark, print its table and its JSON line."""

from __future__ import annotations

import argparse
import sys

from hubbub.bench.options import options_from_args
from hubbub.bench.report import json_line, table
from hubbub.bench.runner import BenchError, run

__all__ = ["main"]


def main(args: argparse.Namespace) -> int:
    """Exit status 0 when the run completed, 1 when it could not run, 130 after Ctrl-C."""
    options = options_from_args(args)
    try:
        record = run(options)
    except BenchError as exc:
        print(f"hubbub bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(table(record), flush=True)
    line = json_line(record)
    if options.json and options.json != "-":
        with open(options.json, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    else:
        print(line, flush=True)
    return 0
