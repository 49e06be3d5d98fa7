"""The fixed-rate pacer (`--rate`): when each sender sends, on a simulated clock."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.bench.worker import _pace


class RecordingSender:
    """What `_pace` uses of a Sender: its id, counters and `send`; records each send's time."""

    def __init__(self, sid: int, clock: list[int]) -> None:
        self.sid = sid
        self.seq = 0
        self.acked = 0
        self.clock = clock
        self.sent_at: list[int] = []

    def send(self, count: int) -> None:
        if count > 0:
            self.sent_at += [self.clock[0]] * count
            self.seq += count


def run_pacer(senders: int, rate: float, duration_us: int, window: int = 0) -> list[Any]:
    clock = [0]

    async def tick() -> None:
        clock[0] += 1000  # the pacer's millisecond, simulated

    recorders = [RecordingSender(sid, clock) for sid in range(senders)]
    asyncio.run(
        _pace(
            recorders,  # type: ignore[arg-type]
            senders,
            rate / senders,
            window,
            0,
            duration_us,
            clock=lambda: clock[0],
            tick=tick,
        )
    )
    return recorders


def test_senders_are_spread_over_the_period_not_in_step() -> None:
    # 10 senders at 2,500 msg/s in all: each sends every 4 ms, sender k 0.4·k ms after sender 0.
    recorders = run_pacer(10, 2500.0, 40_000)
    firsts = [r.sent_at[0] for r in recorders]
    assert firsts == [0, 1000, 1000, 2000, 2000, 2000, 3000, 3000, 4000, 4000]
    # In step, all ten were due in the first millisecond; now no millisecond has more than
    # the 2.5 messages the rate gives it, rounded up.
    per_tick: dict[int, int] = {}
    for recorder in recorders:
        for at in recorder.sent_at:
            per_tick[at] = per_tick.get(at, 0) + 1
    assert max(per_tick.values()) <= 3


def test_the_total_rate_is_kept() -> None:
    recorders = run_pacer(10, 2500.0, 1_000_000)
    sent = sum(r.seq for r in recorders)
    # A second at 2,500/s: each sender's phase costs it at most its last message.
    assert 2500 - 10 <= sent <= 2500


def test_the_window_still_bounds_unacknowledged_messages() -> None:
    recorders = run_pacer(2, 2000.0, 100_000, window=3)
    assert [r.seq for r in recorders] == [3, 3]  # nobody acknowledged anything
