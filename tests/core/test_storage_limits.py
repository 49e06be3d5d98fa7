"""What the core stores, and what it does when the store cannot take more (issue 11, 9 and 13).

* TAGMSG is not stored by default (typing notifications were most of the stored rows), and
  with `history.store_tagmsg` only those carrying one of `history.tagmsg_tags`, never +typing.
* Stored client tags are capped at `history.max_tag_bytes`; relayed tags are not.
* While `HistoryService.available` is False (the store is failing or its queue is full), a
  message that would be stored is refused with FAIL … TEMPORARILY_UNAVAILABLE: neither
  relayed nor echoed, so nothing is acknowledged and then lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from core_helpers import Harness, make_config, one

from hubbub.config import ConfigError
from hubbub.config.loader import load_config
from hubbub.history.memory import MemoryStore
from support.core_services import SyncHistoryService

MESSAGING_CAPS = ["echo-message", "message-tags"]


class SwitchableHistory(SyncHistoryService):
    """The synchronous service with `available` under the test's control."""

    def __init__(self) -> None:
        super().__init__(MemoryStore())
        self.up = True

    @property
    def available(self) -> bool:
        return self.up


def stored(h: Harness, target: str) -> list[tuple[str, dict[str, str]]]:
    return [(r.command, r.tags) for r in h.store.latest(target, 100)]


def test_tagmsg_is_relayed_but_not_stored_by_default(h: Harness) -> None:
    a, b = h.client("alice", MESSAGING_CAPS), h.client("bob", MESSAGING_CAPS)
    h.join("#room", a, b)
    a.send("@+typing=active TAGMSG #room")
    a.send("@+draft/react=👍;+draft/reply=abc TAGMSG #room")
    a.send("@+typing=active TAGMSG bob")
    assert len([m for m in b.lines() if m.command == "TAGMSG"]) == 3
    assert stored(h, "#room") == []
    assert h.store.targets(0, 2**62, 10, [], "bob") == []


def test_tagmsg_with_a_listed_tag_is_stored_when_asked_never_typing() -> None:
    h = Harness(make_config(history={"store_tagmsg": True}))
    a, b = h.client("alice", MESSAGING_CAPS), h.client("bob", MESSAGING_CAPS)
    h.join("#room", a, b)
    a.send("@+typing=active TAGMSG #room")
    a.send("@+draft/react=👍;+draft/reply=abc;+typing=active;+example/x=1 TAGMSG #room")
    relayed = [m for m in b.lines() if m.command == "TAGMSG"]
    assert relayed[1].tags["+example/x"] == "1"  # relayed with every tag
    assert stored(h, "#room") == [("TAGMSG", {"+draft/react": "👍", "+draft/reply": "abc"})]


def test_the_configuration_refuses_to_store_typing(tmp_path: Path) -> None:
    path = tmp_path / "hubbub.toml"
    path.write_text('[history]\ntagmsg_tags = ["+draft/react", "+typing"]\n')
    with pytest.raises(ConfigError, match=r"history\.tagmsg_tags"):
        load_config(path)


def test_stored_client_tags_are_capped_relayed_ones_are_not() -> None:
    h = Harness(make_config(history={"max_tag_bytes": 40}))
    a, b = h.client("alice", MESSAGING_CAPS), h.client("bob", MESSAGING_CAPS)
    h.join("#room", a, b)
    big = "y" * 60
    a.send(f"@+draft/reply=abcdefghij;+example/big={big};+c=1 PRIVMSG #room :hello")
    relayed = one(b.lines(), "PRIVMSG")
    assert relayed.tags["+example/big"] == big and relayed.tags["+c"] == "1"
    # "+draft/reply=abcdefghij;" is 25 bytes: it fits; the big one does not, nor anything after.
    assert stored(h, "#room") == [("PRIVMSG", {"+draft/reply": "abcdefghij"})]


def test_messages_are_refused_while_the_history_is_unavailable() -> None:
    history = SwitchableHistory()
    h = Harness(history=history)
    a, b = h.client("alice", MESSAGING_CAPS), h.client("bob", MESSAGING_CAPS)
    h.join("#room", a, b)
    history.up = False
    a.send("PRIVMSG #room :lost?")
    fail = one(a.lines(), "FAIL")
    assert fail.params[:3] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE", "#room")
    a.send("PRIVMSG bob :private, stored too")
    fail = one(a.lines(), "FAIL")
    assert fail.params[:3] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE", "bob")
    a.send("NOTICE #room :no reply to a notice")
    assert a.lines() == []
    assert b.lines() == []  # nothing relayed
    a.send("@+typing=active TAGMSG #room")  # not stored, so not refused
    assert one(b.lines(), "TAGMSG").tags["+typing"] == "active"
    a.lines()
    history.up = True
    a.send("PRIVMSG #room :back")
    assert one(a.lines(), "PRIVMSG").params == ("#room", "back")  # the echo
    assert one(b.lines(), "PRIVMSG").params == ("#room", "back")
    assert [r.params[1] for r in history.store.latest("#room", 10)] == ["back"]
