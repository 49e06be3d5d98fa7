"""A served process puts its startup heap out of the garbage collector's sight
(hubbub.heap.freeze_startup_heap), so a full collection (on the event loop, or stopping every
thread) walks only what came after the start: on asyncio (`hubbub.app.serve`) and on every engine
`hubbub.engines.run` starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Serves as `hubbub serve` does (its own process: the freeze is the process's), reports what
# the collector holds frozen once the server is ready, then stops it with SIGTERM.
SCRIPT = """
import asyncio, gc, os, signal, sys
from hubbub import engines
from hubbub.app import serve
from hubbub.config.loader import load_config

engine = sys.argv[2]
config = load_config(
    None,
    {
        "server.data_dir": sys.argv[1],
        "server.engine": engine,
        "listen.port": 0,
        "web.enabled": False,
    },
)

def report():
    print("frozen", gc.get_freeze_count(), "tracked", len(gc.get_objects()), flush=True)

if engine == "asyncio":
    def ready(addresses):
        report()
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

    sys.exit(asyncio.run(serve(config, ready=ready)))

def ready(addresses):
    report()
    os.kill(os.getpid(), signal.SIGTERM)

sys.exit(engines.run(config, ready=ready))
"""


@pytest.mark.parametrize("engine", ["asyncio", "threads", "select", "hybrid"])
def test_a_served_process_has_its_startup_heap_frozen(tmp_path: Path, engine: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data"), engine],
        capture_output=True,
        text=True,
        timeout=60,  # a bound on a hang, not a duration under test: the machine may be busy
    )
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    frozen = int(words[words.index("frozen") + 1])
    tracked = int(words[words.index("tracked") + 1])
    # The modules, classes and functions of a started server are tens of thousands of
    # objects; what the collector still tracks is what the start left besides (a few).
    assert frozen > 10_000
    assert tracked < frozen
