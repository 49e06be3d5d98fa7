"""`hubbub bench fanout --websocket`: the load generator's clients over IRC-over-WebSocket,
against a real hubbub (a `hubbub serve --memory` child process) with its web listener on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hubbub.bench import Options, run
from hubbub.bench.wsclient import client_frames
from support.waiting import poll


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(web port, pid) of a hubbub without flood control, history in memory."""
    tmp = tmp_path_factory.mktemp("bench-ws-server")
    config = tmp / "hubbub.toml"
    config.write_text(
        '[flood]\nenabled = false\n[limits]\nclients_per_ip = 1000\n[log]\nlevel = "WARNING"\n'
    )
    port, web_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "hubbub", "serve", "--memory", "--config", str(config)),
            *("--port", str(port), "--web-port", str(web_port)),
            *("--data-dir", str(tmp / "data")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )

    def listening() -> bool:
        if proc.poll() is not None:
            return True  # exited: stop waiting, and fail below
        try:
            socket.create_connection(("127.0.0.1", web_port), 0.2).close()
        except OSError:
            return False
        return True

    if not poll(listening, 15) or proc.poll() is not None:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"hubbub did not start: {err.decode(errors='replace')}")
    yield web_port, proc.pid
    proc.terminate()
    proc.wait(10)


def test_client_frames_are_masked_text_frames_one_per_line() -> None:
    frames = client_frames(b"NICK a\r\nUSER b 0 * :c\r\n")
    assert frames == (
        bytes((0x81, 0x80 | 6)) + b"\0\0\0\0" + b"NICK a"
        + bytes((0x81, 0x80 | 13)) + b"\0\0\0\0" + b"USER b 0 * :c"
    )  # fmt: skip
    long = client_frames(b"x" * 300 + b"\r\n")
    assert long[:4] == bytes((0x81, 0x80 | 126)) + (300).to_bytes(2, "big")


def test_websocket_fanout_delivers_everything_in_order(web_server: tuple[int, int]) -> None:
    web_port, pid = web_server
    record = run(
        Options(
            "fanout",
            port=web_port,
            clients=20,
            senders=2,
            duration=1.0,
            workers=2,
            server_pid=pid,
            websocket=True,
        )
    )
    assert record["params"]["websocket"] is True
    r = record["results"]
    assert r["messages_sent"] > 0
    assert r["deliveries_expected"] == r["messages_sent"] * 19
    assert r["deliveries"] == r["deliveries_expected"]
    assert (r["lost"], r["duplicated"], r["out_of_order"], r["disconnected"]) == (0, 0, 0, 0)
    assert r["latency_samples"] == r["deliveries"]
