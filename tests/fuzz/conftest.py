"""The fuzz targets drive the harnesses of tests/core (core_helpers, the in-memory cluster of
test_cluster_core): its directory goes on sys.path, as pytest puts it there for tests/core's own
modules, so they import the same way whichever tests run first."""

from __future__ import annotations

import sys
from pathlib import Path

CORE_TESTS = str(Path(__file__).resolve().parent.parent / "core")
if CORE_TESTS not in sys.path:
    sys.path.insert(0, CORE_TESTS)
