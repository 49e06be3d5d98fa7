"""The per-command response buffer: everything a command answers to the client that sent it.

A handler never writes to its own client directly; it adds lines here. When the handler is done
the buffer is written in one go (one `Link.write`, so one system call at most), and that is where
labeled-response is applied to every command alike: no lines → `ACK`, one line → the label tag on
it, several → a `labeled-response` batch around them.

Lines are kept as (tags, rest) pairs, tags without the leading '@', so a batch tag can be added
without parsing anything again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol.message import escape_tag_value

if TYPE_CHECKING:
    from hubbub.core.model import Session

MAX_LINE_BYTES = 510  # a line without its tags and CRLF (Modern IRC: 512 with the CRLF)


def clip(line: str) -> str:
    """`line` (without tags and CRLF) cut to 510 bytes, at a character boundary.

    Relayed message texts are cut to fit where they are relayed (`messaging.fit`); this is the
    safety net for the rest: long QUIT/PART/KICK reasons, topics and away texts behind a long
    prefix or in a numeric.
    """
    if len(line) <= MAX_LINE_BYTES // 4:
        return line
    data = line.encode("utf-8", "replace")
    if len(data) <= MAX_LINE_BYTES:
        return line
    return data[:MAX_LINE_BYTES].decode("utf-8", "ignore")


class Reply:
    __slots__ = ("label", "lines", "server_name", "session")

    def __init__(self, session: Session, server_name: str, label: str | None) -> None:
        self.session = session
        self.server_name = server_name
        self.label = label
        self.lines: list[tuple[str, str]] = []

    def add(self, rest: str, tags: str = "") -> None:
        """Queue one line (without CRLF) for the requester."""
        self.lines.append((tags, rest))

    def numeric(self, code: str, *params: str) -> None:
        """A numeric reply addressed to the requester; the last parameter is the trailing one."""
        nick = self.session.user.nick
        if params:
            *middle, last = params
            head = f":{self.server_name} {code} {nick}"
            if middle:
                head += " " + " ".join(middle)
            self.lines.append(("", f"{head} :{last}"))
        else:
            self.lines.append(("", f":{self.server_name} {code} {nick}"))

    def standard(self, kind: str, command: str, code: str, *context: str, text: str) -> None:
        """An IRCv3 standard reply (FAIL / WARN / NOTE)."""
        middle = " ".join((command, code, *context))
        self.lines.append(("", f":{self.server_name} {kind} {middle} :{text}"))

    def fail(self, command: str, code: str, *context: str, text: str) -> None:
        self.standard("FAIL", command, code, *context, text=text)

    def flush(self) -> None:
        """Write everything queued, labelled when the client asked for it."""
        session = self.session
        lines = self.lines
        label = self.label
        if label is not None and "labeled-response" in session.caps:
            label_tag = "label=" + escape_tag_value(label)  # parse() unescaped it
            if not lines:
                lines = [(label_tag, f":{self.server_name} ACK")]
            elif len(lines) == 1:
                tags, rest = lines[0]
                lines = [(f"{label_tag};{tags}" if tags else label_tag, rest)]
            elif "batch" in session.caps:
                ref = session.next_batch_id()
                batch_tag = "batch=" + ref
                wrapped = [(label_tag, f":{self.server_name} BATCH +{ref} labeled-response")]
                for tags, rest in lines:
                    wrapped.append((f"{batch_tag};{tags}" if tags else batch_tag, rest))
                wrapped.append(("", f":{self.server_name} BATCH -{ref}"))
                lines = wrapped
        if not lines:
            return
        # Handlers only attach tags the client negotiated, so they are written as they are.
        out = [f"@{tags} {clip(rest)}\r\n" if tags else clip(rest) + "\r\n" for tags, rest in lines]
        self.lines = []
        session.output_lines += len(out)  # its flood cost (hubbub.core.budget)
        session.link.write("".join(out).encode("utf-8", "replace"))
