"""Pseudo-users (NickServ, ChanServ, HistServ) and the one command table they share.

A service is a `ServiceTable`: its nick, and its commands declared with `@table.command(...)`
beside their handlers, each with the facts checked before the handler runs — the number of
arguments (else "Syntax: …") and whether the user must be logged in. HELP is written from the
table. A PRIVMSG to the service's nick reaches
`ServiceTable.dispatch` (hubbub.core.messaging); services never see NOTICEs, and their
messages are never relayed, stored or echoed (NickServ's carry passwords).

Each `ChatServer` makes one `User` per service (`service_user`): it has no connection and is
found by `ChatServer.find_user` through `server.services`, never in `server.users`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubbub.core.model import Phase, Session, User

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer

ServiceHandler = Callable[["ChatServer", "Reply", list[str]], None]

# Names nobody may register or use as an account (casefolded: rfc1459 and ascii agree here).
RESERVED = frozenset({"nickserv", "chanserv", "histserv", "operserv", "memoserv", "hostserv"})


@dataclass(frozen=True, slots=True)
class ServiceCommand:
    name: str
    handler: ServiceHandler
    syntax: str  # the arguments, for HELP and "Syntax:" answers
    summary: str
    min_args: int
    logged_in: bool  # only for users logged in to an account


class ServiceTable:
    """One service: its nick and its command table."""

    def __init__(self, nick: str, realname: str, intro: str, login_text: str) -> None:
        self.nick = nick
        self.realname = realname
        self.intro = intro
        self.login_text = login_text  # the answer to a logged_in command without a login
        self.commands: dict[str, ServiceCommand] = {}
        self.footer: tuple[str, ...] = ()

    def command(
        self,
        name: str,
        syntax: str = "",
        summary: str = "",
        *,
        min_args: int = 0,
        aliases: tuple[str, ...] = (),
        logged_in: bool = False,
    ) -> Callable[[ServiceHandler], ServiceHandler]:
        def register(handler: ServiceHandler) -> ServiceHandler:
            entry = ServiceCommand(name, handler, syntax, summary, min_args, logged_in)
            for key in (name, *aliases):
                if key in self.commands:
                    raise ValueError(f"{self.nick} command {key} registered twice")
                self.commands[key] = entry
            return handler

        return register

    def prefix(self, server: ChatServer) -> str:
        return f"{self.nick}!{self.nick}@{server.name}"

    def say(self, server: ChatServer, reply: Reply, text: str) -> None:
        """A NOTICE from the service to the requester."""
        reply.add(f":{self.prefix(server)} NOTICE {reply.session.user.nick} :{text}")

    def help_lines(self) -> list[str]:
        lines = [self.intro]
        seen: set[str] = set()
        for entry in self.commands.values():
            if entry.name in seen:
                continue
            seen.add(entry.name)
            usage = f"{entry.name} {entry.syntax}".rstrip()
            lines.append(f"{usage} - {entry.summary}" if entry.summary else usage)
        lines.extend(self.footer)
        return lines

    def dispatch(self, server: ChatServer, reply: Reply, text: str) -> None:
        """A PRIVMSG to the service: look the command up, check it, run it."""
        user = server.services.get(server.fold(self.nick))
        if user is not None:
            user.last_active = server.now
        words = text.split()
        name = words[0].upper() if words else "HELP"
        args = words[1:]
        if name == "HELP":
            for line in self.help_lines():
                self.say(server, reply, line)
            return
        entry = self.commands.get(name)
        requester = reply.session.user
        if entry is None:
            self.say(server, reply, f"Unknown command {name}; try HELP")
        elif entry.logged_in and not requester.account:
            self.say(server, reply, self.login_text)
        elif len(args) < entry.min_args:
            self.say(server, reply, f"Syntax: {entry.name} {entry.syntax}; try HELP")
        else:
            entry.handler(server, reply, args)


class NullLink:
    """A service user's link: it has no connection, and nothing is ever written to it."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def service_user(server: ChatServer, table: ServiceTable) -> User:
    """The pseudo-user of a service, registered in `server.services`."""
    session = Session(NullLink(), server.name, 0, server.now, False)
    session.phase = Phase.REGISTERED
    user = session.user
    user.nick, user.fold = table.nick, server.fold(table.nick)
    user.username = table.nick
    user.hostname = server.name
    user.realname = table.realname
    user.service = table.dispatch
    server.services[user.fold] = user
    return user
