from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.transport.flood import TokenBucket


def test_starts_full_and_allows_a_burst() -> None:
    bucket = TokenBucket(burst=3, rate=1.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(1.0)


def test_wait_is_time_until_the_next_token() -> None:
    bucket = TokenBucket(burst=1, rate=4.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(0.25)
    assert bucket.take(0.1) == pytest.approx(0.15)
    assert bucket.take(0.25) == 0.0


def test_a_refused_take_takes_nothing() -> None:
    bucket = TokenBucket(burst=1, rate=1.0)
    bucket.take(0.0)
    for _ in range(10):
        assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(1.0) == 0.0


def test_refill_is_capped_at_burst() -> None:
    bucket = TokenBucket(burst=2, rate=10.0)
    bucket.take(0.0)
    bucket.take(0.0)
    taken = [bucket.take(1000.0) for _ in range(3)]
    assert taken[:2] == [0.0, 0.0]
    assert taken[2] > 0


def test_clock_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(burst=1, rate=1.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(5.0) > 0
    assert bucket.take(10.5) == pytest.approx(0.5)
    assert bucket.take(11.0) == 0.0


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(burst=0, rate=1.0)
    with pytest.raises(ValueError):
        TokenBucket(burst=1, rate=0.0)


@given(
    burst=st.integers(1, 50),
    rate=st.floats(0.1, 100.0),
    steps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    burst: int, rate: float, steps: list[float]
) -> None:
    bucket = TokenBucket(burst, rate)
    now = 0.0
    taken = 0
    for step in steps:
        now += step
        wait = bucket.take(now)
        assert wait >= 0.0
        if wait == 0.0:
            taken += 1
        else:
            # Waiting as told is always enough.
            assert wait <= 1.0 / rate + 1e-9
    assert taken <= burst + now * rate + 1e-6


@given(burst=st.integers(1, 20), rate=st.floats(0.5, 50.0))
def test_waiting_as_told_gets_a_token(burst: int, rate: float) -> None:
    bucket = TokenBucket(burst, rate)
    now = 0.0
    for _ in range(burst):
        assert bucket.take(now) == 0.0
    for _ in range(20):
        wait = bucket.take(now)
        assert wait > 0
        now += wait + 1e-9
        assert bucket.take(now) == 0.0
