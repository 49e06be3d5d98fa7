"""IRCv3 server-time timestamps (https://ircv3.net/specs/extensions/server-time).

The wire form is ISO 8601 in UTC with milliseconds, e.g. 2026-11-24T21:05:03.123Z; hubbub keeps
times as integer unix milliseconds.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime, tzinfo

#: A time zone, as the core is handed one (hubbub.core.ports.Ports.zones): pure data.
Zone = tzinfo
UTC_ZONE: Zone = UTC


def format_server_time(time_ms: int) -> str:
    seconds, millis = divmod(time_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def format_utc(seconds: float, pattern: str) -> str:
    """A unix time as UTC text in a strftime pattern. Pure: it reads no clock, and the output
    never depends on the server's time zone (the core's one way to show a time as text)."""
    return time.strftime(pattern, time.gmtime(seconds))


def format_stamp(time_ms: int, now: float, zone: Zone) -> str:
    """The [HH:MM] prefix of a replayed line for a client without server-time, with the date
    when the line is not from the day of `now`, both in `zone`. Pure: `now` is given."""
    moment = datetime.fromtimestamp(time_ms / 1000, zone)
    if moment.date() != datetime.fromtimestamp(now, zone).date():
        return moment.strftime("[%Y-%m-%d %H:%M]")
    return moment.strftime("[%H:%M]")


def parse_server_time(text: str) -> int | None:
    """Unix milliseconds, or None when the text is not a server-time timestamp."""
    if not text.endswith("Z"):
        return None
    main, dot, frac = text[:-1].partition(".")
    if dot and not (frac.isdigit() and len(frac) <= 9):
        return None
    try:
        seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    millis = int((frac + "000")[:3]) if frac else 0
    return seconds * 1000 + millis
