"""What users see when part of the cluster fails: a node killed with -9, Redis restarted.

Issue 14: "kill -9 one node: its users leave their rooms network-wide (QUIT with a clear reason)
once its lease expires"; "Redis restarted or unreachable: nodes keep their connections, refuse
new messages with FAIL <command> TEMPORARILY_UNAVAILABLE (never accept then lose), resynchronise
presence and room state when it returns".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from node_helpers import LEASE_MS, client, cluster_toml, node_config, running_nodes, takes_nick
from redis import Redis

from hubbub.cluster import bus_scripts as scripts
from hubbub.core.cluster_fields import member_field_names, of_buried, registered_ms
from hubbub.core.cluster_resync import LOST_DEPARTURE_REASON
from hubbub.core.network import NODE_LOST_REASON
from hubbub.core.ports import NETWORK_ROOM
from support.config import write_config
from support.irc_client import IrcClient, Line
from support.metrics import get, samples, value
from support.postgres_server import fresh_postgres_url
from support.redis_server import RedisServer, redis_server, redis_url
from support.servers import ServerProcess, ThreadedServer
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below


# Generous: the lease, the janitor's next sweep and a loaded machine (never a sleep).
LOST_WITHIN = LEASE_MS / 1000 + 15.0


@contextlib.contextmanager
def process_and_survivor(
    tmp_path: Path, redis_url: str, store_url: str
) -> Iterator[tuple[ServerProcess, ThreadedServer, IrcClient, IrcClient]]:
    """Node a as a child process (to be killed or stopped), node b in-process; alice on a and
    bob on b."""
    config_file = write_config(
        tmp_path / "a.toml", tmp_path / "a", cluster_toml(redis_url, store_url, "node-a")
    )
    survivor = node_config(tmp_path / "b", redis_url, store_url, "node-b")
    with (
        ServerProcess(config_file) as a,
        ThreadedServer(survivor) as b,
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        yield a, b, alice, bob


def test_a_node_killed_with_9_loses_its_users_everywhere(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with process_and_survivor(tmp_path, redis_url, fresh_postgres_url) as (doomed, b, alice, bob):
        alice.join("#room")
        alice.join("#other")
        bob.join("#room")
        bob.join("#other")
        bob.say("#room", "are you there?")
        alice.first(lambda line: line.text == "are you there?")
        doomed.kill()
        quits = []
        quit_line = bob.first(lambda line: line.command == "QUIT", timeout=LOST_WITHIN)
        quits.append(quit_line)
        assert quit_line.nick == "alice" and quit_line.text == NODE_LOST_REASON
        # Once, though alice shared two rooms with bob; and the rooms go on.
        quits += [line for line in bob.fence() if line.command == "QUIT"]
        assert len(quits) == 1
        bob.send("NAMES #room")
        names = bob.first(lambda line: line.command == "353")
        assert names.text.split() == ["bob"]
        # Her nick is free again network-wide, once the burial is over (its claims go after
        # its QUITs, hubbub.cluster.bus).
        with client(b, "alice2") as again:
            wait_for(lambda: takes_nick(again, "alice"), LOST_WITHIN, "alice's nick free again")

        # And WHOWAS knows who had it: the node that buried hers wrote her entry (soon). The
        # nick's holder since, gone too, has one as well: newer or older, whichever was
        # written last (WHOWAS lists them all, newest first, up to 369).
        def whowas() -> list[Line] | None:
            bob.send("WHOWAS alice")
            entries = []
            while (line := bob.first(lambda line: line.command in ("314", "369"))).command == "314":
                entries.append(line)
            return entries if any(entry.params[2] == "~alice" for entry in entries) else None

        entries = wait_for(whowas, LOST_WITHIN, "WHOWAS alice after her node's burial")
        assert [entry.params[1] for entry in entries] == ["alice"] * len(entries)


def test_redis_restarted_refuses_then_recovers(
    tmp_path: Path, redis_server: RedisServer, fresh_postgres_url: str
) -> None:
    with (
        running_nodes(tmp_path, redis_server.url, fresh_postgres_url) as (a, b),
        client(a, "alice", ("echo-message",)) as alice,
        client(b, "bob") as bob,
    ):
        alice.join("#room")
        bob.join("#room")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        redis_server.kill()

        def refused(line: object) -> bool:
            return getattr(line, "command", "") in ("FAIL", "PRIVMSG")

        # Until the node has noticed, a message may still be refused by a failing call: either
        # way it is refused, never accepted and lost.
        alice.say("#room", "into the void?")
        answer = alice.first(refused, timeout=15.0)
        assert answer.command == "FAIL"
        assert answer.params[:2] == ["PRIVMSG", "TEMPORARILY_UNAVAILABLE"]
        assert [line for line in bob.fence() if line.command == "PRIVMSG"] == []
        redis_server.start()  # the same port, and empty: the nodes resynchronise

        # No waiting for both nodes: a node back later than the other is given the new epoch's
        # events from its first (hubbub.cluster.bus), so nothing said meanwhile passes it by.
        def delivered() -> bool:
            alice.say("#room", "back again")
            line = alice.first(refused, timeout=15.0)
            return line.command == "PRIVMSG"

        wait_for(delivered, 30.0, "a message accepted again after Redis came back")
        assert bob.first(lambda line: line.command == "PRIVMSG").text == "back again"
        # Presence came back too: a third node's newcomer sees both in the room.
        with (
            ThreadedServer(
                node_config(tmp_path / "c", redis_server.url, fresh_postgres_url, "node-c")
            ) as c,
            client(c, "carol") as carol,
        ):
            names = carol.join("#room")
            listed = " ".join(line.text for line in names if line.command == "353")
            assert sorted(listed.split()) == ["@alice", "bob", "carol"]
            # And alice's nick is hers again network-wide.
            carol.send("NICK alice")
            assert carol.first(lambda line: line.command in ("433", "NICK")).command == "433"


def test_a_node_back_from_a_blip_writes_no_stale_member_back(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """A node whose connection to Redis broke for a moment (Redis kept its data) does not write
    its copy of its rooms back: that copy may not have applied the rooms' last events yet.
    Here alice's member fields are taken out of the room's state behind node a's back, standing
    for a KICK sequenced while a was away that it had not applied when it resynchronised;
    writing its copy back would put her in the room's state again, for every node that opens
    the room later to see."""
    redis = Redis.from_url(redis_url)
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        alice.join("#room")
        bob.join("#room")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        state = scripts.state_key("#room")
        fields = member_field_names("alice")
        assert redis.hexists(state, fields[0])
        redis.hdel(state, *fields)
        node = a.app.node
        assert node is not None
        resyncs = node.resyncs
        for connection in redis.client_list():
            if connection["name"].startswith("hubbub-bus:node0"):
                redis.client_kill_filter(_id=connection["id"])
        wait_for(lambda: node.resyncs > resyncs, 30.0, "node a back and resynchronised")
        assert not any(redis.hexists(state, field) for field in fields)
    redis.close()


def test_a_node_back_in_a_new_epoch_marks_its_rooms_before_anything_else_is_handled(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Redis came back without its data: until some node has written #room back, node a
    refuses its users' events there but their leaving (hubbub.core.cluster_resync), or the
    bus would decide them from the empty room while every node decides them from its copy.
    The rooms used to be marked by a task of their own, one turn of the event loop after the
    core heard the bus was back, so a command read in that turn (a MODE) went through. The
    marker below is such a turn: the room must be marked by then."""
    redis = Redis.from_url(redis_url)
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, _b),
        client(a, "alice") as alice,
    ):
        alice.join("#room")
        node = a.app.node
        assert node is not None and node.server is not None
        server, cluster = node.server, node.server.cluster
        assert cluster is not None
        seen: list[bool] = []
        told = server.network_available

        def network_available(available: bool) -> None:
            told(available)
            if available:  # (on the server's loop: what the next callback in line finds)
                loop = asyncio.get_running_loop()
                loop.call_soon(lambda: seen.append("#room" in cluster.unrestored))

        server.network_available = network_available  # type: ignore[method-assign]
        redis.flushall()  # (the node's next call finds the epoch gone)
        wait_for(lambda: bool(seen), 30.0, "node a back in the new epoch")
        assert all(seen)
    redis.close()


def test_a_node_declared_dead_while_stopped_disconnects_its_users_when_it_wakes(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """A node stopped (SIGSTOP: a frozen VM, a stalled process) longer than its lease is buried
    by a survivor: everyone sees its users QUIT and their nicks are free. When it wakes up it
    must not carry on with them as if nothing happened (two users named alice on one network,
    one in rooms nobody else sees her in): it disconnects them, and their clients reconnect."""
    with process_and_survivor(tmp_path, redis_url, fresh_postgres_url) as (frozen, b, alice, bob):
        alice.join("#room")
        bob.join("#room")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        assert frozen.proc is not None
        os.kill(frozen.proc.pid, signal.SIGSTOP)
        try:
            quit_line = bob.first(lambda line: line.command == "QUIT", timeout=LOST_WITHIN)
            assert quit_line.nick == "alice" and quit_line.text == NODE_LOST_REASON
            # Her nick is free once the burial is over: someone else takes it while node a is
            # still stopped.
            with client(b, "carol") as carol:
                wait_for(lambda: takes_nick(carol, "alice"), LOST_WITHIN, "alice's nick free")
                os.kill(frozen.proc.pid, signal.SIGCONT)
                lines = alice.until_closed(timeout=LOST_WITHIN)
                errors = [line for line in lines if line.command == "ERROR"]
                assert errors and NODE_LOST_REASON in errors[-1].text
                # One alice on the network, carol's; and nobody came back into #room.
                bob.send("WHOIS alice")
                whois = bob.first(lambda line: line.command == "311")
                assert whois.params[1:3] == ["alice", "~carol"]
                # (Nor did bob see her leave twice: her node's own QUITs find her gone.)
                assert [line for line in bob.fence() if line.command in ("JOIN", "QUIT")] == []
                bob.send("NAMES #room")
                names = bob.first(lambda line: line.command == "353")
                assert names.text.split() == ["bob"]
        finally:
            os.kill(frozen.proc.pid, signal.SIGCONT)


def test_a_part_a_node_missed_before_redis_lost_its_data_is_shown_there(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """bob parted #room while node a was stopped and cut off from Redis; then Redis lost its
    data, the PART with it, before node a could read it. Node a wrote bob back into #room with
    its sync, and alice saw him there for good. Node b, which does not follow #room any more,
    is now asked to speak there (hubbub.core.cluster_resync) and says it has nobody there:
    alice sees bob leave."""
    redis = Redis.from_url(redis_url)
    # (A lease longer than node a is stopped, however loaded the machine: it is not buried.)
    toml = cluster_toml(redis_url, fresh_postgres_url, "node-a")
    toml = toml.replace(f"lease_ms = {LEASE_MS}", "lease_ms = 60000")
    config_file = write_config(tmp_path / "a.toml", tmp_path / "a", toml)
    with (
        ServerProcess(config_file) as a,
        ThreadedServer(node_config(tmp_path / "b", redis_url, fresh_postgres_url, "node-b")) as b,
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        alice.join("#room")
        bob.join("#room")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            for connection in redis.client_list():  # (what is published now never reaches a)
                if connection["name"].startswith("hubbub-bus:node-a"):
                    redis.client_kill_filter(_id=connection["id"])
            bob.send("PART #room")
            bob.first(lambda line: line.command == "PART")
            redis.flushall()
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        part = alice.first(lambda line: line.command == "PART", timeout=30.0)
        assert (part.nick, part.params[0], part.text) == ("bob", "#room", LOST_DEPARTURE_REASON)
        alice.send("NAMES #room")
        names = alice.first(lambda line: line.command == "353")
        assert names.text.split() == ["@alice"]
    redis.close()


def test_a_node_without_redis_says_so_on_readyz_and_in_its_metrics(
    tmp_path: Path, redis_server: RedisServer, fresh_postgres_url: str
) -> None:
    """A load balancer takes a node that refuses room events out while it does (/readyz), and
    an alert can fire on `hubbub_cluster_bus_available` (docs/operations.md)."""
    metrics = {"enabled": True, "host": "127.0.0.1", "port": 0}
    config = node_config(tmp_path / "a", redis_server.url, fresh_postgres_url, "a", metrics=metrics)
    with ThreadedServer(config) as a:
        assert get(a, "/readyz") == (200, "ready\n")
        assert value(samples(a), "hubbub_cluster_bus_available") == 1
        redis_server.stop()
        wait_for(lambda: get(a, "/readyz")[0] == 503, 30.0, "/readyz to say 503")
        assert "cluster bus unavailable" in get(a, "/readyz")[1]
        assert value(samples(a), "hubbub_cluster_bus_available") == 0
        redis_server.start()
        wait_for(lambda: get(a, "/readyz") == (200, "ready\n"), 30.0, "/readyz to recover")
        assert value(samples(a), "hubbub_cluster_bus_available") == 1
        wait_for(
            lambda: value(samples(a), "hubbub_cluster_heartbeats_total") > 0,
            30.0,
            "a heartbeat counted",
        )


def test_a_burial_asks_a_node_that_never_wrote_a_room_back_to_speak_there(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Redis lost its data; node c, lagging, had not read erin's QUIT and wrote #room back
    with her in it (erin's node, following #room no more, writes nothing there), then died
    before asking erin's node to speak. Nobody opens #room again: the bus alone listed erin
    for good (WHO, LIST). The burial of c now asks erin's node, which says it has nobody
    there (a cluster fuzz finding, seed 4746544)."""
    redis = Redis.from_url(redis_url)
    with (
        ThreadedServer(node_config(tmp_path / "b", redis_url, fresh_postgres_url, "node-b")) as b,
        client(b, "bob") as bob,
    ):
        assert b.app is not None and b.app.node is not None and b.loop is not None
        bus = b.app.node.bus
        redis.flushall()

        def back() -> Line | None:
            bob.send("JOIN #other")
            return bob.first(lambda line: line.command in ("JOIN", "FAIL"))

        wait_for(lambda: (line := back()) and line.command == "JOIN", 30.0, "the new epoch")
        carol = json.dumps({"n": "carol", "u": "~c", "h": "h", "node": "c", "id": "c/1/1"})
        erin = json.dumps({"n": "erin", "u": "~e", "h": "h", "node": "node-b", "id": "b/1/9"})
        lagging_sync = bus.sequence(
            "#room",
            b'{"t":"sync","at":0,"fs":{}}',
            set_fields={"room": "#room", "m:carol": carol, "m:erin": erin},
            delete_fields=["@c"],
        )
        asyncio.run_coroutine_threadsafe(lagging_sync, b.loop).result(timeout=30.0)
        assert redis.hexists(scripts.state_key("#room"), "m:erin")

        def listed() -> list[bytes]:
            return [name for name in redis.hkeys(scripts.state_key("#room")) if name[:2] == b"m:"]

        # (c never registers in the new epoch: one lease on, node b takes it for dead.)
        wait_for(lambda: not listed(), LOST_WITHIN, "#room without carol and erin")
    redis.close()


def test_a_node_alone_killed_with_9_starts_again_under_its_node_id(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Nobody else is there to bury the killed process: the next one under its node id waits
    for its lease to lapse and buries it itself before it serves (it used to refuse to start,
    the node id "in use")."""
    config_file = write_config(
        tmp_path / "a.toml", tmp_path / "a", cluster_toml(redis_url, fresh_postgres_url, "node-a")
    )
    with ServerProcess(config_file) as first, client(first, "alice") as alice:
        alice.join("#room")
        first.kill()
    with ServerProcess(config_file) as again, client(again, "bob") as bob:
        # Alice's nick was freed by the burial, before the node took its first user.
        assert takes_nick(bob, "alice")
        bob.join("#room")  # (its first member again: the dead alice's member field went)
        bob.send("NAMES #room")
        assert bob.first(lambda line: line.command == "353").text.split() == ["@alice"]

        # And WHOWAS knows the dead alice (written once the node had its core).
        def whowas() -> bool:
            bob.send("WHOWAS alice")
            entries = []
            while (line := bob.first(lambda line: line.command in ("314", "369"))).command == "314":
                entries.append(line)
            return any(entry.params[2] == "~alice" for entry in entries)

        wait_for(whowas, LOST_WITHIN, "WHOWAS alice after the burial of her node")


def test_a_node_killed_and_started_again_keeps_its_new_users_in_the_rooms(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """The new process's users share the dead one's node id; the burial (the survivor's, or
    the new process's own) is over before it takes one, and takes none of them out."""
    with process_and_survivor(tmp_path, redis_url, fresh_postgres_url) as (doomed, _, alice, bob):
        alice.join("#room")
        bob.join("#room")
        doomed.kill()
        with ServerProcess(tmp_path / "a.toml") as again, client(again, "carol") as carol:
            quit_line = bob.first(lambda line: line.command == "QUIT", timeout=LOST_WITHIN)
            assert quit_line.nick == "alice" and quit_line.text == NODE_LOST_REASON
            carol.join("#room")
            bob.first(lambda line: line.command == "JOIN" and line.nick == "carol")
            carol.say("#room", "back on the same node id")
            bob.first(lambda line: line.text == "back on the same node id")
            bob.send("NAMES #room")
            assert sorted(bob.first(lambda line: line.command == "353").text.split()) == [
                "bob",
                "carol",
            ]
            assert "QUIT" not in [line.command for line in bob.fence()]


def test_a_survivors_burial_says_from_when_users_of_the_node_id_are_a_successors(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """A node whose network room lags may apply the JOIN of a user of the killed node's next
    process (same node id) before the burial's `buried`; the survivor's `buried` says from
    when (on that node id's clock) its users are the successor's, which such a node keeps:
    midway between the dead process's last beat plus a heartbeat and its lease's end. (It
    said nothing, and such a node would take the new user out with the dead ones.)"""
    redis = Redis.from_url(redis_url)
    network = scripts.stream_key(NETWORK_ROOM)

    def burials() -> list[dict[str, object]]:
        events = (json.loads(fields[b"p"]) for _, fields in redis.xrange(network))
        return [event for event in events if event["t"] == "buried" and event["d"] == "node-a"]

    def network_id(nick: str) -> str:
        return str(json.loads(redis.hget(scripts.state_key("#room"), "m:" + nick) or "{}")["id"])

    with process_and_survivor(tmp_path, redis_url, fresh_postgres_url) as (doomed, _, alice, bob):
        alice.join("#room")
        bob.join("#room")
        dead_user = network_id("alice")
        earlier = len(burials())
        doomed.kill()
        wait_for(lambda: len(burials()) > earlier, LOST_WITHIN, "node b's burial of node a")
        (burial,) = burials()[earlier:]
        with ServerProcess(tmp_path / "a.toml") as again, client(again, "carol") as carol:
            carol.join("#room")
            bob.first(lambda line: line.command == "JOIN" and line.nick == "carol")
            successor_user = network_id("carol")
    redis.close()
    dead_ms, successor_ms = registered_ms(dead_user), registered_ms(successor_user)
    assert dead_ms is not None and successor_ms is not None
    assert dead_ms < int(str(burial["b"])) <= successor_ms
    assert of_buried(dead_user, burial) and not of_buried(successor_user, burial)
