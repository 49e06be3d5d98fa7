"""Unit tests for `hubbub.protocol.message`: parse, format and the tag codec."""

from __future__ import annotations

import pytest

from hubbub.protocol import Message, ProtocolError, parse
from hubbub.protocol.message import (
    client_only_tags,
    escape_tag_value,
    format_tags,
    unescape_tag_value,
)

# (line, tags, source, command, params): parser vectors written for hubbub in the spirit of
# the ircdocs parser-tests (msg-split). Commands come back uppercased.
SPLIT_VECTORS: list[tuple[str, dict[str, str], str | None, str, tuple[str, ...]]] = [
    # plain words
    ("PING", {}, None, "PING", ()),
    ("ping a b c", {}, None, "PING", ("a", "b", "c")),
    ("Ping x", {}, None, "PING", ("x",)),
    # sources
    (":alice QUIT", {}, "alice", "QUIT", ()),
    (":alice!al@example.org QUIT :gone", {}, "alice!al@example.org", "QUIT", ("gone",)),
    (":irc.example.net NOTICE * :hi", {}, "irc.example.net", "NOTICE", ("*", "hi")),
    (":a\tb X y", {}, "a\tb", "X", ("y",)),  # tab is not a separator
    (":n!u@h\x02x\x03 PRIVMSG t :m", {}, "n!u@h\x02x\x03", "PRIVMSG", ("t", "m")),
    # trailing parameter forms
    ("PRIVMSG #c :hello world", {}, None, "PRIVMSG", ("#c", "hello world")),
    ("PRIVMSG #c :", {}, None, "PRIVMSG", ("#c", "")),
    ("PRIVMSG #c ::)", {}, None, "PRIVMSG", ("#c", ":)")),
    ("PRIVMSG #c :  padded  ", {}, None, "PRIVMSG", ("#c", "  padded  ")),
    ("PRIVMSG #c :a :b :c", {}, None, "PRIVMSG", ("#c", "a :b :c")),
    ("PRIVMSG #c :   ", {}, None, "PRIVMSG", ("#c", "   ")),
    ("JOIN :#chan", {}, None, "JOIN", ("#chan",)),
    ("JOIN #chan", {}, None, "JOIN", ("#chan",)),
    ("MODE #c :+i", {}, None, "MODE", ("#c", "+i")),
    ("MODE #c +oo a :b", {}, None, "MODE", ("#c", "+oo", "a", "b")),
    ("USER u 0 * :Real Name", {}, None, "USER", ("u", "0", "*", "Real Name")),
    ("PRIVMSG a:b c:d", {}, None, "PRIVMSG", ("a:b", "c:d")),  # ':' inside a word
    # runs of spaces and trailing spaces do not make empty params
    ("MODE  #c   +n ", {}, None, "MODE", ("#c", "+n")),
    (":s 432  #x :bad nick", {}, "s", "432", ("#x", "bad nick")),
    (":s AWAY ", {}, "s", "AWAY", ()),
    (":s   AWAY", {}, "s", "AWAY", ()),
    ("A b  :c", {}, None, "A", ("b", "c")),
    # numerics
    (":srv 001 nick :Welcome", {}, "srv", "001", ("nick", "Welcome")),
    (":srv 005 n A=1 B :are supported", {}, "srv", "005", ("n", "A=1", "B", "are supported")),
    # many params
    (
        "X " + " ".join(f"p{i}" for i in range(20)),
        {},
        None,
        "X",
        tuple(f"p{i}" for i in range(20)),
    ),
    # tags: plain, empty, missing values
    ("@a=b;c=32;k;rt=ql7 FOO", {"a": "b", "c": "32", "k": "", "rt": "ql7"}, None, "FOO", ()),
    ("@c;h=;a=b :q AB cd", {"c": "", "h": "", "a": "b"}, "q", "AB", ("cd",)),
    # every escape
    ("@a=x\\:y\\sz\\\\w\\r\\n X", {"a": "x;y z\\w\r\n"}, None, "X", ()),
    ("@a=\\\\n X", {"a": "\\n"}, None, "X", ()),  # left to right: backslash, then 'n'
    ("@a=v\\1 X", {"a": "v1"}, None, "X", ()),  # needless escape drops the backslash
    ("@a=v\\ X", {"a": "v"}, None, "X", ()),  # lone trailing backslash dropped
    ("@a=\\ X", {"a": ""}, None, "X", ()),
    ("@a=\\\\\\\\ X", {"a": "\\\\"}, None, "X", ()),
    # vendor and client-only tags
    ("@+example.com/foo=bar X", {"+example.com/foo": "bar"}, None, "X", ()),
    ("@+typing=active;vendor/k X", {"+typing": "active", "vendor/k": ""}, None, "X", ()),
    ("@k=1;vendor/k=2 X", {"k": "1", "vendor/k": "2"}, None, "X", ()),
    # duplicates: the last one wins
    ("@t=1;u=3;t=5 X", {"t": "5", "u": "3"}, None, "X", ()),
    ("@t=1;t X", {"t": ""}, None, "X", ()),
    # '=' inside a value is just text
    ("@t=a=b X", {"t": "a=b"}, None, "X", ()),
    # empty tag items are skipped
    ("@;a=1;;b X", {"a": "1", "b": ""}, None, "X", ()),
    # everything together
    (
        "@time=2024-01-01T00:00:00.000Z;msgid=abc :n!u@h PRIVMSG #c :hi there",
        {"time": "2024-01-01T00:00:00.000Z", "msgid": "abc"},
        "n!u@h",
        "PRIVMSG",
        ("#c", "hi there"),
    ),
    # terminators are tolerated
    ("PING x\r\n", {}, None, "PING", ("x",)),
    ("PING x\n", {}, None, "PING", ("x",)),
    ("PING x\r", {}, None, "PING", ("x",)),
    ("PING :x \r\n", {}, None, "PING", ("x ",)),
]


@pytest.mark.parametrize(("line", "tags", "source", "command", "params"), SPLIT_VECTORS)
def test_split_vectors(
    line: str,
    tags: dict[str, str],
    source: str | None,
    command: str,
    params: tuple[str, ...],
) -> None:
    message = parse(line)
    assert message.tags == tags
    assert message.source == source
    assert message.command == command
    assert message.params == params


# (message, acceptable wire forms): like msg-join, the formatter may choose where a ':' goes
# only where the grammar leaves it free; hubbub always picks the first form listed.
JOIN_VECTORS: list[tuple[Message, str]] = [
    (Message("PING"), "PING"),
    (Message("PRIVMSG", ("#c", "hi")), "PRIVMSG #c hi"),
    (Message("PRIVMSG", ("#c", "hi there")), "PRIVMSG #c :hi there"),
    (Message("PRIVMSG", ("#c", "")), "PRIVMSG #c :"),
    (Message("PRIVMSG", ("#c", ":)")), "PRIVMSG #c ::)"),
    (Message("PRIVMSG", ("#c", "a:b")), "PRIVMSG #c a:b"),
    (Message("QUIT", source="n!u@h"), ":n!u@h QUIT"),
    (Message("001", ("nick", "Welcome home"), "srv"), ":srv 001 nick :Welcome home"),
    (Message("TAGMSG", ("#c",), tags={"+typing": "active"}), "@+typing=active TAGMSG #c"),
    (Message("X", tags={"a": "", "b": "1"}), "@a;b=1 X"),
    (Message("X", tags={"a": "; \\\r\n"}), "@a=\\:\\s\\\\\\r\\n X"),
    (
        Message("PRIVMSG", ("#c", "x y"), "n!u@h", {"msgid": "1", "time": "t"}),
        "@msgid=1;time=t :n!u@h PRIVMSG #c :x y",
    ),
]


@pytest.mark.parametrize(("message", "wire"), JOIN_VECTORS)
def test_join_vectors(message: Message, wire: str) -> None:
    assert message.format() == wire
    assert parse(wire) == message


@pytest.mark.parametrize(
    "line",
    [
        "",
        " ",
        "   ",
        "\r\n",
        "@a=b",
        "@a=b ",
        "@a=b    ",
        ":src",
        ":src ",
        "@a=b :src",
        "@a=b :src  ",
        ": PING",
        ":src :trailing",
        " :trailing",
        "12",
        "1234",
        "P1NG",
        "PING!",
        "PRIV-MSG x",
        "ÄPING",
        "١٢٣",  # digits, but not ASCII ones
        "PRIVMSG #c :a\rb",
        "PRIVMSG #c :a\nb",
        "PRIVMSG #c :a\0b",
        "PRIVMSG #c\0 x",
    ],
)
def test_malformed_lines_raise_protocol_error(line: str) -> None:
    with pytest.raises(ProtocolError):
        parse(line)


def test_protocol_error_is_a_value_error_with_a_message() -> None:
    with pytest.raises(ValueError, match="command"):
        parse("P1NG")


def test_numeric_command_is_kept_as_three_digits() -> None:
    assert parse("001 x").command == "001"


@pytest.mark.parametrize(
    ("source", "nick"),
    [
        (None, None),
        ("alice", "alice"),
        ("alice!al@host", "alice"),
        ("alice@host", "alice"),
        ("alice!al", "alice"),
        ("irc.example.net", "irc.example.net"),
    ],
)
def test_nick(source: str | None, nick: str | None) -> None:
    assert Message("X", source=source).nick == nick


@pytest.mark.parametrize(
    "params",
    [
        ("", "x"),
        ("a b", "x"),
        (":a", "x"),
    ],
)
def test_format_rejects_bad_middle_params(params: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="middle parameter"):
        Message("PRIVMSG", params).format()


@pytest.mark.parametrize(
    "message",
    [
        Message(""),
        Message("P1NG"),
        Message("PRIV MSG"),
        Message("X", source=""),
        Message("X", source="a b"),
        Message("PRIVMSG", ("#c", "line\r\nQUIT")),
        Message("PRIVMSG", ("#c", "nul\0")),
        Message("X", source="evil\nQUIT"),
        Message("X", tags={"": "v"}),
        Message("X", tags={"a b": "v"}),
        Message("X", tags={"a=b": "v"}),
        Message("X", tags={"a;b": "v"}),
    ],
)
def test_format_refuses_what_it_cannot_write_faithfully(message: Message) -> None:
    with pytest.raises(ValueError):
        message.format()


def test_format_has_no_line_terminator() -> None:
    assert not Message("PING", ("x",)).format().endswith(("\r", "\n"))


def test_message_is_frozen_hashable_and_compares_tags() -> None:
    a = Message("X", ("p",), "s", {"t": "1"})
    b = Message("X", ("p",), "s", {"t": "1"})
    assert a == b
    assert hash(a) == hash(b)
    assert a != Message("X", ("p",), "s", {"t": "2"})
    with pytest.raises(AttributeError):
        a.command = "Y"  # type: ignore[misc]


def test_default_tags_are_not_shared() -> None:
    assert Message("X").tags is not Message("Y").tags


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("", ""),
        ("plain", "plain"),
        ("\\:", ";"),
        ("\\s", " "),
        ("\\\\", "\\"),
        ("\\r", "\r"),
        ("\\n", "\n"),
        ("\\a", "a"),
        ("\\", ""),
        ("x\\", "x"),
        ("\\\\s", "\\s"),
        ("\\\\\\", "\\"),
        ("a\\sb\\:c", "a b;c"),
    ],
)
def test_unescape_tag_value(raw: str, value: str) -> None:
    assert unescape_tag_value(raw) == value


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        ("", ""),
        ("plain", "plain"),
        ("a;b c\\d\re\nf", "a\\:b\\sc\\\\d\\re\\nf"),
        ("=:", "=:"),
    ],
)
def test_escape_tag_value(value: str, raw: str) -> None:
    assert escape_tag_value(value) == raw
    assert unescape_tag_value(raw) == value


def test_format_tags() -> None:
    assert format_tags({}) == ""
    assert format_tags({"a": "1", "b": "", "+c/d": "x y"}) == "a=1;b;+c/d=x\\sy"


@pytest.mark.parametrize(
    ("key", "relayed"),
    [
        ("+typing", True),
        ("+draft/reply", True),
        ("+example.com/foo-bar", True),
        ("+0", True),
        ("typing", False),  # not client-only: the server's own tags are not taken from clients
        ("+", False),  # no key_name
        ("+0.0", False),  # a dot outside the vendor (a fuzz finding)
        ("+example.com/", False),
        ("+/x", False),
        ("+a_b", False),
        ("+é", False),
        ("+a/b/c", False),
    ],
)
def test_client_only_tags_follow_the_key_grammar(key: str, relayed: bool) -> None:
    # IRCv3 message-tags: "<key> ::= [ <client_prefix> ] [ <vendor> '/' ] <key_name>",
    # "<key_name> ::= <non-empty sequence of ascii letters, digits, hyphens ('-')>",
    # "<vendor> ::= <host>".
    tags = parse(f"@{key}=v;+ok=1 PRIVMSG #c :hi").tags
    assert client_only_tags(tags) == ({key: "v", "+ok": "1"} if relayed else {"+ok": "1"})
