"""Helper process of the kill -9 test (not a test module): write history until killed.

Usage: python kill_writer.py DB_PATH COMMIT_INTERVAL_MS
Appends records numbered 1, 2, 3, ... to "#kill" through a HistoryWorker over SqliteStore at a
steady pace (well below what the worker sustains, so it never falls behind), and after every
burst prints the number of the last record appended, flushed at once. Stops by itself after
MAX_SECONDS if nobody kills it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hubbub.history.record import Record
from hubbub.history.sqlite import SqliteStore
from hubbub.history.worker import HistoryWorker

BURST = 20  # records per burst
PAUSE_S = 0.002  # between bursts: about 10,000 records/s at most
MAX_SECONDS = 30.0


def main() -> None:
    path = Path(sys.argv[1])
    interval = int(sys.argv[2])
    worker = HistoryWorker(lambda: SqliteStore(path), commit_interval_ms=interval)
    worker.start()
    print("ready", flush=True)
    n = 0
    deadline = time.monotonic() + MAX_SECONDS
    while time.monotonic() < deadline:
        for _ in range(BURST):
            n += 1
            worker.append(
                Record(
                    "#kill", f"k{n}", int(time.time() * 1000), "w!w@w", "PRIVMSG", ("#kill", str(n))
                )
            )
        print(n, flush=True)
        time.sleep(PAUSE_S)
    worker.stop()


if __name__ == "__main__":
    main()
