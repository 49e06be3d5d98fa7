"""What one client may make the server spend: channels it creates, and the size of its replies.

A LIST costs one line per channel, and channels cost nothing to create, so a few addresses could
create thousands of rooms and then make every LIST send megabytes (issue 11 #5). Three limits
answer that, each in the config:

* **Channels.** `limits.max_channels` rooms in all, and `limits.channels_per_address` rooms
  created from one address that still exist (a room counts against the address that created it
  until it disappears). Past either, JOIN of a *new* room answers 405; joining an existing room
  is only limited per user (`limits.channels_per_user`, CHANLIMIT).
* **Reply size.** No answer may outgrow the send queue. LIST (and NAMES without arguments)
  stop after `limits.list_replies` channels, WHO (by mask or by channel) after
  `limits.who_replies` users, and say so with 416 (ERR_TOOMANYMATCHES) before their end
  numeric; NAMES of a list answers each channel once, at most `limits.max_targets` of them.
* **Flood cost.** A command pays one flood token for its line, whatever it answers; big answers
  must cost more. The core counts, per connection, the lines written in answer to the
  connection's own commands (`Session.output_lines`, added to by `Reply.flush` and by
  CHATHISTORY answers). `take_output_cost` turns that count into flood tokens — nothing for the
  first `flood.free_reply_lines`, then one token per `flood.reply_lines_per_token` lines — and
  resets it. The transport calls it (through `ChatServer.output_cost`) after each line it hands
  the core and charges that many tokens to the connection's flood bucket, which may go into
  debt and then pauses reading from it until they refill, so a client that asks for big
  answers is paced by their size, not by its line count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubbub.core.model import Channel, Session
    from hubbub.core.server import ChatServer


def refuse_new_channel(server: ChatServer, session: Session) -> str | None:
    """Why this connection may not create a room now (the 405 text), or None if it may."""
    limits = server.config.limits
    if len(server.channels) >= limits.max_channels:
        return "There are too many channels on this server"
    if server.channels_by_address.get(session.address, 0) >= limits.channels_per_address:
        return "Too many channels were created from your address"
    return None


def channel_created(server: ChatServer, channel: Channel, session: Session) -> None:
    """`channel` was just created by `session`: it counts against the session's address."""
    channel.creator_address = session.address
    counts = server.channels_by_address
    counts[session.address] = counts.get(session.address, 0) + 1


def channel_removed(server: ChatServer, channel: Channel) -> None:
    """`channel` no longer exists: its creator's address may create another."""
    address = channel.creator_address
    if not address:
        return
    channel.creator_address = ""
    counts = server.channels_by_address
    left = counts.get(address, 0) - 1
    if left > 0:
        counts[address] = left
    else:
        counts.pop(address, None)


def take_output_cost(server: ChatServer, session: Session) -> float:
    """The flood tokens this connection owes for the lines it was answered since the last call
    (see the module docstring); resets the count. For the transport, after each command."""
    lines = session.output_lines
    session.output_lines = 0
    flood = server.config.flood
    excess = lines - flood.free_reply_lines
    if excess <= 0:
        return 0.0
    return excess / flood.reply_lines_per_token
