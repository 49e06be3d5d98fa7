"""Channel mode +f <messages>:<seconds>: a per-member message rate limit for one room.

The ask most often made by operators of busy public rooms: one member may say at most
`messages` things (PRIVMSG, NOTICE, TAGMSG) in any `seconds`-long window. The syntax is
InspIRCd's and UnrealIRCd's (`+f 5:10`); unlike theirs, a member over the limit is not kicked:
the message is refused (404, "Cannot send to channel") and nothing is relayed or stored, so a
client that pastes too much loses only what went over. Channel operators are exempt (they
moderate the room). Advertised in ISUPPORT as a type C mode of CHANMODES (a parameter when
set only), as those servers do.

Sans-IO: the time is the core's `now`. Per member, the room keeps the times of its last
`messages` messages (a bounded deque), so the window slides exactly; entries of members who
have left are dropped lazily when the table grows past twice the room.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubbub.core.model import Channel, User

__all__ = ["MAX_MESSAGES", "MAX_SECONDS", "allow", "format_limit", "parse_limit"]

#: Bounds of the parameter: the per-member memory is `messages` floats.
MAX_MESSAGES = 100
MAX_SECONDS = 86_400


def parse_limit(text: str) -> tuple[int, int] | None:
    """`"5:10"` -> (5, 10); None when malformed or out of bounds."""
    messages, colon, seconds = text.partition(":")
    if not colon or not messages.isdecimal() or not seconds.isdecimal():
        return None
    if not messages.isascii() or not seconds.isascii():
        return None
    count, window = int(messages), int(seconds)
    if not 1 <= count <= MAX_MESSAGES or not 1 <= window <= MAX_SECONDS:
        return None
    return count, window


def format_limit(limit: tuple[int, int]) -> str:
    return f"{limit[0]}:{limit[1]}"


def allow(channel: Channel, user: User, now: float) -> bool:
    """Whether `user` may say one more thing in `channel` now (and count it if so)."""
    limit = channel.flood_limit
    if limit is None:
        return True
    count, window = limit
    seen = channel.flood_seen
    if seen is None:
        seen = channel.flood_seen = {}
    times = seen.get(user)
    if times is None:
        if len(seen) >= 2 * len(channel.members) + 8:
            for gone in [member for member in seen if member not in channel.members]:
                del seen[gone]
        times = seen[user] = deque(maxlen=count)
    if len(times) == count and now - times[0] < window:
        return False
    times.append(now)
    return True


def set_limit(channel: Channel, limit: tuple[int, int] | None) -> None:
    """A new +f (or -f): counting starts afresh."""
    channel.flood_limit = limit
    channel.flood_seen = None
