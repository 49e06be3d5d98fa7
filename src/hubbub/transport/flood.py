"""Flood control: a token bucket, pure (the caller passes the clock).

Each line a client sends costs one token. The bucket holds at most `burst` tokens and refills at
`rate` tokens per second, so a client may send `burst` lines at once and `rate` lines per second
after that. The transport asks `take(now)` for each line; a positive answer is how long to wait
before the next token exists (the transport then stops reading from that client for that long).

A big answer costs more than its command's line (`hubbub.core.budget.take_output_cost`): the
transport `charge`s that cost after the command, and the bucket may go into debt (below zero).
A client in debt is not read from until the debt is paid and a token exists again; the debt is
time to wait, never lines waiting, so it never counts toward an Excess Flood disconnect.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """`burst` tokens at most, refilled at `rate` per second; starts full."""

    __slots__ = ("_last", "_tokens", "burst", "charged", "rate")

    def __init__(self, burst: float, rate: float, now: float | None = None) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.burst = float(burst)
        self.rate = float(rate)
        self._tokens = float(burst)
        # None until the first take: the bucket starts full whatever clock the caller uses.
        self._last = now
        # An answer's cost was charged and the bucket has not been full since: lines that
        # would have had a token without that charge wait (see `excess_allowance`).
        self.charged = False

    @property
    def tokens(self) -> float:
        """Tokens left as of the last `take` (not refilled to the present)."""
        return self._tokens

    def charge(self, cost: float) -> None:
        """Take `cost` tokens more (an answer's size), going below zero if need be."""
        if cost > 0:
            self._tokens -= cost
            self.charged = True

    def excess_allowance(self) -> int:
        """Lines that may wait beyond the usual limit: a debt never turns lines that would have
        had a token without it (up to a burst) into an Excess Flood."""
        return int(self.burst) if self.charged else 0

    def wait(self, now: float) -> float:
        """Seconds from `now` until a token exists (0.0 if one does); takes nothing."""
        tokens = self._tokens
        last = self._last
        if last is not None and now > last:
            tokens = min(self.burst, tokens + (now - last) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, now: float) -> float:
        """Take one token at time `now` (seconds, any monotonic clock).

        Returns 0.0 when a token was taken, otherwise the seconds until one will be available
        (nothing is taken then). A clock that goes backwards never adds tokens.
        """
        last = self._last
        tokens = self._tokens
        if last is not None and now > last:
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= self.burst:
                self.charged = False
        if last is None or now > last:
            self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self.rate
