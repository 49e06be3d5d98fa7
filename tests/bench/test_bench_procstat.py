"""The server's CPU time over its process tree (a `--workers N` parent and its workers)."""

from __future__ import annotations

import subprocess
import sys

from hubbub.bench.procstat import process_cpu_seconds, tree_cpu_seconds

# A parent that starts a child which burns 0.5 s of CPU, says so, and then only waits.
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=sys.stdout)
child.wait()
"""
CHILD = """
import sys, time
while time.process_time() < 0.5:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""


def test_tree_cpu_counts_the_children() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD], stdout=subprocess.PIPE, stdin=subprocess.PIPE
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == b"burnt\n"
        own = process_cpu_seconds(parent.pid)
        tree = tree_cpu_seconds(parent.pid)
        assert own is not None and tree is not None
        assert tree >= own + 0.45  # the child's 0.5 s, to the clock tick
    finally:
        assert parent.stdin is not None
        parent.stdin.close()  # the child's stdin: it reads the end and exits, then the parent
        parent.wait(timeout=30)
    assert tree_cpu_seconds(parent.pid) is None
