"""The started server's heap and Python's cyclic garbage collector.

`freeze_startup_heap` is called once a server has started, by every engine (`hubbub.app.serve`
for asyncio and Twisted, `hubbub.engines.run` for the others)."""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> None:
    """Put what the started server holds for good (its modules, classes and functions, the
    config, the accounts and registrations it loaded) out of the cyclic garbage collector's
    sight (`gc.freeze`). A full collection walks every object it tracks, holding the GIL (on
    the event loop, or stopping every thread of the threaded engines): 50,000 to 77,000 of
    them in a cluster node, 14 to 79 ms each time (probed, docs/cluster-measurements.md),
    every client waiting. Frozen, a full collection walks only what came since. Collected
    first, so no garbage of the start is kept for good."""
    gc.collect()
    gc.freeze()
