"""The settings of one `hubbub chat` run, from the command line."""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field

__all__ = ["ChatOptions", "default_nick"]

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


def default_nick() -> str:
    """The login name, cut down to what IRC allows in a nick (`guest` if nothing is left)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = os.environ.get("USER", "")
    nick = re.sub(r"[^A-Za-z0-9_\-\[\]\\^{}|`]", "", login)[:30].lstrip("-0123456789")
    return nick or "guest"
