"""Large rooms (issue 15): with no-implicit-names a JOIN to a room of 5,000 members costs the
joiner a constant number of lines, counted on its link (no timing)."""

from __future__ import annotations

from core_helpers import Harness

from hubbub.core.model import Membership


def fill(h: Harness, name: str, count: int) -> None:
    """A room with `count` members, put in place directly (registering 5,000 clients through
    the harness would test registration, not JOIN)."""
    owner = h.client("owner")
    owner.send(f"JOIN {name}")
    channel = h.channel(name)
    for i in range(count - 1):
        member = h.client(f"m{i}")
        channel.members[member.user] = Membership()
        member.user.channels[channel.fold] = channel
    channel.groups = None
    h.drain()


def lines_written(data: bytes) -> int:
    return data.count(b"\r\n")


def test_join_of_a_5000_member_room_is_constant_for_the_joiner(h: Harness) -> None:
    fill(h, "#big", 5_000)
    lazy = h.client("lazy", ["no-implicit-names"])
    lazy.link.writes.clear()
    lazy.send("JOIN #big")
    lazy_lines = lines_written(lazy.link.data())
    eager = h.client("eager")
    eager.link.writes.clear()
    eager.send("JOIN #big")
    eager_lines = lines_written(eager.link.data())
    # JOIN (+ topic, replay framing): a handful of lines, whatever the room's size.
    assert lazy_lines <= 4, lazy.link.data()
    assert eager_lines > 50  # NAMES of 5,000 nicks, for contrast


def test_joiner_cost_does_not_grow_with_the_room(h: Harness) -> None:
    fill(h, "#small", 3)
    fill_big = Harness(h.config)
    fill(fill_big, "#big", 2_000)
    counts = []
    for harness, name in ((h, "#small"), (fill_big, "#big")):
        joiner = harness.client("lazy", ["no-implicit-names"])
        joiner.link.writes.clear()
        joiner.send(f"JOIN {name}")
        counts.append(lines_written(joiner.link.data()))
    assert counts[0] == counts[1]
