"""The HistoryStore contract, checked identically on every back-end (the `store` fixture),
plus a property test comparing SQLite with memory and both with a literal reference model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from history_helpers import rec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.history.memory import MemoryStore
from hubbub.history.record import Record, Ref, dm_key
from hubbub.history.sqlite import SqliteStore
from hubbub.history.store import HistoryStore

CHAN = "#room"


def fill(store: HistoryStore, target: str = CHAN, count: int = 20) -> list[Record]:
    """Records 0..count-1 of target, at times 1000, 1010, ...; appended in two batches."""
    records = [rec(target, n) for n in range(count)]
    store.append(records[: count // 2])
    store.append(records[count // 2 :])
    store.commit()
    return records


def mid(n: int) -> Ref:
    return Ref(msgid=f"{CHAN}/{n}")


def at(n: int) -> Ref:
    """The timestamp of record n (exclusive bounds exclude record n itself)."""
    return Ref(time_ms=1000 + 10 * n)


# -- latest ----------------------------------------------------------------------------------------


def test_latest_returns_newest_oldest_first(store: HistoryStore) -> None:
    records = fill(store)
    assert store.latest(CHAN, 5) == records[15:]
    assert store.latest(CHAN, 100) == records
    assert store.latest(CHAN, 0) == []
    assert store.latest("#nothing", 5) == []


def test_latest_after_msgid_and_timestamp(store: HistoryStore) -> None:
    records = fill(store)
    assert store.latest(CHAN, 100, after=mid(16)) == records[17:]
    assert store.latest(CHAN, 2, after=mid(10)) == records[18:]
    assert store.latest(CHAN, 100, after=at(16)) == records[17:]
    assert store.latest(CHAN, 100, after=Ref(time_ms=1161)) == records[17:]
    assert store.latest(CHAN, 100, after=mid(19)) == []
    assert store.latest(CHAN, 100, after=Ref(msgid="nope")) == []


# -- before / after --------------------------------------------------------------------------------


def test_before(store: HistoryStore) -> None:
    records = fill(store)
    assert store.before(CHAN, mid(10), 3) == records[7:10]
    assert store.before(CHAN, at(10), 3) == records[7:10]
    assert store.before(CHAN, Ref(time_ms=1095), 3) == records[7:10]
    assert store.before(CHAN, mid(2), 10) == records[:2]
    assert store.before(CHAN, mid(0), 10) == []
    assert store.before(CHAN, Ref(time_ms=10**12), 2) == records[18:]
    assert store.before(CHAN, mid(10), 0) == []
    assert store.before(CHAN, Ref(msgid="nope"), 5) == []
    assert store.before("#other", mid(10), 5) == []


def test_after(store: HistoryStore) -> None:
    records = fill(store)
    assert store.after(CHAN, mid(10), 3) == records[11:14]
    assert store.after(CHAN, at(10), 3) == records[11:14]
    assert store.after(CHAN, Ref(time_ms=1105), 3) == records[11:14]
    assert store.after(CHAN, mid(17), 10) == records[18:]
    assert store.after(CHAN, mid(19), 10) == []
    assert store.after(CHAN, Ref(time_ms=0), 2) == records[:2]
    assert store.after(CHAN, Ref(msgid="nope"), 5) == []


def test_timestamp_bounds_are_exclusive_with_equal_times(store: HistoryStore) -> None:
    same = [rec(CHAN, n, time_ms=5000) for n in range(3)]
    store.append([rec(CHAN, 10, time_ms=4000), *same, rec(CHAN, 11, time_ms=6000)])
    assert store.before(CHAN, Ref(time_ms=5000), 10) == [rec(CHAN, 10, time_ms=4000)]
    assert store.after(CHAN, Ref(time_ms=5000), 10) == [rec(CHAN, 11, time_ms=6000)]
    assert store.after(CHAN, Ref(time_ms=4999), 2) == same[:2]
    assert store.before(CHAN, Ref(time_ms=5001), 2) == same[1:]
    # msgid refs are positions: records with the same time on either side still count.
    assert store.after(CHAN, Ref(msgid=same[0].msgid), 10) == [*same[1:], rec(CHAN, 11, 6000)]


# -- around ----------------------------------------------------------------------------------------


def test_around_msgid_includes_the_record(store: HistoryStore) -> None:
    records = fill(store)
    assert store.around(CHAN, mid(10), 5) == records[8:13]
    assert store.around(CHAN, mid(10), 4) == records[9:13]
    assert store.around(CHAN, mid(10), 1) == [records[10]]
    assert store.around(CHAN, mid(0), 5) == records[:3]
    assert store.around(CHAN, mid(19), 5) == records[17:]
    assert store.around(CHAN, Ref(msgid="nope"), 5) == []
    assert store.around(CHAN, mid(10), 0) == []


def test_around_timestamp(store: HistoryStore) -> None:
    records = fill(store)
    assert store.around(CHAN, Ref(time_ms=1105), 4) == records[9:13]
    assert store.around(CHAN, Ref(time_ms=1105), 5) == records[9:14]
    # Exclusive: the record stamped exactly at the ref's time is not included.
    assert store.around(CHAN, at(10), 4) == [*records[8:10], *records[11:13]]
    assert store.around(CHAN, Ref(time_ms=0), 4) == records[:2]


# -- between ---------------------------------------------------------------------------------------


def test_between_forwards(store: HistoryStore) -> None:
    records = fill(store)
    assert store.between(CHAN, mid(5), mid(10), 100) == records[6:10]
    assert store.between(CHAN, mid(5), mid(10), 2) == records[6:8]
    assert store.between(CHAN, at(5), at(10), 2) == records[6:8]
    assert store.between(CHAN, mid(5), at(10), 100) == records[6:10]
    assert store.between(CHAN, at(5), mid(10), 100) == records[6:10]
    assert store.between(CHAN, mid(5), mid(6), 100) == []
    assert store.between(CHAN, mid(5), mid(5), 100) == []


def test_between_backwards_takes_those_closest_to_start(store: HistoryStore) -> None:
    records = fill(store)
    assert store.between(CHAN, mid(10), mid(5), 100) == records[6:10]
    assert store.between(CHAN, mid(10), mid(5), 2) == records[8:10]
    assert store.between(CHAN, at(10), at(5), 2) == records[8:10]
    assert store.between(CHAN, mid(10), at(5), 3) == records[7:10]
    assert store.between(CHAN, Ref(time_ms=10**12), Ref(time_ms=0), 3) == records[17:]


def test_between_unknown_msgid(store: HistoryStore) -> None:
    fill(store)
    assert store.between(CHAN, Ref(msgid="nope"), mid(5), 10) == []
    assert store.between(CHAN, mid(5), Ref(msgid="nope"), 10) == []
    assert store.between(CHAN, mid(5), mid(10), 0) == []


# -- targets ---------------------------------------------------------------------------------------


def test_targets_channels_and_dms(store: HistoryStore) -> None:
    store.append(
        [
            rec("#a", 1, time_ms=100),
            rec("#b", 1, time_ms=200),
            rec("#a", 2, time_ms=300),
            rec(dm_key("bob", "al_ce"), 1, time_ms=250),
            rec(dm_key("alce", "carol"), 1, time_ms=260),  # "_" must not act as a wildcard
            rec(dm_key("carol", "al_ce"), 1, time_ms=150),
            rec("#secret", 1, time_ms=220),
        ]
    )
    channels = ["#a", "#b", "#empty"]
    got = store.targets(0, 1000, 10, channels, "al_ce")
    assert got == [
        (dm_key("al_ce", "carol"), 150),
        ("#b", 200),
        (dm_key("al_ce", "bob"), 250),
        ("#a", 300),
    ]
    # Newest first when start is after end.
    assert store.targets(1000, 0, 10, channels, "al_ce") == list(reversed(got))
    assert store.targets(1000, 0, 2, channels, "al_ce") == [
        ("#a", 300),
        (dm_key("bob", "al_ce"), 250),
    ]
    assert store.targets(0, 1000, 2, channels, "al_ce") == got[:2]
    assert store.targets(0, 1000, 0, channels, "al_ce") == []


def test_targets_time_window_is_exclusive_and_uses_newest_inside(store: HistoryStore) -> None:
    store.append([rec("#a", 1, time_ms=100), rec("#a", 2, time_ms=300), rec("#b", 1, time_ms=200)])
    assert store.targets(100, 300, 10, ["#a", "#b"], "x") == [("#b", 200)]
    assert store.targets(99, 301, 10, ["#a", "#b"], "x") == [("#b", 200), ("#a", 300)]
    # The time reported is that of the newest record inside the window.
    assert store.targets(0, 250, 10, ["#a", "#b"], "x") == [("#a", 100), ("#b", 200)]
    assert store.targets(400, 500, 10, ["#a", "#b"], "x") == []
    assert store.targets(0, 1000, 10, [], "x") == []


def test_dm_keys_from_both_sides(store: HistoryStore) -> None:
    key = dm_key("bob", "alice")
    assert key == dm_key("alice", "bob")
    store.append([rec(key, 1, time_ms=100), rec(dm_key("alice", "alice"), 1, time_ms=50)])
    assert store.targets(0, 1000, 10, [], "alice") == [(dm_key("alice", "alice"), 50), (key, 100)]
    assert store.targets(0, 1000, 10, [], "bob") == [(key, 100)]
    assert store.targets(0, 1000, 10, [], "carol") == []
    assert store.latest(dm_key("bob", "alice"), 10) == [rec(key, 1, time_ms=100)]


# -- find, isolation, round trip ---------------------------------------------------------------


def test_find(store: HistoryStore) -> None:
    records = fill(store)
    fill(store, "#other", 3)
    assert store.find(CHAN, f"{CHAN}/7") == records[7]
    assert store.find(CHAN, "#other/1") is None
    assert store.find("#other", f"{CHAN}/7") is None
    assert store.find("#nothing", "x") is None


def test_targets_are_isolated(store: HistoryStore) -> None:
    a = [rec("#a", n) for n in range(5)]
    b = [rec("#b", n) for n in range(5)]
    store.append([x for pair in zip(a, b, strict=True) for x in pair])
    assert store.latest("#a", 10) == a
    assert store.latest("#b", 3) == b[2:]
    assert store.before("#a", Ref(msgid="#a/3"), 10) == a[:3]
    assert store.before("#a", Ref(msgid="#b/3"), 10) == []
    assert store.between("#b", Ref(time_ms=0), Ref(time_ms=10**9), 10) == b


def test_round_trip_is_exact(store: HistoryStore) -> None:
    records = [
        rec(CHAN, 1, text="héllo wörld ✓ 日本語 🎉", tags={"+draft/reply": "x;y z", "+ü": ""}),
        rec(CHAN, 2, text="", account="alice", command="NOTICE"),
        rec(CHAN, 3, text='back\\slash "quotes" \x01ACTION waves\x01', tags={"+a": "\\s"}),
        Record(CHAN, "m4", 2**53, "srv", "TAGMSG", (), {"+typing": "active"}),
        Record(CHAN, "m5", 0, "n!u@h", "KICK", (CHAN, "bob", "bye :)")),
        rec(CHAN, 6, text="bad bytes \udcff\udcfe kept"),
    ]
    store.append(records)
    store.commit()
    assert store.latest(CHAN, 10) == records
    assert store.find(CHAN, "m4") == records[3]
    assert isinstance(store.latest(CHAN, 10)[0].params, tuple)


def test_duplicate_msgid_is_ignored(store: HistoryStore) -> None:
    first = rec(CHAN, 1, text="first")
    store.append([first, rec(CHAN, 2)])
    store.append([rec(CHAN, 1, text="again"), rec(CHAN, 3)])
    assert store.latest(CHAN, 10) == [first, rec(CHAN, 2), rec(CHAN, 3)]
    store.append([rec("#b", 1)])  # the same msgid in another target is another record
    assert store.find("#b", "#b/1") == rec("#b", 1)


# -- prune -----------------------------------------------------------------------------------------


def test_prune_by_count(store: HistoryStore) -> None:
    records = fill(store)
    other = fill(store, "#other", 3)
    assert store.prune(now_ms=10**9, max_count=5, max_age_ms=0) == 15
    assert store.latest(CHAN, 100) == records[15:]
    assert store.latest("#other", 100) == other
    assert store.find(CHAN, f"{CHAN}/14") is None
    assert store.before(CHAN, mid(14), 5) == []
    assert store.prune(now_ms=10**9, max_count=5, max_age_ms=0) == 0


def test_prune_by_age(store: HistoryStore) -> None:
    records = fill(store)  # times 1000 .. 1190
    assert store.prune(now_ms=1200, max_count=0, max_age_ms=100) == 10
    assert store.latest(CHAN, 100) == records[10:]  # 1100 is exactly 100 old: kept
    assert store.prune(now_ms=1200, max_count=0, max_age_ms=0) == 0
    assert store.prune(now_ms=10**6, max_count=0, max_age_ms=100) == 10
    assert store.latest(CHAN, 100) == []
    assert store.targets(0, 10**6, 10, [CHAN], "x") == []


def test_prune_by_both(store: HistoryStore) -> None:
    records = fill(store)
    assert store.prune(now_ms=1200, max_count=3, max_age_ms=50) == 17
    assert store.latest(CHAN, 100) == records[17:]
    store.append([rec(CHAN, 30)])
    assert store.latest(CHAN, 100) == [*records[17:], rec(CHAN, 30)]


# -- SQLite against memory against a literal reading of the contract ----------------------------

TARGETS = ["#a", "#b", dm_key("al_ce", "bob"), dm_key("alce", "bob")]


def _records(draw: st.DrawFn, monotonic: bool) -> list[Record]:
    count = draw(st.integers(0, 40))
    times = draw(st.lists(st.integers(0, 60), min_size=count, max_size=count))
    if monotonic:
        times.sort()
    out = []
    for n, t in enumerate(times):
        target = draw(st.sampled_from(TARGETS))
        # Now and then reuse an earlier msgid: a duplicate in the same target is ignored.
        msgid = f"m{draw(st.integers(0, n))}" if draw(st.integers(0, 9)) == 0 else f"m{n}"
        out.append(Record(target, msgid, t, "s", "PRIVMSG", (target, str(n))))
    return out


def ref_st(draw: st.DrawFn, records: list[Record], target: str) -> Ref:
    """A timestamp, a msgid of this target (mostly), or a msgid it does not have."""
    if draw(st.booleans()):
        return Ref(time_ms=draw(st.integers(-1, 62)))
    mine = [r.msgid for r in records if r.target == target]
    if mine and draw(st.integers(0, 5)):
        return Ref(msgid=draw(st.sampled_from(mine)))
    return Ref(msgid=f"m{draw(st.integers(0, 45))}")


def query_st(draw: st.DrawFn, records: list[Record]) -> tuple[Any, ...]:
    kind = draw(st.sampled_from(["latest", "before", "after", "around", "between", "targets"]))
    target = draw(st.sampled_from(TARGETS))
    limit = draw(st.integers(0, 8))
    if kind == "latest":
        return (kind, target, limit, ref_st(draw, records, target) if draw(st.booleans()) else None)
    if kind == "between":
        return (kind, target, ref_st(draw, records, target), ref_st(draw, records, target), limit)
    if kind == "targets":
        chans = draw(st.lists(st.sampled_from(["#a", "#b", "#c"]), unique=True))
        nick = draw(st.sampled_from(["al_ce", "alce", "bob", "x"]))
        return (kind, draw(st.integers(-1, 62)), draw(st.integers(-1, 62)), limit, chans, nick)
    return (kind, target, ref_st(draw, records, target), limit)


def run(store: HistoryStore, query: tuple[Any, ...]) -> Any:
    return getattr(store, query[0])(*query[1:])


def reference(records: list[Record], query: tuple[Any, ...]) -> Any:
    """The contract read literally, for histories whose times never decrease."""
    kind = query[0]
    if kind == "targets":
        _, start, end, limit, chans, nick = query
        low, high = sorted((start, end))
        found: dict[str, int] = {}
        for r in records:
            parties = r.target[3:].split(" ") if r.target.startswith("dm:") else []
            if (r.target in chans or nick in parties) and low < r.time_ms < high:
                found[r.target] = max(found.get(r.target, -1), r.time_ms)
        pairs = sorted((t, k) for k, t in found.items())
        if start > end:
            pairs.reverse()
        return [(k, t) for t, k in pairs[:limit]]
    target = query[1]
    hist = [r for r in records if r.target == target]

    def cut(ref: Ref) -> tuple[int, int] | None:
        """Records strictly before `ref` are hist[:lo], strictly after it hist[hi:]."""
        if ref.msgid is not None:
            pos = [i for i, r in enumerate(hist) if r.msgid == ref.msgid]
            return (pos[0], pos[0] + 1) if pos else None
        t = ref.time_ms
        assert t is not None
        return sum(r.time_ms < t for r in hist), len(hist) - sum(r.time_ms > t for r in hist)

    def when(ref: Ref, c: tuple[int, int]) -> int:
        return hist[c[0]].time_ms if ref.msgid is not None else ref.time_ms  # type: ignore[return-value]

    if kind == "latest":
        _, _, limit, after = query
        lo = 0
        if after is not None:
            c = cut(after)
            if c is None:
                return []
            lo = c[1]
        rest = hist[lo:]
        return rest[max(0, len(rest) - limit) :] if limit else []
    if kind == "between":
        _, _, start, end, limit = query
        cs, ce = cut(start), cut(end)
        if cs is None or ce is None or not limit:
            return []
        if start.msgid is not None and end.msgid is not None:
            backwards = cs[0] > ce[0]
        else:
            backwards = when(start, cs) > when(end, ce)
        if backwards:
            inner = hist[ce[1] : cs[0]]
            return inner[max(0, len(inner) - limit) :]
        return hist[cs[1] : ce[0]][:limit]
    _, _, ref, limit = query
    c = cut(ref)
    if c is None or not limit:
        return []
    if kind == "before":
        return hist[max(0, c[0] - limit) : c[0]]
    if kind == "after":
        return hist[c[1] : c[1] + limit]
    assert kind == "around"
    if ref.msgid is not None:
        n_before = (limit - 1) // 2
        return hist[max(0, c[0] - n_before) : c[0] + limit - n_before]
    n_before = limit // 2
    return hist[max(0, c[0] - n_before) : c[0]] + hist[c[1] : c[1] + limit - n_before]


@st.composite
def scenario(draw: st.DrawFn) -> tuple[bool, list[Record], int, list[tuple[Any, ...]], int]:
    monotonic = draw(st.booleans())
    records = _records(draw, monotonic)
    split = draw(st.integers(0, len(records)))
    queries = [query_st(draw, records) for _ in range(draw(st.integers(1, 30)))]
    prune = draw(st.integers(0, 4))
    return monotonic, records, split, queries, prune


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_sqlite_matches_memory_and_reference(
    case: tuple[bool, list[Record], int, list[tuple[Any, ...]], int],
) -> None:
    monotonic, records, split, queries, prune = case
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteStore(Path(tmp) / "h.db")
        memory = MemoryStore()
        try:
            stored: list[Record] = []
            seen: set[tuple[str, str]] = set()
            for r in records:
                if (r.target, r.msgid) not in seen:
                    seen.add((r.target, r.msgid))
                    stored.append(r)
            for store in (sqlite, memory):
                store.append(records[:split])
                store.append(records[split:])
            for query in queries:
                got = run(sqlite, query)
                assert got == run(memory, query), query
                if monotonic:
                    assert got == reference(stored, query), query
            if prune:
                assert sqlite.prune(60, prune, 30) == memory.prune(60, prune, 30)
                for query in queries:
                    assert run(sqlite, query) == run(memory, query), query
        finally:
            sqlite.close()


@pytest.mark.parametrize("limit", [1, 2, 3, 6])
def test_non_monotonic_times_agree(store: HistoryStore, limit: int) -> None:
    """After a clock step back, timestamp refs select by time and msgid refs by position;
    results still come back in append order."""
    times = [100, 200, 300, 150, 250, 350]
    records = [rec(CHAN, n, time_ms=t) for n, t in enumerate(times)]
    store.append(records)
    assert store.latest(CHAN, limit) == records[len(records) - limit :]
    # Timestamp ref: the closest records in time, returned in append order.
    assert store.before(CHAN, Ref(time_ms=260), 2) == [records[1], records[4]]
    assert store.after(CHAN, Ref(time_ms=120), 2) == [records[1], records[3]]
    # msgid ref: positions in append order.
    assert store.after(CHAN, mid(2), limit) == records[3 : 3 + limit]
