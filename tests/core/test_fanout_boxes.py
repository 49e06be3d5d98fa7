"""Room fan-out to links written by plain list appends (`BatchLink.batch`), as the transports'
connections are: through `list.append` on the lists themselves when a profile's group is all
such links, through each writer otherwise; the sender skipped either way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core_helpers import Client, FakeLink, Harness

from hubbub.core.model import _list_of
from hubbub.core.server import _SCRATCH
from hubbub.protocol.message import parse


class ListLink(FakeLink):
    """A link whose room output is appended to a list it owns, then `touched` per fan-out."""

    def __init__(self) -> None:
        super().__init__()
        self.box: list[bytes] = []
        self.touches = 0

    def batch(self) -> tuple[Callable[[bytes], None], Callable[[list[Any]], None]]:
        return self.box.append, self.touched

    def touched(self, links: list[Any]) -> None:
        self.touches += 1


def member(h: Harness, nick: str, link: FakeLink) -> Client:
    session = h.server.connect(link, "127.0.0.1", 50_000, h.now)
    client = Client(h, link, session)
    h.clients.append(client)
    client.send(f"NICK {nick}")
    client.send(f"USER {nick} 0 * :{nick}")
    client.send("JOIN #room")
    client.lines()
    return client


def texts(link: ListLink) -> list[str]:
    return [parse(raw.decode().rstrip("\r\n")).params[-1] for raw in link.box]


def test_a_group_of_list_links_is_written_through_the_lists() -> None:
    h = Harness()
    links = [ListLink() for _ in range(4)]
    clients = [member(h, f"m{i}", link) for i, link in enumerate(links)]
    for link in links:
        link.box.clear()
    clients[2].send("PRIVMSG #room :one")
    clients[0].send("PRIVMSG #room :two")
    channel = h.channel("#room")
    assert channel.boxes[0] == [link.box for link in links]
    assert texts(links[0]) == ["one"]
    assert texts(links[1]) == ["one", "two"]
    assert texts(links[2]) == ["two"]
    assert texts(links[3]) == ["one", "two"]
    assert _SCRATCH == []  # what stood in for the sender's outbox kept nothing


def test_a_group_with_another_kind_of_link_is_written_per_writer() -> None:
    h = Harness()
    first, last = ListLink(), ListLink()
    clients = [member(h, "a", first), member(h, "b", FakeLink()), member(h, "c", last)]
    first.box.clear()
    last.box.clear()
    clients[1].lines()
    clients[2].send("PRIVMSG #room :hello")
    assert h.channel("#room").boxes[0] is None
    assert texts(first) == ["hello"]
    assert [m.params[-1] for m in clients[1].lines()] == ["hello"]
    assert texts(last) == []


def test_only_a_lists_own_append_counts_as_one() -> None:
    box: list[bytes] = []
    assert _list_of(box.append) is box
    assert _list_of(box.extend) is None  # type: ignore[arg-type]
    assert _list_of(FakeLink().write) is None
    assert _list_of(bytearray().append) is None  # type: ignore[arg-type]
