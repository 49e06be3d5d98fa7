"""Strict Transport Security (https://ircv3.net/specs/extensions/sts): the `sts` capability.

With `tls.sts` on and a certificate configured, CAP LS 302 carries `sts` with a value that
depends on the connection: over plain text the **upgrade policy** `port=<tls.port>` ("To
enforce an STS upgrade policy, servers MUST send this key to non-securely connected
clients"), over TLS the **persistence policy** `duration=<tls.sts_duration>` ("servers MUST
send this key to securely connected clients"). It is off by default: a client that obeys it
refuses the server's certificate unless it verifies (a `hubbub cert` self-signed pair does
not), so turning it on is the administrator's deliberate choice, as the spec asks ("this
capability MUST be made available as an optional configuration setting").

Clients never request it: `CAP REQ sts` is refused (NAK) like any name not offered for
request, and it never appears in CAP LIST.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubbub.core.model import Session
    from hubbub.core.server import ChatServer

CAPABILITY = "sts"


def sts_entry(server: ChatServer, session: Session) -> str | None:
    """The `sts=...` entry for this connection's CAP LS 302, or None when not offered."""
    tls = server.config.tls
    if not tls.sts or not tls.cert:
        return None
    if session.secure:
        return f"{CAPABILITY}=duration={tls.sts_duration}"
    return f"{CAPABILITY}=port={tls.port}"
