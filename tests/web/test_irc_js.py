"""The web client's JavaScript without a browser: `irc_servers.test.mjs` under Node's own test
runner (`node --test`; no npm packages). It checks the list of servers the page moves through
when one is lost (round robin, backoff only once every server failed in a row, nick and
password kept, a nick still held taken back with MONITOR).

Skipped when `node` is missing, unless HUBBUB_REQUIRE_E2E=1 (then it fails).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_the_server_list_logic_under_node() -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        if os.environ.get("HUBBUB_REQUIRE_E2E") == "1":
            pytest.fail("HUBBUB_REQUIRE_E2E=1 but node is not installed", pytrace=False)
        pytest.skip("node is not installed (Debian package nodejs)")
    result = subprocess.run(
        [node, "--test", str(HERE / "irc_servers.test.mjs")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 7" in result.stdout, result.stdout
