"""`hubbub.app.App` wiring and lifecycle, with the fake core (the real one is in tests/server)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from transport_helpers import FakeCore, LineClient, make_config, until

from hubbub.app import App, serve
from hubbub.config import Config
from hubbub.history.record import Record

Run = Callable[..., Any]


def app_config(tmp_path: Path, **history: Any) -> Config:
    config = make_config(history=history)
    server = dataclasses.replace(config.server, data_dir=str(tmp_path / "deep" / "data"))
    return dataclasses.replace(config, server=server)


def test_start_and_stop_with_sqlite_history(
    arun: Run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = app_config(tmp_path)
    cores: list[FakeCore] = []

    def factory(config: Config, history: Any) -> FakeCore:
        core = FakeCore(config, history)
        core.history = history  # type: ignore[attr-defined]
        cores.append(core)
        return core

    async def body() -> None:
        app = App(config, core_factory=factory)
        addresses = await app.start()
        assert addresses == app.addresses and addresses[0][1] > 0
        client = await LineClient.connect(addresses[0])
        await client.send("ECHO up")
        assert await client.line() == "up"
        record = Record("#lobby", "m1", 1_700_000_000_000, "a!b@c", "PRIVMSG", ("#lobby", "hi"))
        cores[0].history.append(record)  # type: ignore[attr-defined]
        await app.stop()
        assert await client.until_closed() == ["ERROR :Server shutting down"]
        assert cores[0].shutdowns == ["Server shutting down"]
        assert app.worker is not None and not app.worker.running
        await client.close()
        await app.stop()  # idempotent

    with caplog.at_level(logging.INFO, logger="hubbub"):
        arun(body)
    db = tmp_path / "deep" / "data" / "history.sqlite3"
    assert db.exists()
    assert "listening on 127.0.0.1:" in caplog.text
    assert f"(history: sqlite at {db})" in caplog.text

    # The record was committed on stop: a second server sees it.
    from hubbub.history.backends import open_store

    store = open_store("sqlite", db)
    try:
        assert [r.msgid for r in store.latest("#lobby", 10)] == ["m1"]
    finally:
        store.close()


def test_memory_history_is_announced_as_such(
    arun: Run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = app_config(tmp_path, backend="memory")

    async def body() -> None:
        app = App(config, core_factory=FakeCore)
        await app.start()
        await app.stop()

    with caplog.at_level(logging.INFO, logger="hubbub"):
        arun(body)
    assert "(history: memory; nothing survives a restart)" in caplog.text


def test_retention_runs_periodically(arun: Run, tmp_path: Path) -> None:
    # The records below date from 2023: no age limit (the default is 90 days), only the count.
    config = app_config(
        tmp_path, backend="memory", max_messages_per_room=2, max_age_days=0, prune_interval=0.05
    )
    holder: dict[str, Any] = {}

    def factory(config: Config, history: Any) -> FakeCore:
        holder["history"] = history
        return FakeCore(config, history)

    async def body() -> None:
        app = App(config, core_factory=factory)
        await app.start()
        for i in range(5):
            holder["history"].append(
                Record("#r", f"m{i}", 1_700_000_000_000 + i, "a!b@c", "PRIVMSG", ("#r", str(i)))
            )
        assert app.worker is not None
        worker = app.worker

        async def count() -> int:
            return len(await asyncio.wrap_future(worker.submit(lambda s: s.latest("#r", 100))))

        deadline = asyncio.get_running_loop().time() + 5
        while await count() != 2:
            assert asyncio.get_running_loop().time() < deadline, "retention never pruned"
            await asyncio.sleep(0.02)
        await app.stop()

    arun(body)


def test_a_port_in_use_makes_serve_fail_cleanly(arun: Run, tmp_path: Path) -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    config = app_config(tmp_path, backend="memory")
    config = dataclasses.replace(config, listen=dataclasses.replace(config.listen, port=port))
    try:
        assert arun(lambda: serve(config)) == 1
    finally:
        blocker.close()


def test_stop_waits_only_a_bounded_time_for_slow_readers(arun: Run, tmp_path: Path) -> None:
    config = app_config(tmp_path, backend="memory")

    async def body() -> None:
        core_holder: list[FakeCore] = []

        def factory(config: Config, history: Any) -> FakeCore:
            core_holder.append(FakeCore(config, history))
            return core_holder[0]

        app = App(config, core_factory=factory, shutdown_grace=0.3)
        addresses = await app.start()
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        await asyncio.get_running_loop().sock_connect(stalled, addresses[0])
        await until(lambda: core_holder[0].sessions)
        for _ in range(8):
            core_holder[0].sessions[0].link.write(b"z" * 100_000 + b"\r\n")
        # Bounded: the grace period, then the stalled client is aborted (a deadline, not a
        # measured duration: a loaded machine only makes it later).
        await asyncio.wait_for(app.stop(), 10)
        assert app.tcp is not None and not app.tcp.connections
        stalled.close()

    arun(body)
