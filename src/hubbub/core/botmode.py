"""Bot mode (https://ircv3.net/specs/extensions/bot-mode): user mode +B marks a bot.

The mode character is advertised as BOT=B in ISUPPORT and is also the WHO flag; WHOIS shows
RPL_WHOISBOT (335); and a bot's PRIVMSG, NOTICE and TAGMSG carry the `bot` tag to clients
that negotiated message-tags. The tag rides with the message's client-only tags, which
fan-out formats once per tag profile and sends only to message-tags clients, so marking a
bot costs nothing per recipient.
"""

from __future__ import annotations

#: The user mode, the ISUPPORT value and the WHO flag.
BOT_MODE = "B"
#: The tag on a bot's messages: never with a value ("Servers MUST NOT send this tag with a
#: value").
BOT_TAG = "bot"


def with_bot_tag(client_tags: str) -> str:
    """A bot's message's tag section for message-tags clients: `bot` before the client's own
    tags (escaped, without '@')."""
    return f"{BOT_TAG};{client_tags}" if client_tags else BOT_TAG
