"""Cluster mode in the core while the bus goes away and comes back (Redis kept its data).

Issue 14: "Redis restarted or unreachable: nodes keep their connections, refuse new messages
with FAIL <command> TEMPORARILY_UNAVAILABLE (never accept then lose), resynchronise presence
and room state when it returns; no split brain." Each test retraces a race the cluster fuzz
target found once it could take the bus away (tests/fuzz/test_cluster_stateful.py, `outage`).
"""

from __future__ import annotations

from test_cluster_core import Cluster

from hubbub.core.cluster_fields import member_field


def away(cluster: Cluster) -> None:
    """Redis unreachable: the calls the bus holds are refused, then every node is told."""
    cluster.bus.go_away()
    for node in cluster.nodes:
        node.server.network_available(False)


def back(cluster: Cluster) -> None:
    """Redis reachable again, as hubbub.cluster.node handles it: each node is told, then
    claims its users' nicks again."""
    cluster.bus.available = True
    for node in cluster.nodes:
        node.server.network_available(True)
        node.server.cluster.reclaim_nicks()
    cluster.drain()


def test_a_nick_given_up_while_the_bus_was_away_is_free_when_it_is_back() -> None:
    """A user in no room leaves while the bus is away: the release of its nick is refused.
    It used to stay claimed by its node for good (433 for everyone else)."""
    cluster = Cluster()
    a, b = cluster.nodes
    bob = a.client("bob")
    away(cluster)
    bob.send("QUIT :bye")
    assert cluster.bus.claims.get("nick:bob") == "n0"  # refused: still there
    back(cluster)
    assert "nick:bob" not in cluster.bus.claims
    newcomer = b.client("carol")
    newcomer.send("NICK bob")
    assert [m.command for m in newcomer.lines()] == ["NICK"]


def test_a_nick_claimed_again_for_a_user_leaving_meanwhile_is_given_back() -> None:
    """The claims a node makes again on the bus's return are on their way when one of its
    users leaves: its release reaches the bus first, and the claim used to take the nick
    back for nobody."""
    cluster = Cluster()
    a, _ = cluster.nodes
    bob = a.client("bob")
    bus = cluster.bus
    bus.held = True
    away(cluster)
    back(cluster)  # the claims are held
    bob.send("QUIT :bye")  # released at once (bob is in no room)
    bus.release()
    assert "nick:bob" not in bus.claims


def test_a_nick_change_cut_by_the_outage_reaches_its_other_room_when_the_bus_is_back() -> None:
    """alice's NICK is sequenced in #one, then the bus goes away before #two's: she is alicia
    on her node and in #one everywhere. #two's NICK is kept and sent again on the bus's
    return; it used to be dropped, leaving #two's state and its other nodes with alice."""
    cluster = Cluster()
    a, b = cluster.nodes
    alice, bob = a.client("alice"), b.client("bob")
    for room in ("#one", "#two"):
        alice.send(f"JOIN {room}")
        bob.send(f"JOIN {room}")
    cluster.drain()
    bus = cluster.bus
    bus.held = True
    alice.send("NICK alicia")
    bus.answer(bus.waiting.pop(0))  # her claim: won; the two rooms' NICKs go to the bus
    bus.answer(bus.waiting.pop(0))  # #one's is sequenced
    away(cluster)  # #two's is refused
    assert alice.user.nick == "alicia"
    back(cluster)
    bus.release()  # (#two's NICK, sent again)
    for room in ("#one", "#two"):
        assert member_field("alicia") in bus.fields[room]
        assert member_field("alice") not in bus.fields[room]
        assert {user.nick for user in b.channel(room).members} == {"alicia", "bob"}
    assert bus.claims.get("nick:alicia") == "n0" and "nick:alice" not in bus.claims
