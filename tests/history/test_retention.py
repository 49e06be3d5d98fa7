"""Retention that bounds the store by default (issue 11, item 13): age, count per target, and a
quota of private messages per sending account, oldest first."""

from __future__ import annotations

import time
from pathlib import Path

from history_helpers import rec

from hubbub.config import Config
from hubbub.history.record import dm_key
from hubbub.history.sqlite import SqliteStore
from hubbub.history.store import HistoryStore
from support.config import server_config
from support.servers import ThreadedServer
from support.waiting import wait_for

DEADLINE = 20.0


def test_private_quota_keeps_each_accounts_newest(store: HistoryStore) -> None:
    ab, ac = dm_key("alice", "bob"), dm_key("alice", "carol")
    store.append(
        [
            rec(ab, 1, account="alice"),
            rec(ac, 2, account="alice"),
            rec(ab, 3, account="bob"),
            rec(ab, 4, account="alice"),
            rec(ac, 5, account="alice"),
            rec(ab, 6),  # no account: only age and count limits apply
            rec("#room", 7, account="alice"),  # a channel: not private
            rec("#room", 8, account="alice"),
        ]
    )
    assert store.prune_private(2) == 2
    assert [r.msgid for r in store.latest(ab, 10)] == [f"{ab}/3", f"{ab}/4", f"{ab}/6"]
    assert [r.msgid for r in store.latest(ac, 10)] == [f"{ac}/5"]
    assert len(store.latest("#room", 10)) == 2
    assert store.prune_private(0) == 0  # 0: no limit
    assert store.prune_private(2) == 0


def test_the_defaults_bound_the_history() -> None:
    history = Config().history
    assert history.max_age_days > 0 and history.max_messages_per_room > 0
    assert history.private_per_account > 0 and not history.store_tagmsg
    assert 0 < history.max_tag_bytes < 4096


def test_the_server_sweeps_private_history_down_to_the_quota(tmp_path: Path) -> None:
    data = tmp_path / "data"
    now_ms = int(time.time() * 1000)
    seed = SqliteStore(data / "history.sqlite3")
    key = dm_key("alice", "bob")
    seed.append([rec(key, n, time_ms=now_ms - 1000 + n, account="alice") for n in range(6)])
    seed.close()
    config = server_config(data, history={"private_per_account": 4})
    with ThreadedServer(config) as server:
        assert server.app is not None and server.app.worker is not None
        worker = server.app.worker
        wait_for(
            lambda: len(worker.submit(lambda s: s.latest(key, 10)).result(DEADLINE)) <= 4,
            DEADLINE,
            "the retention sweep ran",
        )
        kept = worker.submit(lambda s: s.latest(key, 10)).result(DEADLINE)
    assert [r.msgid for r in kept] == [f"{key}/{n}" for n in range(2, 6)]
