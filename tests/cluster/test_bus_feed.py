"""RoomFeed: whatever order events arrive in, they leave in seq order, once each (no Redis)."""

from __future__ import annotations

from hubbub.cluster.bus_feed import PENDING_LIMIT, RoomFeed, Sequenced


def event(seq: int) -> Sequenced:
    return Sequenced("#r", seq, 1000 + seq, "a", str(seq).encode())


def seqs(events: list[Sequenced]) -> list[int]:
    return [item.seq for item in events]


def started(seq: int = 0) -> RoomFeed:
    feed = RoomFeed("#r")
    feed.start(seq)
    feed.held = False
    return feed


def test_in_order_events_pass_straight_through() -> None:
    feed = started()
    assert seqs(feed.offer(event(1))) == [1]
    assert seqs(feed.offer(event(2))) == [2]
    assert feed.missing_from() is None


def test_a_gap_holds_later_events_until_it_is_filled() -> None:
    feed = started()
    feed.offer(event(1))
    assert feed.offer(event(4)) == []
    assert feed.missing_from() == 2
    assert seqs(feed.offer(event(3))) == []
    assert seqs(feed.offer(event(2))) == [2, 3, 4]
    assert feed.missing_from() is None


def test_duplicates_and_events_before_the_snapshot_are_dropped() -> None:
    feed = RoomFeed("#r")
    feed.offer(event(3))  # live before the snapshot is known
    feed.offer(event(5))
    feed.start(4)
    assert feed.release() == []  # still held: the subscriber has no snapshot yet
    feed.held = False
    assert seqs(feed.release()) == [5]
    assert feed.offer(event(5)) == []
    assert feed.offer(event(2)) == []


def test_seq_known_from_elsewhere_asks_for_a_fill() -> None:
    feed = started(7)
    feed.known = 9  # the heartbeat's sweep saw seq 9 in Redis
    assert feed.missing_from() == 8


def test_trimmed_events_are_skipped() -> None:
    feed = started(2)
    feed.offer(event(9))
    feed.skip_to(7)
    assert seqs(feed.offer(event(8))) == [8, 9]


def test_pending_is_bounded_and_what_did_not_fit_is_fetched_again() -> None:
    feed = started()
    for seq in range(2, PENDING_LIMIT + 10):
        feed.offer(event(seq))
    assert len(feed.pending) == PENDING_LIMIT
    assert feed.missing_from() == 1
    # The event needed next always gets in (the latest kept one makes room for it).
    delivered = feed.offer(event(1))
    assert seqs(delivered) == list(range(1, PENDING_LIMIT + 1))
    assert feed.missing_from() == PENDING_LIMIT + 1


def test_restart_forgets_everything() -> None:
    feed = started(5)
    feed.offer(event(7))
    feed.restart()
    assert (feed.delivered, feed.known, feed.pending, feed.held) == (None, 0, {}, True)
    assert feed.missing_from() is None


def test_a_rewind_delivers_again_from_the_seq_asked_for() -> None:
    """A room renamed onto one the node had just subscribed to continues from the rename's
    marker: the feed goes back there and asks for the events since (hubbub.cluster.node)."""
    feed = started(5)
    assert seqs(feed.offer(event(6))) == [6]
    feed.rewind(2)
    assert feed.missing_from() == 3
    assert feed.offer(event(7)) == []  # live, after the ones to fetch again
    assert seqs(feed.offer(event(3))) == [3]
    assert seqs(feed.offer(event(4))) == [4]
    assert seqs(feed.offer(event(5))) == [5]
    assert seqs(feed.offer(event(6))) == [6, 7]
    feed.rewind(9)  # not back: nothing after 7 was delivered yet
    assert feed.delivered == 7


def test_a_rewind_before_the_snapshot_is_known_starts_the_feed_there() -> None:
    feed = RoomFeed("#r")
    feed.rewind(4)
    feed.rewind(6)
    feed.start(9)
    assert (feed.delivered, feed.known, feed.rewound) == (4, 9, None)
    feed.held = False
    assert feed.missing_from() == 5


def test_a_lost_end_delivers_the_seqs_after_it_again_and_forgets_what_it_kept_there() -> None:
    """Redis lost the room's end: the seqs after `after` may be other events now (sequenced
    since it was back), so the feed delivers them again, from the stream rather than from
    what it kept early or its own last event, which Redis lost."""
    feed = started()
    for seq in (1, 2, 3):
        feed.offer(event(seq))
    feed.offer(event(5))  # (kept early: 4 missing)
    feed.sequenced(3, 1003)
    feed.lost_after(1)
    assert (feed.delivered, feed.pending, feed.sent) == (1, {}, 0)
    assert (feed.delivered_node, feed.delivered_time) == ("", 0)  # (that event's: not known)
    assert feed.missing_from() == 2  # (fetched from the stream)
    again = Sequenced("#r", 2, 2000, "b", b"new")
    assert feed.offer(again) == [again]


def test_a_feed_started_from_a_snapshot_knows_the_time_of_its_last_event() -> None:
    """Its place, for the bus's check at a reconnection (SEED): the snapshot's seq and time,
    not a seq rewound to before it, whose event's time is not known."""
    feed = RoomFeed("#r")
    feed.start(5, 1005)
    assert (feed.delivered, feed.delivered_time, feed.delivered_node) == (5, 1005, "")
    rewound = RoomFeed("#r")
    rewound.rewind(2)
    rewound.start(5, 1005)
    assert (rewound.delivered, rewound.delivered_time) == (2, 0)
