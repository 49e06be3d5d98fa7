"""The Twisted engine (`hubbub serve --engine twisted`): the whole server with Twisted's listener
for plain IRC, real core, real history, real sockets on loopback.

The server runs in-process (`ThreadedServer(config, engine="twisted")`: the real `TwistedApp` on
the loop the engine uses, asyncio's SelectorEventLoop, in a thread); the last test runs `hubbub
serve --engine twisted` in a child process and stops it with SIGTERM.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from hubbub.config import Config
from hubbub.engines.twisted_engine import TwistedTcpServer
from support.config import server_config, web_server_config, write_config
from support.irc_client import IrcClient, Line, clients
from support.servers import START_WAIT, ServerProcess, ThreadedServer
from support.waiting import wait_for


def twisted_server(config: Config) -> ThreadedServer:
    """The whole server on the Twisted engine, in-process (tests/support/servers.py)."""
    return ThreadedServer(config, engine="twisted")


def privmsg_texts(lines: list[Line]) -> list[str]:
    return [line.text for line in lines if line.command == "PRIVMSG"]


def test_the_plain_listener_is_twisted(tmp_path: Path) -> None:
    with twisted_server(server_config(tmp_path)) as server:
        assert server.app is not None
        assert type(server.app.tcp) is TwistedTcpServer
        assert server.app.tcp.reactor is not None


def test_chat_in_a_room_and_in_private(tmp_path: Path) -> None:
    with twisted_server(server_config(tmp_path)) as server:
        alice, bob = IrcClient(server.address), IrcClient(server.address)
        with clients(alice, bob):
            alice.register("alice")
            bob.register("bob")
            alice.join("#lobby")
            bob.join("#lobby")
            texts = [f"line {i}" for i in range(200)]
            alice.say("#lobby", *texts)
            got = bob.until(lambda x: x.command == "PRIVMSG" and x.text == texts[-1])
            assert privmsg_texts(got) == texts  # nothing lost, doubled or reordered
            bob.say("alice", "psst")
            line = alice.first(lambda x: x.command == "PRIVMSG" and x.params[0] == "alice")
            assert (line.nick, line.text) == ("bob", "psst")
            # alice's echo-less client saw none of its own lines.
            assert privmsg_texts(alice.fence()) == []


def test_bad_input_gets_an_answer_and_the_connection_lives_on(tmp_path: Path) -> None:
    with twisted_server(server_config(tmp_path)) as server:
        client = IrcClient(server.address)
        with clients(client):
            client.register("alice")
            client.send_raw(b"PRIVMSG #x :" + b"a" * 9000 + b"\r\n")
            assert client.first(lambda x: x.command == "417").params[-1]
            # Not UTF-8: refused by the default policy, or decoded; either way an answer.
            client.send_raw(b"PRIVMSG alice :\xff\xfe\r\n")
            client.send_raw(b"\x00\x01garbage\r\nNOSUCHCOMMAND\r\n")
            client.first(lambda x: x.command == "421" and x.params[1] == "NOSUCHCOMMAND")
            client.send("JOIN #after")
            assert client.first(lambda x: x.command == "366").params[1] == "#after"


def test_a_line_cut_across_reads_is_put_back_together(tmp_path: Path) -> None:
    with twisted_server(server_config(tmp_path)) as server:
        alice, bob = IrcClient(server.address), IrcClient(server.address)
        with clients(alice, bob):
            alice.register("alice")
            bob.register("bob")
            alice.send_raw(b"PRIVMSG bob :hel")
            bob.fence()
            alice.send_raw(b"lo there\r\n")
            assert bob.first(lambda x: x.command == "PRIVMSG").text == "hello there"


def test_a_client_that_never_reads_is_cut_off_and_the_room_carries_on(tmp_path: Path) -> None:
    config = server_config(tmp_path, limits={"sendq_bytes": 64 * 1024})
    with twisted_server(config) as server:
        alice = IrcClient(server.address)
        bob = IrcClient(server.address)
        stalled = IrcClient(server.address, rcvbuf=4096)  # joins, then never reads again
        with clients(alice, bob, stalled):
            for client, nick in ((alice, "alice"), (bob, "bob"), (stalled, "stalled")):
                client.register(nick)
                client.join("#lobby")
            bob.fence()
            alice.fence()
            text = "x" * 400
            sent = 0
            cut = False
            lines: list[Line] = []
            # Bounded: 64 MiB of room traffic without the cut-off is a failure.
            while not cut and sent < 160_000:
                alice.send(*[f"PRIVMSG #lobby :{sent + i} {text}" for i in range(50)])
                sent += 50
                last = f"{sent - 1} "
                lines = bob.until(
                    lambda x, last=last: x.command == "PRIVMSG" and x.text.startswith(last)
                )
                cut = any(x.command == "QUIT" and x.nick == "stalled" for x in lines)
            assert cut, "the client that never reads was never disconnected"
            quits = [x for x in lines if x.command == "QUIT"]
            assert "SendQ exceeded" in quits[0].text
            after = [f"after the cut {i}" for i in range(20)]
            alice.say("#lobby", *after)
            got = bob.until(lambda x: x.command == "PRIVMSG" and x.text == after[-1])
            assert privmsg_texts(got) == after
            assert server.app is not None and server.app.tcp is not None
            assert server.app.tcp.sendq_drops == 1


def test_clients_per_address_are_counted(tmp_path: Path) -> None:
    config = server_config(tmp_path, limits={"clients_per_ip": 2})
    with twisted_server(config) as server:
        first, second = IrcClient(server.address), IrcClient(server.address)
        with clients(first, second):
            first.register("one")
            second.register("two")
            third = IrcClient(server.address)
            with clients(third):
                lines = third.until_closed()
                assert [x.command for x in lines] == ["ERROR"]
                assert "Too many connections" in lines[0].text
            # A place frees up when one leaves.
            first.send("QUIT :bye")
            first.until_closed()

            def admitted() -> bool:
                assert server.app is not None and server.app.tcp is not None
                return server.app.tcp.per_address.get("127.0.0.1", 0) == 1

            wait_for(admitted, 10, "the quit client to be forgotten")
            fourth = IrcClient(server.address)
            with clients(fourth):
                fourth.register("four")


def test_registration_and_ping_timeouts(tmp_path: Path) -> None:
    config = server_config(
        tmp_path, timeouts={"registration": 0.5, "ping_interval": 0.5, "ping_timeout": 0.5}
    )
    with twisted_server(config) as server:
        silent = IrcClient(server.address)
        with clients(silent):
            lines = silent.until_closed()
            assert lines[-1].command == "ERROR" and "Registration timed out" in lines[-1].text
        # Registered, then deaf to PING: the raw socket never answers it.
        deaf = IrcClient(server.address)
        with clients(deaf):
            deaf.register("deaf")
            deaf.sock.settimeout(10)
            data = b""
            while b"Ping timeout" not in data:
                chunk = deaf.sock.recv(65536)
                assert chunk, f"closed without a Ping timeout: {data[-300:]!r}"
                data += chunk
            assert b"PING :" in data


def test_flood_control_holds_then_disconnects_an_excess_flood(tmp_path: Path) -> None:
    config = server_config(tmp_path, flood={"enabled": True, "burst": 5, "lines_per_second": 20})
    with twisted_server(config) as server:
        flooder, listener = IrcClient(server.address), IrcClient(server.address)
        with clients(flooder, listener):
            flooder.register("flooder")
            listener.register("listener")
            listener.join("#room")
            flooder.join("#room")
            # Four bursts' worth: held back and let through at the bucket's pace, all in order.
            held = [f"held {i}" for i in range(20)]
            flooder.say("#room", *held)
            got = listener.until(lambda x: x.command == "PRIVMSG" and x.text == held[-1])
            assert privmsg_texts(got) == held
            # Far more than may wait (100 lines): the flooder is cut off, the room is told.
            flooder.say("#room", *[f"flood {i}" for i in range(400)])
            lines = flooder.until_closed()
            assert lines[-1].command == "ERROR" and "Excess Flood" in lines[-1].text
            flood = privmsg_texts(listener.until(lambda x: x.command == "QUIT"))
            assert flood == [f"flood {i}" for i in range(len(flood))]
            assert len(flood) < 400


def test_shutdown_says_goodbye_and_flushes_history(tmp_path: Path) -> None:
    server = twisted_server(server_config(tmp_path)).start()
    alice, bob = IrcClient(server.address), IrcClient(server.address)
    with clients(alice, bob):
        alice.register("alice")
        bob.register("bob")
        alice.join("#lobby")
        bob.join("#lobby")
        texts = [f"kept {i}" for i in range(50)]
        alice.say("#lobby", *texts)
        bob.until(lambda x: x.command == "PRIVMSG" and x.text == texts[-1])
        server.stop()
        for client in (alice, bob):
            lines = client.until_closed()
            assert lines[-1].command == "ERROR" and "shutting down" in lines[-1].text
    assert server.app is not None and server.app.config.history.backend == "sqlite"
    # Every accepted message is in the database once the server has stopped.
    database = sqlite3.connect(server.app.config.history_path)
    try:
        stored = [text for (text,) in database.execute("SELECT params FROM records")]
    finally:
        database.close()
    for text in texts:
        assert any(text in params for params in stored), text


def test_a_port_in_use_is_a_clear_start_failure(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = server_config(tmp_path, listen={"hosts": ("127.0.0.1",), "port": port})
        with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1 port"):
            twisted_server(config).start()


def test_hubbub_serve_engine_twisted_stops_on_sigterm_with_history_kept(tmp_path: Path) -> None:
    """`hubbub serve --engine twisted`, in a process of its own, stopped by SIGTERM."""
    data = tmp_path / "data"
    config_file = write_config(tmp_path / "hubbub.toml", data)
    with ServerProcess(config_file, engine="twisted") as process:
        alice = IrcClient(process.address)
        with clients(alice):
            alice.register("alice")
            alice.join("#kept")
            alice.say("#kept", "said before SIGTERM")
            alice.fence()
            assert process.terminate() == 0
            assert alice.until_closed()[-1].command == "ERROR"
        wait_for(
            lambda: "history flushed and closed" in process.text, START_WAIT, "the last log line"
        )
    database = sqlite3.connect(data / "history.sqlite3")
    try:
        rows = database.execute("SELECT params FROM records").fetchall()
    finally:
        database.close()
    assert any("said before SIGTERM" in params for (params,) in rows)


def test_rehash_gives_open_connections_the_new_send_queue_limit(tmp_path: Path) -> None:
    first = server_config(tmp_path, limits={"sendq_bytes": 1 << 20})
    second = server_config(tmp_path, limits={"sendq_bytes": 64 * 1024})
    with ThreadedServer(first, engine="twisted", reload=lambda: second) as server:
        client = IrcClient(server.address)
        with clients(client):
            client.register("alice")
            app = server.app
            assert app is not None and app.tcp is not None and server.loop is not None
            tcp = app.tcp

            def buffer_sizes() -> list[int]:
                return [conn.transport.twisted.bufferSize for conn in tcp.connections]

            assert server.call(buffer_sizes) == [1 << 20]
            rehash = asyncio.run_coroutine_threadsafe(app.rehash(), server.loop)
            assert rehash.result(START_WAIT) is None
            assert server.call(buffer_sizes) == [64 * 1024]


def test_a_proxy_header_from_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    """The PROXY protocol comes with the asyncio engine's connection code: it holds here too."""
    config = server_config(
        tmp_path,
        listen={"hosts": ("127.0.0.1",), "port": 0, "proxy_protocol": True},
        proxy={"trusted": ("127.0.0.1",)},
    )
    with twisted_server(config) as server:
        client = IrcClient(server.address)
        with clients(client):
            client.send_raw(b"PROXY TCP4 192.0.2.7 127.0.0.1 56324 6667\r\n")
            client.send("NICK alice", "USER alice 0 * :Alice")
            welcome = client.first(lambda x: x.command == "001")
            assert welcome.text.endswith("@192.0.2.7")


def test_without_twisted_installed_the_engine_refuses_clearly(tmp_path: Path) -> None:
    """`hubbub serve --engine twisted` where the extra is missing: one clear line, status 1."""
    script = (
        "import sys\n"
        "sys.modules['twisted'] = None  # as if hubbub[twisted] were not installed\n"
        "from hubbub.app import run\n"
        "from hubbub.config.loader import load_config\n"
        "from hubbub.logsetup import configure\n"
        "configure('info')\n"
        "overrides = {'server.data_dir': sys.argv[1], 'server.engine': 'twisted',"
        " 'listen.port': 0, 'web.enabled': False}\n"
        "sys.exit(run(load_config(None, overrides)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,  # a bound on a hang, not a duration under test: the machine may be busy
    )
    assert done.returncode == 1, done.stderr
    assert "pip install 'hubbub[twisted]'" in done.stderr


def test_websocket_clients_and_twisted_clients_share_the_rooms(tmp_path: Path) -> None:
    """The web listener (IRC over WebSocket) is asyncio's, on the same loop as Twisted's: both
    kinds of client meet in one room."""
    with twisted_server(web_server_config(tmp_path)) as server:
        assert server.web_port
        tcp = IrcClient(server.address)
        with (
            clients(tcp),
            ws_connect(
                f"ws://127.0.0.1:{server.web_port}/irc",
                subprotocols=["text.ircv3.net"],  # type: ignore[list-item]
                open_timeout=10,
            ) as web,
        ):
            tcp.register("tcpuser")
            tcp.join("#both")
            web.send("NICK webuser")
            web.send("USER w 0 * :w")
            web.send("JOIN #both")
            tcp.first(lambda x: x.command == "JOIN" and x.nick == "webuser")
            tcp.say("#both", "hello over Twisted")
            seen: list[str] = []
            while not any("hello over Twisted" in line for line in seen):
                message = web.recv(timeout=10)
                assert isinstance(message, str)
                seen += message.splitlines()
            web.send("PRIVMSG #both :hello over WebSocket")
            line = tcp.first(lambda x: x.command == "PRIVMSG")
            assert (line.nick, line.text) == ("webuser", "hello over WebSocket")
