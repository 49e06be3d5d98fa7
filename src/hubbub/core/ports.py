"""The seams between the sans-IO core and the world: everything the core needs from outside.

The core never touches a socket, a clock, a source of randomness or a disk, and never blocks.
A transport gives it one `Link` per connection; the application gives it one `Ports` (the
services below, plus the facts it cannot find out by itself). Every call is plain and
non-blocking:

* `Link.write` queues bytes for one connection and returns at once. It must never call back into
  the core (the core may be in the middle of a fan-out loop); a transport that wants to drop a
  connection from inside `write` (send queue exceeded) schedules that for later.
* `Link.close` tells the transport the core is finished with the connection: flush what is
  queued, then close. The core has already forgotten the session when it calls it, so the
  transport must not report that connection's end back to the core.
* `HistoryService.append` hands a record to durable storage and returns at once.
  `HistoryService.available` is False while the store cannot take records (it is failing, or
  its bounded queue is full): the core then refuses messages it would store rather than
  acknowledge them and lose them. `HistoryService.acknowledge_after_commit(link)` says that the
  record appended last is acknowledged to `link` (the echo of a message to its sender, or a
  labelled ACK): the transport then writes nothing more to that link until the record is
  committed, so a client never sees acknowledged a message a crash can still lose.
* `HistoryService.query`, `AccountService.call` and `RegistryService.call` run `fn(store)` away
  from the loop and later call `done(result)` on the core's own thread (the event loop). A call
  that raised is answered with `FAILURE` (a `CallFailure`; the history answers an empty list).
  The core hands such answers to a handler through `Reply.later` (hubbub.core.reply), which keeps
  each client's replies in the order of its commands.
* `Passwords` hashes and checks passwords. It is CPU-heavy, so the core only ever calls it inside
  a function it hands to `AccountService.call`: on the account worker, never on the loop.
* `Randomness` is the core's only source of unpredictable values (confirmation codes, SCRAM
  nonces, guest nicks, the msgid prefix). Tests pass a seeded one.
* `Ports.started` is the wall-clock time the server started (RPL_CREATED, STATS u): a value,
  because the core reads no clock; every entry point carries `now`.
* `Network` (cluster mode only; None on a single node) sequences room events network-wide
  (hubbub.core.network): the core hands it a payload and applies the event when the node gives
  it back, in sequence order, through `ChatServer.apply_sequenced`.
* `Ports.zones` turns a configured IANA zone name (`history.replay_time_zone`) into a `Zone`:
  finding a zone reads the system's zone database, which the core never does itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hubbub.accounts.model import Credentials
from hubbub.accounts.store import AccountStore
from hubbub.config import AccountsSection
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from hubbub.protocol.servertime import Zone
from hubbub.registry.store import RegistryStore


class CallFailure:
    """The answer of a store call that raised (the exception is logged, not passed on)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CallFailure()"


FAILURE = CallFailure()


class Link(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class BatchLink(Link, Protocol):
    """A link that room fan-out may write without a Python call per recipient (optional: the
    core looks for `batch` and otherwise calls `write`)."""

    def batch(self) -> tuple[Callable[[bytes], None], Callable[[list[Any]], None]]:
        """`(append, touched)`: `append(data)` queues `data` like `write` but is a plain
        (C-level) list append that does not schedule a flush; so whoever appends calls
        `touched(links)` once afterwards with every link it appended to (links whose `touched`
        is the same callable), and their output goes out on this loop turn. `append` stays
        valid while the link lives; data appended after the link closed is dropped."""
        ...


class HistoryService(Protocol):
    @property
    def available(self) -> bool: ...

    @property
    def last_mark(self) -> int:
        """The mark of the record appended last (0: it was refused). Marks grow with each
        record appended."""
        ...

    @property
    def committed_mark(self) -> int:
        """Every record whose mark is at most this one is committed (hubbub.core.cluster_history
        tells the other nodes so)."""
        ...

    def append(self, record: Record) -> None: ...

    def acknowledge_after_commit(self, link: Link) -> None:
        """Hold `link`'s output until the record appended last is committed."""
        ...

    def query(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None: ...

    def change(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        """`query` for a call that changes stored records (REDACT, EDIT): an
        `acknowledge_after_commit` made after it holds the link until the change is
        committed, as for a record appended."""
        ...


class AccountService(Protocol):
    def call(self, fn: Callable[[AccountStore], Any], done: Callable[[Any], None]) -> None: ...


class RegistryService(Protocol):
    """Registered channels and server bans (`hubbub.registry`): `call(fn, done)` runs
    `fn(store)` off the loop and `done(result)` later on it, like `AccountService`."""

    def call(self, fn: Callable[[RegistryStore], Any], done: Callable[[Any], None]) -> None: ...


class Passwords(Protocol):
    """Password hashing with the configured costs (argon2id plus the SCRAM-SHA-256 keys).

    Only ever called on the account worker (inside a function handed to `AccountService.call`).
    """

    def make(self, password: str) -> Credentials:
        """New credentials for `password`."""
        ...

    def verify(self, credentials: Credentials, password: str) -> bool: ...

    def verify_hash(self, phc: str | None, password: str) -> bool:
        """Check against a bare PHC hash (an operator's password); None costs a hash too."""
        ...

    def needs_rehash(self, credentials: Credentials) -> bool: ...

    def waste(self, password: str) -> None:
        """Spend as long as a verification (unknown accounts: no timing oracle)."""
        ...


#: Makes the `Passwords` for the `[accounts]` settings (called again when they change: REHASH).
PasswordsFactory = Callable[[AccountsSection], Passwords]


class Randomness(Protocol):
    def token_hex(self, nbytes: int) -> str:
        """2 * nbytes unpredictable hex digits."""
        ...

    def token_bytes(self, nbytes: int) -> bytes: ...

    def below(self, upper: int) -> int:
        """An integer in [0, upper)."""
        ...


@dataclass(frozen=True)
class Census:
    """The rest of the network as last counted (`Network.census`): the other live nodes, their
    registered users, how many of those are invisible, the channels of the whole network, and
    the other nodes' servers (name and description)."""

    nodes: int
    users: int
    invisible: int
    channels: int
    servers: tuple[tuple[str, str], ...] = ()


class Network(Protocol):
    """The cluster's bus as the core sees it (hubbub.cluster.node implements it over Redis).

    Every call returns at once; its answer comes later, on the loop, through `done`:

    * `sequence` hands a room event's payload (and the room state fields to set and delete
      atomically with it; a deleted name ending in `*` deletes every field with that prefix;
      a name starting with `+`, set or deleted, is the rest of it, changed only if the room
      has no member field `m:...` just before this event: a creating JOIN's, then sequenced
      with `"new":1` added to its payload; a set name
      starting with `?` is set only if absent, `&<other>&<name>` only if field <other> exists
      and `=<other>=<name>` to <other>'s value (both as the fields are just before the event);
      a deleted name starting with `!` releases this node's claim of the rest with the event;
      a deleted name `^o<member>`, `^t<member>` or `^i<member>` is a condition on all of the
      event's changes, which are made only if that member is an operator, or for `^t` a member
      of a room whose `mode:t` is "0", for `^i` one whose `mode:i` is not "1", just before the
      event, or else it is sequenced with `"np":1` added to its payload (`^r`: if the room has
      its `room` field, or else the event is sequenced with
      `"nr":1` added to its payload; `^l<fold>`: if the room has fewer member fields than its
      `mode:l`, not counting `m:<fold>`, or `m:<fold>` is the joiner's own (its `*m:<fold>`
      is not written), or else it is sequenced with `"fl":1` added; the event is sequenced
      either way;
      `^v<seq>`: if no rename took a room away from this name after `seq`, the sender's view
      of the room; if one did, the event is sequenced with `"rn":1` added to its payload, and
      only its `!` claims are released; `^s<seq>`: if no event after `seq` changed the
      room's fields (the fields of an event with any name to set or delete), or else the
      event is sequenced with `"un":1` added to its payload);
      `%<fold>%<id>` deletes `m:<fold>` and `s:<fold>` if the member field has network id <id>;
      hubbub.core.cluster_fields makes these names) to be numbered network-wide. `done(time_ms,
      seq)` means it was sequenced (at that server time, under that seq): the event itself
      comes back through `ChatServer.apply_sequenced`, on every node subscribed to the room,
      in sequence order. `done(None, 0)`: refused (the bus is unavailable), nothing was
      accepted. Each node is
      subscribed to its own inbox room, `inbox(node_id)`, for private messages to its users,
      and to `NETWORK_ROOM`, for what every node applies.
    * `open` subscribes this node to a room (it has, or is about to have, local members) and
      answers its state fields (`{}` for a room nobody is in) and the seq they are the state
      at, or (None, 0) when the bus is unavailable. Events after that state come through
      `apply_sequenced`.
    * `close`: the room has no local members any more; stop receiving its events.
    * `follow` subscribes this node to a room from the event after seq `after` (those already
      sequenced are read from the room's stream): a room renamed here continues under its new
      name. A room subscribed here already, or being subscribed (`open` for a JOIN of that
      name in the same instant), is delivered from the event after `after` from the moment of
      the call, events given already given again. `done(False)`: the bus is unavailable.
    * `rename` moves room `old`'s state fields to room `new` (`set_fields` overwriting
      theirs) and sequences an event in each, atomically: `done(1)`. Unless `new` has members
      (`done(0)`), `old` is not there any more (`done(2)`: renamed away meanwhile) or a name
      `^o<member>` in `set_fields` names a member who is not an operator of `old` (`done(3)`);
      then nothing changed. None: unavailable. `new` gets `marker[0]` + the
      moved fields as a JSON object + `marker[1]`; `old` then gets `payload[0]` + the seq of
      that marker in `new` + `payload[1]`, through `ChatServer.apply_sequenced` as usual.
    * `renamed` notes that this node applied a rename of room `old` (named `old_name`) to
      `new`, sequenced in `old` as event `seq` at `time_ms` by node `node`: at its next
      reconnection the bus checks that Redis still has that event, and the core is told of
      one lost (`ClusterState.lost_renames`: this node's copy is under the new name, the bus's
      under the old one).
    * `recent` answers the room's last (up to) `limit` events with a sequence number up to
      `through`, from the bus's capped stream of the room, oldest first, as (seq, time_ms,
      payload); None when the bus is unavailable (hubbub.core.cluster_replay).
    * `claim` takes a network-wide unique key (a nick) for this node: the claim's number
      (> 0) won or held already, 0 held by someone else, None unavailable. The bus numbers
      claims in the order it takes them, a claim held again keeping its number (an earlier
      holder's `online` applied after a later holder's tells MONITOR nothing:
      hubbub.core.cluster_monitor). `release` gives one back (then `done()`, also when the
      bus refused: the claim then lapses with the lease). `locate` answers the node
      that holds a claim ("" for none, None when the bus is unavailable).
    * The network directory (hubbub.core.cluster_directory): `publish` writes this node's
      entry under a key (a user's public facts; None drops it), in the order asked, kept
      while the node lives, and calls `done(True)` once it is written (False: the bus
      refused it for now, it is written when the bus is back); `lookup` answers the
      entries under several keys (None for each missing; None for all when the bus is
      unavailable); `users` answers up to `limit` users' entries of the whole network
      for which `match(entry)` is true (None when the bus is unavailable);
      `room_summaries` answers up to `limit` rooms of the network with
      members (their `fold`, `room`, `topic`, `modes` fields and member `count`), or None
      when the bus is unavailable.
    * `census` answers at once what the node last counted of the rest of the network (the
      node writes its own users' count and reads the others' every heartbeat): LUSERS adds
      this node's own live counts to it. None until the first count.
    * `departed` hands the network a WHOWAS entry of one of this node's users (a nick no
      longer in use: hubbub.core.whowas), of which it keeps the newest `keep` of the whole
      network; written soon, in order, not waited for (one the bus refuses is written when
      it is back; at most `keep` wait). `departures` answers those entries, newest first,
      or None when the bus is unavailable.
    """

    @property
    def node_id(self) -> str: ...

    def sequence(
        self,
        room: str,
        payload: bytes,
        set_fields: Mapping[str, str],
        delete_fields: Sequence[str],
        done: Callable[[int | None, int], None],
    ) -> None: ...

    def open(self, room: str, done: Callable[[Mapping[str, str] | None, int], None]) -> None: ...

    # The room's state fields as the bus has them now, with its last event's time and seq
    # (`done((time_ms, seq, fields))`; None: the bus is unavailable), without following it.
    def read_state(
        self, room: str, done: Callable[[tuple[int, int, Mapping[str, str]] | None], None]
    ) -> None: ...

    def close(self, room: str) -> None: ...

    def follow(self, room: str, after: int, done: Callable[[bool], None]) -> None: ...

    def rename(
        self,
        old: str,
        new: str,
        payload: tuple[bytes, bytes],
        marker: tuple[bytes, bytes],
        set_fields: Mapping[str, str],
        done: Callable[[int | None], None],
    ) -> None: ...

    def renamed(
        self, old: str, old_name: str, new: str, seq: int, time_ms: int, node: str
    ) -> None: ...

    def recent(
        self,
        room: str,
        through: int,
        limit: int,
        done: Callable[[list[tuple[int, int, bytes]] | None], None],
    ) -> None: ...

    def claim(self, key: str, value: str, done: Callable[[int | None], None]) -> None: ...

    def release(self, key: str, done: Callable[[], None] | None = None) -> None: ...

    def locate(self, key: str, done: Callable[[str | None], None]) -> None: ...

    def publish(
        self, key: str, value: str | None, done: Callable[[bool], None] | None = None
    ) -> None: ...

    def lookup(
        self, keys: Sequence[str], done: Callable[[list[str | None] | None], None]
    ) -> None: ...

    def users(
        self,
        match: Callable[[str], bool],
        limit: int,
        done: Callable[[list[str] | None], None],
    ) -> None: ...

    def room_summaries(
        self, limit: int, done: Callable[[list[dict[str, str]] | None], None]
    ) -> None: ...

    def census(self) -> Census | None: ...

    def departed(self, entry: str, keep: int) -> None: ...

    def departures(self, done: Callable[[list[str] | None], None]) -> None: ...


def inbox(node_id: str) -> str:
    """The bus room of one node's private messages (channel rooms start with '#')."""
    return "~node:" + node_id


#: The bus room every node follows, for what every node applies (server bans,
#: hubbub.core.cluster_users). Like the inboxes, its name starts with '~', never a channel's.
NETWORK_ROOM = "~network"


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything `ChatServer` is given: its services, its randomness and its start time."""

    history: HistoryService
    accounts: AccountService
    registry: RegistryService
    passwords: PasswordsFactory
    randomness: Randomness
    started: float
    zones: Callable[[str], Zone]
    #: The INFO line per room message, `(room, nick, text)`; None: `logging` as usual. The app
    #: passes `hubbub.logsetup.room_logger()`, the same line without a LogRecord on the loop.
    room_log: Callable[[str, str, str], None] | None = None
    #: Cluster mode (hubbub.core.network); None for a single node.
    network: Network | None = None
