"""Sustained append throughput of HistoryWorker into SqliteStore. Not a test: run it by hand,
`.venv/bin/python tests/history/bench_worker.py [N]`."""

import sys
import tempfile
import time
from pathlib import Path

from hubbub.history.record import Record
from hubbub.history.sqlite import SqliteStore
from hubbub.history.worker import HistoryWorker

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "bench.db"
    w = HistoryWorker(lambda: SqliteStore(path), commit_interval_ms=100, max_batch=1000)
    w.start()
    recs = [
        Record(
            f"#room{i % 50}",
            f"id{i:09d}",
            1_700_000_000_000 + i,
            "nick!user@host.example",
            "PRIVMSG",
            (f"#room{i % 50}", "hello there, this is a typical chat line of some length"),
            {"+draft/reply": "x"} if i % 10 == 0 else {},
        )
        for i in range(N)
    ]
    t0 = time.perf_counter()
    for r in recs:
        w.append(r)
    t1 = time.perf_counter()
    assert w.flush(timeout=300)
    t2 = time.perf_counter()
    print(
        f"{N} records: enqueue {N / (t1 - t0):,.0f}/s"
        f" ({(t1 - t0) / N * 1e6:.2f} us/append on the caller);"
        f" stored+committed {N / (t2 - t0):,.0f}/s end to end; commits={w.commits}"
    )
    t3 = time.perf_counter()
    latest = w.submit(lambda s: s.latest("#room7", 100)).result()
    t4 = time.perf_counter()
    print(f"latest(100) on a {N // 50}-record room: {(t4 - t3) * 1e3:.2f} ms")
    w.stop()
