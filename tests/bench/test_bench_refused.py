"""The bench counts the messages the server refused out loud (FAIL PRIVMSG …) apart from the
rest of `lost`: a refusal (history writer behind: TEMPORARILY_UNAVAILABLE) is the server keeping
its word, and read as a loss it sent a search for a transport bug (the threads engine's
"7,600 lost" rooms runs were all refusals)."""

from __future__ import annotations

from hubbub.bench.client import COUNT, FULL, Client

REFUSAL = (
    b":hubbub.local FAIL PRIVMSG TEMPORARILY_UNAVAILABLE #r0"
    b" :Message history cannot be written right now; message not sent, try again later\r\n"
)


def _feed_in_pieces(client: Client, data: bytes, size: int) -> None:
    for start in range(0, len(data), size):
        client.data_received(data[start : start + size])


def test_refusals_are_counted_in_either_bulk_mode_across_split_reads() -> None:
    other = b":hubbub.local FAIL CHATHISTORY INVALID_TARGET #x :No such target\r\n"
    message = b":b0x1!b@h PRIVMSG #r0 :b: 1 0 123\r\n"
    stream = REFUSAL + message + other + REFUSAL * 3
    for mode in (COUNT, FULL):
        client = Client("b0x0")
        client.start_bulk(mode)
        _feed_in_pieces(client, stream, 7)
        assert client.refused == 4, mode
        assert client.count == 1, mode
