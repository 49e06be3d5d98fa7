"""What is particular to the engines without asyncio (hubbub.engines): what they refuse, how
many threads they run, and `hubbub serve --engine`. Everything they share with asyncio is
tested by the transport and server tests, which run once per engine."""

from __future__ import annotations

import select
import socket
import threading
from pathlib import Path

import pytest

from hubbub import engines
from hubbub.cli import main
from hubbub.engines.hybrid import MAX_LOOPS, loop_count
from hubbub.engines.server import EngineRefused
from hubbub.engines.threads import ThreadsServer
from support.config import server_config, write_config
from support.irc_client import IrcClient, clients
from support.servers import ServerProcess, ThreadedServer
from support.waiting import wait_for

OTHERS = list(engines.RUNNERS)  # the engines without asyncio (twisted runs on asyncio)


@pytest.mark.parametrize("engine", OTHERS)
@pytest.mark.parametrize(
    ("sections", "named"),
    [
        ({"tls": {"cert": "/nonexistent/cert.pem"}}, "TLS (tls.cert)"),
        ({"web": {"enabled": True}}, "web.enabled"),
        ({"metrics": {"enabled": True, "port": 0}}, "metrics.enabled"),
        ({"listen": {"proxy_protocol": True}}, "listen.proxy_protocol"),
    ],
)
def test_what_only_asyncio_serves_is_refused_at_start(
    engine: str, sections: dict[str, dict[str, object]], named: str, tmp_path: Path
) -> None:
    config = server_config(tmp_path / "data", **sections)
    server = engines.make_server(config, engine)
    with pytest.raises(EngineRefused) as refused:
        server.start()
    text = str(refused.value)
    assert f"the {engine} engine serves plain IRC over TCP only" in text
    assert named in text and "--engine asyncio" in text
    # Refused before anything was opened: no data directory, no listening socket.
    assert not (tmp_path / "data").exists()
    assert server.addresses == []


@pytest.mark.parametrize("engine", OTHERS)
def test_hubbub_serve_refuses_with_a_clear_error_and_status_1(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path / "hubbub.toml", tmp_path / "data", "\n[web]\nport = 0\n")
    status = main(["serve", "--config", str(path), "--engine", engine])
    assert status == 1
    err = capsys.readouterr().err
    assert "cannot start" in err and "the web client and WebSocket" in err


def test_engine_flag_and_setting_choose_the_engine(tmp_path: Path) -> None:
    path = write_config(tmp_path / "hubbub.toml", tmp_path / "data", '\n[server]\nengine = "x"\n')
    # An unknown engine is a configuration error (status 2) naming the setting.
    assert main(["config", "check", str(path)]) == 2
    path = write_config(tmp_path / "hubbub.toml", tmp_path / "data")
    assert main(["serve", "--config", str(path), "--engine", "nonsense"]) == 2


def test_the_engine_is_said_at_start_and_serves(tmp_path: Path) -> None:
    path = write_config(tmp_path / "hubbub.toml", tmp_path / "data")
    with ServerProcess(path, engine="select") as proc:
        assert "engine: select)" in proc.text
        client = IrcClient(proc.address)
        with clients(client):
            client.register("alice")
        assert proc.terminate() == 0
    assert "history flushed and closed" in proc.text


def _threads_named(prefix: str) -> int:
    return sum(1 for thread in threading.enumerate() if thread.name.startswith(prefix))


def test_threads_engine_runs_a_thread_per_connection_and_a_writer_only_when_behind(
    tmp_path: Path,
) -> None:
    config = server_config(tmp_path / "data", limits={"sendq_bytes": 1 << 22})
    with ThreadedServer(config, engine="threads") as server:
        engine = server.engine_server
        assert isinstance(engine, ThreadsServer)
        assert engine.reader_threads() == 0
        speakers = [IrcClient(server.address) for _ in range(5)]
        stalled = IrcClient(server.address, rcvbuf=4096)
        with clients(*speakers, stalled):
            for index, client in enumerate(speakers):
                client.register(f"user{index}")
                client.join("#room")
            stalled.register("stalled")
            stalled.join("#room")
            assert engine.reader_threads() == 6
            assert engine.writers_started == 0  # everyone reads: every send went at once
            # The stalled client never reads: what its socket refuses goes to a writer thread,
            # and nobody else waits for it.
            text = "y" * 400
            batch = 0
            # Bounded: 40 MB of room traffic without a writer thread is a failure.
            while engine.writers_started == 0 and batch < 4000:
                speakers[0].say("#room", *[f"{batch}-{i} {text}" for i in range(25)])
                speakers[1].until(
                    lambda x, batch=batch: (
                        x.command == "PRIVMSG" and x.text.startswith(f"{batch}-24 ")
                    )
                )
                batch += 1
            assert engine.writers_started >= 1
        wait_for(lambda: engine.reader_threads() == 0, 10, "every connection thread to end")
        wait_for(lambda: _threads_named("hubbub-send-") == 0, 10, "the writer threads to end")


def test_select_engine_minds_every_socket_on_one_thread(tmp_path: Path) -> None:
    config = server_config(tmp_path / "data", limits={"clients_per_ip": 50})
    with ThreadedServer(config, engine="select") as server:
        before = threading.active_count()
        many = [IrcClient(server.address) for _ in range(20)]
        with clients(*many):
            for index, client in enumerate(many):
                client.register(f"n{index}")
            assert threading.active_count() == before
            assert _threads_named("hubbub-select-") == 1


def test_hybrid_engine_shares_the_connections_among_its_loops(tmp_path: Path) -> None:
    config = server_config(
        tmp_path / "data", server={"engine_loops": 3}, limits={"clients_per_ip": 50}
    )
    with ThreadedServer(config, engine="hybrid") as server:
        engine = server.engine_server
        assert len(engine.loops) == 3
        many = [IrcClient(server.address) for _ in range(9)]
        with clients(*many):
            for index, client in enumerate(many):
                client.register(f"h{index}")
                client.join("#shared")
            owners = {conn.loop.index for conn in engine.connections}
            assert owners == {0, 1, 2}
            many[0].say("#shared", "to every loop")
            for client in many[1:]:
                client.until(lambda x: x.command == "PRIVMSG" and x.text == "to every loop")


def test_hybrid_loop_count() -> None:
    assert loop_count(5) == 5
    assert 1 <= loop_count(0) <= MAX_LOOPS


def test_a_refused_connection_is_told_why(tmp_path: Path) -> None:
    config = server_config(tmp_path / "data", limits={"max_clients": 1})
    for engine in OTHERS:
        with ThreadedServer(config, engine=engine) as server:
            first = IrcClient(server.address)
            with clients(first):
                first.register("first")
                with socket.create_connection(server.address, timeout=5) as second:
                    data = b""
                    while not data.endswith(b"\n"):
                        chunk = second.recv(1024)
                        if not chunk:
                            break
                        data += chunk
                    assert data == b"ERROR :Server is full\r\n"


def test_every_engine_the_configuration_accepts_has_a_server(tmp_path: Path) -> None:
    config = server_config(tmp_path / "data")
    assert engines.ENGINES[0] == "asyncio"  # the default, hubbub.app itself
    for name in OTHERS:
        assert engines.make_server(config, name).engine == name


def test_threads_engine_closes_a_refused_connection_in_order_not_with_a_reset(
    tmp_path: Path,
) -> None:
    """A connection past `limits.max_clients` is told why and closed like any other. Reset,
    the client's own connect could fail after the fact (asyncio reads the socket's error to
    finish a connect: EPIPE, once the reset came after the close's FIN), and it never saw
    the reason."""
    config = server_config(tmp_path / "data", limits={"max_clients": 0})
    with ThreadedServer(config, engine="threads") as server:
        engine = server.engine_server
        assert isinstance(engine, ThreadsServer)
        refused = socket.create_connection(server.address)
        try:
            # The server's end (FIN) came, then the connection's thread ended, its socket
            # closed: whatever the server sent has arrived.
            ended = select.poll()
            ended.register(refused, select.POLLRDHUP)
            wait_for(lambda: bool(ended.poll(0)), 10, "the server to end the connection")
            wait_for(lambda: engine.reader_threads() == 0, 10, "the connection thread to end")
            assert refused.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            received = b""
            while chunk := refused.recv(4096):
                received += chunk
            assert received == b"ERROR :Server is full\r\n"
        finally:
            refused.close()
