"""The unit of room history: one stored IRC event, and references into a target's history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii

#: A record's params and tags as the stores keep them: JSON without spaces. One encoder made
#: once: `json.dumps(..., separators=...)` builds a new encoder on every call, a cost paid per
#: stored record on the history thread.
compact_json = json.JSONEncoder(separators=(",", ":")).encode


def params_json(params: Sequence[str]) -> str:
    """`compact_json(list(params))` for a record's params (strings only), with no encoder call:
    the C string quoting joined by hand. `JSONEncoder.encode` runs Python code and makes a new
    C encoder on every call, which was a large part of what the history thread spent per
    stored message. Same text: the encoder quotes strings with this same function."""
    return "[" + ",".join(map(encode_basestring_ascii, params)) + "]"


def tags_json(tags: dict[str, str]) -> str:
    """`compact_json(tags)`; most records have no client tags, whose text is a constant."""
    return compact_json(tags) if tags else "{}"


def dm_key(nick_a: str, nick_b: str) -> str:
    """The history key of the private conversation between two (casefolded) nicks.

    Order-independent, so both parties address the same conversation. A space can appear in
    neither a nick nor a channel name, so the key can never collide with a channel's key.
    """
    low, high = sorted((nick_a, nick_b))
    return f"dm:{low} {high}"


def dm_parties(key: str) -> tuple[str, str] | None:
    """The two casefolded nicks of a private-conversation key, or None for a channel key."""
    if not key.startswith("dm:"):
        return None
    low, _, high = key[3:].partition(" ")
    return low, high


@dataclass(frozen=True, slots=True)
class Record:
    """One stored event of a target's history.

    `target` is the store key: the casefolded channel name, or `dm_key(a, b)` for private
    messages. `command` is PRIVMSG, NOTICE or TAGMSG, or (when event storage is on) JOIN, PART,
    QUIT, TOPIC, KICK or NICK. `params` are the IRC parameters exactly as they were relayed
    (for PRIVMSG: the target as the sender wrote it, then the text). `source` is the full
    `nick!user@host` prefix. `tags` holds only client-only tags (names starting with "+");
    the server tags (time, msgid) are rebuilt from `msgid` and `time_ms` on replay.
    """

    target: str
    msgid: str
    time_ms: int
    source: str
    command: str
    params: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    # The sender's account when it had one, as its stable id (hubbub.accounts.model: the name,
    # or the name, "!" and random hex; `account_name` gives the name back); empty otherwise.
    account: str = ""
    # When (ms) the message was last edited (draft/message-edit; its text is then the edited
    # one, `HistoryStore.edits` has the changes); 0: never edited.
    edited_ms: int = 0


@dataclass(frozen=True, slots=True)
class Edit:
    """One change of a stored message's text (draft/message-edit), kept linked to it: the edit
    event's own msgid and time, the text before and after, and the editor's account."""

    msgid: str
    time_ms: int
    text: str
    previous: str = ""  # filled in by the store
    account: str = ""


@dataclass(frozen=True, slots=True)
class Ref:
    """A position in a target's history, as CHATHISTORY names one: a msgid or a timestamp.

    Exactly one of the two is set. Both are exclusive bounds in every query.
    """

    msgid: str | None = None
    time_ms: int | None = None

    def __post_init__(self) -> None:
        if (self.msgid is None) == (self.time_ms is None):
            raise ValueError("a Ref names exactly one of msgid and time_ms")
