"""Glob masks without backtracking (issue 11 #1): the attack masks that froze the server finish
with the right answer and a bounded amount of work, and the matcher agrees with a reference
glob semantics on random small inputs."""

from __future__ import annotations

import functools

from core_helpers import Harness, make_config, one
from hypothesis import given, settings
from hypothesis import strategies as st
from oper_helpers import oper_config, opered

from hubbub.core.masks import StepCounter, compile_mask, mask_matches


def reference(mask: str, subject: str) -> bool:
    """Glob semantics by definition: dynamic programming over (mask index, subject index)."""

    @functools.cache
    def fits(i: int, j: int) -> bool:
        if i == len(mask):
            return j == len(subject)
        if mask[i] == "*":
            return fits(i + 1, j) or (j < len(subject) and fits(i, j + 1))
        if j < len(subject) and (mask[i] == "?" or mask[i] == subject[j]):
            return fits(i + 1, j + 1)
        return False

    return fits(0, 0)


def test_the_attack_masks_finish_with_bounded_work() -> None:
    """`WHO *a*a*a*a*a*a*c` against 80 'a's took 17 s as a regex; each '*a' multiplied it.
    With 40 '*a' and 400 'a's a backtracking matcher would run for longer than the universe."""
    for stars in (6, 7, 40):
        mask = "*a" * stars + "*c"
        for subject in ("a" * 80, "a" * 400, "a" * 400 + "c", "a" * 29 + "!u@h"):
            counter = StepCounter()
            expected = subject.endswith("c") and subject.count("a") >= stars
            assert compile_mask(mask).match(subject, counter) is expected
            # linear in each of the two lengths: at most one pass per segment
            assert counter.steps <= (len(mask) + 1) * (len(subject) + 1)


def test_question_mark_segments_are_scanned_in_linear_time() -> None:
    """A segment mixing literals and '?' that almost fits everywhere: a naive scan compares
    the whole segment at each place (len(subject) * len(segment)); Shift-And reads each subject
    character once."""
    for mask in ("*" + "?a" * 60 + "?b*", "*" + "?a" * 60 + "?b*" + "?a" * 30 + "*"):
        for subject in ("a" * 500, "ab" * 250):
            counter = StepCounter()
            assert compile_mask(mask).match(subject, counter) is False
            assert counter.steps <= len(subject) + len(mask)
    counter = StepCounter()
    assert compile_mask("*?a?b*?c*").match("xaxb" * 100 + "yc", counter) is True
    assert counter.steps <= 402 + 9


def test_ban_of_the_attack_shape_is_checked_quickly_on_join() -> None:
    """A ban `*a*a*a*a*a*a*a*c!*@*` against a 29-letter nick cost 1.9 s per JOIN."""
    h = Harness()
    op = h.client("op")
    h.join("#room", op)
    op.send("MODE #room +b *a*a*a*a*a*a*a*a*a*a*a*a*a*a*c!*@*")
    h.drain()
    nick = "a" * 29
    victim = h.client(nick)
    victim.send("JOIN #room")
    assert any(m.command == "JOIN" for m in victim.lines())
    caught = h.client("a" * 28 + "c")
    caught.send("JOIN #room")
    assert one(caught.lines(), "474")


def test_who_attack_pattern_answers() -> None:
    h = Harness()
    target = h.client("target")
    target.send("SETNAME :" + "a" * 80)
    asker = h.client("asker")
    asker.send("WHO " + "*a" * 30 + "*c")
    assert asker.numerics() == ["315"]
    asker.send("WHO " + "*a" * 30 + "*")
    assert asker.numerics() == ["352", "315"]


def test_mask_length_is_capped() -> None:
    h = Harness(make_config(limits={"mask_length": 20}))
    op = h.client("op")
    h.join("#room", op)
    op.send("MODE #room +b " + "*a" * 10 + "!*@*")
    reply = one(op.lines(), "696")
    assert reply.params[-1] == "Ban mask too long"
    assert h.channel("#room").bans == []
    op.send("WHO " + "*" * 21)
    assert op.numerics() == ["315"]  # a longer WHO pattern matches nobody
    op.send("WHO " + "*" * 20)
    assert op.numerics() == ["352", "315"]


def test_casemapping_is_the_callers_fold() -> None:
    h = Harness()
    fold = h.server.fold
    assert mask_matches(fold("Nick[A]!*@*"), fold("nick{a}!user@host"))
    assert not mask_matches(fold("nick?!*@*"), fold("nick!user@host"))


def test_edge_cases() -> None:
    assert mask_matches("", "")
    assert not mask_matches("", "a")
    assert mask_matches("*", "")
    assert mask_matches("**", "abc")
    assert mask_matches("a*a", "aa")
    assert not mask_matches("a*a", "a")
    assert mask_matches("?*?", "ab")
    assert not mask_matches("?*?", "a")
    assert mask_matches("*?b?*", "xabc")
    assert not mask_matches("*?b?*", "xab")
    assert not mask_matches("*?b?*", "ab")
    assert mask_matches("a*b*c", "a-b-c-b-c")


SMALL = st.text(alphabet="ab*?", max_size=8)


@settings(max_examples=1000, deadline=None)
@given(mask=SMALL, subject=st.text(alphabet="ab?*", max_size=10))
def test_agrees_with_reference_semantics(mask: str, subject: str) -> None:
    assert mask_matches(mask, subject) is reference(mask, subject)


def test_kline_mask_length_is_capped() -> None:
    """K-lines are matched against every registering user: a mask longer than
    `limits.mask_length` is refused like a long ban mask, and never stored."""
    h = Harness(oper_config(limits={"mask_length": 20}))
    op = opered(h, "op")
    op.send("KLINE *@" + "*a" * 10 + ".example :x")
    (refusal,) = op.lines()
    assert refusal.command == "NOTICE" and "too long" in refusal.params[-1]
    assert h.server.registry.bans == {}
    op.send("KLINE *@" + "a" * 12 + " :x")  # 14 characters: fine
    op.drain()
    assert list(h.server.registry.bans) == [("K", "*@" + "a" * 12)]
