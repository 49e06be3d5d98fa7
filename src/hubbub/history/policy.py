"""What of a message goes into history: which TAGMSGs, and how many bytes of client tags.

Pure functions of the configuration (no I/O), called by the core for every message it may
store. Storage must stay bounded (issue 11): typing notifications are TAGMSGs sent several
times a minute by every client that types, and a client may attach up to 4 KB of tags to any
message, so neither is kept by default.

* A TAGMSG is stored only when `history.store_tagmsg` is on and it carries one of
  `history.tagmsg_tags` (reactions, say); then only those tags are kept. `+typing` is never
  stored, whatever the list says (the configuration refuses it too).
* A PRIVMSG or NOTICE keeps its client-only tags in the order they came while their size (each
  `name=value;` as UTF-8) stays within `history.max_tag_bytes`; the rest are not stored (they
  are still relayed).
"""

from __future__ import annotations

from hubbub.config.schema import HistorySection

__all__ = ["NEVER_STORED", "stored_tags"]

#: Tags that only mean something live.
NEVER_STORED = frozenset({"+typing", "+draft/typing"})


def stored_tags(
    history: HistorySection, command: str, tags: dict[str, str]
) -> dict[str, str] | None:
    """The client tags to store with this message, or None if the message is not stored."""
    if command == "TAGMSG":
        if not history.store_tagmsg:
            return None
        wanted = history.tagmsg_tags
        tags = {k: v for k, v in tags.items() if k in wanted and k not in NEVER_STORED}
        if not tags:
            return None
    if not tags:
        return tags
    budget = history.max_tag_bytes
    kept: dict[str, str] = {}
    for name, value in tags.items():
        if name in NEVER_STORED:
            continue
        size = len(name.encode()) + len(value.encode("utf-8", "replace")) + 2
        if size > budget:
            break
        budget -= size
        kept[name] = value
    if command == "TAGMSG" and not kept:
        return None  # its only point was the tags
    return kept
