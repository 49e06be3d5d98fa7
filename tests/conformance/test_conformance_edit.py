"""draft/message-edit (the open IRCv3 proposal) against a real server:
https://github.com/ircv3/ircv3-specifications/pull/425 (extensions/message-edit.md)

Wire form: the proposal's latest text, `@draft/target-msgid=<msgid>;draft/edit-text=<text> EDIT
<target>`. Permissions and retention are REDACT's.
"""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import Network, ask, network

from support.irc_client import IrcClient, Line

EDITING = ("draft/message-edit", "message-tags", "echo-message", "server-time", "batch")
PLAIN = ("server-time",)
HISTORY = ("draft/chathistory", "batch", "message-tags", "server-time")


def say(client: IrcClient, target: str, text: str) -> str:
    """Send a message and return its msgid (from the echo)."""
    client.send(f"PRIVMSG {target} :{text}")
    echo = client.first(lambda x: x.command == "PRIVMSG" and x.text == text)
    return echo.tags["msgid"]


def edit(msgid: str, text: str, target: str = "#room") -> str:
    escaped = text.replace("\\", "\\\\").replace(" ", "\\s").replace(";", "\\:")
    return f"@draft/target-msgid={msgid};draft/edit-text={escaped} EDIT {target}"


def fails(lines: list[Line]) -> list[str]:
    return [x.params[1] for x in lines if x.command == "FAIL"]


def test_edit_is_forwarded_with_its_tags(net: Network) -> None:
    """ "If the client is authorised to edit the message, the server MUST forward this `EDIT` to
    the target recipients with an appropriate source." (Editing messages)"""
    alice, bob = net.user("alice", EDITING), net.user("bob", EDITING)
    alice.join("#room")
    bob.join("#room")
    msgid = say(alice, "#room", "anex ample")
    bob.first(lambda x: x.command == "PRIVMSG")
    alice.send(edit(msgid, "an example"))
    got = bob.first(lambda x: x.command == "EDIT")
    assert got.nick == "alice" and got.params == ["#room"]
    assert got.tags["draft/target-msgid"] == msgid
    assert got.tags["draft/edit-text"] == "an example"
    assert got.tags["msgid"] != msgid
    echo = alice.first(lambda x: x.command == "EDIT")
    assert echo.tags["draft/edit-text"] == "an example"


def test_clients_without_the_capability_get_a_marked_correction(net: Network) -> None:
    """ "Server implementations might choose to inform clients that haven't negotiated the
    capability that an edit or deletion has taken place ... could take the form of a standard
    NOTICE or PRIVMSG with information about the action." (Fallback) — hubbub: a PRIVMSG from
    the editor starting with `* correction: `."""
    alice, carol = net.user("alice", EDITING), net.user("carol", PLAIN)
    alice.join("#room")
    carol.join("#room")
    msgid = say(alice, "#room", "teh cat")
    carol.first(lambda x: x.command == "PRIVMSG")
    alice.send(edit(msgid, "the cat"))
    got = carol.first(lambda x: x.command == "PRIVMSG")
    assert got.nick == "alice" and got.params == ["#room", "* correction: the cat"]


def test_only_the_author_or_an_operator_may_edit(net: Network) -> None:
    """ "`FAIL EDIT EDIT_FORBIDDEN <target> <target-msgid> :You are not authorised to edit this
    message`" (Errors), with REDACT's rule: the author, or an operator of the room."""
    op, alice, bob = (net.user(n, EDITING) for n in ("op", "alice", "bob"))
    for client in (op, alice, bob):
        client.join("#room")
    msgid = say(alice, "#room", "hello")
    assert fails(ask(bob, edit(msgid, "hijacked"))) == ["EDIT_FORBIDDEN"]
    assert fails(ask(bob, edit("nope", "x"), edit(msgid, ""), edit(msgid, "x", "#elsewhere"))) == [
        "UNKNOWN_MSGID",
        "INVALID_EDIT",
        "INVALID_TARGET",
    ]
    lines = ask(op, edit(msgid, "moderated"))  # op is the room's first member: an operator
    assert fails(lines) == []


def test_history_shows_the_edited_text_marked_edited(tmp_path: Path) -> None:
    """The edit is kept linked to the original (hubbub): CHATHISTORY and the join replay show
    the new text at the original's place with the `hubbub/edited` tag, a plain replay with
    "(edited)"; after a restart too."""
    with network(tmp_path) as net:
        alice = net.account("alice", EDITING)
        alice.join("#room")
        alice.send("PRIVMSG ChanServ :REGISTER #room")
        alice.until(lambda x: x.command == "NOTICE" and "registered" in x.text)
        first = say(alice, "#room", "frist")
        say(alice, "#room", "second")
        ask(alice, edit(first, "first"))
    with network(tmp_path) as net:
        reader = net.user("reader", HISTORY)
        reader.join("#room")
        lines = [x for x in ask(reader, "CHATHISTORY LATEST #room * 10") if x.command == "PRIVMSG"]
        assert [x.text for x in lines] == ["first", "second"]
        assert lines[0].tags["msgid"] == first and "hubbub/edited" in lines[0].tags
        assert "hubbub/edited" not in lines[1].tags
        plain = net.user("plain")
        plain.join("#room")
        replay = plain.until(lambda x: x.command == "NOTICE" and "End of replay" in x.text)
        texts = [x.text for x in replay if x.command == "PRIVMSG"]
        assert texts[0].endswith("first (edited)") and texts[1].endswith("second")


def test_redact_takes_the_edits_along(net: Network) -> None:
    """Same retention as REDACT: a redacted message stays gone, edited or not."""
    alice = net.user("alice", (*EDITING, "draft/message-redaction", "draft/chathistory"))
    alice.join("#room")
    msgid = say(alice, "#room", "oops")
    ask(alice, edit(msgid, "oops, fixed"))
    ask(alice, f"REDACT #room {msgid}")
    assert fails(ask(alice, edit(msgid, "again"))) == ["UNKNOWN_MSGID"]
    lines = ask(alice, "CHATHISTORY LATEST #room * 10")
    assert [x for x in lines if x.command == "PRIVMSG"] == []
