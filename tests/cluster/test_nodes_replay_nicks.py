"""A nick is free on every node in the same instant as its QUIT (two hubbub nodes on a real
redis-server bus and a real PostgreSQL). hubbub.core.cluster_propose (`release_claim`).

Issue 14: nicks are unique network-wide through claims on the bus. A user who quits has its
claim released by the bus with its last QUIT, atomically, before its own ERROR is written, so
whoever saw it leave — the user itself, or a member of one of its rooms on another node — can
take the nick at once. Node A's release to Redis is held here (the bus's `release`, or the
sequencing of the QUIT that carries it, on A's loop), so the test sees what a slow release
shows instead of hoping for an order.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from node_helpers import client, running_nodes

from support.irc_client import IrcClient
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ThreadedServer
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

#: Seconds a held release waits at most (a failing test must not hang the run).
GATE_LIMIT = 30.0
#: Seconds a client's socket is watched for a line that must not come while the release is
#: held. It bounds how long "nothing" is looked for; it synchronises nothing (without the
#: change, the QUIT is on the other node's socket before the release was even asked for).
QUIET_WATCH = 0.3


class HeldReleases:
    """Node `server`'s releases of claims wait for `gate` (a release of its own, or the QUIT
    that carries one); `holding` is set while one waits."""

    def __init__(self, server: ThreadedServer) -> None:
        self.gate = threading.Event()
        self.holding = threading.Event()
        assert server.app is not None and server.app.node is not None
        bus = server.app.node.bus
        release: Callable[[str], Awaitable[None]] = bus.release

        async def held(key: str) -> None:
            self.holding.set()
            waited = await asyncio.get_running_loop().run_in_executor(
                None, self.gate.wait, GATE_LIMIT
            )
            if not waited:
                raise AssertionError("the test never let the release go")
            await release(key)

        bus.release = held  # type: ignore[method-assign]
        sequence_soon = bus.sequence_soon

        def held_sequence(
            room: str,
            payload: bytes,
            done: Callable[[Any], None],
            *,
            set_fields: Any = {},  # noqa: B006 (the bus's own default, passed on)
            delete_fields: Any = (),
        ) -> asyncio.Future[Any]:
            """A QUIT that releases a claim (a deleted name `!<claim>`) waits for `gate`."""
            if not any(name.startswith("!") for name in delete_fields):
                return sequence_soon(
                    room, payload, done, set_fields=set_fields, delete_fields=delete_fields
                )
            self.holding.set()

            async def later() -> Any:
                waited = await asyncio.get_running_loop().run_in_executor(
                    None, self.gate.wait, GATE_LIMIT
                )
                if not waited:
                    raise AssertionError("the test never let the release go")
                return await sequence_soon(
                    room, payload, done, set_fields=set_fields, delete_fields=delete_fields
                )

            return asyncio.get_running_loop().create_task(later())

        bus.sequence_soon = held_sequence  # type: ignore[method-assign]


def nothing_arrives(irc: IrcClient) -> bytes:
    """What reaches `irc`'s socket within QUIET_WATCH seconds (b"" when nothing did)."""
    irc.sock.settimeout(QUIET_WATCH)
    try:
        return irc.sock.recv(65536)
    except TimeoutError:
        return b""
    finally:
        irc.sock.settimeout(irc.timeout)


def take_nick(irc: IrcClient, nick: str) -> Any:
    """NICK `nick`: its echo, or the 433 that refused it."""
    irc.send(f"NICK {nick}")
    return irc.first(lambda line: line.command in ("NICK", "433"), what="NICK or 433")


def test_a_nick_is_free_once_its_quit_is_seen_on_another_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, NICK: "If the server receives a NICK command from a client where the
    desired nickname is already in use on the network, it should issue an
    ERR_NICKNAMEINUSE numeric". A nick whose user was seen to QUIT is in use nowhere: bob on
    node B, who saw alice of node A quit, takes her nick at once."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(b, "bob") as bob,
    ):
        held = HeldReleases(a)
        alice = IrcClient(a.address)
        try:
            alice.register("alice")
            alice.join("#lobby")
            bob.join("#lobby")
            alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
            alice.send("QUIT :bye")
            wait_for(held.holding.is_set, 10, "node A sends alice's QUIT, releasing her claim")
            # While the claim is not released, nobody has seen alice leave.
            assert nothing_arrives(bob) == b""
            assert nothing_arrives(alice) == b""
            held.gate.set()
            alice.until_closed()
        finally:
            held.gate.set()
            alice.close()
        gone = bob.first(lambda line: line.command == "QUIT", what="alice's QUIT")
        assert gone.nick == "alice"
        taken = take_nick(bob, "alice")
        assert taken.command == "NICK" and taken.text == "alice"


def test_a_nick_is_free_on_another_node_once_its_user_got_its_error(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """The same for a user in no room (nobody sees its QUIT): its ERROR waits for the
    release, so once alice was told her connection is closing, carol on node B takes her nick
    at once."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(b, "carol") as carol,
        client(a, "alice") as alice,
    ):
        held = HeldReleases(a)
        try:
            alice.send("QUIT :bye")
            wait_for(held.holding.is_set, 10, "node A asks the bus to release alice's claim")
            assert nothing_arrives(alice) == b""
        finally:
            held.gate.set()
        error = alice.first(lambda line: line.command == "ERROR", what="alice's ERROR")
        assert "bye" in error.text
        taken = take_nick(carol, "alice")
        assert taken.command == "NICK" and taken.text == "alice"
