"""Time zones by name, as the core's `Ports.zones` (hubbub.core.ports).

Finding a zone reads the system's zone database (a file), so the core never does it itself:
the application hands it this function, and asks once for the configured zone at start-up and
on REHASH, so that the event loop never waits for that read later.
"""

from __future__ import annotations

import functools
import zoneinfo

from hubbub.protocol.servertime import UTC_ZONE, Zone

__all__ = ["zone_named"]


@functools.cache
def zone_named(name: str) -> Zone:
    """The zone called `name` ("UTC" or an IANA name the config loader already checked)."""
    return UTC_ZONE if name == "UTC" else zoneinfo.ZoneInfo(name)
