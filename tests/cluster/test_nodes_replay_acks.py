"""REDACT and EDIT in a room are acknowledged to their requester only once its node's history
writer committed the change (two hubbub nodes on a real redis-server bus and a real
PostgreSQL). hubbub.core.cluster_messages, hubbub.history.worker (`submit_change`).

The project rule: acknowledged means committed (docs/architecture.md). Node A's writer is held
before its commit here, so the change is certainly not committed while the test looks.
"""

from __future__ import annotations

from pathlib import Path

from node_helpers import client
from replay_helpers import GATE_LIMIT, CommitGatedStore, gated_nodes

from support.irc_client import IrcClient, Line
from support.postgres_server import fresh_postgres_url
from support.redis_server import redis_server, redis_url
from support.servers import ThreadedServer
from support.waiting import wait_for

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]  # fixtures used below

CAPS = ("message-tags", "echo-message", "draft/message-redaction", "draft/message-edit")
#: Seconds the requester's socket is watched for its answer, which must not come while the
#: commit is held. It bounds how long "nothing" is looked for; it synchronises nothing (the
#: other node's member has had the change, relayed from the same event, by then).
QUIET_WATCH = 0.3


def nothing_arrives(irc: IrcClient) -> bytes:
    """What reaches `irc`'s socket within QUIET_WATCH seconds (b"" when nothing did)."""
    irc.sock.settimeout(QUIET_WATCH)
    try:
        return irc.sock.recv(65536)
    except TimeoutError:
        return b""
    finally:
        irc.sock.settimeout(irc.timeout)


def sent(irc: IrcClient, text: str) -> str:
    """Say `text` in #lobby; its msgid, from the echo."""
    irc.say("#lobby", text)
    echo = irc.first(lambda line: line.command == "PRIVMSG" and line.text == text)
    return echo.tags["msgid"]


def held_answer(
    node: ThreadedServer,
    store: CommitGatedStore,
    requester: IrcClient,
    other: IrcClient,
    command: str,
    line: str,
) -> Line:
    """`requester` (on `node`, node A) sends `line` while node A's commits are held: `other`
    (node B) gets the change, the requester nothing until the commit is let go; then its
    answer."""
    # In cluster mode a room message is acknowledged once sequenced, and its node's writer
    # commits it a few ms later: held then, that commit would stall the writer before the
    # change's check and the change would never be sequenced. Everything earlier is committed
    # first, so the only commit held is the change's own.
    assert node.app is not None and node.app.worker is not None
    assert node.app.worker.flush(GATE_LIMIT), "node A's writer never committed"
    store.gate.clear()
    try:
        requester.send(line)
        relayed = other.first(lambda got: got.command == command, what=command)
        wait_for(store.holding.is_set, 10, "node A's writer holding its commit")
        assert nothing_arrives(requester) == b""
    finally:
        store.gate.set()
    assert relayed.nick == "alice"
    return requester.first(lambda got: got.command == command, what=f"the {command} echo")


def test_a_redact_in_a_room_is_acknowledged_once_its_node_committed_it(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/message-redaction (https://ircv3.net/specs/extensions/message-redaction): the
    server "SHOULD forward this REDACT ... to the target recipients"; the requester's own
    REDACT (its acknowledgement) waits for its node's commit of the deletion."""
    with (
        gated_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b, store),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        alice.join("#lobby")
        bob.join("#lobby")
        msgid = sent(alice, "oops")
        echo = held_answer(a, store, alice, bob, "REDACT", f"REDACT #lobby {msgid} :typo")
        assert echo.params == ["#lobby", msgid, "typo"]


def test_an_edit_in_a_room_is_acknowledged_once_its_node_committed_it(
    tmp_path: Path, redis_url: str, fresh_postgres_url: str
) -> None:
    """draft/message-edit (https://github.com/ircv3/ircv3-specifications/pull/425): the edit
    reaches the room's members; the editor's own EDIT (its acknowledgement) waits for its
    node's commit of the change."""
    with (
        gated_nodes(tmp_path, redis_url, fresh_postgres_url) as (a, b, store),
        client(a, "alice", CAPS) as alice,
        client(b, "bob", CAPS) as bob,
    ):
        alice.join("#lobby")
        bob.join("#lobby")
        msgid = sent(alice, "helo")
        edit = f"EDIT #lobby {msgid} :hello"
        echo = held_answer(a, store, alice, bob, "EDIT", edit)
        assert echo.tags["draft/target-msgid"] == msgid
        assert echo.tags["draft/edit-text"] == "hello"
