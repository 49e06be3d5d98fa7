"""The `join` scenario's parsing without sockets: how members find the joiners' JOIN lines in
what they receive, and what a joiner asks for in CAP negotiation."""

from __future__ import annotations

from hubbub.bench.client import JOINS, Client
from hubbub.bench.join import CapClient, NinCapClient, plan_members
from hubbub.bench.options import Options


class Recorder:
    """Stands in for the socket transport: keeps what the client writes."""

    def __init__(self) -> None:
        self.sent = b""

    def write(self, data: bytes) -> None:
        self.sent += data

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def connected(client: Client) -> Recorder:
    transport = Recorder()
    client.connection_made(transport)  # type: ignore[arg-type]
    return transport


STREAM = (
    b":b0x7!~b@127.0.0.1 JOIN #jab12\r\n"  # a member of the setup, late: not a joiner
    b":jab120!~b@127.0.0.1 JOIN #jab12\r\n"
    b"PING :server\r\n"
    b":jab121!~b@127.0.0.1 JOIN :#jab12\r\n"  # ngIRCd's form
    b":jab120!~b@127.0.0.1 QUIT :bye\r\n"
)


def feed_in_pieces(client: Client, data: bytes, size: int) -> None:
    for start in range(0, len(data), size):
        client.data_received(data[start : start + size])


def test_checked_member_keeps_each_joiner_once_across_split_reads() -> None:
    for size in (1, 7, 40, len(STREAM)):
        client = Client("b0x3")
        transport = connected(client)
        client.watch_joins(b"jab12", full=True)
        assert client.mode == JOINS
        feed_in_pieces(client, STREAM, size)
        assert [nick for nick, _ in client.joins_seen] == [b"jab120", b"jab121"]
        assert client.count == client.tally.received == 2
        assert transport.sent.endswith(b"PONG :server\r\n")  # still answers PING in bulk


def test_counting_member_counts_the_marker() -> None:
    client = Client("b0x4")
    connected(client)
    client.watch_joins(b"jab12", full=False)
    feed_in_pieces(client, STREAM[: STREAM.index(b":jab120!~b@127.0.0.1 QUIT")], 5)
    assert client.count == 2
    assert client.joins_seen == []


def cap_answer(client: CapClient, transport: Recorder) -> bytes:
    transport.sent = b""
    client.data_received(
        b":s CAP * LS * :sasl=PLAIN,EXTERNAL sts=port=6697 server-time\r\n"
        b":s CAP * LS :no-implicit-names extended-join\r\n"
    )
    return transport.sent


def test_joiner_requests_what_is_offered_but_no_implicit_names_only_when_asked() -> None:
    plain = CapClient("j0")
    transport = connected(plain)
    assert transport.sent.startswith(b"CAP LS 302\r\nNICK j0\r\n")
    assert cap_answer(plain, transport) == (
        b"CAP REQ :sasl server-time extended-join\r\nCAP END\r\n"
    )
    plain.data_received(b":s CAP j0 ACK :sasl server-time extended-join\r\n")
    assert plain.acked == {"sasl", "server-time", "extended-join"}

    quiet = NinCapClient("j1")
    transport = connected(quiet)
    assert b"no-implicit-names" in cap_answer(quiet, transport)


def test_long_capability_lists_are_requested_in_several_lines() -> None:
    client = CapClient("j2")
    transport = connected(client)
    names = [f"vendor.example/capability-{n}" for n in range(40)]
    transport.sent = b""
    client.data_received(b":s CAP * LS :" + " ".join(names).encode() + b"\r\n")
    lines = transport.sent.split(b"\r\n")
    requests = [line for line in lines if line.startswith(b"CAP REQ :")]
    assert len(requests) > 1
    assert all(len(line) < 512 for line in requests)
    asked = [name.decode() for line in requests for name in line[len(b"CAP REQ :") :].split()]
    assert asked == names
    assert lines[-2:] == [b"CAP END", b""]


def test_members_are_spread_over_workers_and_sampled() -> None:
    plans = plan_members(Options("join", clients=10, check_every=4), 3, "#jab12", "jab12")
    assert [len(p.members) for p in plans] == [4, 3, 3]
    assert sorted(m.index for p in plans for m in p.members) == list(range(10))
    assert sorted(m.index for p in plans for m in p.members if m.full) == [0, 4, 8]
    assert {p.marker for p in plans} == {"jab12"}
