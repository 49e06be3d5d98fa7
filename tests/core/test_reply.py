"""The response buffer's labeled-response rules (https://ircv3.net/specs/extensions/labeled-response).

"If the response consists of more than one message, the server MUST send a batch of type
labeled-response"; batches may nest (https://ircv3.net/specs/extensions/batch: "Batches may be
nested"), and a line carries one batch tag: the innermost batch it belongs to.
"""

from __future__ import annotations

from core_helpers import Harness

from hubbub.core.reply import Reply, clip, encode_line, fitted
from hubbub.protocol.message import parse


def test_a_nested_batch_keeps_its_lines_and_is_wrapped_whole(h: Harness) -> None:
    c = h.client("alice", ["labeled-response", "batch", "server-time"])
    reply = Reply(h.server, c.session, "L")
    name = h.server.name
    reply.notice("before")
    reply.add(f":{name} BATCH +inner chathistory #room")
    reply.add(":bob!b@h PRIVMSG #room :old", "batch=inner;time=2023-11-14T22:13:20.000Z")
    reply.add(f":{name} BATCH -inner")
    reply.flush()
    raw = c.raw()
    assert all(line.count("batch=") <= 1 for line in raw), raw  # one batch tag per line
    got = [parse(line) for line in raw]
    outer = got[0].params[0][1:]
    assert got[0].tags == {"label": "L"} and got[0].params[1] == "labeled-response"
    assert [m.tags.get("batch") for m in got[1:-1]] == [outer, outer, "inner", outer]
    assert got[-1].command == "BATCH" and got[-1].params == (f"-{outer}",)


def test_one_batch_gets_the_label_on_its_first_line(h: Harness) -> None:
    c = h.client("alice", ["labeled-response", "batch"])
    reply = Reply(h.server, c.session, "L")
    reply.add(f":{h.server.name} BATCH +x chathistory #room")
    reply.add(":bob!b@h PRIVMSG #room :old", "batch=x")
    reply.add(f":{h.server.name} BATCH -x")
    reply.flush()
    got = c.lines()
    assert [m.command for m in got] == ["BATCH", "PRIVMSG", "BATCH"]
    assert got[0].tags == {"label": "L"}


def test_fitted_ends_when_a_multibyte_parameter_cannot_shrink() -> None:
    """A middle parameter of two-byte characters behind an over-long trailing text was cut to
    one character whose replacement is as long as it, forever (found by the line-limits test
    with EDIT); now the cutting stops and the line is left for clip()."""
    line = fitted(":server FAIL EDIT INVALID_TARGET", ["é" * 300], "x" * 600)
    assert line.startswith(":server FAIL EDIT INVALID_TARGET ")
    assert len(encode_line(clip(line))) <= 510
