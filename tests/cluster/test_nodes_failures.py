"""What users see when part of the cluster fails: a node killed with -9, Redis restarted.

Issue 14: "kill -9 one node: its users leave their rooms network-wide (QUIT with a clear reason)
once its lease expires"; "Redis restarted or unreachable: nodes keep their connections, refuse
new messages with FAIL <command> TEMPORARILY_UNAVAILABLE (never accept then lose), resynchronise
presence and room state when it returns".
"""

from __future__ import annotations

from pathlib import Path

from node_helpers import LEASE_MS, client, cluster_toml, node_config, running_nodes

from hubbub.core.network import NODE_LOST_REASON
from support.config import write_config
from support.postgres_server import fresh_postgres_url
from support.redis_server import RedisServer, redis_server, redis_url
from support.servers import ServerProcess, ThreadedServer
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below


# Generous: the lease, the janitor's next sweep and a loaded machine (never a sleep).
LOST_WITHIN = LEASE_MS / 1000 + 15.0


def test_a_node_killed_with_9_loses_its_users_everywhere(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    config_file = write_config(
        tmp_path / "a.toml", tmp_path / "a", cluster_toml(redis_url, fresh_postgres_url, "node-a")
    )
    survivor = node_config(tmp_path / "b", redis_url, fresh_postgres_url, "node-b")
    with (
        ServerProcess(config_file) as doomed,
        ThreadedServer(survivor) as b,
        client(doomed, "alice") as alice,
        client(b, "bob") as bob,
    ):
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
        # Her nick is free again network-wide.
        with client(b, "alice2") as again:
            again.send("NICK alice")
            assert again.first(lambda line: line.command in ("433", "NICK")).command == "NICK"


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
