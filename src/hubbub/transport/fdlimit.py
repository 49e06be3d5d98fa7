"""The process's file-descriptor limit, checked against `limits.max_clients` at start-up.

Every client holds a socket, and so does every unfinished HTTP request; the history, account
and registry stores, the listeners and the loop hold a few more. Under a soft limit below that
(1,024 is systemd's default) `accept` starts failing and new clients are locked out without a
word. At start-up the soft limit is raised as far as the hard limit allows; if even that is
not enough, a warning says what to raise.
"""

from __future__ import annotations

import logging

__all__ = ["SPARE_DESCRIPTORS", "ensure_fd_limit"]

log = logging.getLogger("hubbub.net")

#: Descriptors beside the clients' sockets: listeners, stores, the loop, log files, slack.
SPARE_DESCRIPTORS = 64


def ensure_fd_limit(max_clients: int) -> int | None:
    """Raise the soft RLIMIT_NOFILE to what `max_clients` needs (up to the hard limit); warn
    when it stays below. Returns the soft limit in force, or None where there is none."""
    try:
        import resource
    except ImportError:  # not on this platform (Windows)
        return None
    wanted = max_clients + SPARE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError) as exc:
                log.debug("could not raise the file descriptor limit: %s", exc)
            else:
                log.info("file descriptor limit raised from %d to %d", soft, target)
                soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "the file descriptor limit (%d) is below what limits.max_clients = %d needs (%d): "
            "raise it (ulimit -n, or LimitNOFILE= in a systemd unit) or lower max_clients",
            soft,
            max_clients,
            wanted,
        )
    return int(soft)
