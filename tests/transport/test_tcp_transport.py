"""The TCP transport against a fake core, over real sockets on the loopback interface."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from transport_helpers import (
    INVALID,
    TOO_LONG,
    EngineUnderTest,
    FakeCore,
    LineClient,
    call,
    make_config,
    start_server,
    until,
)

from hubbub.transport.tcp import TcpConnection, TcpServer, redact

Run = Callable[..., Any]


def addr(server: TcpServer | EngineUnderTest) -> tuple[str, int]:
    return server.addresses[0]


def test_binds_a_free_port_and_reports_it(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        host, port = addr(server)
        assert host == "127.0.0.1" and port > 0
        client = await LineClient.connect((host, port))
        await client.send("ECHO hi")
        assert await client.line() == "hi"
        await client.close()
        await server.close()

    arun(body)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv4_and_ipv6_hosts_share_the_free_port(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config(listen={"hosts": ("127.0.0.1", "::1")}))
        assert len(server.addresses) == 2
        (h4, p4), (h6, p6) = server.addresses
        assert (h4, h6) == ("127.0.0.1", "::1")
        assert p4 == p6
        client = await LineClient.connect(("::1", p6))
        await client.send("ECHO over six")
        assert await client.line() == "over six"
        assert core.sessions[0].host == "::1"
        await client.close()
        await server.close()

    arun(body)


def test_lines_framed_across_reads(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        client = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 1)
        chunks = [b"EC", b"HO hel", b"lo\r", b"\nECHO a\nECHO b\r\nEC", b"HO c\r\n"]
        complete = [0, 0, 0, 3, 4]  # lines the core has once each chunk is read
        for chunk, lines in zip(chunks, complete, strict=True):
            await client.send_raw(chunk)
            await until(lambda lines=lines: len(core.sessions[0].lines) == lines)
        assert await client.lines(4) == ["hello", "a", "b", "c"]
        assert core.sessions[0].lines == ["ECHO hello", "ECHO a", "ECHO b", "ECHO c"]
        await client.close()
        await server.close()

    arun(body)


def test_batch_appends_and_writes_go_out_in_order_in_one_write_per_turn(arun: Run) -> None:
    """Room fan-out appends to a connection's outbox without marking it (`Connection.batch`,
    one `touched` per fan-out): what it appends and what `write` queues in the same loop turn
    go out in call order, in one transport write, on later turns too."""
    if arun.engine in ("threads", "select", "hybrid"):  # type: ignore[attr-defined]
        pytest.skip("their connections have no outbox: room fan-out writes to them directly")

    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        alice = await LineClient.connect(addr(server))
        bob = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 2)
        connections = {c.session: c for c in server.connections}
        alice_conn = connections[core.sessions[0]]
        writes: list[bytes] = []
        transport = alice_conn.transport
        assert transport is not None

        class Recorder:
            """The connection's transport, with every write remembered."""

            def write(self, data: bytes) -> None:
                writes.append(bytes(data))
                transport.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(transport, name)

        alice_conn.transport = Recorder()  # type: ignore[assignment]
        # One read, three lines: one loop turn.
        await alice.send("ECHO a", "BATCH b", "ECHO c")
        assert await alice.lines(3) == ["a", "b", "c"]
        assert await bob.line() == "b"
        assert writes == [b"a\r\nb\r\nc\r\n"]
        await bob.send("BATCH d")  # alice's outbox again, flushed by `touched` alone
        assert await alice.line() == "d"
        assert await bob.line() == "d"
        assert writes[1:] == [b"d\r\n"]
        alice_conn.transport = transport
        await alice.close()
        await bob.close()
        await server.close()

    arun(body)


def test_line_too_long_goes_to_the_core_and_the_connection_lives_on(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        client = await LineClient.connect(addr(server))
        await client.send("ECHO " + "x" * 600, "ECHO still here")
        assert (await client.line()).endswith(":Input line was too long")
        assert await client.line() == "still here"
        # An endless line without LF is cut off too, with bounded memory.
        await client.send_raw(b"y" * 100_000)
        await client.send("", "ECHO after flood")
        assert (await client.line()).endswith(":Input line was too long")
        assert await client.line() == "after flood"
        assert core.sessions[0].lines == [TOO_LONG, "ECHO still here", TOO_LONG, "ECHO after flood"]
        await client.close()
        await server.close()

    arun(body)


def test_a_flood_line_read_in_several_pieces_is_reported_once(arun: Run) -> None:
    """An endless line arriving over several reads is one over-long line: one 417, then the
    next line. (The reader that skips its rest was dropped after a read that ended nothing,
    and the next piece started a new line that overflowed again: a second 417.) Each piece is
    sent once the server has read the one before (its connection's `last_rx` moved)."""

    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        client = await LineClient.connect(addr(server))
        await until(lambda: len(server.connections) == 1)
        (conn,) = server.connections
        await client.send_raw(b"y" * 20_000)
        assert (await client.line()).endswith(":Input line was too long")
        for _ in range(2):
            before = conn.last_rx
            await client.send_raw(b"y" * 20_000)
            await until(lambda before=before: conn.last_rx != before)
        await client.send("", "ECHO after the flood")
        assert await client.line() == "after the flood"
        assert core.sessions[0].lines == [TOO_LONG, "ECHO after the flood"]
        await client.close()
        await server.close()

    arun(body)


@pytest.mark.parametrize("policy", ["replace", "reject"])
def test_invalid_utf8(arun: Run, policy: str) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config(limits={"invalid_utf8": policy}))
        client = await LineClient.connect(addr(server))
        await client.send_raw(b"ECHO caf\xe9\r\nECHO caf\xc3\xa9\r\n")
        if policy == "replace":
            assert await client.lines(2) == ["caf\ufffd", "café"]
            assert core.sessions[0].lines == ["ECHO caf\ufffd", "ECHO café"]
        else:
            assert await client.lines(2) == ["FAIL * INVALID_UTF8 :Message rejected", "café"]
            assert core.sessions[0].lines == [INVALID, "ECHO café"]
        await client.close()
        await server.close()

    arun(body)


def test_a_client_that_never_reads_is_cut_off_and_others_are_not_held_up(arun: Run) -> None:
    sendq = 64 * 1024

    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config(limits={"sendq_bytes": sendq}))
        loop = asyncio.get_running_loop()
        # The stalled client: a tiny receive window, and it never reads.
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        await loop.sock_connect(stalled, addr(server))
        reader = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 2)
        stalled_session, reader_session = core.sessions

        received = 0

        async def read_all() -> None:
            nonlocal received
            while True:
                line = await reader.line(timeout=10)
                received += 1
                if line == "MARK end":
                    return

        reading = asyncio.create_task(read_all())
        payload = "x" * 1000
        sent = 0
        # Pump room traffic (as the core's fan-out would) until the stalled client is cut off;
        # a bound keeps a broken transport from pumping forever.
        while not stalled_session.closed and sent < 200_000:
            for _ in range(20):
                call(server, core.receive, reader_session, f"BCAST {sent} {payload}", time.time())
                sent += 1
            await asyncio.sleep(0)
        assert stalled_session.closed, "the stalled client was never cut off"
        assert core.reasons(stalled_session) == ["SendQ exceeded"]
        # Cut off after about sendq_bytes (plus kernel buffers), not after everything.
        assert sent * 1000 < 64 * 1024 * 1024
        call(server, core.receive, reader_session, "BCAST MARK end", time.time())
        await asyncio.wait_for(reading, 10)
        assert received == sent + 2  # every broadcast, the QUIT, and the mark
        # The stalled socket really is closed (reset) by the server.
        await until(lambda: len(server.connections) == 1)
        stalled.close()
        await reader.close()
        await server.close()

    arun(body, timeout=60)


def test_clients_per_ip_and_max_clients(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config(limits={"clients_per_ip": 2}))
        a = await LineClient.connect(addr(server))
        b = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 2)
        c = await LineClient.connect(addr(server))
        assert await c.until_closed() == ["ERROR :Too many connections from your IP address"]
        assert len(core.sessions) == 2
        await a.send("QUIT")
        assert await a.until_closed() == ["ERROR :bye"]
        await until(lambda: len(server.connections) == 1)
        d = await LineClient.connect(addr(server))
        await d.send("ECHO in")
        assert await d.line() == "in"
        for client in (b, c, d):
            await client.close()
        await server.close()

        core = FakeCore()
        server = await start_server(core, make_config(limits={"max_clients": 1}))
        a = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 1)
        b = await LineClient.connect(addr(server))
        assert await b.until_closed() == ["ERROR :Server is full"]
        assert len(core.sessions) == 1
        await a.close()
        await server.close()

    arun(body)


def test_ping_after_idle_then_ping_timeout(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        config = make_config(
            timeouts={"registration": 30.0, "ping_interval": 0.3, "ping_timeout": 0.4}
        )
        server = await start_server(core, config)
        client = await LineClient.connect(addr(server))
        await client.send("REG alice")
        await until(lambda: len(server.connections) == 1)  # admitted on another thread
        (conn,) = server.connections
        assert await client.line() == "PING :test.server"
        # Sent for idleness: the transport's own record says how idle the client was.
        assert conn.ping_sent is not None and conn.ping_sent - conn.last_rx >= 0.3
        await client.send("PONG :test.server")
        # Any input resets the clock: a second PING comes after another idle interval.
        assert await client.line() == "PING :test.server"
        assert conn.ping_sent is not None and conn.ping_sent - conn.last_rx >= 0.3
        lines = await client.until_closed()
        assert lines == ["ERROR :Closing link: Ping timeout: 1 seconds"] or (
            len(lines) == 1 and lines[0].startswith("ERROR :Closing link: Ping timeout: ")
        )
        session = core.sessions[0]
        assert len(core.reasons(session)) == 1
        assert core.reasons(session)[0].startswith("Ping timeout: ")
        await client.close()
        await server.close()

    arun(body)


def test_registration_timeout(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        config = make_config(timeouts={"registration": 0.3})
        server = await start_server(core, config)
        slow = await LineClient.connect(addr(server))
        fast = await LineClient.connect(addr(server))
        await fast.send("REG bob")
        await slow.send("ECHO talking but not registering")
        assert await slow.line() == "talking but not registering"
        lines = await slow.until_closed()
        assert lines == ["ERROR :Closing link: Registration timed out"]
        assert core.reasons(core.sessions[0]) == ["Registration timed out"]
        # `fast` connected before `slow`: had registering not taken it out of the timeout, the
        # sweep that closed `slow` (every engine checks all connections' ages in one pass)
        # would have closed it too, so no wait is needed to know that it did.
        await fast.send("ECHO alive")
        assert await fast.line() == "QUIT  :Registration timed out"
        assert await fast.line() == "alive"
        await fast.close()
        await server.close()

    arun(body)


def test_flood_lines_wait_their_turn_in_order(arun: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    async def body() -> None:
        core = FakeCore()
        config = make_config(flood={"enabled": True, "burst": 5, "lines_per_second": 40.0})
        server = await start_server(core, config)
        client = await LineClient.connect(addr(server))
        await until(lambda: len(server.connections) == 1)
        (conn,) = server.connections
        # Lines the flood timer let through (not those read and dispatched at once).
        drained: list[int] = []
        engine = isinstance(server, EngineUnderTest)
        if engine:
            # The other engines have no timer: a throttled connection is counted once each
            # time it has to wait (its thread or loop then reads nothing until its token).
            def throttles() -> int:
                count: int = server.server.throttles
                return count
        else:
            original = TcpConnection._drain

            def counting_drain(self: TcpConnection) -> None:
                before = len(core.sessions[0].times)
                original(self)
                drained.append(len(core.sessions[0].times) - before)

            monkeypatch.setattr(TcpConnection, "_drain", counting_drain)
        await client.send(*[f"ECHO {i}" for i in range(25)])
        got = await client.lines(25)
        assert got == [str(i) for i in range(25)]
        # 5 at once (the burst), the other 20 by the flood timer, in order.
        if engine:
            assert throttles() >= 1
            before = throttles()
        else:
            assert sum(drained) == 20
        assert core.disconnects == []
        # Once the bucket has refilled, a burst goes through at once again: no line waits.
        await until(lambda: (time.monotonic() - conn.last_rx) * 40.0 >= 5)
        drained.clear()
        await client.send(*[f"ECHO again {i}" for i in range(5)])
        assert await client.lines(5) == [f"again {i}" for i in range(5)]
        if engine:
            assert throttles() == before
        else:
            assert sum(drained) == 0
        await client.close()
        await server.close()

    arun(body)


def test_excess_flood(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        other_core_client: LineClient
        config = make_config(flood={"enabled": True, "burst": 2, "lines_per_second": 1.0})
        server = await start_server(core, config, max_pending=10)
        other_core_client = await LineClient.connect(addr(server))
        flooder = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 2)
        await flooder.send(*[f"ECHO {i}" for i in range(30)])
        lines = await flooder.until_closed()
        assert lines == ["0", "1", "ERROR :Closing link: Excess Flood"]
        assert core.reasons(core.sessions[1]) == ["Excess Flood"]
        await other_core_client.send("ECHO fine")
        assert await other_core_client.line() == "QUIT  :Excess Flood"
        assert await other_core_client.line() == "fine"
        await other_core_client.close()
        await server.close()

    arun(body)


def test_flood_pending_over_several_reads(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        config = make_config(flood={"enabled": True, "burst": 1, "lines_per_second": 20.0})
        server = await start_server(core, config, max_pending=100)
        client = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 1)
        for i in range(10):
            # Line i arrives in a read of its own while line i-1 still waits for a token.
            await until(lambda i=i: len(core.sessions[0].lines) >= i - 1)
            await client.send(f"ECHO {i}")
        assert await client.lines(10) == [str(i) for i in range(10)]
        assert core.disconnects == []
        await client.close()
        await server.close()

    arun(body)


def test_flood_control_off_lets_everything_through(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config(), max_pending=5)
        client = await LineClient.connect(addr(server))
        await client.send(*[f"ECHO {i}" for i in range(2000)])
        assert await client.lines(2000) == [str(i) for i in range(2000)]
        await client.close()
        await server.close()

    arun(body)


def test_end_reported_once_with_the_right_reason(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        closer = await LineClient.connect(addr(server))
        resetter = await LineClient.connect(addr(server))
        quitter = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 3)
        s_closer, s_resetter, s_quitter = core.sessions

        await closer.close()
        await until(lambda: core.reasons(s_closer))
        resetter.reset()
        await until(lambda: core.reasons(s_resetter))
        await quitter.send("QUIT")
        assert (await quitter.until_closed())[-1] == "ERROR :bye"
        await quitter.close()
        await until(lambda: not server.connections)
        # A fence: a round trip on a fresh connection; a late report would have come by now.
        fence = await LineClient.connect(addr(server))
        await fence.send("ECHO fence")
        assert await fence.line() == "fence"
        await fence.close()

        assert core.reasons(s_closer) == ["Client closed connection"]
        assert core.reasons(s_resetter) == ["Connection reset by peer"]
        # The core closed this one itself: the transport does not report it back.
        assert core.reasons(s_quitter) == []
        await server.close()

    arun(body)


def test_a_core_exception_drops_only_that_connection(
    arun: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        bystander = await LineClient.connect(addr(server))
        victim = await LineClient.connect(addr(server))
        await until(lambda: len(core.sessions) == 2)
        with caplog.at_level(logging.ERROR, logger="hubbub.net"):
            await victim.send("BOOM", "ECHO never")
            assert await victim.until_closed() == ["ERROR :Closing link: Internal error"]
        assert core.reasons(core.sessions[1]) == ["Internal error"]
        assert "the fake core exploded" in caplog.text
        assert "Traceback" in caplog.text
        await bystander.send("ECHO ok")
        assert await bystander.line() == "QUIT  :Internal error"
        assert await bystander.line() == "ok"
        fresh = await LineClient.connect(addr(server))
        await fresh.send("ECHO fresh")
        assert await fresh.line() == "fresh"
        for client in (bystander, fresh):
            await client.close()
        await server.close()

    arun(body)


def test_shutdown_flushes_then_closes_everything(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config(limits={"sendq_bytes": 1 << 24}))
        clients = [await LineClient.connect(addr(server)) for _ in range(5)]
        await until(lambda: len(core.sessions) == 5)
        # One client is not reading and has a backlog: shutdown must still end in time.
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        await asyncio.get_running_loop().sock_connect(stalled, addr(server))
        await until(lambda: len(core.sessions) == 6)

        def backlog() -> None:
            for _ in range(100):
                core.sessions[5].link.write(b"z" * 100_000 + b"\r\n")

        call(server, backlog)
        server.stop_accepting()
        call(server, core.shutdown, "Server shutting down")
        await asyncio.wait_for(server.close(timeout=0.5), 10)
        assert not server.connections
        for client in clients:
            assert await client.until_closed() == ["ERROR :Server shutting down"]
            await client.close()
        with pytest.raises(OSError):
            await LineClient.connect(addr(server), timeout=1.0)
        stalled.close()

    arun(body)


def test_debug_log_shows_lines_but_masks_passwords(
    arun: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        client = await LineClient.connect(addr(server))
        with caplog.at_level(logging.DEBUG, logger="hubbub.net"):
            await client.send("PASS hunter2", "OPER root sekrit", "ECHO visible")
            assert await client.line() == "visible"
        await client.close()
        await server.close()

    arun(body)
    assert "hunter2" not in caplog.text
    assert "sekrit" not in caplog.text
    assert "PASS ***" in caplog.text
    assert "OPER root ***" in caplog.text
    assert ">> ECHO visible" in caplog.text
    assert "<< visible" in caplog.text


def test_connect_and_disconnect_are_logged(arun: Run, caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        core = FakeCore()
        server = await start_server(core, make_config())
        with caplog.at_level(logging.INFO, logger="hubbub.net"):
            client = await LineClient.connect(addr(server))
            await until(lambda: core.sessions)
            await client.close()
            await until(lambda: not server.connections)
        await server.close()

    arun(body)
    assert "connect 127.0.0.1:" in caplog.text
    assert "(Client closed connection)" in caplog.text


@pytest.mark.parametrize(
    ("line", "logged"),
    [
        ("PASS secret", "PASS ***"),
        ("pass :secret words", "pass ***"),
        ("@label=1 PASS secret", "@label=1 PASS ***"),
        (":me PASS secret", ":me PASS ***"),
        ("OPER admin secret", "OPER admin ***"),
        ("AUTHENTICATE Zm9vAGZvbwBiYXI=", "AUTHENTICATE ***"),
        ("PRIVMSG #a :PASS secret", "PRIVMSG #a :PASS secret"),
        ("PASS", "PASS"),
        ("NICK alice", "NICK alice"),
    ],
)
def test_redact(line: str, logged: str) -> None:
    assert redact(line) == logged
