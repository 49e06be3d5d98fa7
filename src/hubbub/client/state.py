"""The client's view of an IRC network, as a pure state machine (sans-IO).

`ClientState` is driven by three kinds of input and never touches a socket, a clock or a
terminal:

* `connected(now)` / `disconnected(reason, now)` — the transport's news;
* `receive(message, now)` — one parsed line from the server;
* `perform(action, now)` — something the user asked for (`hubbub.client.commands`);
* `composing(text, now)` / `tick(now)` — the input line changed / a second passed (typing
  notices, read markers).

Each call returns a list of `Event`s for the front end to render (lines added to a window, a
member list or topic that changed, …), and queues IRC lines for the server, which the
transport collects with `take_outgoing()`. Front ends read the rest (`buffers`, `active`,
`nick`) directly, between calls.

Theory of operation
-------------------
*Registration.* `connected` queues `CAP LS 302`, `NICK` and `USER` (and `PASS`). From the
capabilities the server offers we request the ones in `WANTED_CAPS` it has, then `CAP END`;
a server without CAP just registers us, and every feature below degrades: without
`echo-message` our own lines are shown as we send them, without `server-time` lines get the
local time, without `batch` the server's join replay is shown as the plain lines it sends. A
433 before registration moves to `nick_`, `nick__`, … and says so.

*Windows ("buffers").* One for the server, one per channel, one per private conversation,
keyed by the casefolded name (`CASEMAPPING` from ISUPPORT). Channels we want to be in are
`wanted`: they are re-joined after every (re)connection.

*History.* Lines inside a `chathistory` batch are collected until the batch ends, then inserted
as one block, in time order, behind a separator line and marked `history` (the UI dims them).
With `draft/chathistory` the server sends nothing by itself on join, so after our own JOIN we
ask: `CHATHISTORY LATEST #room * 50` the first time, `CHATHISTORY AFTER #room msgid=<last> 100`
after a reconnection (or `timestamp=` when the server gave no msgids). `/history N` asks for
`BEFORE` the oldest line shown.

*No duplicates.* Every msgid seen (live or history) is remembered (bounded, oldest forgotten
first); a line whose msgid was seen is dropped. That is what makes a replay after a reconnect,
or an overlap between a live line and a history page, invisible to the user.

*Unread and mentions.* Live messages in windows other than the active one count as unread;
those that name our nick (as a word, casefolded) or arrive in a private window count as
mentions. History never counts.

Where it lives
--------------
`ClientState` is this module's one class, put together from parts with one job each:

* `state_core` — the fields, names (casefolding, channel names), windows (adding lines,
  unread counts, switching, closing) and the outgoing queue;
* `state_registration` — `connected` / `disconnected`, CAP negotiation, 001/005, nick fallback;
* `state_history` — chat lines from PRIVMSG/NOTICE, msgid de-duplication, chathistory and
  multiline batches, history requests;
* `state_modern` — read markers, edits, typing notices, WHO away/bot flags (each only when the
  server offers it), and `tick(now)`, the one input driven by time;
* `state_replies` — numeric replies (names, topics, away, errors);
* `state_incoming` — `receive` and the handlers for the server's commands;
* `state_actions` — `perform` and the handlers for the user's actions.
"""

from __future__ import annotations

# The constants are re-exported (`X as X`) because they were always importable from here.
from hubbub.client.state_actions import HOST_GUESS as HOST_GUESS
from hubbub.client.state_actions import LINE_LIMIT as LINE_LIMIT
from hubbub.client.state_actions import MAX_PIECES as MAX_PIECES
from hubbub.client.state_actions import ActionState
from hubbub.client.state_core import MAX_LINES as MAX_LINES
from hubbub.client.state_core import MODERN_CAPS, SERVER, WANTED_CAPS, strip_formatting
from hubbub.client.state_history import AFTER_ON_REJOIN as AFTER_ON_REJOIN
from hubbub.client.state_history import HISTORY_BATCHES as HISTORY_BATCHES
from hubbub.client.state_history import LATEST_ON_JOIN as LATEST_ON_JOIN
from hubbub.client.state_history import MAX_SEEN_MSGIDS as MAX_SEEN_MSGIDS
from hubbub.client.state_incoming import IncomingState
from hubbub.client.state_registration import MAX_NICK_ATTEMPTS as MAX_NICK_ATTEMPTS

__all__ = ["MODERN_CAPS", "SERVER", "WANTED_CAPS", "ClientState", "strip_formatting"]


class ClientState(IncomingState, ActionState):
    """Everything the client knows about its connection; see the module docstring."""
