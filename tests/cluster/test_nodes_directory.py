"""The network directory on real nodes (a real redis-server bus, a real PostgreSQL).

Issue 14: users on different nodes "see each other in NAMES, WHO, WHOIS and LIST". Here the
users and rooms a node does not follow: WHOIS and WHO of a user of another node that shares no
room with the asker's node, LIST of the rooms of the whole network, MONITOR of a user of
another node (online from its registration to its QUIT, whatever rooms it shares), SETNAME and
WALLOPS across nodes (hubbub.core.cluster_directory, hubbub.cluster.directory).
"""

from __future__ import annotations

from pathlib import Path

from node_helpers import LEASE_MS, client, cluster_toml, node_config
from test_nodes_users import become_oper, numeric, oper_nodes

from support.config import write_config
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ServerProcess, ThreadedServer
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

LOST_WITHIN = LEASE_MS / 1000 + 15.0


def test_whois_and_who_of_a_user_of_another_node_sharing_no_room(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, WHOIS: "This command is used to query information about particular users"
    (RPL_WHOISUSER, RPL_AWAY); PRIVMSG: "If <target> is a user and that user has been set as
    away, the server may reply with an RPL_AWAY (301) numeric"."""
    with (
        oper_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        alice.send("AWAY :lunch")
        alice.expect("306")

        def found() -> bool:
            bob.send("WHOIS alice")
            return bool(numeric(bob.expect("318"), "301"))

        wait_for(found, 10.0, "alice (node a, away) in WHOIS on node b")
        bob.send("WHOIS alice")
        got = bob.expect("318")
        assert numeric(got, "311")[0].params[1] == "alice"
        assert numeric(got, "301")[0].params[1:] == ["alice", "lunch"]
        bob.send("WHO alice")
        who = numeric(bob.expect("315"), "352")
        assert who[0].params[5] == "alice" and who[0].params[6].startswith("G")
        bob.send("PRIVMSG alice :are you there?")
        bob.send("PING :after")
        got = bob.until(lambda line: line.command == "PONG")
        assert numeric(got, "301")[0].params[1:] == ["alice", "lunch"]
        assert alice.first(lambda line: line.command == "PRIVMSG").text == "are you there?"
        bob.send("WHOIS nobody")
        assert numeric(bob.expect("318"), "401")


def test_list_shows_the_rooms_of_every_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, LIST: "The LIST command is used to get a list of channels along with some
    information about each channel"; RPL_LIST (322): "<channel> <client count> :<topic>"."""
    with (
        oper_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        alice.join("#far")
        alice.send("TOPIC #far :far away")
        alice.first(lambda line: line.command == "TOPIC")
        alice.join("#hidden")
        alice.send("MODE #hidden +s")
        alice.first(lambda line: line.command == "MODE")
        bob.join("#near")
        bob.send("LIST")
        listed = {line.params[1]: line.params[2:] for line in numeric(bob.expect("323"), "322")}
        assert listed == {"#near": ["1", ""], "#far": ["1", "far away"]}


def test_monitor_of_a_user_of_another_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """monitor: RPL_MONONLINE "is used to indicate to a client that either a target has just
    become online" and RPL_MONOFFLINE "that a target has just left the irc network": a user
    of another node is online from its registration, and leaving a channel is not leaving
    the network."""
    with (
        oper_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(b, "bob") as bob,
    ):
        bob.send("MONITOR + alice")
        bob.expect("731")
        with client(a, "alice") as alice:
            online = bob.first(lambda line: line.command == "730")
            assert online.params[-1].startswith("alice!")
            bob.join("#lobby")
            alice.join("#lobby")
            alice.send("PART #lobby")
            bob.first(lambda line: line.command == "PART")
            alice.join("#lobby")
            got = bob.until(lambda line: line.command == "JOIN" and line.nick == "alice")
            assert not [line for line in got if line.command in ("730", "731")]
            bob.send("MONITOR S")
            assert [line.command for line in bob.fence() if line.command[:2] == "73"] == ["730"]
            alice.send("QUIT :bye")
            got = bob.until(lambda line: line.command == "731")
            assert [line.command for line in got if line.command != "PING"][-2:] == ["QUIT", "731"]


def test_setname_and_wallops_cross_nodes(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """setname: the server sends the SETNAME message to the clients in common channels with
    the client that changed its realname (with the capability); Modern IRC, WALLOPS: "used to
    send a message to all currently connected users who have set the 'w' user mode"."""
    with (
        oper_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "root", ("setname",)) as root,
        client(b, "bob", ("setname",)) as bob,
    ):
        become_oper(root)
        root.join("#lobby")
        bob.join("#lobby")
        root.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        root.send("SETNAME :The Root")
        seen = bob.first(lambda line: line.command == "SETNAME")
        assert seen.nick == "root" and seen.params == ["The Root"]
        bob.send("MODE bob +w")
        bob.first(lambda line: line.command == "MODE")
        root.send("WALLOPS :maintenance at noon")
        wallops = bob.first(lambda line: line.command == "WALLOPS")
        assert wallops.nick == "root" and wallops.params == ["maintenance at noon"]


def test_monitor_hears_the_users_of_a_killed_node_go_offline(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """monitor: RPL_MONOFFLINE "is used to indicate to a client that ... a target has just
    left the irc network": also a user of a node killed with -9, that shared no room with the
    watcher's node (the node that buries the dead one says so in the network room)."""
    config_file = write_config(
        tmp_path / "a.toml", tmp_path / "a", cluster_toml(redis_url, fresh_postgres_url, "node-a")
    )
    survivor = node_config(tmp_path / "b", redis_url, fresh_postgres_url, "node-b")
    with (
        ServerProcess(config_file) as doomed,
        ThreadedServer(survivor) as b,
        client(doomed, "alice"),
        client(b, "bob") as bob,
    ):

        def online() -> bool:
            bob.send("MONITOR S")
            return any(line.command == "730" for line in bob.fence())

        bob.send("MONITOR + alice")
        wait_for(online, 10.0, "alice (node a) online for bob's MONITOR on node b")
        doomed.kill()
        offline = bob.first(lambda line: line.command == "731", timeout=LOST_WITHIN)
        assert offline.text == "alice"
        assert not [line for line in bob.fence() if line.command in ("730", "731")]
