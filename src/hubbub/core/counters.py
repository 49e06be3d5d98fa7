"""Plain integer counters the core keeps for operators; read by `hubbub.metrics` at scrape time.

The core stays free of any metrics library: it only adds to integers here, and the metrics
module (outside the core) turns them into Prometheus samples when someone scrapes. On the
fan-out hot path that is one integer add per message (`deliveries` by the number of
recipients, once per fan-out) plus one per histogram bucket, never a call per recipient.

The fan-out size histogram is kept in powers of two: a fan-out to `n` recipients goes to bucket
`n.bit_length()` (0 for none, 1 for one, 2 for two or three, 3 for four to seven, …), so
bucket `k` holds the sizes up to `2**k - 1`. One `bit_length` and one list add per message.
"""

from __future__ import annotations

__all__ = ["FANOUT_BUCKETS", "Counters"]

#: Buckets of the fan-out size histogram: sizes up to 2**31 - 1 recipients.
FANOUT_BUCKETS = 32


class Counters:
    """What happened since start, as integers. Everything here runs on the event loop."""

    __slots__ = (
        "command",
        "commands_in",
        "deliveries",
        "dline_refusals",
        "fanout_sizes",
        "fanouts",
        "kline_refusals",
        "login_failures",
        "login_successes",
        "login_throttles",
        "registrations",
        "room_flood_throttles",
    )

    def __init__(self) -> None:
        #: The command being handled (its deliveries are counted under it); "" outside one.
        self.command = ""
        #: Lines received, by command (only commands the server knows: a bounded table).
        self.commands_in: dict[str, int] = {}
        #: Lines handed to recipients' links, by the command whose handling fanned them out.
        self.deliveries: dict[str, int] = {}
        #: Fan-outs, and their sizes in power-of-two buckets (see the module docstring).
        self.fanouts = 0
        self.fanout_sizes = [0] * FANOUT_BUCKETS
        #: Connections that completed registration.
        self.registrations = 0
        self.login_successes = 0
        self.login_failures = 0
        self.login_throttles = 0
        #: Connections refused by a D-line (at connect) or a K-line (at registration).
        self.dline_refusals = 0
        self.kline_refusals = 0
        #: Messages refused by a channel's +f limit.
        self.room_flood_throttles = 0

    def fanout(self, recipients: int) -> None:
        """One fan-out to `recipients` links (called once per message, not per recipient;
        `ChatServer.fanout` does the same adds inline for a room message: keep them alike)."""
        self.fanouts += 1
        self.fanout_sizes[min(recipients.bit_length(), FANOUT_BUCKETS - 1)] += 1
        command = self.command
        self.deliveries[command] = self.deliveries.get(command, 0) + recipients
