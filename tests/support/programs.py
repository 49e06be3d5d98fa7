"""Real IRC client programs in the tests: whether they are installed, how long a wait on them
may take, and how their output is cut down for a failure message.

The README's test command installs them (scripts/install-test-deps) and sets
HUBBUB_REQUIRE_E2E=1: there a missing program fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from support.irc_client import IrcClient

# How long any single wait on a client program may take. Generous for a loaded 2-core CI
# machine; the tests as a whole normally finish in a few seconds.
WAIT = 20.0


def missing_programs(*names: str) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def require_programs(*names: str) -> None:
    """Skip the test (fail it under HUBBUB_REQUIRE_E2E=1) unless every program is installed."""
    missing = missing_programs(*names)
    if missing:
        not_installed(" and ".join(missing))


def not_installed(what: str) -> None:
    """Skip the test for want of `what`; fail it under HUBBUB_REQUIRE_E2E=1 (the README's test
    command, which installs everything)."""
    message = f"{what} not installed: run scripts/install-test-deps"
    if os.environ.get("HUBBUB_REQUIRE_E2E") == "1":
        pytest.fail(f"HUBBUB_REQUIRE_E2E=1 but {message}", pytrace=False)
    pytest.skip(message)


def tail(text: str, limit: int = 6000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def tidy(screen: str) -> str:
    """A captured screen for a failure message: trailing blanks cut, blank runs squeezed."""
    out: list[str] = []
    for line in screen.splitlines():
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


@contextmanager
def diagnosed(*views: Callable[[], str]) -> Iterator[None]:
    """Turn any failure inside into an AssertionError that carries, after the error, what each
    of `views` returns then: a program's screen or logs, the lines a raw client received, a
    server's log."""
    try:
        yield
    except Exception as exc:
        details = [f"{type(exc).__name__}: {exc}", *(view() for view in views)]
        raise AssertionError("\n".join(details)) from exc


def received(name: str, irc: IrcClient) -> Callable[[], str]:
    """What the raw client `name` has received, as a view for `diagnosed`."""
    return lambda: f"--- lines received by {name}:\n" + tail("\n".join(x.raw for x in irc.seen))
