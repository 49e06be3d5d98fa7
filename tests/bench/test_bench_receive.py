"""The bench client's bulk receive path counts and checks the same whatever the reads' cuts.

The path cuts each read at its last line end and scans only complete lines, skipping the scans
for refusals and PINGs when the chunk holds no "F" and no "N": so a stream split at every byte
position (into two reads, and into reads of every small size) must give exactly the counts,
refusals, PONGs, flow check and latencies of the same stream in one read.
"""

from __future__ import annotations

from hubbub.bench.client import COUNT, FULL, Client


class Transport:
    """What the client writes (PONGs), kept."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def deliveries(sender: int, first: int, count: int, stamp: int) -> bytes:
    return b"".join(
        b":b0x%d!b@127.0.0.1 PRIVMSG #r0 :b: %d %d %d\r\n" % (sender, sender, seq, stamp)
        for seq in range(first, first + count)
    )


REFUSAL = b":hubbub.local FAIL PRIVMSG TEMPORARILY_UNAVAILABLE #r0 :try again later\r\n"
OTHER_FAIL = b":hubbub.local FAIL CHATHISTORY INVALID_TARGET #x :No such target\r\n"

# Deliveries from three senders, a PING without and one with a source, refusals, another
# FAIL, a delivery padded like --size does, and lines holding "F" and "N" that are neither.
STREAM = b"".join(
    [
        deliveries(1, 0, 3, 1000),
        deliveries(2, 0, 2, 1001),
        b"PING :hubbub.local\r\n",
        deliveries(1, 3, 2, 1002),
        REFUSAL,
        b":b0x3!b@127.0.0.1 PRIVMSG #r0 :b: 3 0 1003 xxxxxxxx\r\n",
        b":hubbub.local PING :token two\r\n",
        OTHER_FAIL,
        b":NickServ!S@services NOTICE b0x0 :Fine\r\n",
        deliveries(2, 2, 4, 1004),
        REFUSAL,
    ]
)
DELIVERED = 12


def outcome(client: Client) -> tuple[object, ...]:
    flow = client.flow
    written = client.transport.written  # type: ignore[union-attr]
    return (
        client.count,
        client.tally.received,
        client.refused,
        b"".join(written),
        dict(flow.expected),
        {sender: sorted(gaps) for sender, gaps in flow.missing.items()},
        flow.duplicates,
        flow.out_of_order,
        client.latency.count,
        sorted(client.latency.buckets.items()),
        client.tail,
    )


def fed(mode: int, reads: list[bytes]) -> Client:
    client = Client("b0x0")
    client.transport = Transport()  # type: ignore[assignment]
    client.start_bulk(mode)
    for data in reads:
        client.data_received(data)
    return client


def whole(mode: int, stream: bytes) -> tuple[object, ...]:
    return outcome(fed(mode, [stream]))


def test_one_read_counts_checks_refusals_and_pings() -> None:
    for mode in (COUNT, FULL):
        client = fed(mode, [STREAM])
        assert client.count == DELIVERED, mode
        assert client.refused == 2, mode
        assert client.transport.written == [  # type: ignore[union-attr]
            b"PONG :hubbub.local\r\n",
            b"PONG :token two\r\n",
        ], mode
        assert client.tail == b""
    flow = fed(FULL, [STREAM]).flow
    assert flow.expected == {b"1": 5, b"2": 6, b"3": 1}
    assert (flow.duplicates, flow.out_of_order) == (0, 0)


def test_a_split_at_every_byte_position_changes_nothing() -> None:
    for mode in (COUNT, FULL):
        expected = whole(mode, STREAM)
        for cut in range(len(STREAM) + 1):
            got = outcome(fed(mode, [STREAM[:cut], STREAM[cut:]]))
            # The latency buckets depend on the arrival time (one clock read per read), not
            # on the cut: compare them apart, by count.
            assert got[:9] == expected[:9], (mode, cut)
            assert got[10] == b"", (mode, cut)


def test_reads_of_every_small_size_change_nothing() -> None:
    for mode in (COUNT, FULL):
        expected = whole(mode, STREAM)
        for size in range(1, 80):
            reads = [STREAM[at : at + size] for at in range(0, len(STREAM), size)]
            got = outcome(fed(mode, reads))
            assert got[:9] == expected[:9], (mode, size)


def test_a_partial_line_waits_for_its_end() -> None:
    line = deliveries(1, 0, 1, 5)
    for mode in (COUNT, FULL):
        client = fed(mode, [line[:-1]])
        assert client.count == 0 and client.tail == line[:-1]
        client.data_received(line[-1:])
        assert client.count == 1 and client.tail == b""


def test_losses_duplicates_and_reordering_are_found_across_every_cut() -> None:
    stream = b"".join(
        [
            deliveries(1, 0, 2, 10),
            deliveries(1, 3, 1, 11),  # 2 skipped (for now)
            deliveries(1, 2, 1, 12),  # 2 arrives late: out of order
            deliveries(1, 3, 1, 13),  # 3 again: a duplicate
            deliveries(1, 6, 1, 14),  # 4 and 5 lost
        ]
    )
    expected = whole(FULL, stream)
    assert expected[6:8] == (1, 1)
    assert expected[5] == {b"1": [4, 5]}
    for cut in range(len(stream) + 1):
        assert outcome(fed(FULL, [stream[:cut], stream[cut:]]))[:9] == expected[:9], cut


def test_pings_and_refusals_among_lines_holding_f_and_n_are_still_found() -> None:
    # A server whose delivery lines hold "F" and "N" (upper-case hosts) takes the path that
    # searches every chunk: the same answers.
    stream = (
        b":b0x1!b@LOCALHOST.NET PRIVMSG #r0 :b: 1 0 7\r\n"
        + b"PING :x\r\n"
        + REFUSAL
        + b":b0x1!b@LOCALHOST.NET PRIVMSG #r0 :b: 1 1 7\r\n"
    )
    for mode in (COUNT, FULL):
        client = fed(mode, [stream])
        assert (client.count, client.refused) == (2, 1)
        assert client.transport.written == [b"PONG :x\r\n"]  # type: ignore[union-attr]


def test_an_empty_read_is_harmless() -> None:
    for mode in (COUNT, FULL):
        client = fed(mode, [b"", STREAM, b""])
        assert client.count == DELIVERED
