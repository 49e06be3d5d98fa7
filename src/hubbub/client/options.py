"""The settings of one `hubbub chat` run, from the command line."""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field

__all__ = ["ChatOptions", "default_nick", "format_address", "parse_servers"]

PASSWORD_ENV = "HUBBUB_PASSWORD"


@dataclass(frozen=True)
class ChatOptions:
    host: str = "127.0.0.1"
    port: int = 6667
    nick: str = field(default_factory=lambda: default_nick())
    rooms: tuple[str, ...] = ("#lobby",)
    plain: bool = False
    once: bool = False
    password: str | None = None
    backoff_base: float = 1.0
    """First reconnection delay in seconds (doubling up to 30 s); tests make it short."""
    caps: tuple[str, ...] | None = None
    """The IRCv3 capabilities to request when offered; None: all the client can use
    (`hubbub.client.state.WANTED_CAPS`). Fewer stand in for an older server in tests."""
    more_servers: tuple[tuple[str, int], ...] = ()
    """Other servers of the same network, (host, port), tried in this order after
    `host:port` when a connection is lost (`hubbub chat --server`)."""

    @property
    def servers(self) -> tuple[tuple[str, int], ...]:
        """Every server to try, in order: `host:port` first, then `more_servers`."""
        return ((self.host, self.port), *self.more_servers)


def parse_servers(text: str, default_port: int) -> list[tuple[str, int]]:
    """The servers of one `--server` value: `HOST[:PORT]`, comma-separated for several;
    an IPv6 address with a port is bracketed (`[::1]:6667`). Raises ValueError, saying why."""
    servers: list[tuple[str, int]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"an empty server name in {text!r}")
        if item.startswith("["):
            host, bracket, rest = item[1:].partition("]")
            if not bracket or not host or (rest and not rest.startswith(":")):
                raise ValueError(f"{item!r} is not HOST[:PORT] ([ADDRESS]:PORT for IPv6)")
            port_text = rest[1:]
        elif item.count(":") > 1:  # a bare IPv6 address: no port
            host, port_text = item, ""
        else:
            host, _, port_text = item.partition(":")
            if not host:
                raise ValueError(f"{item!r} names no host")
        port = default_port
        if port_text:
            if not port_text.isdigit() or not (1 <= int(port_text) <= 65535):
                raise ValueError(f"{item!r}: the port is not a TCP port (1-65535)")
            port = int(port_text)
        servers.append((host, port))
    return servers


def format_address(host: str, port: int) -> str:
    """`host:port` as people write it (`[::1]:6667` for IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_nick() -> str:
    """The login name, cut down to what IRC allows in a nick (`guest` if nothing is left)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = os.environ.get("USER", "")
    nick = re.sub(r"[^A-Za-z0-9_\-\[\]\\^{}|`]", "", login)[:30].lstrip("-0123456789")
    return nick or "guest"
