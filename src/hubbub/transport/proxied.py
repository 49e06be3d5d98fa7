"""Which peers are trusted proxies (`[proxy] trusted`): only they may say who the client is,
with the PROXY protocol (TCP) or `Forwarded` / `X-Forwarded-For` (WebSocket)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["TrustedProxies"]


class TrustedProxies:
    """A set of addresses and networks; `trusts(host)` for a peer's address text."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def trusts(self, host: str) -> bool:
        if not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        return self.trusts_address(address)
