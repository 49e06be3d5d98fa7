"""IRCv3 WebSocket support: https://ircv3.net/specs/extensions/websocket

A real server with its web listener on loopback; WebSockets opened and framed by hand
(`tests/web/web_helpers.py`), so that what is checked is the bytes and frame types on the wire.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from web.web_helpers import ServerThread, make_config, masked_frame, read_frame, ws_open

TEXT, BINARY = 0x1, 0x2


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path)) as running:
        yield running


class Ws:
    """One hand-framed WebSocket IRC client."""

    def __init__(self, port: int, protocols: str | None) -> None:
        self.sock, self.headers = ws_open(port, protocols=protocols)
        self.binary = self.headers.get("sec-websocket-protocol") == "binary.ircv3.net"
        self.frames: list[tuple[int, bytes]] = []

    def send(self, *lines: str | bytes) -> None:
        self.sock.sendall(b"".join(masked_frame(line, binary=self.binary) for line in lines))

    def frame(self) -> tuple[int, bytes]:
        opcode, payload = read_frame(self.sock)
        if payload.startswith(b"PING "):
            self.send(b"PONG " + payload[5:])
        self.frames.append((opcode, payload))
        return opcode, payload

    def until(self, needle: bytes) -> list[tuple[int, bytes]]:
        got = []
        while True:
            opcode, payload = self.frame()
            got.append((opcode, payload))
            if needle in payload:
                return got

    def register(self, nick: str) -> None:
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        self.until(b" 376 ")  # end of MOTD

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        ("binary.ircv3.net", "binary.ircv3.net"),
        ("text.ircv3.net", "text.ircv3.net"),
        ("binary.ircv3.net, text.ircv3.net", "binary.ircv3.net"),
        ("text.ircv3.net, binary.ircv3.net", "text.ircv3.net"),
    ],
)
def test_subprotocols_in_the_clients_order(server: ServerThread, offered: str, chosen: str) -> None:
    """ "Servers implementing this specification MUST support binary.ircv3.net and SHOULD
    support text.ircv3.net. ... The server MUST accept any subprotocol it supports, respecting
    the client's order of preference.\""""
    ws = Ws(server.web_port, offered)
    try:
        assert ws.headers.get("sec-websocket-protocol") == chosen
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("protocol", "opcode"), [("binary.ircv3.net", BINARY), ("text.ircv3.net", TEXT)]
)
def test_one_line_per_message_of_the_negotiated_type(
    server: ServerThread, protocol: str, opcode: int
) -> None:
    """ "If binary.ircv3.net is negotiated, then client and server will exchange binary
    messages; if text.ircv3.net is negotiated, then they will exchange text messages." And
    "each message MUST consist of a single IRC line, except that servers and clients MUST NOT
    include trailing \\r or \\n characters in the message.\""""
    ws = Ws(server.web_port, protocol)
    try:
        ws.register("framer")
        ws.send("PING :one", "PING :two")
        ws.until(b"two")
        for kind, payload in ws.frames:
            assert kind == opcode
            assert b"\r" not in payload and b"\n" not in payload
        pongs = [payload for _, payload in ws.frames if b" PONG " in payload]
        assert [p.rsplit(b":", 1)[1] for p in pongs] == [b"one", b"two"]
    finally:
        ws.close()


def test_binary_messages_carry_bytes_that_are_not_utf8_unchanged(server: ServerThread) -> None:
    """ "Binary messages can transport arbitrary bytes and therefore any valid IRC line ...
    binary frames are necessary to fully support IRC communities that use encodings other than
    UTF-8." A Latin-1 message between two binary.ircv3.net clients arrives byte for byte."""
    sender = Ws(server.web_port, "binary.ircv3.net")
    receiver = Ws(server.web_port, "binary.ircv3.net")
    try:
        sender.register("latin")
        receiver.register("reader")
        text = "café déjà vu".encode("latin-1")
        sender.send(b"PRIVMSG reader :" + text)
        (_, payload) = receiver.until(b"PRIVMSG")[-1]
        assert payload.endswith(b"PRIVMSG reader :" + text)
    finally:
        sender.close()
        receiver.close()


def test_text_clients_never_get_bytes_that_are_not_utf8(server: ServerThread) -> None:
    """ "Servers MUST NOT relay non-UTF-8 content to clients using text messages ... Servers MAY
    replace non-UTF-8 bytes with the UTF-8 encoding of the Unicode replacement character
    (U+FFFD).\""""
    sender = Ws(server.web_port, "binary.ircv3.net")
    receiver = Ws(server.web_port, "text.ircv3.net")
    try:
        sender.register("latin")
        receiver.register("reader")
        sender.send(b"PRIVMSG reader :caf\xe9")
        (opcode, payload) = receiver.until(b"PRIVMSG")[-1]
        assert opcode == TEXT
        assert payload.decode("utf-8").endswith("PRIVMSG reader :caf\ufffd")
    finally:
        sender.close()
        receiver.close()


def test_a_tcp_client_and_a_websocket_client_talk(server: ServerThread) -> None:
    """The same IRC lines whatever carries them: a TCP client's message reaches a WebSocket
    client as one message with the line and no line ending."""
    ws = Ws(server.web_port, "text.ircv3.net")
    tcp = socket.create_connection(server.address, timeout=10)
    try:
        ws.register("webby")
        tcp.sendall(b"NICK tcpy\r\nUSER tcpy 0 * :tcpy\r\nPRIVMSG webby :hello there\r\n")
        (_, payload) = ws.until(b"PRIVMSG")[-1]
        assert payload.endswith(b"PRIVMSG webby :hello there")
    finally:
        ws.close()
        tcp.close()
