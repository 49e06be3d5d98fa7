"""WHOX (https://ircv3.net/specs/extensions/whox): `WHO <mask> %fields[,token]` answered
with 354 RPL_WHOSPCRPL lines holding the fields asked for, in the spec's order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.model import User
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

WHOX_ORDER = "tcuihsnfdlaor"


def parse_whox(param: str) -> tuple[str, str] | None:
    """`%fields[,token]` of `WHO <mask> %fields,token`, or None for a plain WHO."""
    if not param.startswith("%"):
        return None
    fields, _, token = param[1:].partition(",")
    return fields, token[:3] if token.isdecimal() else ""


def whox_line(
    server: ChatServer,
    reply: Reply,
    user: User,
    channel_name: str,
    flags: str,
    whox: tuple[str, str],
) -> None:
    fields, token = whox
    me = reply.session.user
    out: list[str] = []
    for field in WHOX_ORDER:
        if field not in fields:
            continue
        if field == "t":
            out.append(token or "0")
        elif field == "c":
            out.append(channel_name)
        elif field == "u":
            out.append(user.username or "*")
        elif field == "i":
            out.append(user.session.host if user is me else "255.255.255.255")
        elif field == "h":
            out.append(user.hostname)
        elif field == "s":
            out.append(user.server or server.name)
        elif field == "n":
            out.append(user.nick)
        elif field == "f":
            out.append(flags)
        elif field == "d":
            out.append("0")
        elif field == "l":
            out.append(str(max(0, int(server.now - user.last_active))))
        elif field == "a":
            out.append(user.account or "0")
        elif field == "o":
            out.append("0")
        elif field == "r":
            out.append(user.realname)
    if not out:
        return
    if "r" not in fields:
        out.append(out.pop())  # the last one is sent as trailing anyway
    reply.numeric(n.RPL_WHOSPCRPL, *out)
