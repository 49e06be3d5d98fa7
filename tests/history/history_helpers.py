"""Helpers shared by the history tests (imported by name: tests/history is on sys.path)."""

from __future__ import annotations

from hubbub.history.record import Record
from hubbub.history.store import HistoryStore


def rec(
    target: str,
    n: int,
    time_ms: int | None = None,
    *,
    text: str | None = None,
    tags: dict[str, str] | None = None,
    source: str = "alice!a@host",
    command: str = "PRIVMSG",
    account: str = "",
) -> Record:
    """Record number `n` of `target`: msgid "<target>/<n>", time 1000 + 10 n unless given."""
    return Record(
        target=target,
        msgid=f"{target}/{n}",
        time_ms=1000 + 10 * n if time_ms is None else time_ms,
        source=source,
        command=command,
        params=(target, f"message {n}" if text is None else text),
        tags=dict(tags or {}),
        account=account,
    )


def remembers_what_a_rename_moves(store: HistoryStore) -> bool:
    """Whether, with `rec("#old", 0)` stored, a rename onto #new (which had an earlier room)
    moves it, ignores a late copy of it under the old name, sends a late record of the
    earlier #new aside and one of the renamed room on to #new (HistoryStore.append): a store
    upgraded from a schema without `moved_msgids`, `set_aside` and `moved_away` must."""
    store.append([rec("#new", 0, 500)])  # an earlier room called #new
    moved = store.rename_target("#old", "#new", 1500, "#new aside", through_ms=1500) == 1
    store.append([rec("#old", 0), rec("#new", 1, 600), rec("#old", 1)])  # written late
    store.commit()
    return (
        moved
        and store.latest("#old", 10) == []
        and [r.msgid for r in store.latest("#new", 10)] == ["#old/0", "#old/1"]
        and [r.msgid for r in store.latest("#new aside", 10)] == ["#new/0", "#new/1"]
    )
