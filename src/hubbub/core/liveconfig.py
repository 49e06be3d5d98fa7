"""What REHASH (and SIGHUP) can change while the server runs, and applying it to the core.

The application reads the file (the core reads none) and hands the new `Config` to
`ChatServer.rehash`. Settings that need a restart keep their running values; the log says so.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from hubbub.config import Config
from hubbub.core.modes import give_up_oper
from hubbub.core.operators import find_operator

if TYPE_CHECKING:
    from hubbub.core.server import ChatServer

log = logging.getLogger("hubbub.oper")

# Settings that need a restart: REHASH keeps their running values (and the log says so).
RESTART_ONLY = (
    (
        "server",
        (
            "name",
            "casemapping",
            "data_dir",
            "engine",
            "engine_loops",
            "thread_switch_interval",
        ),
    ),
    ("listen", None),
    ("web", ("enabled", "hosts", "port", "request_timeout", "servers")),
    ("tls", None),
    ("history", ("backend", "path", "url", "commit_interval_ms")),
    ("metrics", None),
)


def live_config(old: Config, new: Config) -> tuple[Config, list[str]]:
    """`new`, with the settings that cannot change while running kept from `old`; and the
    dotted names of those that differed (REHASH logs them)."""
    ignored: list[str] = []
    changes: dict[str, Any] = {}
    for section, keys in RESTART_ONLY:
        was, now = getattr(old, section), getattr(new, section)
        if keys is None:
            if was != now:
                ignored.append(f"[{section}]")
            changes[section] = was
            continue
        kept = {key: getattr(was, key) for key in keys}
        ignored += [f"{section}.{key}" for key in keys if getattr(now, key) != kept[key]]
        changes[section] = dataclasses.replace(now, **kept)
    return dataclasses.replace(new, **changes), ignored


def apply_config(server: ChatServer, config: Config) -> list[str]:
    """`ChatServer.rehash`: use a new configuration; the restart-only keys it ignored."""
    merged, ignored = live_config(server.config, config)
    server.config = merged
    server.isupport = server.isupport_tokens()
    if server.whowas.maxlen != merged.limits.whowas_entries:
        server.whowas = deque(server.whowas, maxlen=merged.limits.whowas_entries)
    server.accounts.configure(merged.accounts)
    for user in list(server.registered_users()):
        if user.oper and find_operator(server, user.oper) is None:
            give_up_oper(server, user, "removed from the configuration")
            server.send_to(user, f":{user.prefix} MODE {user.nick} :-o")
    log.info(
        "configuration reloaded: %d operators%s",
        len(merged.operators),
        f"; unchanged until a restart: {', '.join(ignored)}" if ignored else "",
    )
    return ignored
