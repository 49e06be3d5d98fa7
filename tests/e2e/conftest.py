"""Fixtures of the end-to-end tests: one `hubbub serve` process and a raw client (alice) on it,
beside the client program under test (support.irssi, support.weechat)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.config import write_config
from support.irc_client import IrcClient
from support.programs import WAIT
from support.servers import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(write_config(tmp_path / "hubbub.toml", tmp_path / "data")) as proc:
        yield proc


@pytest.fixture
def alice(server: ServerProcess) -> Iterator[IrcClient]:
    client = IrcClient(server.address, timeout=WAIT)
    try:
        yield client
    finally:
        client.close()
