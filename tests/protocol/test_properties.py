"""Property tests for the wire format: round trips, total parsing, chunking-independent framing."""

from __future__ import annotations

import itertools
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocol import Message, ProtocolError, parse
from hubbub.protocol.framing import MAX_LINE_BYTES, MAX_TAGS_BYTES, LineReader, LineTooLong
from hubbub.protocol.message import escape_tag_value, unescape_tag_value

settings.register_profile("protocol", max_examples=400, deadline=None)
FAST = settings(settings.get_profile("protocol"))

# Text that may appear inside a parameter: anything but the framing characters.
param_text = st.text(
    alphabet=st.characters(exclude_characters="\r\n\0", codec="utf-8"),
    max_size=30,
)
middle_param = param_text.filter(lambda p: p != "" and " " not in p and not p.startswith(":"))
word = st.text(
    alphabet=st.characters(exclude_characters=" \r\n\0", codec="utf-8", min_codepoint=33),
    min_size=1,
    max_size=20,
)
command = st.one_of(
    st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=12),
    st.text(alphabet=string.digits, min_size=3, max_size=3),
)
tag_key = st.builds(
    lambda client, vendor, name: client + (vendor + "/" if vendor else "") + name,
    st.sampled_from(["", "+"]),
    st.sampled_from(["", "example.com", "a.b"]),
    st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=10),
)
tag_value = st.text(
    alphabet=st.characters(exclude_characters="\0", codec="utf-8"),
    max_size=20,
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    middles = draw(st.lists(middle_param, max_size=6))
    params = tuple(middles)
    if draw(st.booleans()):
        params += (draw(param_text),)
    return Message(
        command=draw(command),
        params=params,
        source=draw(st.none() | word),
        tags=draw(st.dictionaries(tag_key, tag_value, max_size=4)),
    )


@FAST
@given(messages())
def test_format_then_parse_is_identity(message: Message) -> None:
    assert parse(message.format()) == message


@FAST
@given(st.text(max_size=80))
def test_parse_returns_a_message_or_raises_protocol_error(line: str) -> None:
    try:
        result = parse(line)
    except ProtocolError:
        return
    assert isinstance(result, Message)


# Lines that look IRC-ish hit far more branches than uniformly random text.
irc_ish = st.lists(
    st.sampled_from(["@", ":", " ", ";", "=", "\\", "a", "B", "1", "#", "\r", "\n", "\0", "é"]),
    max_size=40,
).map("".join)


@FAST
@given(irc_ish)
def test_parse_is_total_on_irc_ish_text(line: str) -> None:
    try:
        result = parse(line)
    except ProtocolError:
        return
    assert result.command == result.command.upper()
    # Whatever parse accepts, format writes back to something that parses the same.
    assert parse(result.format()) == result


@FAST
@given(tag_value)
def test_tag_escape_round_trip(value: str) -> None:
    escaped = escape_tag_value(value)
    assert not set(escaped) & set("; \r\n")
    assert unescape_tag_value(escaped) == value


@FAST
@given(st.text(max_size=30))
def test_unescape_is_total(raw: str) -> None:
    assert isinstance(unescape_tag_value(raw), str)


LIMIT = MAX_TAGS_BYTES + MAX_LINE_BYTES

stream_piece = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\r\n", b"\n", b"\r", b"PING x\r\n", b"@a=b :s P :t\n"]),
    st.integers(min_value=0, max_value=3 * LIMIT).map(lambda n: b"x" * n),
    st.integers(min_value=0, max_value=MAX_TAGS_BYTES + 10).map(lambda n: b"@" + b"t" * n + b" "),
)


def read_all(chunks: list[bytes]) -> tuple[list[bytes | LineTooLong], int]:
    reader = LineReader()
    out: list[bytes | LineTooLong] = []
    for chunk in chunks:
        out += reader.feed(chunk)
        assert reader.pending <= LIMIT
    return out, reader.pending


@settings(max_examples=150, deadline=None)
@given(st.lists(stream_piece, max_size=12).map(b"".join), st.data())
def test_framing_does_not_depend_on_chunking(stream: bytes, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=10)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    whole = read_all([stream])
    assert read_all(chunks) == whole
    lines, _ = whole
    for line in lines:
        if isinstance(line, bytes):
            assert line
            assert b"\n" not in line


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=10), max_size=30).map(b"".join))
def test_framing_byte_by_byte_matches_whole(stream: bytes) -> None:
    assert read_all([stream[i : i + 1] for i in range(len(stream))]) == read_all([stream])
