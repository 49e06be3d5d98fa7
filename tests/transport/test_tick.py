"""The app owns the core's clock: `core.tick` runs once per interval, however many listeners
there are (with TLS and the web client on, every listener's sweep used to call it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.app import App
from hubbub.cli import main as cli_main
from hubbub.core.server import ChatServer
from hubbub.transport.listener import Listener
from support.config import server_config
from support.waiting import until


@pytest.mark.asyncio
async def test_tick_runs_once_per_interval_with_three_listeners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "tls"
    assert cli_main(["cert", "--out", str(out), "--host", "localhost"]) == 0
    config = server_config(
        tmp_path / "data",
        tls={"cert": str(out / "hubbub.crt"), "key": str(out / "hubbub.key"), "port": 0},
        web={"enabled": True, "port": 0},
        timeouts={"registration": 0.2, "ping_interval": 60, "ping_timeout": 60},
    )
    ticks: list[float] = []
    sweeps: dict[int, int] = {}
    original_tick = ChatServer.tick
    original_sweep = Listener.sweep

    def counting_tick(self: ChatServer, now: float) -> None:
        ticks.append(now)
        original_tick(self, now)

    def counting_sweep(self: Listener[object], now: float) -> None:  # type: ignore[type-var]
        sweeps[id(self)] = sweeps.get(id(self), 0) + 1
        original_sweep(self, now)

    monkeypatch.setattr(ChatServer, "tick", counting_tick)
    monkeypatch.setattr(Listener, "sweep", counting_sweep)
    app = App(config, shutdown_grace=0.5)
    await app.start()
    try:
        assert app.tls_server is not None and app.web is not None
        # Every listener sweeps at the same interval as the tick; wait for 20 sweeps each.
        await until(
            lambda: len(sweeps) == 3 and min(sweeps.values()) >= 20, 30, "20 sweeps of each"
        )
        # Three listeners: three calls per interval before, one now (a little slack either way
        # for the tasks' phases).
        assert len(ticks) <= max(sweeps.values()) + 2
        assert len(ticks) >= min(sweeps.values()) - 2
    finally:
        await app.stop()
