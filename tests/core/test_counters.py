"""The core's plain counters (hubbub.core.counters), read by the metrics module when scraped."""

from __future__ import annotations

from core_helpers import Harness
from oper_helpers import oper_config, opered

from hubbub.core.counters import Counters


def test_fanout_counts_recipients_once_per_message_into_power_of_two_buckets() -> None:
    counters = Counters()
    for size in (0, 1, 2, 3, 4, 7, 8, 1000):
        counters.fanout(size)
    assert counters.fanouts == 8
    assert counters.fanout_sizes[:5] == [1, 1, 2, 2, 1]  # 0 | 1 | 2-3 | 4-7 | 8-15
    assert counters.fanout_sizes[10] == 1  # 1000: 512-1023
    assert counters.deliveries == {"": 1025}


def test_a_room_message_counts_its_recipients_but_not_the_sender() -> None:
    h = Harness()
    alice, bob, carol = h.client("alice"), h.client("bob"), h.client("carol")
    h.join("#room", alice, bob, carol)
    counters = h.server.counters
    before = dict(counters.deliveries)
    alice.send("PRIVMSG #room :hello")
    assert counters.deliveries["PRIVMSG"] - before.get("PRIVMSG", 0) == 2
    assert counters.commands_in["PRIVMSG"] == 1
    assert counters.commands_in["JOIN"] == 3
    assert counters.registrations == 3
    assert counters.command == ""  # reset after the handler
    carol.send("TAGMSG #room")  # only message-tags clients get a TAGMSG: nobody here
    assert counters.deliveries.get("TAGMSG", 0) == 0
    bob.send("QUIT :bye")
    assert counters.deliveries["QUIT"] == 2


def test_a_disconnect_is_counted_under_quit() -> None:
    h = Harness()
    alice, bob = h.client("alice"), h.client("bob")
    h.join("#room", alice, bob)
    h.server.disconnect(bob.session, "Connection reset by peer", h.now)
    assert h.server.counters.deliveries["QUIT"] == 1


def test_kline_and_dline_refusals_are_counted() -> None:
    h = Harness(oper_config())
    op = opered(h, "alice")
    op.send("KLINE *@192.0.2.* :go away")
    op.send("DLINE 10.1.0.0/16 :botnet")
    op.drain()
    counters = h.server.counters
    refused = h.connect(host="10.1.9.9")
    assert refused.link.closed
    assert counters.dline_refusals == 1
    klined = h.connect(host="192.0.2.8")
    klined.send("NICK vic")
    klined.send("USER vic 0 * :V")
    assert klined.link.closed
    assert counters.kline_refusals == 1
    assert counters.registrations == 1  # the operator only
