"""IRCv3 message redaction (draft): https://ircv3.net/specs/extensions/message-redaction

Every test runs a real server and raw clients on loopback. REDACT is answered after the history
worker (the lookup, the check and the deletion are one call there), and replies come in the
order of the commands, so a PING behind a REDACT fences its whole answer.
"""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import Network, ask, first, network

from support.irc_client import IrcClient, Line, read_batch

RED = ("draft/message-redaction", "message-tags", "echo-message", "server-time", "batch")
HISTORY = (*RED, "draft/chathistory")


def said(client: IrcClient, target: str, text: str) -> str:
    """Send a PRIVMSG (the client has echo-message) and return the msgid of its echo."""
    lines = ask(client, f"PRIVMSG {target} :{text}")
    return first(lines, lambda x: x.command == "PRIVMSG" and x.text == text).tags["msgid"]


def redacts(lines: list[Line]) -> list[Line]:
    return [line for line in lines if line.command == "REDACT"]


def fails(lines: list[Line]) -> list[list[str]]:
    return [line.params for line in lines if line.command == "FAIL"]


def room(net: Network, *nicks: str, caps: tuple[str, ...] = RED) -> list[IrcClient]:
    """Clients joined to #room in order (the first one is its operator)."""
    clients = []
    for nick in nicks:
        client = net.user(nick, caps)
        client.join("#room")
        clients.append(client)
    for client in clients:
        ask(client)  # the JOINs of those who came later
    return clients


def test_operator_redacts_someone_elses_message(net: Network) -> None:
    """ "If the client is authorised to delete the message, the server: SHOULD forward this
    REDACT, with an appropriate prefix, to the target recipients that have negotiated the
    draft/message-redaction capability, in the same way as PRIVMSG messages." The spec's
    example "Deleting someone else's PRIVMSG": `C2: REDACT #channel 123 spam` /
    `S: @msgid=124 :chanop!u@h REDACT #channel 123 spam` (the redacter sees it too)."""
    op, bob, carol = room(net, "op", "bob", "carol")
    msgid = said(bob, "#room", "join my network for cold hard chats")
    ask(op)
    ask(carol)
    mine = redacts(ask(op, f"REDACT #room {msgid} :spam"))
    assert [x.params for x in mine] == [["#room", msgid, "spam"]]
    assert mine[0].nick == "op" and "msgid" in mine[0].tags and mine[0].tags["msgid"] != msgid
    for member in (bob, carol):
        seen = redacts(ask(member))
        assert [(x.nick, x.params) for x in seen] == [("op", ["#room", msgid, "spam"])]


def test_operator_redacts_own_message(net: Network) -> None:
    """The spec's example "Deleting a PRIVMSG": `C: REDACT #channel 123 :bad example` /
    `S: @msgid=124 :nick!u@h REDACT #channel 123 :bad example`."""
    op, bob = room(net, "op", "bob")
    msgid = said(op, "#room", "an example")
    ask(bob)
    assert [x.params for x in redacts(ask(op, f"REDACT #room {msgid} :bad example"))] == [
        ["#room", msgid, "bad example"]
    ]
    assert [x.params for x in redacts(ask(bob))] == [["#room", msgid, "bad example"]]


def test_not_forwarded_without_the_capability(net: Network) -> None:
    """ "MUST not forward this REDACT to target recipients that have not negotiated this
    capability"."""
    op, bob = room(net, "op", "bob")
    plain = net.user("plain")
    plain.join("#room")
    ask(op)
    ask(bob)
    msgid = said(bob, "#room", "oops")
    ask(plain)
    assert redacts(ask(op, f"REDACT #room {msgid}"))
    assert [line.command for line in ask(plain)] == []


def test_labeled_redact(net: Network) -> None:
    """labeled-response: "the server MUST include the label in its response" (the echo of the
    REDACT, like the echo of a PRIVMSG)."""
    op, bob = room(net, "op", "bob", caps=(*RED, "labeled-response"))
    msgid = said(bob, "#room", "oops")
    ask(op)
    echo = redacts(ask(op, f"@label=r1 REDACT #room {msgid}"))
    assert [x.tags.get("label") for x in echo] == ["r1"]


def test_forbidden_for_an_ordinary_member(net: Network) -> None:
    """Errors: "FAIL REDACT REDACT_FORBIDDEN <target> <target-msgid> :You are not authorised
    to delete this message"; and nothing is forwarded."""
    op, bob = room(net, "op", "bob")
    msgid = said(op, "#room", "from the op")
    ask(bob)
    answer = ask(bob, f"REDACT #room {msgid}")
    assert fails(answer) == [
        [
            "REDACT",
            "REDACT_FORBIDDEN",
            "#room",
            msgid,
            "You are not authorised to delete this message",
        ]
    ]
    assert redacts(answer) == [] and redacts(ask(op)) == []


def test_unknown_msgid(net: Network) -> None:
    """Errors: "FAIL REDACT UNKNOWN_MSGID <target> <target-msgid> :This message does not exist
    or is too old" — for an id never sent, for one already redacted, and for a message of
    another target."""
    op, bob = room(net, "op", "bob")
    msgid = said(bob, "#room", "once")
    assert redacts(ask(op, f"REDACT #room {msgid}"))
    op.join("#other")
    elsewhere = said(op, "#other", "somewhere else")
    for wrong in ("nosuchmsgid", msgid):
        assert [p[:4] for p in fails(ask(op, f"REDACT #room {wrong}"))] == [
            ["REDACT", "UNKNOWN_MSGID", "#room", wrong]
        ]
    assert [p[:4] for p in fails(ask(op, f"REDACT #room {elsewhere}"))] == [
        ["REDACT", "UNKNOWN_MSGID", "#room", elsewhere]
    ]


def test_invalid_target(net: Network) -> None:
    """Errors: "FAIL REDACT INVALID_TARGET <target> :You cannot delete messages from
    <target>" — a channel that does not exist, one the client is not in, a service."""
    (op,) = room(net, "op")
    msgid = said(op, "#room", "hello")
    outsider = net.user("outsider", RED)
    for target in ("#nowhere", "#room", "NickServ"):
        answer = ask(outsider, f"REDACT {target} {msgid}")
        assert [p[:3] for p in fails(answer)] == [["REDACT", "INVALID_TARGET", target]], target


def test_redacted_message_leaves_chathistory(net: Network) -> None:
    """Chat history: "After a message is redacted, chathistory responses SHOULD either:
    exclude it entirely ..." (hubbub excludes it)."""
    op, bob = room(net, "op", "bob", caps=HISTORY)
    keep = said(bob, "#room", "keep me")
    gone = said(bob, "#room", "redact me")
    ask(op)
    assert redacts(ask(op, f"REDACT #room {gone}"))
    op.send("CHATHISTORY LATEST #room * 10")
    _, lines = read_batch(op)
    assert [(x.tags["msgid"], x.text) for x in lines if x.command == "PRIVMSG"] == [
        (keep, "keep me")
    ]


def test_redacted_message_leaves_join_replay(tmp_path: Path) -> None:
    """Chat history: "exclude it entirely" — the join replay (history a newcomer is shown)
    never shows a redacted message either."""
    with network(tmp_path) as net:
        op, bob = room(net, "op", "bob")
        said(bob, "#room", "keep me")
        gone = said(bob, "#room", "redact me")
        ask(op)
        assert redacts(ask(op, f"REDACT #room {gone}"))
        late = net.user("late", ("server-time",))
        late.join("#room")
        texts = [x.text for x in ask(late) if x.command == "PRIVMSG"]
        assert texts == ["keep me"]


def test_private_message_redacted_by_its_author(net: Network) -> None:
    """ "send a REDACT command to a target nickname or channel"; forwarded to "the target
    recipients ... in the same way as PRIVMSG messages": the other party sees
    `:alice!u@h REDACT bob <msgid>`, and the author's own copy is the echo."""
    alice = net.user("alice", RED)
    bob = net.user("bob", RED)
    msgid = said(alice, "bob", "secret")
    ask(bob)
    assert [x.params for x in redacts(ask(alice, f"REDACT bob {msgid} :sorry"))] == [
        ["bob", msgid, "sorry"]
    ]
    assert [(x.nick, x.params) for x in redacts(ask(bob))] == [("alice", ["bob", msgid, "sorry"])]


def test_private_message_not_redactable_by_its_recipient(net: Network) -> None:
    """ "REDACT_FORBIDDEN ... You are not authorised to delete this message": in a private
    conversation only the author may."""
    alice = net.user("alice", RED)
    bob = net.user("bob", RED)
    msgid = said(alice, "bob", "secret")
    answer = ask(bob, f"REDACT alice {msgid}")
    assert [p[:4] for p in fails(answer)] == [["REDACT", "REDACT_FORBIDDEN", "alice", msgid]]
    assert redacts(ask(alice)) == []


def test_private_message_from_a_guest_to_an_account(net: Network) -> None:
    """The author may redact a private message whatever the accounts of the two parties
    (here: the author is not logged in, the recipient is)."""
    alice = net.user("alice", HISTORY)
    bob = net.account("bob", HISTORY)
    msgid = said(alice, "bob", "secret")
    ask(bob)
    assert [x.params for x in redacts(ask(alice, f"REDACT bob {msgid}"))] == [["bob", msgid]]
    assert [x.params for x in redacts(ask(bob))] == [["bob", msgid]]
    bob.send("CHATHISTORY LATEST alice * 10")
    _, lines = read_batch(bob)
    assert [x for x in lines if x.command == "PRIVMSG"] == []


def test_a_reaction_is_redacted_by_its_sender(net: Network) -> None:
    """The spec's example "Deleting a TAGMSG": `C: @draft/react=🤞TAGMSG #channel` ...
    `C: REDACT #channel 123` / `S: @msgid=124 :nick@u@h REDACT #channel 123` — removing a
    `+draft/react` tag is one of the use cases. Reactions are not stored by default, and
    "This allows servers to safely relay REDACT commands targeting messages which they did not
    keep in their history": the sender may still redact its reaction; others may not."""
    alice, bob = room(net, "alice", "bob")
    echo = ask(alice, "@+draft/react=x TAGMSG #room")
    msgid = first(echo, lambda x: x.command == "TAGMSG").tags["msgid"]
    ask(bob)
    assert [p[:2] for p in fails(ask(bob, f"REDACT #room {msgid}"))] == [
        ["REDACT", "UNKNOWN_MSGID"]
    ]
    assert [x.params for x in redacts(ask(alice, f"REDACT #room {msgid}"))] == [["#room", msgid]]
    assert [x.params for x in redacts(ask(bob))] == [["#room", msgid]]
    # Not another target's: the reaction was sent to #room.
    alice.join("#elsewhere")
    assert [p[:2] for p in fails(ask(alice, f"REDACT #elsewhere {msgid}"))] == [
        ["REDACT", "UNKNOWN_MSGID"]
    ]
