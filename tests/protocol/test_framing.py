"""Unit tests for `hubbub.protocol.framing`: LineReader and decode_line."""

from __future__ import annotations

import pytest

from hubbub.protocol.framing import (
    LINE_TOO_LONG,
    MAX_LINE_BYTES,
    MAX_TAGS_BYTES,
    LineReader,
    LineTooLong,
    decode_line,
    whole_lines,
)

FLOOD_LIMIT = MAX_TAGS_BYTES + MAX_LINE_BYTES


def test_crlf_and_lf_terminators() -> None:
    reader = LineReader()
    assert reader.feed(b"PING a\r\nPING b\nPING c\r\n") == [b"PING a", b"PING b", b"PING c"]
    assert reader.pending == 0


def test_partial_line_is_held_until_its_newline() -> None:
    reader = LineReader()
    assert reader.feed(b"PRIV") == []
    assert reader.pending == 4
    assert reader.feed(b"MSG #c :hi\r") == []
    assert reader.feed(b"\nNEXT") == [b"PRIVMSG #c :hi"]
    assert reader.pending == 4
    assert reader.feed(b"\n") == [b"NEXT"]


def test_byte_at_a_time() -> None:
    reader = LineReader()
    lines: list[bytes | LineTooLong] = []
    for byte in b"A 1\r\nB 2\n":
        lines += reader.feed(bytes([byte]))
    assert lines == [b"A 1", b"B 2"]


def test_empty_lines_are_dropped() -> None:
    reader = LineReader()
    assert reader.feed(b"\r\n\n\r\nA\r\n\r\n\nB\n") == [b"A", b"B"]


def test_only_the_last_cr_is_part_of_the_terminator() -> None:
    assert LineReader().feed(b"A\r\r\n") == [b"A\r"]


def test_bare_cr_is_not_a_terminator() -> None:
    assert LineReader().feed(b"A\rB\n") == [b"A\rB"]


def test_accepts_bytearray() -> None:
    reader = LineReader()
    assert reader.feed(bytearray(b"A\nB")) == [b"A"]
    assert reader.feed(bytearray(b"\nC\n")) == [b"B", b"C"]


def test_line_at_the_body_limit_passes() -> None:
    body = b"P " + b"x" * (MAX_LINE_BYTES - 4)
    assert len(body) + 2 == MAX_LINE_BYTES
    assert LineReader().feed(body + b"\r\n") == [body]


def test_body_one_byte_over_the_limit_is_too_long_and_reading_continues() -> None:
    body = b"P " + b"x" * (MAX_LINE_BYTES - 3)
    reader = LineReader()
    assert reader.feed(body + b"\r\nPING ok\r\n") == [LINE_TOO_LONG, b"PING ok"]


def test_tags_at_the_limit_pass_and_do_not_count_against_the_body() -> None:
    tags = b"@" + b"t" * (MAX_TAGS_BYTES - 2) + b" "
    assert len(tags) == MAX_TAGS_BYTES
    body = b"P " + b"x" * (MAX_LINE_BYTES - 4)
    line = tags + body
    assert LineReader().feed(line + b"\r\n") == [line]


def test_tags_over_the_limit_are_too_long() -> None:
    tags = b"@" + b"t" * (MAX_TAGS_BYTES - 1) + b" "
    reader = LineReader()
    assert reader.feed(tags + b"PING\r\nPING ok\n") == [LINE_TOO_LONG, b"PING ok"]


def test_tags_only_line_over_the_limit_is_too_long() -> None:
    assert LineReader().feed(b"@" + b"t" * MAX_TAGS_BYTES + b"\n") == [LINE_TOO_LONG]


def test_flood_without_newline_is_reported_once_and_memory_stays_bounded() -> None:
    reader = LineReader()
    out: list[bytes | LineTooLong] = []
    for _ in range(100):
        out += reader.feed(b"x" * 1000)
        assert reader.pending <= FLOOD_LIMIT
    assert out == [LINE_TOO_LONG]
    assert reader.pending == 0
    # The rest of the flooded line is discarded; what follows its newline is read normally.
    assert reader.feed(b"still the same line\r\nPING ok\r\n") == [b"PING ok"]


def test_flood_in_one_chunk_then_normal_lines() -> None:
    reader = LineReader()
    assert reader.feed(b"x" * (FLOOD_LIMIT + 1)) == [LINE_TOO_LONG]
    assert reader.feed(b"x\nA\n") == [b"A"]


def test_flood_ending_in_the_same_chunk_is_one_report() -> None:
    reader = LineReader()
    assert reader.feed(b"x" * 50_000 + b"\nA\n") == [LINE_TOO_LONG, b"A"]
    assert reader.pending == 0


def test_line_too_long_is_a_value() -> None:
    assert LineTooLong() == LINE_TOO_LONG
    assert isinstance(LINE_TOO_LONG, LineTooLong)


def test_decode_valid_utf8() -> None:
    assert decode_line("PRIVMSG #c :héllo ☃".encode()) == "PRIVMSG #c :héllo ☃"
    assert decode_line("x é".encode(), "reject") == "x é"


@pytest.mark.parametrize("raw", [b"PRIVMSG #c :caf\xe9", b"\xff\xfe", b"x \xe2\x98", b"\xc0\x80"])
def test_decode_invalid_utf8(raw: bytes) -> None:
    replaced = decode_line(raw, "replace")
    assert replaced is not None
    assert "\ufffd" in replaced
    assert decode_line(raw) == replaced
    assert decode_line(raw, "reject") is None


def test_decode_keeps_nul() -> None:
    assert decode_line(b"A\x00B") == "A\x00B"


def test_decode_unknown_policy() -> None:
    with pytest.raises(ValueError, match="policy"):
        decode_line(b"x", "latin-1")


@pytest.mark.parametrize(
    "data",
    [
        b"PING a\r\n",
        b"A\r\nB\n\r\n\nC\r\n",
        b"x" * 510 + b"\r\n" + b"y" * 511 + b"\n",
        b"@" + b"t" * (MAX_TAGS_BYTES - 2) + b" " + b"m" * 510 + b"\r\n",
        b"@" + b"t" * (MAX_TAGS_BYTES - 1) + b" m\r\nPING\n",
        b"@" + b"t" * 20000 + b"\n" + b"OK\n",
        b"\r\n",
    ],
)
def test_whole_lines_are_what_a_new_reader_returns(data: bytes) -> None:
    """The transport's reader-less path for input of whole lines gives the same lines (and
    the same too-long markers) as a fresh LineReader, which then holds nothing."""
    reader = LineReader()
    assert whole_lines(data) == reader.feed(data)
    assert reader.pending == 0
