"""A HexChat plugin that lets a test drive HexChat (tests/support/hexchat.py).

HexChat loads it from its config directory's addons/ at start. What HexChat shows the user
(its print events: channel messages with their time, joins, quits, WHOIS lines, ...) goes to
the file named by HUBBUB_HEXCHAT_EVENTS as JSON, one event per line; the test's commands come
from the file named by HUBBUB_HEXCHAT_COMMANDS, one JSON object per line, read every 50 ms.

It runs inside HexChat's own Python (the system's python3), so it uses the standard library
alone.
"""

import json
import os

import hexchat

__module_name__ = "hubbub-test-driver"
__module_version__ = "1.0"
__module_description__ = "drives HexChat for hubbub's end-to-end tests"

EVENTS = os.environ["HUBBUB_HEXCHAT_EVENTS"]
COMMANDS = os.environ["HUBBUB_HEXCHAT_COMMANDS"]
read_so_far = 0

# The print events a test looks at, and the names of their words (HexChat's Settings >
# Text Events lists each event's $1, $2, ...).
PRINTS = {
    "Channel Message": ("nick", "text", "mode", "identified"),
    "Channel Msg Hilight": ("nick", "text", "mode", "identified"),
    "Your Message": ("nick", "text", "mode", "identified"),
    "Join": ("nick", "channel", "host", "account"),
    "You Join": ("nick", "channel", "host", "account"),
    "Part": ("nick", "host", "channel"),
    "Part with Reason": ("nick", "host", "channel", "reason"),
    "Quit": ("nick", "reason", "host"),
    "Change Nick": ("old", "new"),
    "Topic": ("channel", "topic"),
    "Topic Change": ("nick", "topic", "channel"),
    "Connected": (),
    "Disconnected": ("error",),
    "Motd": ("text",),
    "Server Text": ("text",),
    "Server Error": ("text",),
    "Capability List": ("server", "caps"),
    "Capability Acknowledgement": ("server", "caps"),
    "SASL Authenticating": ("account", "mechanism"),
    "SASL Response": ("server", "numeric", "nick", "text"),
    "WhoIs Name Line": ("nick", "user", "host", "real"),
    "WhoIs Server Line": ("nick", "server"),
    "WhoIs Channel/Oper Line": ("nick", "channels"),
    "WhoIs Identified": ("nick", "text", "account"),
    "WhoIs End": ("nick",),
    "Private Message": ("nick", "text", "identified"),
    "Private Message to Dialog": ("nick", "text", "identified"),
    "Notice": ("nick", "text"),
    "Channel Notice": ("nick", "channel", "text"),
    "Server Notice": ("text", "server"),
    "Channel Operator": ("nick", "target"),
    "Channel Mode Generic": ("nick", "sign", "mode", "channel"),
}


def emit(event):
    with open(EVENTS, "a", encoding="utf-8") as events:  # closed, so the test reads it whole
        events.write(json.dumps(event) + "\n")


def printed(name, fields):
    def callback(word, word_eol, userdata, attrs):
        # `time`: the line's server-time (0 without one); `tab`: where HexChat showed it.
        event = {"type": name, "time": attrs.time, "tab": hexchat.get_info("channel")}
        event.update(zip(fields, word, strict=False))  # an event may carry fewer words
        emit(event)
        return hexchat.EAT_NONE

    return callback


for _name, _fields in PRINTS.items():
    hexchat.hook_print_attrs(_name, printed(_name, _fields))


def users(channel):
    context = hexchat.find_context(channel=channel)
    if context is None:
        return None
    # [nick, prefix, account]: the account HexChat knows the user by (None: none known).
    return sorted([user.nick, user.prefix, user.account] for user in context.get_list("users"))


def run(command):
    what = command["do"]
    if what == "command":
        # In the channel's tab when one is named, else in the server's.
        context = hexchat.find_context(channel=command["channel"]) if "channel" in command else None
        (context or hexchat.get_context()).command(command["line"])
    elif what == "users":
        emit({"type": "users", "channel": command["channel"], "users": users(command["channel"])})
    elif what == "info":
        info = {key: hexchat.get_info(key) for key in ("nick", "network", "server")}
        emit({"type": "info", **info})


def poll(userdata):
    global read_so_far
    with open(COMMANDS, "rb") as commands:
        commands.seek(read_so_far)
        while True:
            line = commands.readline()
            if not line.endswith(b"\n"):  # nothing more, or a line still being written
                break
            read_so_far += len(line)
            try:
                run(json.loads(line))
            except Exception as error:  # reported to the test, which fails on it
                emit({"type": "driver error", "error": repr(error), "line": line.decode()})
    return True  # keep polling


hexchat.hook_timer(50, poll)
emit({"type": "loaded"})
