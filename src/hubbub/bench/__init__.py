"""The load generator behind `hubbub bench`: drives any IRC server on loopback and measures it.

Scenarios: `fanout` (one room, S senders, C members), `rooms` (C clients over K rooms),
`connect` (registrations per second, memory per idle connection), `history` (join replay
latency, CHATHISTORY paging; hubbub-specific) and `join` (J newcomers JOIN a room of C members:
JOINs/s, JOIN latency, what the joiner receives, fan-out of the JOIN line). Usable as a library:

    from hubbub.bench import Options, run
    record = run(Options("fanout", port=6667, clients=200, senders=10, duration=5))
    record["results"]["deliveries_per_s"]

Layout: `options` (settings and the command line), `runner` (the coordinator: placement,
worker processes, merging), `worker` (one process's clients on a uvloop), `client` (the
Protocol: registration, then bulk parsing), `stats` (histograms, sequence checks),
`procstat` (/proc and getrusage), `history`, `join`, `report` (table and JSON).
"""

from hubbub.bench.options import Options
from hubbub.bench.runner import BenchError, run

__all__ = ["BenchError", "Options", "run"]
