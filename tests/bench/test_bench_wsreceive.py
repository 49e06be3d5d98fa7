"""The WebSocket bench client's bulk receive path counts and checks what the TCP one does.

`WsClient` walks the server's frames and, in COUNT mode, counts the markers in the raw bytes of
complete frames; in the other modes it turns the frames into CRLF lines for the TCP client's
logic. So a stream of frames (short and long text frames, server PINGs in IRC and as WebSocket
PING frames, a PONG frame, a fragmented message, refusals) split at every byte position and
into reads of every small size must give exactly the counts, refusals, IRC and WebSocket PONGs,
flow check and latencies of the same stream in one read, and those of the TCP client fed the
same lines.
"""

from __future__ import annotations

from hubbub.bench.client import COUNT, FULL, Client
from hubbub.bench.wsclient import WsClient, client_frames
from hubbub.transport.websocket import frame_lines


class Transport:
    """What the client writes (PONGs, framed), kept; closing noted."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def deliveries(sender: int, first: int, count: int, stamp: int, pad: bytes = b"") -> bytes:
    return b"".join(
        b":b0x%d!b@127.0.0.1 PRIVMSG #r0 :b: %d %d %d%s\r\n" % (sender, sender, seq, stamp, pad)
        for seq in range(first, first + count)
    )


def text(lines: bytes) -> bytes:
    """The server's frames for CRLF lines (one unmasked text frame each)."""
    return frame_lines(lines, 0x81)


def control(opcode: int, payload: bytes) -> bytes:
    return bytes((0x80 | opcode, len(payload))) + payload


def fragmented(line: bytes, cut: int) -> bytes:
    """One message in two frames: a text frame without FIN, then a final continuation."""
    first, rest = line[:cut], line[cut:]
    return bytes((0x01, len(first))) + first + bytes((0x80, len(rest))) + rest


REFUSAL = b":hubbub.local FAIL PRIVMSG TEMPORARILY_UNAVAILABLE #r0 :try again later\r\n"
LONG = deliveries(3, 1, 1, 1005, b" " + b"x" * 150)  # a 2-byte length header (126+ bytes)
SPLIT = deliveries(1, 5, 1, 1006)  # sent fragmented, cut inside the marker

# The same lines as the TCP client gets them, and as the server frames them with WebSocket
# PING/PONG frames in between (which carry no IRC line).
LINES = [
    deliveries(1, 0, 3, 1000),
    deliveries(2, 0, 2, 1001),
    b"PING :hubbub.local\r\n",
    deliveries(1, 3, 2, 1002),
    REFUSAL,
    b":b0x3!b@127.0.0.1 PRIVMSG #r0 :b: 3 0 1003 xxxxxxxx\r\n",
    b":hubbub.local PING :token two\r\n",
    b":NickServ!S@services NOTICE b0x0 :Fine\r\n",
    LONG,
    SPLIT,
    deliveries(2, 2, 4, 1004),
    REFUSAL,
]
TCP_STREAM = b"".join(LINES)
WS_STREAM = b"".join(
    [
        text(b"".join(LINES[:2])),
        control(0x9, b"ws-ping"),  # a WebSocket PING: answered with a PONG frame
        text(b"".join(LINES[2:8])),
        control(0xA, b"unsolicited"),  # a PONG frame: ignored
        text(LONG),
        fragmented(SPLIT.removesuffix(b"\r\n"), SPLIT.index(b" :b: ") + 2),
        control(0x9, b""),
        text(b"".join(LINES[10:])),
    ]
)
DELIVERED = 14


def ws_fed(mode: int, reads: list[bytes]) -> WsClient:
    client = WsClient("b0x0")
    client.upgraded = True
    client.transport = Transport()  # type: ignore[assignment]
    client.start_bulk(mode)
    for data in reads:
        client.data_received(data)
    return client


def outcome(client: Client) -> tuple[object, ...]:
    flow = client.flow
    return (
        client.count,
        client.tally.received,
        client.refused,
        dict(flow.expected),
        {sender: sorted(gaps) for sender, gaps in flow.missing.items()},
        flow.duplicates,
        flow.out_of_order,
        client.latency.count,
    )


def written(client: Client) -> bytes:
    return b"".join(client.transport.written)  # type: ignore[union-attr]


IRC_PONGS = client_frames(b"PONG :hubbub.local\r\n") + client_frames(b"PONG :token two\r\n")


def test_one_read_counts_checks_and_answers_as_the_tcp_client_does() -> None:
    for mode in (COUNT, FULL):
        tcp = Client("b0x0")
        tcp.transport = Transport()  # type: ignore[assignment]
        tcp.start_bulk(mode)
        tcp.data_received(TCP_STREAM)
        client = ws_fed(mode, [WS_STREAM])
        assert outcome(client) == outcome(tcp), mode
        assert client.count == DELIVERED and client.refused == 2, mode
        # The IRC PONGs as text frames, the WebSocket PINGs answered by PONG frames (masked).
        sent = written(client)
        assert client_frames(b"ws-ping", 0xA) in sent and client_frames(b"", 0xA) in sent, mode
        assert (
            sent.replace(client_frames(b"ws-ping", 0xA), b"").replace(client_frames(b"", 0xA), b"")
            == IRC_PONGS
        ), mode
        assert client.inbox == b"" and client.fragments == [], mode
    flow = ws_fed(FULL, [WS_STREAM]).flow
    assert flow.expected == {b"1": 6, b"2": 6, b"3": 2}
    assert (flow.duplicates, flow.out_of_order) == (0, 0)


def test_a_split_at_every_byte_position_changes_nothing() -> None:
    for mode in (COUNT, FULL):
        expected = ws_fed(mode, [WS_STREAM])
        for cut in range(len(WS_STREAM) + 1):
            got = ws_fed(mode, [WS_STREAM[:cut], WS_STREAM[cut:]])
            assert outcome(got) == outcome(expected), (mode, cut)
            assert sorted(got.transport.written) == sorted(expected.transport.written), (mode, cut)  # type: ignore[union-attr]
            assert got.inbox == b"", (mode, cut)


def test_reads_of_every_small_size_change_nothing() -> None:
    for mode in (COUNT, FULL):
        expected = ws_fed(mode, [WS_STREAM])
        for size in range(1, 160):
            reads = [WS_STREAM[at : at + size] for at in range(0, len(WS_STREAM), size)]
            got = ws_fed(mode, reads)
            assert outcome(got) == outcome(expected), (mode, size)
            # (FULL mode answers a read's IRC PINGs after its PING frames: order them)
            assert sorted(got.transport.written) == sorted(expected.transport.written), (mode, size)  # type: ignore[union-attr]


def test_a_partial_frame_waits_for_its_end() -> None:
    frame = text(deliveries(1, 0, 1, 5))
    for mode in (COUNT, FULL):
        client = ws_fed(mode, [frame[:-1]])
        assert client.count == 0 and client.inbox == frame[:-1]
        client.data_received(frame[-1:])
        assert client.count == 1 and client.inbox == b""


def test_losses_duplicates_and_reordering_are_found_across_every_cut() -> None:
    stream = text(
        b"".join(
            [
                deliveries(1, 0, 2, 10),
                deliveries(1, 3, 1, 11),  # 2 skipped (for now)
                deliveries(1, 2, 1, 12),  # 2 arrives late: out of order
                deliveries(1, 3, 1, 13),  # 3 again: a duplicate
                deliveries(1, 6, 1, 14),  # 4 and 5 lost
            ]
        )
    )
    expected = outcome(ws_fed(FULL, [stream]))
    assert expected[5:7] == (1, 1)
    assert expected[4] == {b"1": [4, 5]}
    for cut in range(len(stream) + 1):
        assert outcome(ws_fed(FULL, [stream[:cut], stream[cut:]])) == expected, cut


def test_a_close_frame_closes_the_connection_in_every_mode() -> None:
    for mode in (COUNT, FULL):
        client = ws_fed(mode, [text(deliveries(1, 0, 2, 5)) + control(0x8, b"\x03\xe8")])
        assert client.count == 2
        assert client.transport.closed  # type: ignore[union-attr]
        assert client.lost_reason == "WebSocket closed by the server"


def test_line_mode_gets_the_lines_of_every_kind_of_frame() -> None:
    client = WsClient("b0x0")
    client.upgraded = True
    client.transport = Transport()  # type: ignore[assignment]
    lines: list[bytes] = []
    client.on_line = lambda line, command, params: lines.append(line)
    for at in range(len(WS_STREAM)):
        client.data_received(WS_STREAM[at : at + 1])
    assert lines == [line.removesuffix(b"\r\n") for line in TCP_STREAM.splitlines(True)]


def test_reads_without_control_frames_count_and_check_as_the_tcp_client_does_at_every_cut() -> None:
    # Reads holding no byte of a control frame's or a first fragment's header take the walk
    # that reads only the length bytes: short and long frames, cut anywhere.
    lines = b"".join(
        [deliveries(1, 0, 3, 7), LONG, deliveries(2, 0, 2, 8), REFUSAL, deliveries(1, 3, 1, 9)]
    )
    stream = text(lines)
    assert not any(byte in stream for byte in (0x01, 0x02, 0x88, 0x89, 0x8A))
    for mode in (COUNT, FULL):
        tcp = Client("b0x0")
        tcp.transport = Transport()  # type: ignore[assignment]
        tcp.start_bulk(mode)
        tcp.data_received(lines)
        assert tcp.count == 7 and tcp.refused == 1
        for cut in range(len(stream) + 1):
            got = ws_fed(mode, [stream[:cut], stream[cut:]])
            assert outcome(got) == outcome(tcp), (mode, cut)
            assert got.inbox == b"", (mode, cut)
        for size in range(1, 140):
            reads = [stream[at : at + size] for at in range(0, len(stream), size)]
            assert outcome(ws_fed(mode, reads)) == outcome(tcp), (mode, size)
