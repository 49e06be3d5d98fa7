"""Test doubles and a small driver for the sans-IO core: no sockets, no threads, no real clock.

Imported by name (tests/core is on sys.path, as tests/history and tests/transport are).

* `FakeLink` records every `bytes` object the core writes (the objects themselves, so fan-out
  tests can check identity) and checks the wire rules on each write: CRLF-terminated lines,
  at most 512 bytes per line without its tags, valid UTF-8, parseable.
* `Harness` owns one `ChatServer`, a memory history and a clock the test moves by hand; its
  services come from `support.core_services` (memory stores answered at once by default).
* `Client` is one connection: `send` a line, then read what arrived since the last read with
  `lines()` (parsed), `raw()` (text) or `numerics()` (codes only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hubbub.config import Config
from hubbub.core.model import Channel, Session, User
from hubbub.core.server import ChatServer
from hubbub.history.memory import MemoryStore
from hubbub.history.record import Record
from hubbub.history.store import HistoryStore
from hubbub.protocol.message import Message, parse
from support.config import core_config as make_config
from support.core_services import SyncHistoryService, core_ports
from support.wire import check_write as check_wire

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class FakeLink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, f"write after close: {data!r}"
        check_wire(data)
        self.writes.append(data)

    def close(self) -> None:
        assert not self.closed, "closed twice"
        self.closed = True

    def data(self) -> bytes:
        return b"".join(self.writes)


class DeferredHistory:
    """A HistoryService whose reads answer only when the test calls `complete()`.

    Like the real worker, a read sees exactly the appends made before it was submitted.
    """

    def __init__(self, store: HistoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.pending: list[tuple[Any, Callable[[Any], None]]] = []
        self.available = True
        # The links told to hold their output until the record appended last is committed
        # (`acknowledge_after_commit`), with that record's msgid; this store commits at once.
        self.acknowledged: list[tuple[Any, str]] = []
        self.last_msgid = ""
        self.last_mark = 0

    @property
    def committed_mark(self) -> int:
        return self.last_mark  # stored at once

    def append(self, record: Record) -> None:
        self.store.append([record])
        self.last_msgid = record.msgid
        self.last_mark += 1

    def acknowledge_after_commit(self, link: Any) -> None:
        self.acknowledged.append((link, self.last_msgid))

    def query(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        self.pending.append((call(self.store), done))

    def change(self, call: Callable[[HistoryStore], Any], done: Callable[[Any], None]) -> None:
        self.query(call, done)

    def complete(self) -> None:
        pending, self.pending = self.pending, []
        for result, done in pending:
            done(result)


class Client:
    def __init__(self, harness: Harness, link: FakeLink, session: Session) -> None:
        self.harness = harness
        self.link = link
        self.session = session
        self._seen = 0  # bytes of link.data() already read

    @property
    def user(self) -> User:
        return self.session.user

    @property
    def nick(self) -> str:
        return self.session.user.nick

    def send(self, line: str) -> None:
        self.harness.server.receive(self.session, line, self.harness.now)

    def raw(self) -> list[str]:
        """The lines (without CRLF) received since the last read."""
        data = self.link.data()
        new, self._seen = data[self._seen :], len(data)
        return new.decode("utf-8").split("\r\n")[:-1]

    def lines(self) -> list[Message]:
        return [parse(line) for line in self.raw()]

    def numerics(self) -> list[str]:
        return [m.command for m in self.lines() if m.command.isdigit()]

    def drain(self) -> None:
        self.raw()


def only(messages: Iterable[Message], command: str) -> list[Message]:
    return [m for m in messages if m.command == command]


def one(messages: Iterable[Message], command: str) -> Message:
    found = only(messages, command)
    assert len(found) == 1, f"expected one {command}, got {found}"
    return found[0]


class Harness:
    def __init__(
        self,
        config: Config | None = None,
        history: Any = None,
        *,
        accounts: Any = None,
        registry: Any = None,
    ) -> None:
        self.config = config if config is not None else make_config()
        self.store = MemoryStore()
        self.history = history if history is not None else SyncHistoryService(self.store)
        self.server = self.rebuild(accounts, registry)
        self.now = START
        self.clients: list[Client] = []

    def rebuild(
        self, accounts: Any = None, registry: Any = None, instance_id: str = "t"
    ) -> ChatServer:
        """A new core on the same history (and these account and registry services)."""
        ports = core_ports(self.history, accounts, registry, started=START)
        self.server = ChatServer(self.config, ports, instance_id=instance_id)
        return self.server

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds

    def connect(self, host: str = "127.0.0.1", port: int = 50_000) -> Client:
        link = FakeLink()
        session = self.server.connect(link, host, port, self.now)
        client = Client(self, link, session)
        self.clients.append(client)
        return client

    def client(self, nick: str, caps: Iterable[str] = (), *, password: str | None = None) -> Client:
        """A registered client (with these capabilities); its welcome burst already read."""
        caps = list(caps)
        c = self.connect()
        if caps:
            c.send("CAP LS 302")
        if password is not None:
            c.send(f"PASS {password}")
        c.send(f"NICK {nick}")
        c.send(f"USER {nick.lower()} 0 * :{nick} Example")
        if caps:
            c.send("CAP REQ :" + " ".join(caps))
            c.send("CAP END")
        got = c.lines()
        assert any(m.command == "001" for m in got), got
        if caps:
            assert any(m.command == "CAP" and m.params[1] == "ACK" for m in got), got
        return c

    def channel(self, name: str) -> Channel:
        found = self.server.find_channel(name)
        assert found is not None, name
        return found

    def join(self, channel: str, *clients: Client) -> None:
        """Each client joins, in order; then every client's pending input is dropped."""
        for c in clients:
            c.send(f"JOIN {channel}")
        self.drain()

    def drain(self) -> None:
        """Drop every client's pending input."""
        for c in self.clients:
            c.drain()
