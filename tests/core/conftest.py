"""Fixtures of the core tests: a fresh server harness per test (see core_helpers)."""

from __future__ import annotations

import pytest
from core_helpers import Harness


@pytest.fixture
def h() -> Harness:
    return Harness()
