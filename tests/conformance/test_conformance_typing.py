"""Typing notifications (https://ircv3.net/specs/client-tags/typing), against a real server:
the +typing client tag is relayed on TAGMSG and never stored (hubbub.history.policy)."""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import ask, network


def test_typing_relayed_and_never_stored(tmp_path: Path) -> None:
    """typing: "The typing notification is sent using a TAGMSG" with "+typing" (values
    active, paused, done), for clients with message-tags; it is transient, so hubbub never
    stores it even when TAGMSGs with other tags are stored."""
    history = {"store_tagmsg": True, "tagmsg_tags": ["+draft/react"]}
    with network(tmp_path, history=history) as net:
        alice = net.user("alice", ["message-tags"])
        bob = net.user("bob", ["message-tags", "batch", "server-time", "draft/chathistory"])
        alice.join("#room")
        bob.join("#room")
        ask(alice, "@+typing=active TAGMSG #room", "@+typing=done TAGMSG bob")
        got = [line for line in ask(bob) if line.command == "TAGMSG"]
        assert [line.tags["+typing"] for line in got] == ["active", "done"]
        got = ask(bob, "CHATHISTORY LATEST #room * 50")
        assert [line for line in got if line.command == "TAGMSG"] == []
        assert not any("+typing" in line.tags for line in got)
