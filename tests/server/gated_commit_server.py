"""Helper process of the kill -9 acknowledgement test (not a test module): the server, on the
engine its config names, over a SQLite history whose commits wait until the test opens a FIFO.

Usage: python gated_commit_server.py CONFIG_FILE FIFO

Until the test opens FIFO for writing, the history writer's first commit of records blocks
(opening a FIFO for reading waits for a writer): whatever it was handed is not on disk, and a
kill -9 then loses it. After that, commits go through as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hubbub import app, engines
from hubbub.config.loader import load_config
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore


class FifoGatedStore:
    """A history store whose commits wait until `fifo` has been opened by a writer once."""

    def __init__(self, inner: HistoryStore, fifo: Path) -> None:
        self.inner = inner
        self.fifo = fifo
        self.opened = False
        self.appended = False

    def append(self, records: Sequence[Record]) -> None:
        self.inner.append(records)
        self.appended = True

    def commit(self) -> None:
        # Only a commit of records waits (one after a query must not hold the queries behind
        # it: a JOIN's replay). On the history thread: the writer stalls here, nobody else.
        if self.appended and not self.opened:
            with self.fifo.open("rb"):
                pass
            self.opened = True
        self.inner.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def main() -> int:
    config = load_config(Path(sys.argv[1]))
    fifo = Path(sys.argv[2])

    def gated(store: HistoryStore) -> HistoryStore:
        return FifoGatedStore(store, fifo)  # type: ignore[return-value]

    engine = config.server.engine
    if engine in engines.RUNNERS:
        base: Any = engines.server_class_of(engine)

        class GatedServer(base):  # type: ignore[misc, valid-type]
            def open_history_store(self) -> HistoryStore:
                return gated(super().open_history_store())

        return engines.run(config, server_class=GatedServer)

    if engine == "twisted":  # an optional extra, imported only when chosen
        from hubbub.engines import twisted_engine

        class GatedTwistedApp(twisted_engine.TwistedApp):
            def open_history_store(self) -> HistoryStore:
                return gated(super().open_history_store())

        return twisted_engine.run(config, app_class=GatedTwistedApp)

    class GatedApp(app.App):
        def open_history_store(self) -> HistoryStore:
            return gated(super().open_history_store())

    return app.run(config, app_class=GatedApp)


if __name__ == "__main__":
    sys.exit(main())
