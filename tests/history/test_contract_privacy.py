"""The HistoryStore methods behind REDACT and HistServ (redact, by_account, delete_by_account),
checked identically on every back-end (the `store` fixture of conftest.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from history_helpers import rec

from hubbub.history.record import Ref, dm_key
from hubbub.history.sqlite import SqliteStore
from hubbub.history.store import HistoryStore

DM = dm_key("~alice", "~bob")


def test_redact_removes_a_record_from_every_query(store: HistoryStore) -> None:
    records = [rec("#room", n) for n in range(6)]
    store.append(records)
    store.commit()
    assert store.redact("#room", "#room/2")
    assert not store.redact("#room", "#room/2")  # already gone
    assert not store.redact("#other", "#room/3")  # wrong target
    assert not store.redact("#room", "nope")
    rest = [r for r in records if r.msgid != "#room/2"]
    assert store.latest("#room", 10) == rest
    assert store.find("#room", "#room/2") is None
    assert store.after("#room", Ref(msgid="#room/1"), 2) == rest[2:4]
    assert store.before("#room", Ref(msgid="#room/4"), 2) == rest[1:3]
    assert store.around("#room", Ref(msgid="#room/2"), 3) == []  # the ref itself is gone
    assert store.between("#room", Ref(time_ms=0), Ref(time_ms=10**9), 10) == rest
    assert store.targets(0, 10**9, 10, ["#room"], "x") == [("#room", 1050)]


def test_a_late_copy_of_a_redacted_record_is_ignored(store: HistoryStore) -> None:
    """HistoryStore.redact: "a late copy of the record, under any target, is ignored" (in a
    cluster, a lagging node's write of a message every other node deleted already)."""
    records = [rec("#room", n) for n in range(3)]
    store.append(records)
    store.commit()
    assert store.redact("#room", "#room/1")
    store.append([records[1], dataclasses.replace(records[1], target="#renamed")])
    store.commit()
    assert store.latest("#room", 10) == [records[0], records[2]]
    assert store.latest("#renamed", 10) == []
    assert not store.redact("#room", "#room/1")
    store.append([rec("#room", 3)])  # other records go on being stored
    assert [r.msgid for r in store.latest("#room", 10)] == ["#room/0", "#room/2", "#room/3"]


def test_a_voided_message_is_never_stored(store: HistoryStore) -> None:
    """HistoryStore.void: "A copy stored already is deleted, and its msgid is remembered ...
    so that a later copy is ignored" (a message every cluster node refused in sequence)."""
    records = [rec("#room", n) for n in range(4)]
    store.append(records[:2])
    store.commit()
    store.void("#room", "#room/1", records[1].time_ms)  # stored already: deleted
    store.void("#room", "#room/2", records[2].time_ms)  # not yet: never stored
    store.append(records[1:])
    store.commit()
    assert [r.msgid for r in store.latest("#room", 10)] == ["#room/0", "#room/3"]
    store.void("#room", "#room/2", records[2].time_ms)  # again: nothing changes
    assert [r.msgid for r in store.latest("#room", 10)] == ["#room/0", "#room/3"]


def test_redacting_the_last_record_empties_the_target(store: HistoryStore) -> None:
    store.append([rec(DM, 1)])
    assert store.redact(DM, f"{DM}/1")
    assert store.latest(DM, 5) == []
    assert store.targets(0, 10**9, 10, [], "~alice") == []


def test_by_account_and_delete_by_account(store: HistoryStore) -> None:
    mine = [
        rec("#a", 1, account="alice"),
        rec(DM, 2, account="alice"),
        rec("#b", 3, account="alice"),
    ]
    others = [rec("#a", 4, account="bob"), rec("#a", 5), rec(DM, 6, account="bob")]
    store.append([mine[0], others[0], mine[1], others[1], mine[2], others[2]])
    store.commit()
    assert store.by_account("alice", 10) == mine
    assert store.by_account("alice", 2) == mine[1:]  # the newest, oldest first
    assert store.by_account("alice", 0) == []
    assert store.by_account("ALICE", 10) == []  # compared exactly
    assert store.by_account("", 10) == []  # messages without an account belong to nobody
    assert store.delete_by_account("alice") == 3
    assert store.delete_by_account("alice") == 0
    assert store.delete_by_account("") == 0
    assert store.by_account("alice", 10) == []
    assert store.latest("#a", 10) == [others[0], others[1]]
    assert store.latest(DM, 10) == [others[2]]
    assert store.latest("#b", 10) == []


def test_a_late_copy_of_a_deleted_accounts_record_is_ignored(store: HistoryStore) -> None:
    """HistoryStore.delete_by_account: "a late copy of one is ignored", and `taken_away` names
    the msgids it took (in a cluster, another node's write of a message it held when the
    account's history was deleted, and the stream's copy in a merged join replay)."""
    mine = [rec("#a", 1, account="alice"), rec(DM, 2, account="alice")]
    other = rec("#a", 3, account="bob")
    store.append([*mine, other])
    store.commit()
    assert store.taken_away([]) == set()
    assert store.taken_away(["#a/1", "#a/3", "nope"]) == set()
    assert store.delete_by_account("alice") == 2
    store.append([mine[0], dataclasses.replace(mine[1], target="#elsewhere")])
    store.commit()
    assert store.latest("#a", 10) == [other]
    assert store.latest(DM, 10) == [] and store.latest("#elsewhere", 10) == []
    assert store.taken_away(["#a/1", f"{DM}/2", "#a/3", "nope"]) == {"#a/1", f"{DM}/2"}
    assert store.redact("#a", "#a/3")
    assert store.taken_away(["#a/3"]) == {"#a/3"}


def test_delete_by_account_before_a_time_keeps_what_the_account_said_from_then(
    store: HistoryStore,
) -> None:
    """HistoryStore.delete_by_account: "with `before_ms`, those older than it" (a cluster's
    other nodes delete again up to the time the bus gave the deletion's announcement)."""
    before = [rec("#a", 1, account="alice"), rec(DM, 2, account="alice")]
    at_the_bound = rec("#a", 3, account="alice")  # time 1030: said as the bus sequenced it
    after = rec("#b", 4, account="alice")
    store.append([*before, at_the_bound, after, rec("#a", 5, account="bob", time_ms=1000)])
    store.commit()
    assert store.delete_by_account("alice", before_ms=1030) == 2
    assert store.by_account("alice", 10) == [at_the_bound, after]
    assert store.taken_away(["#a/1", f"{DM}/2", "#a/3", "#b/4"]) == {"#a/1", f"{DM}/2"}
    assert [r.msgid for r in store.latest("#a", 10)] == ["#a/3", "#a/5"]
    assert store.delete_by_account("alice", before_ms=1030) == 0
    assert store.delete_by_account("alice") == 2


def test_delete_by_account_before_a_time_ignores_the_accounts_older_records_written_later(
    store: HistoryStore,
) -> None:
    """HistoryStore.delete_by_account: "With `before_ms`, the bound is remembered too (the
    highest given for the account): a record of the account older than it, appended later,
    is ignored, whoever writes it and whenever." A node that had not committed one when the
    deletion was made (nor read its announcement) writes it in vain; what the account says
    from the bound on, and other accounts' older records, go in."""
    store.append([rec("#a", 1, account="alice")])
    store.commit()
    assert store.delete_by_account("alice", before_ms=1030) == 1
    assert store.delete_by_account("alice", before_ms=1010) == 0  # (the higher bound holds)
    late = [rec("#a", 2, account="alice"), rec(DM, 3, time_ms=1025, account="alice")]
    kept = [rec("#a", 4, time_ms=1030, account="alice"), rec("#b", 5, account="bob")]
    store.append([*late, *kept])
    store.commit()
    assert store.by_account("alice", 10) == [kept[0]]
    assert [r.msgid for r in store.latest("#b", 10)] == ["#b/5"]
    # Retention without an age limit keeps the bound; with one, it goes with the records
    # of its time (a late one of those would be pruned too).
    store.prune(now_ms=10**9, max_count=100, max_age_ms=0)
    store.append([rec("#a", 7, time_ms=1020, account="alice")])
    store.commit()
    assert store.by_account("alice", 10) == [kept[0]]
    store.prune(now_ms=1040, max_count=0, max_age_ms=5)
    store.append([rec("#a", 8, time_ms=1029, account="alice")])
    store.commit()
    assert [r.msgid for r in store.by_account("alice", 10)] == ["#a/8"]
    # Without a bound nothing but the msgids is remembered: the account's next record, older
    # by the bus's clock than the deletion by this node's, goes in.
    assert store.delete_by_account("bob") == 1
    store.append([rec("#b", 6, time_ms=900, account="bob")])
    store.commit()
    assert [r.msgid for r in store.latest("#b", 10)] == ["#b/6"]


def test_sqlite_redaction_is_durable(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = SqliteStore(path)
    store.append([rec("#room", 1, account="alice"), rec("#room", 2)])
    store.commit()
    store.redact("#room", "#room/2")
    store.delete_by_account("alice")
    store.close()
    again = SqliteStore(path)
    assert again.latest("#room", 10) == []
    plan = " ".join(
        again.explain(
            "SELECT seq FROM records WHERE account = ? AND account != '' ORDER BY seq DESC LIMIT 5",
            ("alice",),
        )
    )
    assert "records_account" in plan
    again.close()
