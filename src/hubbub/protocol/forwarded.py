"""Who the client behind an HTTP proxy is: `Forwarded` (RFC 7239) and `X-Forwarded-For`.

Used for the WebSocket listener when the peer is a trusted proxy (`[proxy] trusted`). Each
proxy appends the address it received the request from, so the list reads client first, nearest
proxy last. Only the entries added by trusted proxies can be believed: `client_address` walks
the list from the right, skipping trusted proxies, and the first address that is not one is the
client. Anything a client wrote itself further left is ignored. An unusable entry ("unknown",
an obfuscated `_name`, garbage) stops the walk: the answer is then None and the caller keeps
the address it has. `Forwarded` wins over `X-Forwarded-For` when both are present.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

__all__ = ["client_address", "forwarded_for"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _node(text: str) -> Address | None:
    """An address from a `for=` node or an X-Forwarded-For entry (ports and brackets dropped)."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):  # [v6] or [v6]:port
        end = text.find("]")
        if end < 0:
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def forwarded_for(values: Sequence[str]) -> list[Address | None]:
    """The `for=` nodes of `Forwarded` header values, in order (None: unusable node)."""
    nodes: list[Address | None] = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, node = pair.partition("=")
                if name.strip().lower() == "for":
                    nodes.append(_node(node))
    return nodes


def client_address(
    forwarded: Sequence[str],
    x_forwarded_for: Sequence[str],
    trusted: Callable[[Address], bool],
) -> str | None:
    """The client's address by the headers, believed only as far as trusted proxies vouch."""
    if forwarded:
        chain = forwarded_for(forwarded)
    else:
        chain = [_node(entry) for value in x_forwarded_for for entry in value.split(",")]
    for address in reversed(chain):
        if address is None:
            return None
        if not trusted(address):
            return (
                str(address.ipv4_mapped or address)
                if isinstance(address, ipaddress.IPv6Address)
                else str(address)
            )
    return None
