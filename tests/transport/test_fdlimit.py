"""The file-descriptor limit at start-up (issue 11: under systemd's default of 1,024, sockets
held by unfinished requests locked new IRC clients out silently). Each case runs in a child
process, since lowering a hard limit cannot be undone."""

from __future__ import annotations

import subprocess
import sys

import pytest

resource = pytest.importorskip("resource")

PROGRAM = """
import logging, resource, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stdout)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
from hubbub.transport.fdlimit import ensure_fd_limit
print("result", ensure_fd_limit({max_clients}))
print("soft", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def run(soft: int, hard: str, max_clients: int) -> str:
    program = PROGRAM.format(soft=soft, hard=hard, max_clients=max_clients)
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_the_soft_limit_is_raised_to_what_max_clients_needs() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1064:
        pytest.skip("the hard limit here is too low to raise the soft one to 1,064")
    out = run(128, "hard", 1000)
    assert "soft 1064" in out
    assert "WARNING" not in out


def test_a_warning_when_the_hard_limit_is_too_low() -> None:
    out = run(128, "300", 1000)
    assert "soft 300" in out  # raised as far as allowed
    assert "WARNING the file descriptor limit (300) is below" in out
