"""The command table: each IRC command with the facts checked before its handler runs.

A handler module declares its commands with the `command` decorator; `ChatServer` looks the
command up, checks registration, the parameter count and the operator privilege (answering
451 / 461 / 481 itself), and only then calls the handler with a fresh response buffer. So no
handler repeats those checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

Handler = Callable[["ChatServer", "Reply", "Message"], None]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    handler: Handler
    min_params: int
    # Allowed before the welcome burst (registration commands, CAP, PING, QUIT).
    before_registration: bool
    # Counts as activity for WHOIS idle time (messages do; PING and queries do not).
    activity: bool
    # Only for IRC operators (user mode +o); others get 481 ERR_NOPRIVILEGES.
    oper: bool


COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    min_params: int = 0,
    *,
    before_registration: bool = False,
    activity: bool = False,
    oper: bool = False,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"command {name} registered twice")
        COMMANDS[name] = Command(name, handler, min_params, before_registration, activity, oper)
        return handler

    return register
