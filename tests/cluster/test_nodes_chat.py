"""Two and three hubbub nodes, one network: a real redis-server bus and a real PostgreSQL.

Issue 14: "irssi on node A and WeeChat on node B join #lobby: they talk, see the same history
(join replay and CHATHISTORY), see each other in NAMES, WHO, WHOIS and LIST; nicks are unique
network-wide".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node_helpers import client, running_nodes, takes_nick, texts

from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below


def read_texts(irc: IrcClient, wanted: set[str]) -> list[str]:
    """The PRIVMSG texts `irc` receives until it has seen every one of `wanted`."""
    seen: list[str] = []

    def done(line: Line) -> bool:
        if line.command == "PRIVMSG":
            seen.append(line.text)
        return wanted <= set(seen)

    irc.until(done, what=f"the messages {sorted(wanted)}")
    return seen


def latest(irc: IrcClient, target: str) -> list[tuple[str, str, str]]:
    """CHATHISTORY LATEST: (msgid, time, text) of each message, oldest first."""
    irc.send(f"CHATHISTORY LATEST {target} * 10")
    batch = irc.until(lambda line: line.command == "BATCH" and line.params[0].startswith("-"))
    return [
        (line.tags["msgid"], line.tags["time"], line.text)
        for line in batch
        if line.command == "PRIVMSG"
    ]


HISTORY_CAPS = ("batch", "server-time", "message-tags", "draft/chathistory", "echo-message")


def test_two_nodes_talk_and_see_each_other(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        alice.join("#lobby")
        names = bob.join("#lobby")
        assert any(line.command == "353" and "@alice" in line.text.split() for line in names), names
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        bob.say("#lobby", "hello from b")
        assert alice.first(lambda line: line.command == "PRIVMSG").text == "hello from b"
        alice.say("#lobby", "hello from a")
        assert bob.first(lambda line: line.command == "PRIVMSG").text == "hello from a"
        alice.send("WHO #lobby")
        who = alice.expect("315")
        assert sorted(line.params[5] for line in who if line.command == "352") == [
            "alice",
            "bob",
        ]
        alice.send("LIST")
        listed = alice.first(lambda line: line.command == "322")
        assert listed.params[1:3] == ["#lobby", "2"]
        alice.send("WHOIS bob")
        whois = alice.expect("318")
        assert any(line.command == "311" and line.params[1] == "bob" for line in whois)


def test_lusers_counts_every_node(tmp_path: Path, redis_url: str, fresh_postgres_url: str) -> None:
    """LUSERS on one node counts the users and channels of the whole network (each node
    writes its count every heartbeat), and this node's own clients apart."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(a, "carol") as carol,
        client(b, "bob") as bob,
    ):
        carol.send("MODE carol +i")
        alice.join("#lobby")
        carol.join("#side")
        bob.join("#lobby")

        def lusers() -> dict[str, list[str]]:
            bob.send("LUSERS")
            return {line.command: line.params[1:] for line in bob.expect("266")}

        wanted = ["There are 2 users and 1 invisible on 2 servers"]
        replies = wait_for(
            lambda: (found := lusers())["251"] == wanted and found,
            what="node b counting node a's users",
            interval=0.1,  # a heartbeat is 150 ms: no need to ask more often
        )
        assert replies["254"] == ["2", "channels formed"]
        assert replies["255"] == ["I have 1 clients and 1 servers"]
        assert replies["265"][:2] == ["1", "1"]
        assert replies["266"] == ["3", "3", "Current global users 3, max 3"]


def test_whois_who_and_links_name_each_nodes_server(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """RFC 2812 3.4.5: "With LINKS, a user can list all servernames, which are known by the
    server answering the query." Modern IRC, RPL_WHOISSERVER: "this numeric shows which server
    the client with the nickname <nick> is connected to." Each node its own server: bob on
    node 1 sees alice on node 0's, in a room they share or not."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, named=True) as (a, b),
        client(a, "alice") as alice,
        client(a, "carol") as carol,
        client(b, "bob") as bob,
    ):
        alice.join("#lobby")
        bob.join("#lobby")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")

        def links() -> list[list[str]]:
            bob.send("LINKS")
            return [line.params[2:] for line in bob.expect("365") if line.command == "364"]

        # (Node 0 is known from its census, written every heartbeat: its description too.)
        listed = wait_for(lambda: len(found := links()) == 2 and found, what="both nodes listed")
        assert listed == [["node1.example", "0 node 1"], ["node0.example", "1 node 0"]]

        def whois_server(nick: str) -> list[str]:
            bob.send(f"WHOIS {nick}")
            return bob.first(lambda line: line.command == "312").params[2:]

        assert whois_server("alice") == ["node0.example", "node 0"]
        assert whois_server("carol") == ["node0.example", "node 0"]  # (from the directory)
        assert whois_server("bob") == ["node1.example", "node 1"]
        bob.send("WHO #lobby")
        who = {
            line.params[5]: line.params[4] for line in bob.expect("315") if line.command == "352"
        }
        assert who == {"alice": "node0.example", "bob": "node1.example"}
        carol.send("QUIT :bye")
        carol.until_closed()

        def whowas_server() -> str | None:
            bob.send("WHOWAS carol")
            found = [line for line in bob.expect("369") if line.command == "312"]
            return found[0].params[2] if found else None  # (node 0 writes it soon)

        assert wait_for(whowas_server, what="carol in WHOWAS") == "node0.example"


def test_history_is_the_same_on_every_node(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, 3) as nodes,
        client(nodes[0], "alice", HISTORY_CAPS) as alice,
    ):
        with client(nodes[1], "bob", HISTORY_CAPS) as bob:
            alice.join("#lobby")
            bob.join("#lobby")
            alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
            alice.say("#lobby", "one", "two")
            bob.say("#lobby", "three")
            seen_by_alice = read_texts(alice, {"one", "two", "three"})
            seen_by_bob = read_texts(bob, {"one", "two", "three"})
            # Live, both saw the one network-wide order (echoes included).
            assert seen_by_alice == seen_by_bob
        answers = []
        for index, node in enumerate(nodes):
            with client(node, f"reader{index}", HISTORY_CAPS) as reader:
                reader.join("#lobby")
                # A node that did not follow the room reads what the others wrote: there
                # once their history workers committed (history.commit_interval_ms).
                found: list[tuple[str, str, str]] = []

                def complete(reader: IrcClient = reader, found: list[Any] = found) -> bool:
                    found[:] = latest(reader, "#lobby")
                    return len(found) == 3

                wait_for(complete, 10.0, "the three messages in the shared history")
                answers.append(found)
        assert [text for _, _, text in answers[0]] == seen_by_alice
        assert answers[1] == answers[0] and answers[2] == answers[0]


def test_a_nick_is_unique_across_nodes(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b):
        with client(a, "alice"), client(b, "bob") as bob:
            bob.send("NICK alice")
            refused = bob.first(lambda line: line.command in ("433", "NICK"))
            assert refused.command == "433"
            bob.send("NICK ALICE")
            assert bob.first(lambda line: line.command in ("433", "NICK")).command == "433"
        # alice is gone: her nick is free on the other node (once her node has released it:
        # her QUIT goes to the bus after her connection closed).
        with client(b, "carol") as carol:
            wait_for(lambda: takes_nick(carol, "alice"), what="alice's nick free on node b")


def test_topic_kick_part_and_bans_across_nodes(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice") as alice,
        client(b, "bob") as bob,
    ):
        alice.join("#room")
        bob.join("#room")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        alice.send("TOPIC #room :across the network")
        assert bob.first(lambda line: line.command == "TOPIC").text == "across the network"
        bob.send("TOPIC #room :not yours")
        assert bob.first(lambda line: line.command in ("482", "TOPIC")).command == "482"
        alice.send("KICK #room bob :enough")
        kick = bob.first(lambda line: line.command == "KICK")
        assert kick.params[1] == "bob" and kick.text == "enough"
        alice.first(lambda line: line.command == "KICK")
        with client(b, "carol") as carol:
            got = carol.join("#room")
            names = [line.text for line in got if line.command == "353"]
            assert names and names[0].split() == ["@alice", "carol"]
            topic = [line.text for line in got if line.command == "332"]
            assert topic == ["across the network"]
            carol.send("PART #room :bye")
            assert alice.first(lambda line: line.command == "PART").text == "bye"
        alice.send("MODE #room +b dave!*@*")
        alice.first(lambda line: line.command == "MODE")
        with client(b, "dave") as dave:
            dave.send("JOIN #room")
            assert dave.first(lambda line: line.command in ("474", "JOIN")).command == "474"
        assert texts(alice.fence()) == []


def test_private_messages_cross_nodes_and_are_kept_for_both(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """Issue 14: "private messages cross nodes and are stored for their two parties"."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b),
        client(a, "alice", HISTORY_CAPS) as alice,
        client(b, "bob", HISTORY_CAPS) as bob,
    ):
        alice.join("#lobby")
        bob.join("#lobby")
        alice.first(lambda line: line.command == "JOIN" and line.nick == "bob")
        alice.say("bob", "just between us")
        got = bob.first(lambda line: line.command == "PRIVMSG")
        assert (got.params[0], got.text, got.nick) == ("bob", "just between us", "alice")
        echoed = alice.first(lambda line: line.command == "PRIVMSG")
        assert echoed.tags["msgid"] == got.tags["msgid"]
        bob.send("CHATHISTORY LATEST alice * 10")
        batch = bob.until(lambda line: line.command == "BATCH" and line.params[0].startswith("-"))
        assert [line.text for line in batch if line.command == "PRIVMSG"] == ["just between us"]
