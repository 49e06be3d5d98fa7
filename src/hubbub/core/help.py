"""HELP and HELPOP (Modern IRC, "HELP message"), LINKS and INFO: what the server says about
itself and its commands.

Every command in the command table has an entry here (a test walks `COMMANDS`): the first line
is its syntax, the rest what it does. A subject is answered with RPL_HELPSTART (704), any
RPL_HELPTXT (705) and RPL_ENDOFHELP (706); an unknown one with ERR_HELPNOTFOUND (524).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub import __version__
from hubbub.core.commands import COMMANDS, command
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

#: Command (or topic) -> its help: the syntax line first.
HELP_TEXT: dict[str, tuple[str, ...]] = {
    "AUTHENTICATE": (
        "AUTHENTICATE <mechanism> | <base64 data> | *",
        "SASL authentication (PLAIN, SCRAM-SHA-256, EXTERNAL) during registration.",
        "Request the sasl capability first; * aborts the exchange.",
    ),
    "AWAY": (
        "AWAY [<message>]",
        "Marks you away with the message, or back without one. With draft/pre-away it may",
        "be sent before registration; AWAY * means not present for no particular reason.",
    ),
    "CAP": (
        "CAP LS [302] | LIST | REQ :<capabilities> | END",
        "Negotiates IRCv3 capabilities. CAP LS before NICK/USER holds registration until",
        "CAP END.",
    ),
    "CHATHISTORY": (
        "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS <target> ...",
        "Reads stored history of a channel or a private conversation (draft/chathistory).",
    ),
    "DLINE": (
        "DLINE [<minutes>] <address> [:<reason>]",
        "Operators: bans an IP address or network from connecting.",
    ),
    "HELP": (
        "HELP [<subject>]",
        "Shows help on a command; without a subject, lists the commands.",
    ),
    "HELPOP": (
        "HELPOP [<subject>]",
        "The same as HELP.",
    ),
    "INFO": (
        "INFO",
        "Shows the server software's version and where to learn more.",
    ),
    "INVITE": (
        "INVITE [<nick> <channel>]",
        "Invites a user to a channel (an operator's right on +i channels). Without",
        "arguments, lists the channels you are invited to.",
    ),
    "ISON": (
        "ISON <nick> [<nick> ...]",
        "Tells which of the nicks are online (MONITOR does this without asking again).",
    ),
    "JOIN": (
        "JOIN <channel>[,<channel>...] [<key>[,<key>...]] | JOIN 0",
        "Joins channels, creating them if needed; JOIN 0 leaves every channel.",
    ),
    "KICK": (
        "KICK <channel> <nick>[,<nick>...] [:<reason>]",
        "Channel operators: removes users from the channel.",
    ),
    "KILL": (
        "KILL <nick> [:<reason>]",
        "Operators: disconnects a user.",
    ),
    "KLINE": (
        "KLINE [<minutes>] <user@host> [:<reason>]",
        "Operators: bans a user@host mask from the server.",
    ),
    "LINKS": (
        "LINKS",
        "Lists the servers of the network (this one: hubbub runs as a single server).",
    ),
    "LIST": (
        "LIST [<channel>[,...]] [>n|<n|C>m|C<m|T>m|T<m]",
        "Lists channels with their member count and topic; ELIST filters by members (>n,",
        "<n), creation time (C>m, C<m minutes ago), topic time (T>m, T<m) and name masks.",
    ),
    "LUSERS": (
        "LUSERS",
        "Shows how many users, channels and connections the server has.",
    ),
    "MODE": (
        "MODE <nick> [+|-modes] | MODE <channel> [+|-modes [arguments]]",
        "User modes: +i invisible, +w wallops, +B bot. Channel modes: +o +v, +b bans,",
        "+e ban exceptions, +I invite exceptions, +k key, +l limit, +i +m +n +s +t.",
        "Extended bans: a:<account> matches an account, m:<mask> mutes instead of banning.",
    ),
    "BATCH": (
        "BATCH +<ref> draft/multiline <target> ... BATCH -<ref>",
        "Sends one message of several lines (draft/multiline): the PRIVMSG lines between",
        "the two BATCH lines carry the batch=<ref> tag. Limits: CAP LS 302 (max-bytes,",
        "max-lines).",
    ),
    "EDIT": (
        "EDIT <target> <msgid> :<text>",
        "or, with tags: @draft/target-msgid=<msgid>;draft/edit-text=<text> EDIT <target>",
        "Changes the text of a message you sent (draft/message-edit); channel operators may",
        "edit messages in their channel. Clients without the capability see a correction.",
    ),
    "MARKREAD": (
        "MARKREAD <target> [timestamp=<time>]",
        "Sets (with a timestamp) or asks for (without) how far you have read <target>",
        "(draft/read-marker). Markers only move forward and reach all your connections.",
    ),
    "METADATA": (
        "METADATA <target> GET|LIST|SET|CLEAR|SUB|UNSUB|SUBS|SYNC [<key> [:<value>]]",
        "Reads and sets metadata (draft/metadata-2) such as avatar, display-name or",
        "pronouns on yourself (target *) or, as an operator, on a channel.",
    ),
    "MONITOR": (
        "MONITOR +|- <nick>[,<nick>...] | MONITOR C | L | S",
        "Follows nicks: you are told when they come online or leave. C clears the list,",
        "L lists it, S shows who is online now.",
    ),
    "MOTD": (
        "MOTD",
        "Shows the message of the day.",
    ),
    "NAMES": (
        "NAMES [<channel>[,<channel>...]]",
        "Lists the members of channels.",
    ),
    "NICK": (
        "NICK <nickname>",
        "Sets or changes your nickname.",
    ),
    "NOTICE": (
        "NOTICE <target>[,<target>...] :<text>",
        "Sends a notice: like PRIVMSG, but never answered automatically.",
    ),
    "OPER": (
        "OPER <name> <password>",
        "Becomes an IRC operator.",
    ),
    "PART": (
        "PART <channel>[,<channel>...] [:<reason>]",
        "Leaves channels.",
    ),
    "PASS": (
        "PASS <password>",
        "The server password, before NICK and USER, when the server has one.",
    ),
    "PING": (
        "PING <token>",
        "Asks the server to answer PONG with the same token.",
    ),
    "PONG": (
        "PONG <token>",
        "The answer to a PING from the server.",
    ),
    "PRIVMSG": (
        "PRIVMSG <target>[,<target>...] :<text>",
        "Sends a message to a channel or a user (@#channel: its operators only).",
    ),
    "QUIT": (
        "QUIT [:<reason>]",
        "Disconnects.",
    ),
    "REDACT": (
        "REDACT <target> <msgid> [:<reason>]",
        "Deletes a message you sent (or, as a channel operator, any in your channel).",
    ),
    "REGISTER": (
        "REGISTER <account> <email|*> <password>",
        "Creates an account (draft/account-registration).",
    ),
    "REHASH": (
        "REHASH",
        "Operators: re-reads the configuration file.",
    ),
    "RENAME": (
        "RENAME <channel> <new name> [:<reason>]",
        "Channel operators: renames a channel; its history and registration follow it.",
    ),
    "SETNAME": (
        "SETNAME :<real name>",
        "Changes your real name.",
    ),
    "STATS": (
        "STATS <letter>",
        "Operators: server statistics (u uptime, k K-lines, d D-lines, o operators).",
    ),
    "TAGMSG": (
        "TAGMSG <target>",
        "Sends only message tags, such as +typing (needs message-tags).",
    ),
    "TIME": (
        "TIME",
        "Shows the server's time (UTC).",
    ),
    "TOPIC": (
        "TOPIC <channel> [:<topic>]",
        "Shows or sets a channel's topic.",
    ),
    "UNDLINE": (
        "UNDLINE <address>",
        "Operators: lifts a D-line.",
    ),
    "UNKLINE": (
        "UNKLINE <user@host>",
        "Operators: lifts a K-line.",
    ),
    "USER": (
        "USER <username> 0 * :<real name>",
        "Gives your user name and real name during registration.",
    ),
    "USERHOST": (
        "USERHOST <nick> [<nick> ...]",
        "Shows the user@host of up to five nicks.",
    ),
    "VERIFY": (
        "VERIFY <account> <code>",
        "Confirms a new account with the code it was sent.",
    ),
    "VERSION": (
        "VERSION",
        "Shows the server's version and the features it supports (005).",
    ),
    "WALLOPS": (
        "WALLOPS :<text>",
        "Operators: sends a message to everyone with user mode +w.",
    ),
    "WHO": (
        "WHO <channel|mask> [%<fields>[,<token>]]",
        "Lists users in a channel or matching a mask (flags: H here, G away, * operator,",
        "B bot).",
    ),
    "WHOIS": (
        "WHOIS <nick>",
        "Shows who a user is: names, channels, away, account, bot, idle time.",
    ),
    "WHOWAS": (
        "WHOWAS <nick> [<count>]",
        "Shows who recently used a nick (and quit or took another), newest first.",
    ),
}

INDEX_SUBJECT = "*"
COMMANDS_PER_LINE = 10


@command("HELP")
def handle_help(server: ChatServer, reply: Reply, msg: Message) -> None:
    help_reply(reply, msg.params[0] if msg.params else "")


@command("HELPOP")
def handle_helpop(server: ChatServer, reply: Reply, msg: Message) -> None:
    help_reply(reply, msg.params[0] if msg.params else "")


def help_reply(reply: Reply, subject: str) -> None:
    if not subject:
        names = sorted(COMMANDS)
        lines = ["hubbub help: HELP <command> for one of these commands:"]
        lines += [
            " ".join(names[start : start + COMMANDS_PER_LINE])
            for start in range(0, len(names), COMMANDS_PER_LINE)
        ]
        send_help(reply, INDEX_SUBJECT, lines)
        return
    key = subject.upper()
    text = HELP_TEXT.get(key)
    if text is None or key not in COMMANDS:
        reply.numeric(n.ERR_HELPNOTFOUND, subject, "No help available on this topic")
        return
    send_help(reply, key, list(text))


def send_help(reply: Reply, subject: str, lines: list[str]) -> None:
    """704 with the first line, 705 for each middle one, 706 with the last (Modern IRC)."""
    reply.numeric(n.RPL_HELPSTART, subject, lines[0])
    for line in lines[1:-1]:
        reply.numeric(n.RPL_HELPTXT, subject, line)
    reply.numeric(n.RPL_ENDOFHELP, subject, lines[-1] if len(lines) > 1 else "End of /HELP")


@command("LINKS")
def handle_links(server: ChatServer, reply: Reply, msg: Message) -> None:
    """RFC 2812 3.4.5: "With LINKS, a user can list all servernames, which are known by the
    server answering the query." This server at hop count 0; in a cluster, each other live
    node as this node last counted them (every heartbeat), one hop away: the bus links each
    node to every other. A name once: the workers of one machine (`--workers`) share it."""
    description = server.config.server.description
    reply.numeric(n.RPL_LINKS, "*", server.name, f"0 {description}")
    census = server.census()
    listed = {server.name}
    for name, about in census.servers if census is not None else ():
        if name not in listed:
            listed.add(name)
            reply.numeric(n.RPL_LINKS, "*", name, f"1 {about}")
    reply.numeric(n.RPL_ENDOFLINKS, "*", "End of /LINKS list")


@command("INFO")
def handle_info(server: ChatServer, reply: Reply, msg: Message) -> None:
    for line in (
        f"hubbub {__version__}: a multi-party IRC server in Python",
        "A sans-IO core driven by asyncio transports, with durable history in SQLite,",
        "accounts, IRCv3 extensions and a web client.",
        f"This server started {server.created}.",
    ):
        reply.numeric(n.RPL_INFO, line)
    reply.numeric(n.RPL_ENDOFINFO, "End of INFO list")
