"""Fixtures of the conformance tests: a fresh real server per test (see conformance_helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance_helpers import Network, network


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    with network(tmp_path) as running:
        yield running
