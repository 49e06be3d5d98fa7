"""What the user typed → an `Action`: pure parsing, no state, no I/O.

A line that does not start with `/` is something to say in the current window (`//text` says
`/text`). A line starting with `/` is a command from `COMMANDS`; a wrong one becomes an
`Error` with a message meant for a person, never an exception. What an action *does* (which IRC
lines it sends, which window it opens) is decided by `ClientState.perform`, which knows the
nick, the rooms and the server's limits; `split_text` is the helper it uses to cut a long
message into lines the server will relay whole.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COMMANDS",
    "Action",
    "Away",
    "Edit",
    "Error",
    "Help",
    "History",
    "Join",
    "Names",
    "Nick",
    "Part",
    "Query",
    "Quit",
    "Raw",
    "Say",
    "Topic",
    "help_lines",
    "parse_input",
    "split_text",
]


@dataclass(frozen=True, slots=True)
class Say:
    """Send `text` to `target` (None: the current window); `action` for /me."""

    text: str
    target: str | None = None
    action: bool = False


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the text of your last message in the current window (draft/message-edit)."""

    text: str


@dataclass(frozen=True, slots=True)
class Join:
    channels: tuple[str, ...]
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Part:
    channel: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Nick:
    nick: str


@dataclass(frozen=True, slots=True)
class Topic:
    """Show the topic (`text` None) or set it."""

    channel: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Names:
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Away:
    """Mark yourself away with `text`, or back when `text` is empty."""

    text: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    """Open a private conversation with `nick`, optionally saying `text` in it."""

    nick: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class History:
    """Fetch `count` messages older than the oldest one shown."""

    count: int


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Help:
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Raw:
    """A line sent to the server as typed (/quote)."""

    line: str


@dataclass(frozen=True, slots=True)
class Error:
    """The input cannot be acted on; `text` says why, for the user."""

    text: str


Action = (
    Say
    | Edit
    | Join
    | Part
    | Nick
    | Topic
    | Names
    | Away
    | Query
    | History
    | Quit
    | Help
    | Raw
    | Error
)

# name → (arguments, what it does). The order is the order /help lists them in.
COMMANDS: dict[str, tuple[str, str]] = {
    "join": ("#room[,#room…] [key]", "join rooms (the # may be left out) and switch to the first"),
    "part": ("[#room] [reason]", "leave a room (default: this one); in a query, close it"),
    "msg": ("NICK|#room TEXT", "send a message without switching windows"),
    "me": ("TEXT", "an action: * you TEXT"),
    "edit": ("TEXT", "replace your last message here with TEXT (Up in an empty input recalls it)"),
    "nick": ("NEWNICK", "change your nick"),
    "topic": ("[TEXT]", "show this room's topic, or set it"),
    "names": ("[#room]", "list who is in a room"),
    "away": ("[MESSAGE]", "mark yourself away; without a message, back again"),
    "query": ("NICK [TEXT]", "open a private conversation with NICK"),
    "history": ("[N]", "fetch N (default 50) older messages of this window"),
    "quote": ("LINE", "send a raw IRC line to the server"),
    "help": ("[COMMAND]", "this list, or one command"),
    "quit": ("[REASON]", "leave the server and exit"),
}
ALIASES = {"j": "join", "leave": "part", "close": "part", "q": "query", "raw": "quote"}

DEFAULT_HISTORY = 50
MAX_HISTORY = 1000


def parse_input(text: str) -> Action | None:
    """The action for one line of input; None for a line with nothing to do (blank)."""
    text = text.rstrip("\r\n")
    if not text.strip():
        return None
    if not text.startswith("/") or text.startswith("//"):
        return Say(text[1:] if text.startswith("//") else text)
    name, _, rest = text[1:].partition(" ")
    name = ALIASES.get(name.lower(), name.lower())
    rest = rest.strip()
    if name not in COMMANDS:
        shown = text.split(" ", 1)[0]
        return Error(f"unknown command {shown} (/help lists the commands)")
    return _PARSERS[name](rest)


def _usage(name: str) -> Error:
    args, _ = COMMANDS[name]
    return Error(f"usage: /{name} {args}")


def _join(rest: str) -> Action:
    words = rest.split()
    if not words or len(words) > 2:
        return _usage("join")
    channels = tuple(c for c in words[0].split(",") if c)
    keys = tuple(words[1].split(",")) if len(words) > 1 else ()
    return Join(channels, keys) if channels else _usage("join")


def _part(rest: str) -> Action:
    first, _, reason = rest.partition(" ")
    if first and first[0] in "#&+!":
        return Part(first, reason.strip())
    return Part(None, rest)


def _msg(rest: str) -> Action:
    target, _, text = rest.partition(" ")
    if not target or not text.strip():
        return _usage("msg")
    return Say(text, target)


def _me(rest: str) -> Action:
    return Say(rest, action=True) if rest else _usage("me")


def _edit(rest: str) -> Action:
    return Edit(rest) if rest.strip() else _usage("edit")


def _nick(rest: str) -> Action:
    words = rest.split()
    return Nick(words[0]) if len(words) == 1 else _usage("nick")


def _topic(rest: str) -> Action:
    first, _, text = rest.partition(" ")
    if first and first[0] in "#&+!":
        return Topic(first, text or None)
    return Topic(None, rest or None)


def _names(rest: str) -> Action:
    words = rest.split()
    return Names(words[0] if words else None) if len(words) <= 1 else _usage("names")


def _away(rest: str) -> Action:
    return Away(rest)


def _query(rest: str) -> Action:
    nick, _, text = rest.partition(" ")
    return Query(nick, text.strip()) if nick else _usage("query")


def _history(rest: str) -> Action:
    if not rest:
        return History(DEFAULT_HISTORY)
    if not rest.isdigit() or not 0 < int(rest) <= MAX_HISTORY:
        return Error(f"/history takes a number of messages from 1 to {MAX_HISTORY}")
    return History(int(rest))


def _quote(rest: str) -> Action:
    return Raw(rest) if rest else _usage("quote")


def _help(rest: str) -> Action:
    return Help(rest.lstrip("/").lower())


def _quit(rest: str) -> Action:
    return Quit(rest)


_PARSERS = {
    "join": _join,
    "part": _part,
    "msg": _msg,
    "me": _me,
    "edit": _edit,
    "nick": _nick,
    "topic": _topic,
    "names": _names,
    "away": _away,
    "query": _query,
    "history": _history,
    "quote": _quote,
    "help": _help,
    "quit": _quit,
}


def help_lines(topic: str = "") -> list[str]:
    """The text /help shows: every command, or the one named by `topic`."""
    name = ALIASES.get(topic, topic)
    if name:
        if name not in COMMANDS:
            return [f"no command /{topic}; /help lists them all"]
        args, what = COMMANDS[name]
        return [f"/{name} {args}  —  {what}"]
    lines = ["commands:"]
    lines += [f"  /{name} {args}  —  {what}" for name, (args, what) in COMMANDS.items()]
    lines.append("anything else is said in the current window; start it with // to say /text")
    lines.append("keys: Ctrl+N / Ctrl+P next / previous window, Alt+1…9 window N, Ctrl+Q quit")
    lines.append("      Tab completes a nick, Ctrl+J (or Alt+Enter) starts a new line (shown ↵),")
    lines.append("      Up in an empty input recalls your last message for /edit")
    return lines


def split_text(text: str, max_bytes: int) -> list[str]:
    """Cut `text` into pieces of at most `max_bytes` UTF-8 bytes each.

    Cuts fall on the last space that fits when there is one in the second half of the piece
    (the space is dropped), otherwise between characters, never inside one.
    """
    if max_bytes < 8:
        raise ValueError("max_bytes is too small to carry any text")
    pieces: list[str] = []
    rest = text
    while len(rest.encode()) > max_bytes:
        data = rest.encode()[:max_bytes]
        cut = len(data.decode("utf-8", "ignore"))  # whole characters that fit
        space = rest.rfind(" ", 0, cut + 1)
        if space > cut // 2:
            pieces.append(rest[:space])
            rest = rest[space + 1 :]
        else:
            pieces.append(rest[:cut])
            rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces
