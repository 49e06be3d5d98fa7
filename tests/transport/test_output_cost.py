"""Big answers cost flood tokens (issue 11 #5, LIST amplification): the connection charges
what the core says an answer cost, the bucket goes into debt, and reading from that client
pauses until the debt is paid — never an Excess Flood, never a delay for anyone else.

Over real sockets on loopback. Pacing is shown by counting the lines handed to the core, never
by asserting how long anything took.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transport_helpers import FakeCore, LineClient, make_config, start_server, until

from hubbub.transport.flood import TokenBucket
from support.config import server_config
from support.irc_client import IrcClient
from support.servers import ThreadedServer
from support.waiting import wait_for

Run = Callable[..., Any]


def test_bucket_debt() -> None:
    bucket = TokenBucket(burst=5, rate=10.0)
    assert bucket.take(0.0) == 0.0
    bucket.charge(24.0)  # 4 left, minus 24: 20 in debt
    assert bucket.tokens == -20.0
    assert bucket.wait(0.0) == 2.1  # until one token exists: (1 - -20) / 10
    assert bucket.take(1.0) > 0  # 10 refilled, still -10
    assert bucket.wait(2.1) == 0.0
    assert bucket.take(2.1) == 0.0


def test_debt_pauses_reading_without_excess_flood(arun: Run) -> None:
    async def body() -> None:
        core = FakeCore()
        config = make_config(flood={"enabled": True, "burst": 5, "lines_per_second": 20.0})
        server = await start_server(core, config, max_pending=3)
        client = await LineClient.connect(server.addresses[0])
        await until(lambda: len(core.sessions) == 1)
        (conn,) = server.connections
        # One line whose answer costs 10 tokens (half a second of refill), then more than
        # max_pending lines: they wait for the debt in the socket, not in the pending queue.
        await client.send("COST 10")
        await until(lambda: conn.paused)
        assert conn.bucket is not None and conn.bucket.tokens < 0
        await client.send(*[f"ECHO {i}" for i in range(6)])
        assert await client.lines(6) == [str(i) for i in range(6)]
        assert core.disconnects == []
        assert core.sessions[0].lines == ["COST 10", *[f"ECHO {i}" for i in range(6)]]
        await client.close()
        await server.close()

    arun(body)


BURST, RATE = 10, 100.0
CHANNELS = 100


def test_list_in_a_loop_is_paced_while_others_are_answered(tmp_path: Path) -> None:
    """A client pipelining LIST on a server with many channels is read at the pace its answers'
    size allows (one LIST costs ~100 tokens here), and another client's PINGs are answered
    meanwhile."""
    config = server_config(
        tmp_path,
        flood={
            "enabled": True,
            "burst": BURST,
            "lines_per_second": RATE,
            "free_reply_lines": 1,
            "reply_lines_per_token": 1,
        },
        limits={"channels_per_user": 50},
    )
    with ThreadedServer(config) as server:
        creators = []
        for index in range(CHANNELS // 25):
            creator = IrcClient(server.address)
            creator.register(f"maker{index}")
            names = ",".join(f"#c{index}x{i}" for i in range(25))
            creator.send(f"JOIN {names}")
            creators.append(creator)
        for creator in creators:
            creator.fence(timeout=20)
        flooder = IrcClient(server.address)
        flooder.register("flooder")
        other = IrcClient(server.address)
        other.register("other")
        flooder.fence(timeout=20)
        local_port = flooder.sock.getsockname()[1]
        assert server.app is not None and server.app.tcp is not None
        tcp = server.app.tcp

        def handed_to_core() -> int:
            """LIST lines of the flooder the transport has handed to the core."""
            (conn,) = [c for c in tcp.connections if c.port == local_port]
            return 8 - len(conn.pending or ())

        started = time.monotonic()
        flooder.send(*["LIST"] * 8)
        first = flooder.expect("323")
        assert len([x for x in first if x.command == "322"]) == CHANNELS
        for i in range(5):
            other.send(f"PING :still-{i}")
            other.first(lambda x, i=i: x.command == "PONG" and x.text == f"still-{i}")
        handed = server.call(handed_to_core)
        elapsed = time.monotonic() - started
        # Each LIST answer costs about CHANNELS tokens: after the first, the bucket (BURST
        # tokens, RATE a second) lets one more through per (1 + cost) tokens refilled.
        allowed = 1 + math.ceil((BURST + RATE * elapsed) / (1 + CHANNELS))
        assert handed <= min(allowed, 7), (handed, elapsed)
        # Paced, not refused: the next LIST is answered once its tokens have refilled.
        flooder.expect("323", timeout=10)
        assert wait_for(lambda: server.call(handed_to_core) >= 2, what="the next LIST")
        for client in (*creators, flooder, other):
            client.close()
