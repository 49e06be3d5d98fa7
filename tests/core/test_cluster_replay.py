"""The merge of a room's stored records with the bus's stream of its latest events
(hubbub.core.cluster_replay.merged_window): pure logic, no bus, no store."""

from __future__ import annotations

import json
from typing import Any

from hubbub.core.cluster_replay import merged_window, read_window, unconfirmed
from hubbub.core.model import Channel
from hubbub.history.record import Record

ROOM = Channel("#Lobby", "#lobby", 1)
PREFIX = "alice!~alice@host"


def message(msgid: str, time_ms: int, text: str) -> dict[str, Any]:
    """A room message as the bus's stream keeps it (hubbub.core.cluster_propose.message)."""
    line = f":{PREFIX} PRIVMSG #Lobby :{text}"
    return {
        "t": "msg",
        "f": "alice",
        "c": "PRIVMSG",
        "s": "",
        "l": line,
        "x": text,
        "ct": "",
        "a": "",
        "i": "",
        "p": PREFIX,
        "m": msgid,
        "st": {},
        "re": False,
    }


def stored(msgid: str, time_ms: int, text: str) -> Record:
    return Record("#lobby", msgid, time_ms, PREFIX, "PRIVMSG", ("#Lobby", text), {})


def stream(*events: tuple[int, dict[str, Any]]) -> list[tuple[int, int, bytes]]:
    return [(seq, seq * 10, json.dumps(event).encode()) for seq, event in events]


def merged(
    records: list[Record], events: list[tuple[int, int, bytes]], *rest: Any
) -> tuple[list[Record], bool]:
    """`merged_window` of the stream's events as the bus reads them (`read_window` first)."""
    return merged_window(records, read_window(events, ROOM.name), *rest)


def everything(record: Record) -> bool:
    return True


def texts(records: list[Record]) -> list[str]:
    return [record.params[-1] for record in records]


def test_what_the_store_lacks_comes_from_the_stream_in_order_once() -> None:
    records = [stored("m0", 5, "older"), stored("m1", 10, "one")]
    events = stream(
        (1, message("m1", 10, "one")),
        (2, message("m2", 20, "two")),
        (3, message("m3", 30, "three")),
    )
    history, whole = merged(records, events, ROOM, everything, 10, False)
    assert texts(history) == ["older", "one", "two", "three"]
    assert [record.time_ms for record in history] == [5, 10, 20, 30]
    assert not whole  # the store lacked the window's newest message


def test_a_store_that_has_the_window_answers_alone_and_the_room_is_no_longer_new() -> None:
    records = [stored("m1", 10, "one"), stored("m2", 20, "two")]
    events = stream((1, message("m1", 10, "one")), (2, message("m2", 20, "two")))
    history, whole = merged(records, events, ROOM, everything, 10, False)
    assert history == records
    assert whole


def test_the_limit_keeps_the_newest_and_records_after_the_bound_are_left_out() -> None:
    # m9 is in the store (another node committed it) but after the stream's bound: it comes
    # live, so the replay must not have it too.
    records = [stored("m1", 10, "one"), stored("m9", 90, "later")]
    events = stream(
        (1, message("m1", 10, "one")),
        (2, message("m2", 20, "two")),
        (3, message("m3", 30, "three")),
    )
    history, _ = merged(records, events, ROOM, everything, 2, False)
    assert texts(history) == ["two", "three"]


def test_the_windows_edits_and_redactions_apply_to_what_the_store_lacks() -> None:
    records = [stored("m1", 10, "one")]
    edit = {
        "t": "edit",
        "f": "alice",
        "p": PREFIX,
        "a": "",
        "i": "",
        "x": "m2",
        "tx": "TWO",
        "au": "alice",
        "m": "e1",
    }
    redact = {"t": "redact", "f": "alice", "p": PREFIX, "a": "", "x": "m1", "r": "", "m": "r1"}
    events = stream(
        (1, message("m1", 10, "one")), (2, message("m2", 20, "two")), (3, edit), (4, redact)
    )
    history, _ = merged(records, events, ROOM, everything, 10, False)
    assert texts(history) == ["TWO"]
    assert history[0].edited_ms == 30


def test_what_the_client_is_not_shown_stays_out() -> None:
    events = stream((1, message("m1", 10, "one")), (2, message("m2", 20, "two")))
    history, _ = merged([], events, ROOM, lambda record: record.time_ms >= 20, 10, False)
    assert texts(history) == ["two"]


def test_a_stored_record_the_window_does_not_know_goes_by_its_time() -> None:
    # A record of a kind the stream's events are not turned into here, in the window's span.
    records = [stored("m1", 10, "one"), stored("x", 25, "other kind")]
    events = stream(
        (1, message("m1", 10, "one")),
        (2, message("m2", 20, "two")),
        (3, message("m3", 30, "three")),
    )
    history, _ = merged(records, events, ROOM, everything, 10, False)
    assert texts(history) == ["one", "two", "other kind", "three"]


def multiline(msgid: str, lines: list[tuple[str, bool]], stored: dict[str, str] | None) -> Any:
    """A multiline message as the bus's stream keeps it (hubbub.core.cluster_multiline)."""
    return {
        "t": "mlmsg",
        "f": "alice",
        "nm": "#Lobby",
        "ln": [[text, concat] for text, concat in lines],
        "ct": "+draft/reply=m1",
        "a": "alice",
        "i": "acct-1",
        "p": PREFIX,
        "m": msgid,
        "st": stored,
    }


def test_a_multiline_message_the_store_lacks_is_one_record_as_the_store_keeps_it() -> None:
    lines = [("first", False), ("", False), ("sec", False), ("ond", True)]
    events = stream(
        (1, message("m1", 10, "one")),
        (2, multiline("m2", lines, {"+draft/reply": "m1"})),
        (3, multiline("m3", [("not", False), ("kept", False)], None)),  # not stored anywhere
    )
    history, whole = merged([stored("m1", 10, "one")], events, ROOM, everything, 10, False)
    expected = Record(
        "#lobby",
        "m2",
        20,
        PREFIX,
        "PRIVMSG",
        ("#Lobby", "first\n\nsecond"),
        {"+draft/reply": "m1"},
        "acct-1",
    )
    assert history == [stored("m1", 10, "one"), expected]
    assert not whole  # the store lacked the window's newest message: the multiline one
    # Once the store has it, the store's record is the one given, once.
    history, whole = merged(
        [stored("m1", 10, "one"), expected], events, ROOM, everything, 10, False
    )
    assert history == [stored("m1", 10, "one"), expected]
    assert whole


def test_a_redaction_in_the_window_removes_a_multiline_message() -> None:
    redact = {"t": "redact", "f": "alice", "p": PREFIX, "a": "", "x": "m2", "r": "", "m": "r1"}
    events = stream(
        (1, message("m1", 10, "one")),
        (2, multiline("m2", [("a", False), ("b", False)], {})),
        (3, redact),
    )
    history, _ = merged([], events, ROOM, everything, 10, False)
    assert texts(history) == ["one"]


def test_a_message_refused_in_sequence_stays_out_of_the_merge() -> None:
    """A message its room refused at its place in the sequence (a mute sequenced just before
    it: hubbub.core.cluster_apply) was delivered and stored nowhere; its sender's node
    sequenced a `void` of it, and the merge leaves it out as every node did live."""
    records = [stored("m1", 10, "one"), stored("m3", 30, "three")]
    events = stream(
        (1, message("m1", 10, "one")),
        (2, message("m2", 20, "muted")),
        (3, message("m3", 30, "three")),
        (4, {"t": "void", "x": "m2"}),
    )
    history, whole = merged(records, events, ROOM, everything, 10, False)
    assert texts(history) == ["one", "three"]
    assert whole  # the store has every message of the window that counts


def test_an_earlier_rooms_messages_before_a_rename_onto_the_name_stay_out() -> None:
    """A RENAME onto a name an earlier room had leaves that room's last events in the name's
    stream, before the rename's marker (`moved`); the operator's node set their records aside
    (HistoryStore.rename_target). They are not the renamed room's history: a newcomer on a
    node that just opened it was shown them (a review finding, with the cluster fuzz
    finding of seed 5734659)."""
    records = [stored("c1", 5, "from the renamed room, before")]
    events = stream(
        (1, message("b1", 10, "the earlier room's")),
        (2, {"t": "moved", "to": "#lobby", "fr": "#other"}),
        (3, message("c2", 30, "the renamed room's")),
    )
    history, _ = merged(records, events, ROOM, everything, 10, False)
    assert texts(history) == ["from the renamed room, before", "the renamed room's"]


def test_a_room_made_anew_keeps_its_first_join_and_none_of_the_earlier_rooms() -> None:
    join = {
        "t": "join",
        "f": "alice",
        "u": {"n": "alice", "u": "~alice", "h": "host"},
        "m": "j1",
        "new": 1,
    }
    events = stream((1, message("b1", 10, "the earlier room's")), (2, join))
    history, _ = merged([], events, ROOM, everything, 10, True)
    assert [record.command for record in history] == ["JOIN"]


def test_the_messages_held_on_opening_a_room_start_again_at_an_earlier_rooms_end() -> None:
    """`unconfirmed`: what a node holds when it opens a room (its senders had not said they
    were committed) is the room's own, not an earlier one's of the name."""
    earlier = message("b1", 10, "the earlier room's")
    later = message("c2", 30, "the renamed room's")
    for event in (earlier, later):
        event["id"] = "n1/1/1"
    for end in ({"t": "moved", "to": "#lobby", "fr": "#other"}, {"t": "rename"}):
        events = stream((1, earlier), (2, end), (3, later))
        held = unconfirmed(ROOM, events, 3, "n0")
        assert [entry.record.msgid for entry in held] == ["c2"]
