"""LIST's search extensions (ISUPPORT ELIST=CMNTU, Modern IRC "ELIST Parameter").

A LIST parameter is a comma-separated list of conditions, all of which a channel must meet:

* `>n` / `<n` (U): more / fewer than n members;
* `C>n` / `C<n` (C): created more / less than n minutes ago;
* `T>n` / `T<n` (T): topic set more / less than n minutes ago (a channel without a topic
  meets neither);
* a mask (M): the channel name matches (`*` and `?`), or a plain name, matched exactly;
* `!mask` (N): the channel name does not match.

Names and masks are casefolded; masks use hubbub.core.masks' linear-time matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hubbub.core.masks import compile_mask

if TYPE_CHECKING:
    from hubbub.core.model import Channel
    from hubbub.core.server import ChatServer

#: The ELIST token's value.
ELIST = "CMNTU"


@dataclass(slots=True)
class ListFilter:
    """Conditions of one LIST command."""

    min_users: int = 0
    max_users: int | None = None
    names: set[str] | None = None  # exact casefolded names
    masks: list[str] = field(default_factory=list)  # casefolded masks that must match
    excluded: list[str] = field(default_factory=list)  # casefolded masks that must not
    created_before: float | None = None  # unix seconds: created before it (C>n)
    created_after: float | None = None  # created after it (C<n)
    topic_before: float | None = None
    topic_after: float | None = None

    def accepts(self, channel: Channel, count: int) -> bool:
        if count < self.min_users or (self.max_users is not None and count > self.max_users):
            return False
        if self.names is not None or self.masks:
            by_name = self.names is not None and channel.fold in self.names
            if not by_name and not any(compile_mask(m).match(channel.fold) for m in self.masks):
                return False
        if any(compile_mask(m).match(channel.fold) for m in self.excluded):
            return False
        if self.created_before is not None and not channel.created < self.created_before:
            return False
        if self.created_after is not None and not channel.created > self.created_after:
            return False
        if self.topic_before is not None or self.topic_after is not None:
            topic = channel.topic
            if topic is None:
                return False
            if self.topic_before is not None and not topic.set_at < self.topic_before:
                return False
            if self.topic_after is not None and not topic.set_at > self.topic_after:
                return False
        return True


def parse_list_filter(server: ChatServer, param: str) -> ListFilter:
    found = ListFilter()
    now = server.now
    mask_length = server.config.limits.mask_length
    for item in param.split(","):
        if not item:
            continue
        kind, rest = item[0], item[1:]
        if kind in "CT" and rest[:1] in "<>" and rest[1:].isdecimal():
            moment = now - int(rest[1:]) * 60
            older = rest[0] == ">"  # more than n minutes ago: before the moment
            if kind == "C":
                if older:
                    found.created_before = moment
                else:
                    found.created_after = moment
            elif older:
                found.topic_before = moment
            else:
                found.topic_after = moment
        elif kind == ">" and rest.isdecimal():
            found.min_users = int(rest) + 1
        elif kind == "<" and rest.isdecimal():
            found.max_users = int(rest) - 1
        elif kind == "!" and rest and len(rest) <= mask_length:
            found.excluded.append(server.fold(rest))
        elif "*" in item or "?" in item:
            if len(item) <= mask_length:  # a longer mask matches nothing
                found.masks.append(server.fold(item))
            else:
                found.names = found.names or set()
        else:
            found.names = (found.names or set()) | {server.fold(item)}
    return found
