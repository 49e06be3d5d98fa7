"""Helpers of the cluster tests of multiline messages (draft/multiline): sending a batch and
reading one, live or inside a history batch."""

from __future__ import annotations

from support.irc_client import IrcClient, Line


def send_batch(irc: IrcClient, target: str, *lines: str, ref: str = "m1") -> None:
    """`lines` as one batch; a line starting with '+' is sent with draft/multiline-concat."""
    irc.send(f"BATCH +{ref} draft/multiline {target}")
    for line in lines:
        concat = line.startswith("+")
        tags = f"@batch={ref};draft/multiline-concat" if concat else f"@batch={ref}"
        irc.send(f"{tags} PRIVMSG {target} :{line[1:] if concat else line}")
    irc.send(f"BATCH -{ref}")


def multiline_batch(irc: IrcClient) -> list[Line]:
    """The next draft/multiline batch `irc` receives: its opening line, its lines, its end."""
    got = irc.until(lambda line: line.command == "BATCH" and line.params[0].startswith("-"))
    start = next(
        index
        for index, line in enumerate(got)
        if line.command == "BATCH" and line.params[1:2] == ["draft/multiline"]
    )
    return got[start:]


def replayed_messages(lines: list[Line]) -> list[tuple[str, list[str]]]:
    """(msgid, lines) of each draft/multiline batch in a history answer."""
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.command == "BATCH" and line.params[1:2] == ["draft/multiline"]:
            ref = line.params[0][1:]
            inner = [x.text for x in lines if x.command == "PRIVMSG" and x.tags.get("batch") == ref]
            out.append((line.tags["msgid"], inner))
    return out
