"""What of a client's line may reach a log: passwords masked.

The transports log every line a client sends at DEBUG. Before that, `redact` masks what a
password could be in: the parameters of PASS, OPER, AUTHENTICATE, REGISTER and VERIFY, and the
text of a message to NickServ (IDENTIFY, REGISTER, SET PASSWORD, DROP all carry one). This is
the one place that knows which commands and which service carry secrets; it does no I/O.
"""

from __future__ import annotations

__all__ = ["SECRET_COMMANDS", "SERVICES", "redact"]

# Commands whose parameters must not reach a log file: how many leading parameters stay
# readable (OPER <name> <password>, REGISTER <account> <email> <password>). NICKSERV / NS are
# the aliases some clients send for "PRIVMSG NickServ".
SECRET_COMMANDS = {
    "PASS": 0,
    "OPER": 1,
    "AUTHENTICATE": 0,
    "REGISTER": 2,
    "VERIFY": 1,
    "NICKSERV": 1,
    "NS": 1,
}
# Messages to these pseudo-users carry passwords (IDENTIFY, REGISTER, SET PASSWORD, DROP):
# only the first word of the text is logged.
SERVICES = frozenset({"nickserv"})


def redact(line: str) -> str:
    """The line as it may be logged: passwords (PASS, OPER, AUTHENTICATE, REGISTER, and
    messages to NickServ) masked."""
    rest = line
    head = ""
    if rest.startswith("@"):
        tags, _, rest = rest.partition(" ")
        head = tags + " "
    stripped = rest.lstrip(" ")
    head += rest[: len(rest) - len(stripped)]
    rest = stripped
    if rest.startswith(":"):
        source, _, rest = rest.partition(" ")
        head += source + " "
    command, _, params = rest.partition(" ")
    upper = command.upper()
    if upper in ("PRIVMSG", "NOTICE"):
        target, _, text = params.lstrip(" ").partition(" ")
        if target.partition("@")[0].lower() not in SERVICES:
            return line
        word = text.lstrip(" ").removeprefix(":").split(" ", 1)[0]
        return f"{head}{command} {target} :{word} ***"
    keep = SECRET_COMMANDS.get(upper)
    if keep is None or not params:
        return line
    parts = params.split(" ", keep)
    # Fewer parameters than expected: the last one may still be the password.
    shown = parts[:keep] if len(parts) > keep else parts[:-1]
    return " ".join([head + command, *shown, "***"])
