"""HistoryStore.rename_target (draft/channel-rename): the room's history follows its new name,
identically on every back-end."""

from __future__ import annotations

from history_helpers import rec

from hubbub.history.record import Edit
from hubbub.history.store import HistoryStore


def test_records_move_to_the_new_key_in_order(store: HistoryStore) -> None:
    records = [rec("#old", n) for n in range(5)]
    store.append(records)
    store.commit()
    assert store.rename_target("#old", "#new") == 5
    store.commit()
    assert store.latest("#old", 10) == []
    moved = store.latest("#new", 10)
    assert [r.msgid for r in moved] == [r.msgid for r in records]
    assert {r.target for r in moved} == {"#new"}
    assert store.find("#new", records[2].msgid) is not None
    # Appends after the rename go on under the new key, after the moved records.
    store.append([rec("#new", 5)])
    store.commit()
    assert [r.msgid for r in store.latest("#new", 2)] == [records[4].msgid, "#new/5"]


def test_an_earlier_room_of_the_new_name_is_set_aside(store: HistoryStore) -> None:
    """The records an earlier #new left are not mixed into the renamed room's history."""
    store.append([rec("#new", n) for n in range(3)])
    store.append([rec("#old", n) for n in range(2)])
    store.commit()
    assert store.rename_target("#old", "#new") == 2
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/0", "#old/1"]


def test_renaming_a_room_without_history(store: HistoryStore) -> None:
    assert store.rename_target("#nothing", "#else") == 0
    assert store.latest("#else", 10) == []


def test_records_of_the_new_name_since_the_rename_stay(store: HistoryStore) -> None:
    """In a cluster another node may have stored the renamed room's first events under the
    new name before the rename's node moves the old records: with `before_ms` only the
    older records of the new name (an earlier room) are set aside."""
    store.append([rec("#new", 0, 500)])  # an earlier room called #new
    store.append([rec("#old", n) for n in range(2)])  # times 1000, 1010
    store.append([rec("#new", 1, 2000)])  # the renamed room, after the rename at 1500
    store.commit()
    assert store.rename_target("#old", "#new", before_ms=1500) == 2
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/0", "#old/1", "#new/1"]


def test_records_set_aside_under_a_named_key_go_back(store: HistoryStore) -> None:
    """A cluster names the key an earlier room's records go aside under, and moves them back
    when Redis lost the rename (hubbub.core.cluster_rename `_move_stored_back`): the earlier
    room has its history again, in its order, and the renamed room's records are under the
    old name again."""
    store.append([rec("#new", n, 500 + n) for n in range(2)])  # an earlier room called #new
    store.append([rec("#old", n) for n in range(2)])
    store.commit()
    assert store.rename_target("#old", "#new", before_ms=900, aside="#new renamed-away-#old@7") == 2
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/0", "#old/1"]
    assert store.rename_target("#new", "#old", 0) == 2
    assert store.rename_target("#new renamed-away-#old@7", "#new", 0) == 2
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#new/0", "#new/1"]
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/0", "#old/1"]
    assert store.latest("#new renamed-away-#old@7", 10) == []


def test_an_earlier_room_is_set_aside_even_if_the_renamed_room_has_no_history(
    store: HistoryStore,
) -> None:
    """A room renamed before anything was stored in it: the earlier room of the new name is
    set aside all the same, and goes back when Redis lost the rename. The memory store kept it
    under the new name, as if it were the renamed room's, so undoing the rename moved it to
    the old name (a cluster fuzz finding, seeds 5847387 and 5853686; the SQL stores did not)."""
    store.append([rec("#new", n, 500 + n) for n in range(2)])  # an earlier room called #new
    store.commit()
    assert store.rename_target("#old", "#new", before_ms=900, aside="#new renamed-away-#old@3") == 0
    store.commit()
    assert store.latest("#new", 10) == []
    assert store.rename_target("#new", "#old", 0) == 0
    assert store.rename_target("#new renamed-away-#old@3", "#new", 0) == 2
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#new/0", "#new/1"]
    assert store.latest("#old", 10) == []


def test_only_the_records_up_to_the_rename_move(store: HistoryStore) -> None:
    """With `through_ms` (the rename's time), the records of a room made anew under the old
    name after the rename stay there, with their edits: a cluster node that applies its own
    rename late finds them under the old name (a cluster fuzz finding, seed 5800517)."""
    store.append([rec("#old", n, 1000 + n) for n in range(2)])  # the renamed room
    store.append([rec("#old", n, 1501 + n) for n in range(2, 4)])  # made anew after 1500
    store.commit()
    assert store.edit("#old", "#old/1", Edit("e1", 1400, "before", "")) is True
    assert store.edit("#old", "#old/3", Edit("e3", 1600, "after", "")) is True
    store.commit()
    assert store.rename_target("#old", "#new", 1500, through_ms=1500) == 2
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/0", "#old/1"]
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/2", "#old/3"]
    assert [e.msgid for e in store.edits("#new", "#old/1")] == ["e1"]
    assert [e.msgid for e in store.edits("#old", "#old/3")] == ["e3"]
    assert store.edits("#old", "#old/1") == [] and store.edits("#new", "#old/3") == []


def test_a_late_copy_of_a_moved_record_is_ignored(store: HistoryStore) -> None:
    """In a cluster a node that lagged may write a renamed room's event under the old name
    after the operator's node moved the room's records: it is stored already (under the new
    name), so the copy is ignored, in any batch, rather than left under the old name, where an
    account's export would list it twice. Records the rename did not move still go in."""
    store.append([rec("#old", n) for n in range(2)])
    store.commit()
    assert store.rename_target("#old", "#new", 1500, through_ms=1500) == 2
    store.commit()
    store.append([rec("#old", 2, 1600), rec("#old", 1), rec("#new", 3, 1700)])
    store.commit()
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/2"]
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/0", "#old/1", "#new/3"]


def test_an_edit_written_late_under_the_old_name_goes_with_its_moved_record(
    store: HistoryStore,
) -> None:
    """HistoryStore.edit: "a record that `rename_target` moved since is edited where the move
    put it" (in a cluster, a lagging requester's node stores an EDIT sequenced before the
    RENAME after another node applied the rename: it was lost, a cluster fuzz finding, seed
    6720726). A record the rename did not move, or one redacted, is not found elsewhere."""
    store.append([rec("#old", n, 1000 + n) for n in range(2)])
    store.commit()
    assert store.rename_target("#old", "#new", 1500, through_ms=1500) == 2
    store.append([rec("#old", 2, 1600)])  # a room made anew under the old name
    store.commit()
    assert store.edit("#old", "#old/1", Edit("e1", 1400, "late", "")) is True
    store.commit()
    assert [r.params[-1] for r in store.latest("#new", 10)][1] == "late"
    assert [e.msgid for e in store.edits("#new", "#old/1")] == ["e1"]
    assert store.edits("#old", "#old/1") == []
    assert store.edit("#old", "#old/2", Edit("e2", 1700, "here", "")) is True
    assert [e.msgid for e in store.edits("#old", "#old/2")] == ["e2"]
    assert store.redact("#new", "#old/0")
    assert store.edit("#old", "#old/0", Edit("e0", 1800, "gone", "")) is False
    assert store.edit("#old", "nope", Edit("e9", 1800, "never", "")) is False


def test_a_redact_or_void_under_the_old_name_takes_the_moved_record(store: HistoryStore) -> None:
    """As an edit (HistoryStore.edit): a REDACT, or a void (in a cluster, by the sender's node
    of a message refused in sequence, which may come after another node wrote the message it
    held and a RENAME moved it), under the name a rename took the record from removes it where
    it went; a late copy of it stays out. One under the old name made anew stays its own."""
    store.append([rec("#old", n, 1000 + n) for n in range(3)])
    store.commit()
    assert store.rename_target("#old", "#new", 1500, through_ms=1500) == 3
    store.append([rec("#old", 3, 1600)])
    store.commit()
    assert store.redact("#old", "#old/0") is True
    store.void("#old", "#old/1", 2000)
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/2"]
    store.append([rec("#old", 0, 1000), rec("#old", 1, 1001)])  # late copies
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/2"]
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/3"]
    assert store.redact("#old", "#old/3") is True
    assert store.latest("#old", 10) == [] and len(store.latest("#new", 10)) == 1


def test_a_late_copy_of_a_record_set_aside_is_ignored(store: HistoryStore) -> None:
    """A node that lagged in a room which another is then renamed onto may write that room's
    event under its name after the rename set the room's records aside: the renamed room must
    not show it as if said there (a cluster fuzz finding, seed 4898478)."""
    aside = "#new renamed-away-#old@4"
    store.append([rec("#new", n, 500 + n) for n in range(2)])  # an earlier room called #new
    store.append([rec("#old", n) for n in range(2)])
    store.commit()
    assert store.rename_target("#old", "#new", 900, aside, through_ms=1500) == 2
    store.commit()
    store.append([rec("#new", 1, 501)])
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/0", "#old/1"]
    assert [r.msgid for r in store.latest(aside, 10)] == ["#new/0", "#new/1"]


def test_retention_forgets_the_moved_records_with_the_records(store: HistoryStore) -> None:
    """What a rename moved is remembered only as long as the records themselves are kept."""
    store.append([rec("#old", 0, 1000)])
    store.commit()
    store.rename_target("#old", "#new")
    store.commit()
    assert store.prune(now_ms=10_000, max_count=0, max_age_ms=5_000) == 1
    store.commit()
    store.append([rec("#old", 0, 1000)])
    store.commit()
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/0"]


def test_a_record_of_the_earlier_room_written_late_goes_aside_too(store: HistoryStore) -> None:
    """A set-aside holds for records written later too: a lagging node's first write of a
    record of the earlier room of the name, older than the rename, goes under the key the
    earlier room's records went to, not into the renamed room; a newer one stays. Once the
    rename is undone (its records moved back, the earlier room's from that key), a late
    record of the earlier room stays under the name again."""
    aside = "#new renamed-away-#old@4"
    store.append([rec("#new", 0, 500)])  # an earlier room called #new
    store.append([rec("#old", n) for n in range(2)])  # times 1000, 1010
    store.commit()
    assert store.rename_target("#old", "#new", 1500, aside, through_ms=1500) == 2
    store.commit()
    store.append([rec("#new", 1, 600), rec("#new", 2, 1600)])
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#old/0", "#old/1", "#new/2"]
    assert [r.msgid for r in store.latest(aside, 10)] == ["#new/0", "#new/1"]
    store.rename_target("#new", "#old", 0)
    store.rename_target(aside, "#new", 0)
    store.append([rec("#new", 3, 700)])
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == ["#new/0", "#new/1", "#new/3"]


def test_each_set_aside_of_a_name_takes_the_late_records_of_its_own_room(
    store: HistoryStore,
) -> None:
    """Two rooms renamed onto one name in turn: a late record goes to the set-aside of the
    room it was said in, told by its time."""
    first, second = "#new renamed-away-#a@1", "#new renamed-away-#b@2"
    store.append([rec("#new", 0, 500), rec("#a", 0, 600), rec("#b", 0, 1600)])
    store.commit()
    store.rename_target("#a", "#new", 1000, first, through_ms=1000)
    store.rename_target("#b", "#new", 2000, second, through_ms=2000)
    store.append([rec("#new", 1, 510), rec("#new", 2, 1100), rec("#new", 3, 2100)])
    store.commit()
    assert [r.msgid for r in store.latest(first, 10)] == ["#new/0", "#new/1"]
    assert [r.msgid for r in store.latest(second, 10)] == ["#a/0", "#new/2"]
    assert [r.msgid for r in store.latest("#new", 10)] == ["#b/0", "#new/3"]


def test_a_record_of_the_renamed_room_written_late_follows_it(store: HistoryStore) -> None:
    """In a cluster a node that stopped following a room before the rename (its last user
    there left) may write one of the room's records under the old name after the move, one
    nobody had stored: it is the renamed room's (at or before the rename's time) and goes to
    the new name (appended, as any late record is); a newer one is a room made anew under the
    old name and stays (the bus times that room's first event strictly after the rename)."""
    store.append([rec("#old", 0, 1000), rec("#old", 2, 1020)])
    store.commit()
    assert store.rename_target("#old", "#new", 1500, "#new aside", through_ms=1500) == 2
    store.append([rec("#old", 1, 1010), rec("#old", 3, 1500), rec("#old", 4, 1501)])
    store.commit()
    assert [r.msgid for r in store.latest("#new", 10)] == [
        "#old/0",
        "#old/2",
        "#old/1",
        "#old/3",
    ]
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/4"]
    assert store.latest("#new aside", 10) == []


def test_a_late_record_follows_the_room_through_every_rename(store: HistoryStore) -> None:
    """Renamed twice (#a, #b, #c): a late record of its time under the first name ends under
    the last, and not in the set-aside of the earlier rooms of the names it went through."""
    store.append([rec("#b", 0, 100), rec("#c", 0, 200)])  # earlier rooms of #b and #c
    store.append([rec("#a", 0, 1000)])
    store.commit()
    store.rename_target("#a", "#b", 1500, "#b aside", through_ms=1500)
    store.rename_target("#b", "#c", 2500, "#c aside", through_ms=2500)
    store.append([rec("#a", 1, 1010), rec("#b", 1, 1600), rec("#b", 2, 110)])
    store.commit()
    assert [r.msgid for r in store.latest("#c", 10)] == ["#a/0", "#a/1", "#b/1"]
    assert [r.msgid for r in store.latest("#b aside", 10)] == ["#b/0", "#b/2"]
    assert [r.msgid for r in store.latest("#c aside", 10)] == ["#c/0"]
    assert store.latest("#a", 10) == [] and store.latest("#b", 10) == []


def test_the_first_rename_after_a_late_record_decides_where_it_goes(store: HistoryStore) -> None:
    """#x renamed onto #a (an earlier #a set aside), then #a renamed to #b: a late record of
    #a older than the first rename is the earlier room's, one between the two the renamed
    room's."""
    store.append([rec("#a", 0, 100), rec("#x", 0, 500)])
    store.commit()
    store.rename_target("#x", "#a", 1000, "#a aside", through_ms=1000)
    store.rename_target("#a", "#b", 2000, "#b aside", through_ms=2000)
    store.append([rec("#a", 1, 200), rec("#a", 2, 1500), rec("#x", 1, 600)])
    store.commit()
    assert [r.msgid for r in store.latest("#a aside", 10)] == ["#a/0", "#a/1"]
    assert [r.msgid for r in store.latest("#b", 10)] == ["#x/0", "#a/2", "#x/1"]
    assert store.latest("#a", 10) == [] and store.latest("#x", 10) == []


def test_a_move_made_after_a_later_set_aside_of_its_name_takes_its_records_back(
    store: HistoryStore,
) -> None:
    """#a renamed to #d at 1000, then #b renamed onto #a at 2000, the two applied the other
    way round (two rooms' renames: a node applies them in either order; cluster fuzz
    findings, docs/cluster-fuzzing.md). The set-aside took #a's records, the renamed room's;
    the move, made after it, takes those at or before its time (with their edits) from
    there, as a late record of them goes to #d (`late_key`), and leaves #b's under #a,
    however old; one of a room made anew under #a between the two renames stays aside."""
    aside = "#a renamed-away-#b@2"
    store.append([rec("#a", 0, 900), rec("#a", 1, 1000), rec("#a", 2, 1500)])
    store.append([rec("#b", 0, 950), rec("#b", 1, 1900)])
    store.commit()
    edit = Edit(msgid="edit-1", time_ms=1100, text="edited", account="alice")
    assert store.edit("#a", "#a/1", edit)
    assert store.rename_target("#b", "#a", 2000, aside, through_ms=2000) == 2
    assert store.rename_target("#a", "#d", 1000, "#d aside", through_ms=1000) == 2
    store.commit()
    assert [r.msgid for r in store.latest("#d", 10)] == ["#a/0", "#a/1"]
    assert [e.text for e in store.edits("#d", "#a/1")] == ["edited"]
    assert [r.msgid for r in store.latest(aside, 10)] == ["#a/2"]
    assert [r.msgid for r in store.latest("#a", 10)] == ["#b/0", "#b/1"]
    store.append([rec("#a", 3, 950), rec("#a", 1, 1000)])  # a late record; a late copy
    store.commit()
    assert [r.msgid for r in store.latest("#d", 10)] == ["#a/0", "#a/1", "#a/3"]


def test_a_move_at_the_time_of_a_set_aside_of_its_name_leaves_what_it_took(
    store: HistoryStore,
) -> None:
    """#c renamed onto #b and #b then renamed to #a within one millisecond: which came first
    cannot be told by time, so the records the set-aside took stay under its key."""
    store.append([rec("#b", 0, 900), rec("#c", 0, 950)])
    store.commit()
    store.rename_target("#c", "#b", 1000, "#b aside", through_ms=1000)
    assert store.rename_target("#b", "#a", 1000, "#a aside", through_ms=1000) == 1
    store.commit()
    assert [r.msgid for r in store.latest("#b aside", 10)] == ["#b/0"]
    assert [r.msgid for r in store.latest("#a", 10)] == ["#c/0"]


def test_a_late_record_stays_under_the_old_name_once_the_rename_is_undone(
    store: HistoryStore,
) -> None:
    """A rename moved back (Redis lost it: the room is under its old name again): a late
    record of the old name stays there, where the room is."""
    store.append([rec("#old", 0, 1000)])
    store.commit()
    store.rename_target("#old", "#new", 1500, "#new aside", through_ms=1500)
    store.rename_target("#new", "#old", 0)
    store.rename_target("#new aside", "#new", 0)
    store.append([rec("#old", 1, 1010)])
    store.commit()
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/0", "#old/1"]
    assert store.latest("#new", 10) == []


def test_without_the_rename_time_late_records_are_not_sent_on(store: HistoryStore) -> None:
    """One server's rename (no `through_ms`): what is written under the old name afterwards is
    a room made anew there, whatever its time."""
    store.append([rec("#old", 0, 1000)])
    store.commit()
    store.rename_target("#old", "#new")
    store.append([rec("#old", 1, 900)])
    store.commit()
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/1"]


def test_retention_forgets_the_moves_with_the_records(store: HistoryStore) -> None:
    """A move is remembered as long as records of its time are kept."""
    store.append([rec("#old", 0, 1000)])
    store.commit()
    store.rename_target("#old", "#new", 1500, "#new aside", through_ms=1500)
    store.commit()
    store.prune(now_ms=10_000, max_count=0, max_age_ms=5_000)
    store.commit()
    store.append([rec("#old", 1, 1010)])
    store.commit()
    assert [r.msgid for r in store.latest("#old", 10)] == ["#old/1"]


def test_a_room_renamed_back_keeps_its_late_records(store: HistoryStore) -> None:
    """#a renamed to #b, then back to #a (a rename of its own, with its time): a late record
    of #a from before the first goes there, through #b, and not aside with the records of an
    earlier room of #a, which the second rename sets aside."""
    store.append([rec("#a", 0, 1000)])
    store.commit()
    store.rename_target("#a", "#b", 1500, "#b aside", through_ms=1500)
    store.rename_target("#b", "#a", 2500, "#a aside", through_ms=2500)
    store.append([rec("#a", 1, 1010), rec("#b", 1, 1600)])
    store.commit()
    assert [r.msgid for r in store.latest("#a", 10)] == ["#a/0", "#a/1", "#b/1"]
    assert store.latest("#a aside", 10) == [] and store.latest("#b", 10) == []


def test_a_rename_asked_for_again_changes_nothing(store: HistoryStore) -> None:
    """Every cluster node that applies a rename asks for its move; one that applied it late
    asks after the room was renamed on (another node applied both and asked first): its move
    is made already, and must not take the room's records from where the next one put them
    (a cluster fuzz finding, seed 4956784)."""
    store.append([rec("#b", 0, 500), rec("#a", 0, 1000)])  # an earlier #b, and #a
    store.commit()
    assert store.rename_target("#a", "#b", 1500, "#b aside", through_ms=1500) == 1
    assert store.rename_target("#b", "#a", 2500, "#a aside", through_ms=2500) == 1
    assert store.rename_target("#a", "#b", 1500, "#b aside", through_ms=1500) == 0
    store.commit()
    assert [r.msgid for r in store.latest("#a", 10)] == ["#a/0"]
    assert [r.msgid for r in store.latest("#b aside", 10)] == ["#b/0"]
    assert store.latest("#b", 10) == [] and store.latest("#a aside", 10) == []


def test_a_rename_asked_for_after_it_was_undone_changes_nothing(store: HistoryStore) -> None:
    """Redis lost a rename and the operator's node moved the room's records back; a node that
    had applied the rename before the loss asks for its move only now (its history worker
    was behind): the room is under its old name, and its records stay there."""
    store.append([rec("#a", 0, 1000)])
    store.commit()
    assert store.rename_target("#a", "#b", 1500, "#b aside", through_ms=1500) == 1
    store.rename_target("#b", "#a", 0)
    store.rename_target("#b aside", "#b", 0)
    assert store.rename_target("#a", "#b", 1500, "#b aside", through_ms=1500) == 0
    store.append([rec("#a", 1, 1010)])
    store.commit()
    assert [r.msgid for r in store.latest("#a", 10)] == ["#a/0", "#a/1"]
    assert store.latest("#b", 10) == []
