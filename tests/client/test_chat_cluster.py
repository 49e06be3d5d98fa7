"""`hubbub chat --server A,B` against a real cluster: node A is killed with -9, the client moves
to node B and fetches exactly what it missed.

Issue 14: "kill -9 one node: … Its clients reconnect (hubbub's terminal and web clients accept
a list of servers) and fetch exactly what they missed with CHATHISTORY AFTER, without
duplicates." Two nodes on one real Redis bus and one real PostgreSQL (support.redis_server,
support.postgres_server; skipped without them unless HUBBUB_REQUIRE_E2E=1), node A a child
process so that it can be killed with -9, and the real `hubbub chat --plain` in a subprocess.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from chat_helpers import TIME, WAIT, ChatProcess, joined
from redis.asyncio import Redis

from hubbub.cluster import bus_scripts as scripts
from hubbub.core.network import NODE_LOST_REASON
from support.config import server_config, write_config
from support.irc_client import AsyncIrcClient
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ServerProcess, ThreadedServer
from support.waiting import until_awaited

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

LEASE_MS = 1500  # a node that stops renewing its lease is dead after this long (tests: short)
HEARTBEAT_MS = 150


async def nobody_is(client: AsyncIrcClient, nick: str) -> None:
    """Ask WHOIS `nick` until the network has nobody of that nick (401)."""
    deadline = time.monotonic() + WAIT
    while True:
        await client.send(f"WHOIS {nick}")
        lines = await client.until(lambda x: x.command == "318", what="the end of WHOIS")
        if any(x.command == "401" for x in lines):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{nick} is still on the network: {[x.raw for x in lines]}")


async def claim_released(redis_url: str, nick: str) -> None:
    """Until the bus holds no claim of `nick`: a burial releases the dead node's claims at its
    end, after its QUITs and after WHOIS says 401 (its directory entries go first)."""
    redis = Redis.from_url(redis_url)
    try:
        key = scripts.claim_key(f"nick:{nick}")
        await until_awaited(lambda: _absent(redis, key), WAIT, f"the claim of {nick} released")
    finally:
        await redis.aclose()


async def _absent(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)


async def test_kill_9_of_the_clients_node_moves_it_to_the_other_node_without_gap_or_duplicate(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    cluster = {
        "url": redis_url,
        "lease_ms": LEASE_MS,
        "heartbeat_ms": HEARTBEAT_MS,
    }
    history = {"backend": "postgres", "url": fresh_postgres_url}
    config_a = write_config(
        tmp_path / "a.toml",
        tmp_path / "a",
        f'\n[history]\nbackend = "postgres"\nurl = "{fresh_postgres_url}"\n'
        f'\n[cluster]\nurl = "{redis_url}"\nnode_id = "node-a"\n'
        f"lease_ms = {LEASE_MS}\nheartbeat_ms = {HEARTBEAT_MS}\n",
    )
    config_b = server_config(
        tmp_path / "b", cluster={**cluster, "node_id": "node-b"}, history=history
    )
    chat: ChatProcess | None = None
    bob: AsyncIrcClient | None = None
    with ServerProcess(config_a) as node_a, ThreadedServer(config_b) as node_b:
        try:
            bob = await AsyncIrcClient.connect(node_b.address)
            await bob.register("bob")
            await bob.join("#lobby")
            chat = await ChatProcess.start(
                *("--server", f"127.0.0.1:{node_a.port},127.0.0.1:{node_b.port}"),
                *("--nick", "mover"),
            )
            await bob.first(joined("mover", "#lobby"), timeout=WAIT)  # across the nodes
            await bob.say("#lobby", "before the kill")
            await chat.line(rf"{TIME} <bob> before the kill", "the line before the kill")

            # Frozen, the client cannot move before the line it is to miss has been said.
            chat.proc.send_signal(signal.SIGSTOP)
            node_a.kill()
            await bob.say("#lobby", "while you were away")
            # Node A's lease runs out: its users leave everywhere, then their nicks are free
            # (a claim goes once its user has left every room: a moment after the QUIT is seen
            # here). Waited for, so that the client comes back as mover, not as mover_ taking
            # its nick back later.
            gone = await bob.first(lambda x: x.command == "QUIT", timeout=LEASE_MS / 1000 + 15)
            assert (gone.nick, gone.text) == ("mover", NODE_LOST_REASON)
            await nobody_is(bob, "mover")
            await claim_released(redis_url, "mover")
            chat.proc.send_signal(signal.SIGCONT)

            await bob.first(joined("mover", "#lobby"), timeout=WAIT)
            await chat.line(rf"{TIME} <bob> while you were away", "the missed line")
            await bob.say("#lobby", "the end")
            await chat.line(rf"{TIME} <bob> the end", "a live line on node B")
            said = [ln.split("> ", 1)[1] for ln in chat.out if "<" in ln]
            assert said == ["before the kill", "while you were away", "the end"], chat.out
            assert "-- missed while disconnected: 1 message --" in chat.out, chat.out
            moved = f"hubbub: now on 127.0.0.1:{node_b.port} (moved from 127.0.0.1:{node_a.port})"
            assert moved in chat.err, chat.err
            assert not any("nick" in ln and "in use" in ln for ln in chat.err), chat.err
            assert await chat.quit() == 0
        finally:
            if chat is not None:
                if chat.proc.returncode is None:
                    chat.proc.send_signal(signal.SIGCONT)  # in case a failure left it stopped
                await chat.kill()
            if bob is not None:
                await bob.close()
