"""The network directory for users sharing no room with the asker's node, on real nodes (a real
redis-server bus, a real PostgreSQL): WHO with a mask over the whole network, WHOIS's channels
(319), extended-monitor's AWAY, SETNAME and ACCOUNT lines, and MONITOR's events the bus refused
while it was away, sent when it is back (hubbub.core.cluster_directory,
hubbub.cluster.directory; docs/cluster.md, "What is network-wide").
"""

from __future__ import annotations

from pathlib import Path

from node_helpers import client, running_nodes
from test_nodes_users import numeric

from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import RedisServer, redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

PASSWORD = "correct-horse-battery"
ACCOUNTS = {"hash_time_cost": 1, "hash_memory_kib": 64}
WATCHER_CAPS = ("extended-monitor", "away-notify", "setname", "account-notify")


def who_nicks(irc: IrcClient, mask: str) -> tuple[list[str], list[Line]]:
    """The nicks a WHO with `mask` lists (352), and every line of its answer."""
    irc.send(f"WHO {mask}")
    got = irc.expect("315")
    return sorted(line.params[5] for line in numeric(got, "352")), got


def test_who_with_a_mask_lists_the_users_of_every_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, WHO: "This command is used to query a list of users who match the provided
    mask"; invisible user mode: "If a user is set to 'invisible', they will not show up in
    commands such as WHO unless they share a channel with the user that submitted the
    command." Users of another node that share no room with the asker's node are users of
    the network like any other."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(a, "anna"),
        client(a, "ghost") as ghost,
        client(b, "bob") as bob,
    ):
        alice.join("#far")
        ghost.send("MODE ghost +i")
        ghost.first(lambda line: line.command == "MODE")
        nicks, _ = who_nicks(bob, "*")
        assert nicks == ["alice", "anna", "bob"]  # ghost is +i and shares no room with bob
        assert who_nicks(bob, "a*")[0] == ["alice", "anna"]
        assert who_nicks(bob, "*tester")[0] == ["alice", "anna", "bob"]  # realnames
        assert who_nicks(bob, "nobody*")[0] == []
        _, got = who_nicks(bob, "ali*")
        (line,) = numeric(got, "352")
        # the room it is in and its standing there, as on one node (from its directory entry)
        assert line.params[1:3] == ["#far", "~alice"]
        assert line.params[5:] == ["alice", "H@", "0 alice the tester"]
        # WHOX: the fields asked for, with the token
        bob.send("WHO an* %tcnuf,42")
        whox = numeric(bob.expect("315"), "354")
        assert [x.params[1:] for x in whox] == [["42", "*", "~anna", "anna", "H"]]
        # Once ghost shares a room with bob, bob sees it (the node knows it then).
        ghost.join("#meet")
        bob.join("#meet")
        assert who_nicks(bob, "*")[0] == ["alice", "anna", "bob", "ghost"]


def test_who_with_a_mask_across_nodes_is_capped(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, ERR_TOOMANYMATCHES (416): "Indicates that the output of a command would be
    too large"; the cap `limits.who_replies` counts the users of every node together."""
    limits = {"who_replies": 3}
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, limits=limits) as (a, b),
        client(a, "user1"),
        client(a, "user2"),
        client(a, "user3"),
        client(b, "bob") as bob,
    ):
        nicks, got = who_nicks(bob, "*")
        assert len(nicks) == 3 and len(numeric(got, "416")) == 1
        assert numeric(got, "416")[0].params[1] == "WHO"
        assert set(nicks) <= {"user1", "user2", "user3", "bob"}
        nicks, got = who_nicks(bob, "user?")
        assert len(nicks) == 3 and not numeric(got, "416")


def test_who_with_a_mask_refused_by_the_bus_lists_what_the_node_knows(
    tmp_path: Path, redis_server: RedisServer, fresh_postgres_url: str
) -> None:
    """IRCv3 standard replies: "FAIL messages indicate a complete failure to process a
    command"; TEMPORARILY_UNAVAILABLE: the network directory cannot be asked, so only the
    users this node knows are listed, and the WHO still ends (315)."""
    with (
        running_nodes(tmp_path, redis_server.url, fresh_postgres_url) as (a, b),
        client(a, "alice"),
        client(b, "bob") as bob,
    ):
        assert who_nicks(bob, "*")[0] == ["alice", "bob"]
        redis_server.kill()

        def refused() -> bool:
            nicks, got = who_nicks(bob, "*")
            return nicks == ["bob"] and bool(numeric(got, "FAIL"))

        wait_for(refused, 20.0, "WHO refused by the bus, the node's own users listed")
        _, got = who_nicks(bob, "*")
        (fail,) = numeric(got, "FAIL")
        assert fail.params[:3] == ["WHO", "TEMPORARILY_UNAVAILABLE", "*"]
        redis_server.start()
        wait_for(lambda: who_nicks(bob, "*")[0] == ["alice", "bob"], 30.0, "WHO * again")


def channels_of(irc: IrcClient, nick: str) -> list[str]:
    irc.send(f"WHOIS {nick}")
    return sorted(" ".join(line.params[2] for line in numeric(irc.expect("318"), "319")).split())


def test_whois_lists_the_rooms_of_a_user_sharing_no_room_with_the_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, RPL_WHOISCHANNELS (319): "Sent as a reply to the WHOIS command, this
    numeric lists the channels that the client with the nickname <nick> is joined to and
    their status in these channels"; a secret room shows only to its members (as on one
    node)."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(a, "amy") as amy,
        client(b, "bob", ("multi-prefix",)) as bob,
    ):
        alice.join("#open")  # she creates it: @
        alice.join("#hidden")
        alice.send("MODE #hidden +s")
        alice.first(lambda line: line.command == "MODE")
        amy.join("#talk")
        alice.join("#talk")
        amy.send("MODE #talk +v alice")
        alice.first(lambda line: line.command == "MODE")
        wait_for(
            lambda: channels_of(bob, "alice") == ["+#talk", "@#open"],
            10.0,
            "alice's rooms (#hidden hidden) in bob's WHOIS",
        )
        amy.send("MODE #talk +o alice")
        wait_for(
            lambda: channels_of(bob, "alice") == ["@#open", "@+#talk"],
            10.0,
            "alice's new standing in #talk (multi-prefix)",
        )
        alice.send("PART #open")
        amy.send("KICK #talk alice")
        wait_for(lambda: channels_of(bob, "alice") == [], 10.0, "alice in no open room")
        amy.send("MODE #talk +s")
        alice.join("#talk")
        alice.send("MODE #hidden -s")
        wait_for(lambda: channels_of(bob, "alice") == ["@#hidden"], 10.0, "#hidden open now")


def test_whois_of_a_user_of_another_node_lists_its_rooms_the_node_does_not_follow(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Modern IRC, RPL_WHOISCHANNELS (319): "this numeric lists the channels that the client
    with the nickname <nick> is joined to": all of them, not only those the asker's node
    follows because it shares them."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        bob.join("#shared")
        alice.join("#shared")
        alice.join("#other")  # only node a follows it: she creates it, @
        alice.join("#secret")
        alice.send("MODE #secret +s")
        alice.first(lambda line: line.command == "MODE")
        wait_for(
            lambda: channels_of(bob, "alice") == ["#shared", "@#other"],
            10.0,
            "alice's rooms on both nodes in bob's WHOIS",
        )
        bob.join("#secret")  # a member now: node b follows it, and shows it
        assert channels_of(bob, "alice") == ["#shared", "@#other", "@#secret"]


def test_extended_monitor_of_a_user_sharing_no_room_with_the_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """extended-monitor: "If away-notify is also enabled, the client will get AWAY
    notifications for monitored nicks", likewise ACCOUNT with account-notify and SETNAME with
    setname, and NICK changes of a monitored nick; a watcher sharing a channel with the user
    hears each change once."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, accounts=ACCOUNTS) as (a, b),
        client(a, "alice", ("setname",)) as alice,
        client(b, "bob", WATCHER_CAPS) as bob,
        client(b, "plain", ("away-notify", "setname")) as plain,
    ):
        bob.send("MONITOR + alice")
        plain.send("MONITOR + alice")
        assert bob.first(lambda line: line.command == "730").text.startswith("alice!")
        plain.first(lambda line: line.command == "730")
        alice.send("AWAY :lunch")
        alice.expect("306")
        away = bob.first(lambda line: line.command == "AWAY")
        assert away.nick == "alice" and away.params == ["lunch"]
        alice.send("SETNAME :Alice Liddell")
        alice.first(lambda line: line.command == "SETNAME")
        renamed = bob.first(lambda line: line.command == "SETNAME")
        assert renamed.nick == "alice" and renamed.params == ["Alice Liddell"]
        alice.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
        alice.expect("900")
        account = bob.first(lambda line: line.command == "ACCOUNT")
        assert account.nick == "alice" and account.params == ["alice"]
        # plain has no extended-monitor: nothing but its 730.
        assert [x for x in plain.fence() if x.command in ("AWAY", "SETNAME", "ACCOUNT")] == []
        # Sharing a room now: each change once, as a neighbour.
        alice.join("#lobby")
        bob.join("#lobby")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        alice.send("AWAY")
        alice.expect("305")
        # Her node hands the bus the AWAY's events before her message's, and node b receives
        # them in that order: once the message is here, every AWAY line is.
        alice.say("#lobby", "back")
        got = bob.until(lambda line: line.command == "PRIVMSG")
        assert [(x.nick, x.params) for x in got if x.command == "AWAY"] == [("alice", [])]
        # No room shared again: her NICK line (extended-monitor), then 731 for the old nick.
        alice.send("PART #lobby")
        bob.first(lambda line: line.command == "PART")
        alice.send("NICK alicia")
        alice.first(lambda line: line.command == "NICK")
        got = bob.until(lambda line: line.command == "731")
        told = [x for x in got if x.command in ("NICK", "731")]
        assert [(x.command, x.params[-1]) for x in told] == [("NICK", "alicia"), ("731", "alice")]
        assert told[0].nick == "alice"


def test_monitor_events_refused_while_the_bus_was_away_are_sent_when_it_is_back(
    tmp_path: Path, redis_server: RedisServer, fresh_postgres_url: str
) -> None:
    """monitor: RPL_MONOFFLINE "is used to indicate to a client that ... a target has just
    left the irc network"; extended-monitor: "the client will get AWAY notifications for
    monitored nicks". A user who quits (or goes away) while the bus is unavailable: its
    watchers on other nodes are told once the bus is back."""
    with (
        running_nodes(tmp_path, redis_server.url, fresh_postgres_url) as (a, b),
        client(a, "carol") as carol,
        client(b, "bob", WATCHER_CAPS) as bob,
    ):
        with client(a, "alice") as alice:
            bob.send("MONITOR + alice,carol")
            online = bob.first(lambda line: line.command == "730").text.split(",")
            assert sorted(prefix.partition("!")[0] for prefix in online) == ["alice", "carol"]
            redis_server.kill()

            def noticed() -> bool:  # a refused message says node a knows the bus is away
                carol.send("PRIVMSG bob :anyone?")
                carol.send("PING :noticed")
                got = carol.until(lambda line: line.command == "PONG")
                return bool(numeric(got, "FAIL"))

            wait_for(noticed, 20.0, "node a without its bus")
            carol.send("AWAY :stranded")
            carol.expect("306")
            alice.send("QUIT :bye")
            alice.until_closed()
        assert [x for x in bob.fence() if x.command in ("731", "AWAY")] == []
        redis_server.start()
        # In the order they happened (carol went away, then alice quit), once each.
        got = bob.until(lambda line: line.command == "731", timeout=30.0)
        got += bob.fence()
        told = [line for line in got if line.command in ("731", "AWAY")]
        assert [(x.command, x.params[-1]) for x in told] == [("AWAY", "stranded"), ("731", "alice")]
        assert told[0].nick == "carol"
