"""extended-join (https://ircv3.net/specs/extensions/extended-join): members who asked for it
get `JOIN #chan account :realname`, the others the plain JOIN."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubbub.core.model import Channel, Session, User
    from hubbub.core.server import ChatServer


def join_fanout(
    server: ChatServer, channel: Channel, user: User, line: str, time_ms: int, msgid: str
) -> None:
    """The JOIN to the room; extended-join members get `JOIN #chan account :realname`."""
    members = channel.members
    account = user.account
    extended = [m for m in members if "extended-join" in m.session.caps]
    if not extended:
        server.fanout(members, line, time_ms, msgid, channel=channel, account=account)
        return
    plain = [m for m in members if "extended-join" not in m.session.caps]
    server.fanout(plain, line, time_ms, msgid, channel=channel, account=account)
    server.fanout(
        extended, extended_join(user, line), time_ms, msgid, channel=channel, account=account
    )


def extended_join(user: User, line: str) -> str:
    return f"{line} {user.account or '*'} :{user.realname}"


def join_line_for(session: Session, user: User, line: str) -> str:
    return extended_join(user, line) if "extended-join" in session.caps else line
