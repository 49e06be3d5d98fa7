"""The load generator's statistics on synthetic data: histogram, percentiles, sequence checks."""

from __future__ import annotations

import random

import pytest

from hubbub.bench.client import MESSAGES, message_batch, parse_line
from hubbub.bench.stats import FlowCheck, Histogram, bucket_floor, bucket_of, percentile


def triples(items: list[tuple[int, int]], stamp: int = 0) -> list[tuple[bytes, bytes, bytes]]:
    return [(str(s).encode(), str(q).encode(), str(stamp).encode()) for s, q in items]


def test_buckets_are_exact_below_128_and_within_two_percent_above() -> None:
    for value in [*range(300), 1000, 4097, 65_535, 10**6, 123_456_789]:
        bucket = bucket_of(value)
        low = bucket_floor(bucket)
        assert low <= value
        assert bucket_of(low) == bucket
        if value < 128:
            assert low == value
        assert value - low <= value / 64


def test_histogram_percentiles_match_sorted_values() -> None:
    rng = random.Random(7)
    values = [int(rng.expovariate(1 / 2000)) for _ in range(20_000)]
    hist = Histogram.of(values)
    assert hist.count == len(values)
    assert hist.max == max(values)
    for p in (50, 90, 99, 100):
        exact = percentile(values, p)
        assert exact is not None
        got = hist.percentile(p)
        assert got is not None
        assert exact - exact / 64 - 1 <= got <= exact


def test_histogram_merge_and_round_trip() -> None:
    a, b = Histogram.of([1, 2, 3, 1000]), Histogram.of([5, 5000])
    a.merge(Histogram.from_dict(b.to_dict()))
    assert a.count == 6
    assert a.max == 5000
    assert a.total == 1 + 2 + 3 + 1000 + 5 + 5000
    assert a.percentile(50) == 3
    assert Histogram().percentile(50) is None


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile(list(range(1, 101)), 100) == 100


def test_flow_in_order_is_clean_and_latency_counted_per_delivery() -> None:
    flow, hist = FlowCheck(), Histogram()
    # Two senders interleaved, batches stamped 100 and 150; received at 1000.
    found = triples([(1, 0), (1, 1), (2, 0)], 100) + triples([(2, 1), (1, 2)], 150)
    assert flow.feed(found, 1000, hist) == 5
    assert (flow.duplicates, flow.out_of_order) == (0, 0)
    assert flow.lost({b"1": 3, b"2": 2}) == 0
    assert hist.count == 5
    assert hist.total == 3 * 900 + 2 * 850


def test_flow_finds_loss_duplicates_and_reordering() -> None:
    flow, hist = FlowCheck(), Histogram()
    # sender 7: 0 1 3 2 2 5 ; 4 never arrives, 6 (sent) never arrives
    flow.feed(triples([(7, 0), (7, 1), (7, 3), (7, 2), (7, 2), (7, 5)]), 0, hist)
    assert flow.out_of_order == 1  # 2 after 3
    assert flow.duplicates == 1  # the second 2
    assert flow.lost({b"7": 7}) == 2  # 4 and 6
    assert flow.unique(b"7") == 5


def test_flow_counts_a_sender_never_heard_as_all_lost() -> None:
    flow = FlowCheck()
    flow.feed(triples([(1, 0)]), 0, Histogram())
    assert flow.lost({b"1": 1, b"9": 4}) == 4


@pytest.mark.parametrize("cut", [1, 7, 30, 61, 100])
def test_bulk_parsing_of_relayed_lines_survives_any_chunking(cut: int) -> None:
    """What the FULL-mode receiver does with each chunk: cut at the last line end, findall."""
    batch = message_batch(b"PRIVMSG #r :b: 3 ", 0, 20, 12345, b" xxxx")
    relayed = batch.replace(b"PRIVMSG", b":b0x3!b@127.0.0.1 PRIVMSG")
    relayed += b":srv 353 me = #r :@b0x1 b0x2\r\nPING :srv\r\n"
    tail, seqs = b"", []
    for start in range(0, len(relayed), cut):
        data = tail + relayed[start : start + cut]
        end = data.rfind(b"\n") + 1
        tail = data[end:]
        seqs += [
            int(q) for s, q, t in MESSAGES.findall(data, 0, end) if s == b"3" and t == b"12345"
        ]
    assert seqs == list(range(20))


def test_parse_line() -> None:
    assert parse_line(b"@a=b :srv 366 me #Room :End of /NAMES") == (
        b"366",
        [b"me", b"#Room", b"End of /NAMES"],
    )
    assert parse_line(b"ping :x") == (b"PING", [b"x"])
    assert parse_line(b"") == (b"", [])


def test_flow_split_keeps_remote_senders_latency_apart() -> None:
    flow, near, far = FlowCheck(), Histogram(), Histogram()
    # Senders 1 (same server) and 2 (another server) share one send stamp: the run of equal
    # stamps must still be cut where the side changes.
    found = triples([(1, 0), (2, 0), (2, 1)], 100) + triples([(1, 1), (2, 2)], 400)
    assert flow.feed(found, 1000, near, frozenset({b"2"}), far) == 5
    assert (near.count, near.total) == (2, 900 + 600)
    assert (far.count, far.total) == (3, 2 * 900 + 600)
    assert flow.lost({b"1": 2, b"2": 3}) == 0
    assert (flow.duplicates, flow.out_of_order) == (0, 0)


def test_histogram_add_buckets_values_as_bucket_of_does() -> None:
    """`add` computes the bucket inline (it runs per delivery run): the same buckets."""
    values = [-5, 0, 1, 127, 128, 129, 255, 256, 1000, 123_456, 10**9, 2**40 + 3]
    hist = Histogram()
    for value in values:
        hist.add(value, 2)
    expected: dict[int, int] = {}
    for value in values:
        expected[bucket_of(max(value, 0))] = expected.get(bucket_of(max(value, 0)), 0) + 2
    assert hist.buckets == expected
    assert hist.count == 2 * len(values)
    assert hist.total == 2 * sum(max(value, 0) for value in values)


class ReferenceFlow:
    """The sequence check number by number, as `FlowCheck.feed` did it before it compared
    numbers as text and kept the current sender's state across its consecutive lines."""

    def __init__(self) -> None:
        self.flow = FlowCheck()

    def feed(self, found: list[tuple[bytes, bytes, bytes]], now: int, latency: Histogram) -> None:
        flow = self.flow
        for sender, seq_text, stamp in found:
            seq = int(seq_text)
            want = flow.expected.get(sender, 0)
            if seq == want:
                flow.expected[sender] = seq + 1
            else:
                flow._anomaly(sender, seq, want)
            latency.add(now - int(stamp))
        flow.received += len(found)


def flow_state(flow: FlowCheck, latency: Histogram) -> tuple[object, ...]:
    return (
        flow.expected,
        flow.missing,
        flow.duplicates,
        flow.out_of_order,
        flow.received,
        latency.to_dict(),
    )


def test_flow_agrees_with_the_number_by_number_check_on_random_streams() -> None:
    rng = random.Random(9)
    for _ in range(300):
        sent = {sender: 0 for sender in range(1, rng.randint(1, 4) + 1)}
        found: list[tuple[bytes, bytes, bytes]] = []
        for _ in range(rng.randint(0, 60)):
            sender = rng.choice(list(sent))
            seq = sent[sender]
            roll = rng.random()
            if roll < 0.06:
                seq += rng.randint(1, 5)  # a gap (later numbers may fill it)
            elif roll < 0.12:
                seq = max(0, seq - rng.randint(1, 4))  # late or repeated
            sent[sender] = max(sent[sender], seq + 1)
            text = b"%d" % seq
            if rng.random() < 0.05:
                text = b"0" + text  # a leading zero: the same number to int()
            found.append((b"%d" % sender, text, b"%d" % rng.choice((100, 100, 200))))
        new, new_latency = FlowCheck(), Histogram()
        old, old_latency = ReferenceFlow(), Histogram()
        for at in range(0, len(found), 7):  # in chunks, so state carries across feeds
            assert new.feed(found[at : at + 7], 1000, new_latency) == len(found[at : at + 7])
            old.feed(found[at : at + 7], 1000, old_latency)
        assert flow_state(new, new_latency) == flow_state(old.flow, old_latency)


def test_flow_checks_numbers_beyond_its_table_of_decimals() -> None:
    flow, hist = FlowCheck(), Histogram()
    flow.feed(triples([(1, 0), (1, 10**9), (1, 10**9 + 1), (1, 10**9 + 1)]), 0, hist)
    assert flow.expected == {b"1": 10**9 + 2}
    assert flow.duplicates == 1 and flow.out_of_order == 0
