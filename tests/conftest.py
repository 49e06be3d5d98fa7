"""Hooks for the whole suite: the log lines of in-process servers stay with their test.

A server started in the test process (tests/support/servers.py) writes its log lines on a
listener thread (hubbub.logsetup), a moment after they are logged. pytest captures each
phase of a test (setup, call, teardown) and reports between them, with the terminal
uncaptured: a line written in that gap went to the terminal, in the middle of the progress
dots. Each phase now ends once what it logged is written.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from hubbub import logsetup


@pytest.hookimpl(wrapper=True, trylast=True)  # (inside the capture's wrapper)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        logsetup.flush()


@pytest.hookimpl(wrapper=True, trylast=True)  # (inside the capture's wrapper)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        logsetup.flush()


@pytest.hookimpl(wrapper=True, trylast=True)  # (inside the capture's wrapper)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        logsetup.flush()
