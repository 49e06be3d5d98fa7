"""The test toolkit's wire checker and raw client: a checker that never fails checks nothing.

RFC 2812, 2.3: messages "SHALL NOT exceed 512 characters in length, counting all characters
including the trailing CR-LF"; IRCv3 message-tags: "The size limit for message tags is 8191
bytes, including the leading '@' (0x40) and trailing space ' ' (0x20) characters."
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from support.irc_client import IrcClient
from support.wire import WireError, check_line, check_write

GOOD = [
    b":server 001 alice :Welcome",
    b"PING :token",
    b"@time=2023-11-14T22:13:20.000Z;+draft/reply=x :a!b@c PRIVMSG #c :caf\xc3\xa9",
    b":a!b@c MODE #c +o bob",
    b":server 366 alice #c :",
    b":s 001 n :" + b"x" * (510 - len(b":s 001 n :")),  # exactly 510 bytes + CRLF
    b"@" + b"k" * 8189 + b" :s PING :x",  # a tag section of exactly 8191 bytes with its space
]
BAD = {
    "513 bytes": b":s 001 n :" + b"x" * (511 - len(b":s 001 n :")),
    "tags of 8192 bytes": b"@" + b"k" * 8190 + b" :s PING :x",
    "invalid UTF-8": b":s NOTICE n :caf\xe9",
    "NUL": b":s NOTICE n :a\0b",
    "CR": b":s NOTICE n :a\rb",
    "empty middle parameter": b":s 403 n  :No such channel",
    "trailing space": b":s 403 n #c ",
    "no command": b":s",
    "bad command": b":s 1234 n :x",
    "empty source": b": 001 n :x",
    "bad tag key": b"@a b=c :s PING :x",
}


@pytest.mark.parametrize("raw", GOOD)
def test_lines_within_the_rules_pass(raw: bytes) -> None:
    check_line(raw)
    check_write(raw + b"\r\n")


@pytest.mark.parametrize("raw", BAD.values(), ids=list(BAD))
def test_lines_against_the_rules_fail(raw: bytes) -> None:
    with pytest.raises(WireError):
        check_line(raw)


def test_a_write_must_be_whole_lines() -> None:
    for data in (b"PING :x", b"PING :x\r\n\r\n", b"PING :x\nPONG :y\r\n"):
        with pytest.raises(WireError):
            check_write(data)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, IrcClient]]:
    """A connected socket pair: the test writes as the server, IrcClient reads."""
    server_end, client_end = socket.socketpair()
    client = IrcClient(("", 0), sock=client_end, timeout=5)
    yield server_end, client
    client.close()
    server_end.close()


def test_the_client_checks_every_line_it_reads(pair: tuple[socket.socket, IrcClient]) -> None:
    server_end, client = pair
    server_end.sendall(b":s 001 n :fine\r\n:s 001 n :" + b"x" * 600 + b"\r\n")
    assert client.line().text == "fine"
    with pytest.raises(WireError, match="without tags"):
        client.line()


def test_the_client_wants_crlf(pair: tuple[socket.socket, IrcClient]) -> None:
    server_end, client = pair
    server_end.sendall(b":s 001 n :bare LF\n")
    with pytest.raises(AssertionError, match="CRLF"):
        client.line()


def test_a_fence_returns_what_came_before_the_pong(pair: tuple[socket.socket, IrcClient]) -> None:
    server_end, client = pair
    server_end.settimeout(5)

    def play_the_server() -> None:
        """Two lines, then the PONG to the client's PING (with its token), then one more."""
        server_end.sendall(b":s NOTICE n :one\r\n:s NOTICE n :two\r\n")
        received = b""
        while b"\r\n" not in received:
            received += server_end.recv(4096)
        token = received.split(b"\r\n")[0].split(b":", 1)[1]
        server_end.sendall(b":s PONG s :" + token + b"\r\n:s NOTICE n :after\r\n")

    server = threading.Thread(target=play_the_server)
    server.start()
    before = client.fence()
    server.join(5)
    assert [x.text for x in before] == ["one", "two"]
    assert client.line().text == "after"
