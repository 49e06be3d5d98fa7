"""draft/pre-away (https://ircv3.net/specs/extensions/pre-away): AWAY before registration.

"If the capability has been negotiated, servers MUST accept the AWAY command before
connection registration has completed." Without it, AWAY before the welcome is refused like
any other command (451). Nobody can see an unregistered connection, so nothing is relayed:
the away message is simply in place when the user arrives (WHOIS, WHO, away-notify on JOIN),
and, as the spec asks, it "does not inhibit reporting of the change in nickname status"
(MONITOR still reports the user online). `AWAY *` ("not present for an unspecified reason")
is kept as the away message `*`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.reply import Reply

CAPABILITY = "draft/pre-away"


def away_before_registration(reply: Reply, text: str) -> None:
    """AWAY from a connection that has not registered yet."""
    session = reply.session
    if CAPABILITY not in session.caps:
        reply.numeric(n.ERR_NOTREGISTERED, "You have not registered")
        return
    session.user.away = text
    if text:
        reply.numeric(n.RPL_NOWAWAY, "You have been marked as being away")
    else:
        reply.numeric(n.RPL_UNAWAY, "You are no longer marked as being away")
