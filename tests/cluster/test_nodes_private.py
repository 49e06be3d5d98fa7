"""Private messages to a logged-in user of another node that shares no room with the sender's
node: stored under the recipient's account (two hubbub nodes on a real redis-server bus and a
real PostgreSQL). hubbub.core.cluster_private.

Issue 14: "private messages cross nodes and are stored for their two parties". A logged-in
party's side of the conversation is its account (hubbub.core.privacy), so its later
connections, on any node and under any nick, find the conversation.
"""

from __future__ import annotations

import base64
from pathlib import Path

from node_helpers import client, running_nodes

from support.irc_client import IrcClient
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

PASSWORD = "correct-horse-battery"
FAST_HASHING = {"hash_time_cost": 1, "hash_memory_kib": 64}
CAPS = ("batch", "server-time", "message-tags", "draft/chathistory")


def latest(irc: IrcClient, target: str) -> list[str]:
    """CHATHISTORY LATEST: the text of each PRIVMSG, oldest first."""
    irc.send(f"CHATHISTORY LATEST {target} * 20")
    batch = irc.until(lambda line: line.command == "BATCH" and line.params[0].startswith("-"))
    return [line.text for line in batch if line.command == "PRIVMSG"]


def account_shown(irc: IrcClient, nick: str) -> str:
    """The account WHOIS shows for `nick` (330), "" when none."""
    irc.send(f"WHOIS {nick}")
    lines = irc.until(lambda line: line.command == "318")
    return next((line.params[2] for line in lines if line.command == "330"), "")


def test_a_private_message_to_a_logged_in_user_of_another_node_is_kept_under_its_account(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """IRCv3 chathistory (https://ircv3.net/specs/extensions/chathistory): a target "may be a
    nickname" and the server answers with "the most recent messages that have been sent to
    a target". bob logs in (after connecting) on node B; alice, on node A, shares no room
    with him and writes to him; bob's next connection, on node A under another nick, logged
    in to the same account, asks for the conversation with alice and finds it."""
    with (
        running_nodes(tmp_path, redis_url, fresh_postgres_url, accounts=FAST_HASHING) as (a, b),
        client(a, "alice", CAPS) as alice,
    ):
        with client(b, "bob", CAPS) as bob:
            bob.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
            bob.expect("900")
            # Once every node's WHOIS shows bob's account, his directory entry says it.
            wait_for(lambda: account_shown(alice, "bob") == "bob", 10, "bob's account in WHOIS")
            alice.say("bob", "remember this")
            got = bob.first(lambda line: line.command == "PRIVMSG")
            assert (got.nick, got.text) == ("alice", "remember this")
            assert latest(bob, "alice") == ["remember this"]
        with client(a, "robert", CAPS) as robert:
            robert.send(f"PRIVMSG NickServ :IDENTIFY bob {PASSWORD}")
            robert.expect("900")
            assert latest(robert, "alice") == ["remember this"]
        assert latest(alice, "bob") == ["remember this"]


def sasl_client(node: object, nick: str, account: str) -> IrcClient:
    """A client of `node` logged in to `account` with SASL PLAIN before registering."""
    address = node.address  # type: ignore[attr-defined]
    irc = IrcClient(address)
    irc.send("CAP LS 302", f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    irc.until(lambda line: line.command == "CAP" and line.params[1] == "LS")
    irc.send(f"CAP REQ :{' '.join(('sasl', *CAPS))}")
    irc.until(lambda line: line.command == "CAP" and line.params[1] == "ACK")
    irc.send("AUTHENTICATE PLAIN")
    irc.until(lambda line: line.command == "AUTHENTICATE")
    token = base64.b64encode(f"\0{account}\0{PASSWORD}".encode()).decode()
    irc.send(f"AUTHENTICATE {token}")
    irc.expect("903")
    irc.send("CAP END")
    irc.expect("001")
    irc.fence()
    return irc


def test_a_private_message_to_a_user_logged_in_with_sasl_on_another_node_is_kept_under_its_account(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """The same for a user logged in before it registered (SASL, IRCv3 sasl-3.1), whose
    directory entry says its account from the start, under a nick that is not its account's
    name: the conversation is under the account, so a later connection of the account under
    another nick finds it, and the sender finds it under the nick it wrote to."""
    with running_nodes(tmp_path, redis_url, fresh_postgres_url, accounts=FAST_HASHING) as (a, b):
        with client(b, "bob") as first:
            first.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
            first.expect("900")
        with client(a, "alice", CAPS) as alice:
            bob = sasl_client(b, "bobby", "bob")
            try:
                alice.say("bobby", "remember this")
                got = bob.first(lambda line: line.command == "PRIVMSG")
                assert (got.nick, got.text) == ("alice", "remember this")
            finally:
                bob.close()
            with client(a, "robert", CAPS) as robert:
                robert.send(f"PRIVMSG NickServ :IDENTIFY bob {PASSWORD}")
                robert.expect("900")
                assert latest(robert, "alice") == ["remember this"]
            # The sender reads it back by the nick it wrote to, as on one server (its node
            # remembers the account the directory gave for that nick).
            assert latest(alice, "bobby") == ["remember this"]
