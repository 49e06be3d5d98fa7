"""Helpers shared by the history tests (imported by name: tests/history is on sys.path)."""

from __future__ import annotations

from hubbub.history.record import Record


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
