"""The per-command response buffer: everything a command answers to the client that sent it.

A handler never writes to its own client directly; it adds lines here. When the handler is done
the buffer is written in one go (one `Link.write`, so one system call at most), and that is where
labeled-response is applied to every command alike: no lines → `ACK`, one line → the label tag on
it, several → a `labeled-response` batch around them.

Lines are kept as (tags, rest) pairs, tags without the leading '@', so a batch tag can be added
without parsing anything again.

**Answering later** (`later`): a command that needs a worker (a password check, a history read)
hands the worker the callback `reply.later(done)` returns. The reply is then *pending*: it is not
written when the handler returns; when the worker answers, `done(reply, result)` adds the late
lines to the same reply and the whole answer — what the handler added before included — is
written at once, labelled as one. Meanwhile the client's later input lines wait in order
(`ChatServer.receive`), so per client, replies come in the order of its commands. `follower()`
is for output that comes after a complete answer (a JOIN's history replay): a second reply,
written after this one, that may wait on a worker of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.protocol.message import escape_tag_value

if TYPE_CHECKING:
    from hubbub.core.model import Session
    from hubbub.core.server import ChatServer

MAX_LINE_BYTES = 510  # a line without its tags and CRLF (Modern IRC: 512 with the CRLF)


def encode_line(text: str) -> bytes:
    """`text` as bytes for the wire: UTF-8, with surrogate escapes (bytes that were not UTF-8,
    from a binary.ircv3.net WebSocket client, which the spec lets carry any bytes) turned back
    into those bytes; anything else unencodable becomes '?'."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def clip(line: str) -> str:
    """`line` (without tags and CRLF) cut to 510 bytes, at a character boundary.

    Relayed message texts are cut to fit where they are relayed (`messaging.fit`); this is the
    safety net for the rest: long QUIT/PART/KICK reasons, topics and away texts behind a long
    prefix or in a numeric.
    """
    if len(line) <= MAX_LINE_BYTES // 4:
        return line
    data = encode_line(line)
    if len(data) <= MAX_LINE_BYTES:
        return line
    return data[:MAX_LINE_BYTES].decode("utf-8", "ignore")


def safe_param(value: str) -> str:
    """`value` as a middle parameter of a reply, or "*" when it could never have been one.

    Error replies echo what the client sent (a nick, a channel, a subcommand). A value that is
    empty, starts with ':' or holds a space would change the reply's shape on the wire (an
    extra parameter, a trailing one too early), so it is never echoed: "*" stands in for it.
    """
    if not value or value[0] == ":" or " " in value or "\r" in value or "\n" in value:
        return "*"
    return value


def fitted(start: str, middle: list[str], last: str) -> str:
    """`start` (source and command), the middle parameters and the trailing `last` as one line
    of at most 510 bytes, cutting the longest middle parameters first.

    Middle parameters here are echoes of what a client sent (a channel, a nick, a target):
    cutting them keeps the reply's shape, where `clip` cutting the whole line could drop the
    trailing text or end the line on the space before it.
    """
    line = " ".join((start, *middle)) + " :" + last
    if len(line) <= MAX_LINE_BYTES // 4:
        return line
    excess = len(encode_line(line)) - MAX_LINE_BYTES
    if excess <= 0:
        return line
    middle = list(middle)
    while excess > 0:
        longest = max(range(len(middle)), key=lambda i: len(middle[i].encode()), default=None)
        if longest is None:
            break
        data = middle[longest].encode("utf-8", "surrogateescape")
        keep = max(1, len(data) - excess)
        if keep >= len(data):
            break  # every middle parameter is one byte: the trailing text must give
        cut = data[:keep].decode("utf-8", "ignore") or data[:1].decode("utf-8", "replace")
        saved = len(data) - len(cut.encode("utf-8", "surrogateescape"))
        if saved <= 0:
            # A one-character parameter of a multi-byte character (its replacement is as long):
            # nothing more to gain here, and looping on it would never end.
            break
        excess -= saved
        middle[longest] = cut
    return " ".join((start, *middle)) + " :" + last


class Reply:
    __slots__ = (
        "followers",
        "held",
        "label",
        "lines",
        "pending",
        "server",
        "server_name",
        "session",
    )

    def __init__(self, server: ChatServer, session: Session, label: str | None) -> None:
        self.server = server
        self.session = session
        self.server_name = server.name
        self.label = label
        self.lines: list[tuple[str, str]] = []
        # Workers this reply still waits for (see `later`), and the replies written after it.
        self.pending = 0
        self.followers: list[Reply] | None = None
        # Bytes already formatted for this client, written after the lines: what was said to
        # it while the join replay of a follower was being read (Session.hold).
        self.held: list[bytes] | None = None

    def later(self, done: Callable[[Reply, Any], None]) -> Callable[[Any], None]:
        """The callback to hand to a worker: the command is answered when it is called.

        `done(self, result)` then adds the late lines (it is skipped when the client has gone),
        and the reply is written once nothing else of it is outstanding. Until then this
        client's later commands wait (`ChatServer.receive`).
        """
        self.pending += 1

        def complete(result: Any) -> None:
            if not self.session.closed:
                done(self, result)
            self.pending -= 1
            self.server.resume(self.session)

        return complete

    def follower(self) -> Reply:
        """A reply without a label, written right after this one (and after its own workers)."""
        follower = Reply(self.server, self.session, None)
        follower.held = []
        if self.followers is None:
            self.followers = []
        self.followers.append(follower)
        return follower

    def notice(self, text: str) -> None:
        """A NOTICE from the server to the requester."""
        self.lines.append(("", f":{self.server_name} NOTICE {self.session.user.nick} :{text}"))

    def add(self, rest: str, tags: str = "") -> None:
        """Queue one line (without CRLF) for the requester."""
        self.lines.append((tags, rest))

    def numeric(self, code: str, *params: str) -> None:
        """A numeric reply addressed to the requester; the last parameter is the trailing one."""
        nick = self.session.user.nick
        if params:
            *middle, last = params
            start = f":{self.server_name} {code} {nick}"
            self.lines.append(("", fitted(start, [safe_param(p) for p in middle], last)))
        else:
            self.lines.append(("", f":{self.server_name} {code} {nick}"))

    def standard(self, kind: str, command: str, code: str, *context: str, text: str) -> None:
        """An IRCv3 standard reply (FAIL / WARN / NOTE)."""
        start = f":{self.server_name} {kind} {command} {code}"
        self.lines.append(("", fitted(start, [safe_param(p) for p in context], text)))

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
            elif len(lines) == 1 or self._one_batch():
                # One line, or one batch (CHATHISTORY): the label goes on its first line.
                tags, rest = lines[0]
                lines = [(f"{label_tag};{tags}" if tags else label_tag, rest), *lines[1:]]
            elif "batch" in session.caps:
                ref = session.next_batch_id()
                batch_tag = "batch=" + ref
                wrapped = [(label_tag, f":{self.server_name} BATCH +{ref} labeled-response")]
                for tags, rest in lines:
                    if tags.startswith("batch=") or ";batch=" in tags:
                        # Inside a nested batch (a chathistory batch among other lines): it
                        # belongs to that batch, whose BATCH lines carry the outer tag.
                        wrapped.append((tags, rest))
                    else:
                        wrapped.append((f"{batch_tag};{tags}" if tags else batch_tag, rest))
                wrapped.append(("", f":{self.server_name} BATCH -{ref}"))
                lines = wrapped
        held = self.held
        if lines or held:
            # Handlers only attach tags the client negotiated, so they are written as they are.
            out = [
                f"@{tags} {clip(rest)}\r\n" if tags else clip(rest) + "\r\n" for tags, rest in lines
            ]
            self.lines = []
            session.output_lines += len(out)  # its flood cost (hubbub.core.budget)
            data = encode_line("".join(out))
            if held:
                data += b"".join(held)
                held.clear()
            session.link.write(data)
        if held is not None:
            session.release(held)  # (a join replay's: live lines go on as before)

    def _one_batch(self) -> bool:
        """Whether the lines are exactly one batch, opened on the first and closed on the last
        (from the server, or from a user: the echo of a draft/multiline message)."""
        first, last = self.lines[0][1], self.lines[-1][1]
        source, _, rest = first.partition(" ")
        if not rest.startswith("BATCH +"):
            return False
        ref = rest[7:].partition(" ")[0]
        return last == f"{source} BATCH -{ref}"
