"""`hubbub doctor`: checks a setup before (or while) it runs, and says what to fix.

Each check gives findings: `ok`, `warning` (works, but worth a look) or `problem` (the server
would not start, or would fail under load). Every problem says what to do. The exit status is
1 when there is a problem, 0 otherwise, so a deployment script can run it first.

Checks: the configuration loads; the file-descriptor limit covers `limits.max_clients`; the
data directory exists (or can be made), is writable and has free space; the database opens
and is writable (skipped while a server holds it: then it is in use, which says enough); the
TLS certificate and key load and the certificate is not expired or about to; the metrics
listener is not exposed beyond loopback by accident.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hubbub.config import Config
from hubbub.ops.datalock import DataDirLocked, DataLock
from hubbub.transport.fdlimit import SPARE_DESCRIPTORS

__all__ = ["MIN_FREE_BYTES", "Finding", "check", "has_problems"]

#: Below this much free space in the data directory, doctor reports a problem.
MIN_FREE_BYTES = 100 * 1024 * 1024
#: A certificate expiring within this many days is a warning.
EXPIRY_WARNING_DAYS = 14


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "warning" or "problem"
    text: str

    def __str__(self) -> str:
        return f"{self.level:8} {self.text}"


def has_problems(findings: list[Finding]) -> bool:
    return any(finding.level == "problem" for finding in findings)


def check(config: Config, *, now: datetime.datetime | None = None) -> list[Finding]:
    """Every check, in order."""
    when = now or datetime.datetime.now(datetime.UTC)
    findings: list[Finding] = []
    findings += _fd_limit(config)
    findings += _data_dir(config)
    findings += _tls(config, when)
    findings += _metrics(config)
    return findings


def _fd_limit(config: Config) -> Iterator[Finding]:
    try:
        import resource
    except ImportError:
        return
    wanted = config.limits.max_clients + SPARE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        yield Finding(
            "problem",
            f"file descriptor limit: hard limit {hard} is below the {wanted} that"
            f" limits.max_clients = {config.limits.max_clients} needs; fix: raise it"
            f" (LimitNOFILE={wanted} in the systemd unit, or nofile in limits.conf) or lower"
            " limits.max_clients",
        )
    elif soft != resource.RLIM_INFINITY and soft < wanted:
        yield Finding(
            "ok",
            f"file descriptor limit: soft {soft} is below {wanted}, but the server raises it"
            f" at start (hard limit {'unlimited' if hard == resource.RLIM_INFINITY else hard})",
        )
    else:
        yield Finding("ok", f"file descriptor limit {soft} covers {wanted} descriptors")


def _data_dir(config: Config) -> Iterator[Finding]:
    directory = config.data_path
    if config.history.backend == "memory":
        yield Finding("warning", "history.backend is memory: nothing survives a restart")
        return
    if config.history.backend == "postgres":
        yield _postgres(config.history.url)
        return
    if not directory.exists():
        parent = next((p for p in directory.parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK | os.X_OK):
            yield Finding(
                "problem",
                f"data directory {directory} does not exist and cannot be created here"
                f" ({parent} is not writable); fix: create it and give it to the server's user"
                " (systemd: StateDirectory=hubbub)",
            )
            return
        yield Finding("ok", f"data directory {directory} will be created at start")
        return
    if not directory.is_dir():
        yield Finding("problem", f"data directory {directory} is not a directory; fix: move it")
        return
    if not os.access(directory, os.W_OK | os.X_OK):
        yield Finding(
            "problem",
            f"data directory {directory} is not writable by this user (uid {os.getuid()});"
            " fix: chown it to the server's user, or run doctor as that user",
        )
        return
    free = shutil.disk_usage(directory).free
    if free < MIN_FREE_BYTES:
        yield Finding(
            "problem",
            f"data directory {directory}: only {free // (1024 * 1024)} MiB free; fix: free"
            " space or lower history.max_age_days / max_messages_per_room",
        )
    else:
        yield Finding("ok", f"data directory {directory}: writable, {free // 2**20} MiB free")
    yield from _database(config.history_path)


def _postgres(url: str) -> Finding:
    """Whether the PostgreSQL store can be reached (its tables are made by the server)."""
    import psycopg

    from hubbub.pg.database import CONNECT_TIMEOUT, describe

    name = describe(url)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as connection:
            version = connection.info.server_version
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Finding(
            "problem",
            f"{name}: cannot connect ({reason}); fix: start PostgreSQL, create the database"
            " and user (docs/operations.md), or correct history.url",
        )
    return Finding("ok", f"{name}: reachable (PostgreSQL {version // 10000})")


def _database(path: Path) -> Iterator[Finding]:
    if not path.exists():
        yield Finding("ok", f"database {path} will be created at start")
        return
    try:
        lock = DataLock(path).acquire()
    except DataDirLocked:
        yield Finding("ok", f"database {path} is in use by a running server (not opened)")
        return
    try:
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA busy_timeout=2000")
            (result,) = db.execute("PRAGMA quick_check").fetchone()
            if result != "ok":
                yield Finding(
                    "problem",
                    f"database {path} is damaged ({result}); fix: restore the last backup"
                    " (hubbub restore)",
                )
                return
            (version,) = db.execute("PRAGMA user_version").fetchone()
            db.execute(f"PRAGMA user_version={int(version)}")  # one write: proves writable
            db.commit()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        yield Finding(
            "problem",
            f"database {path} cannot be opened and written ({exc}); fix: check its owner,"
            " permissions and the file system (read-only? full?), or restore a backup",
        )
        return
    finally:
        lock.release()
    yield Finding("ok", f"database {path} opens and is writable")


def _tls(config: Config, now: datetime.datetime) -> Iterator[Finding]:
    if not config.tls.cert:
        return
    from cryptography import x509

    cert_path = Path(config.tls.cert)
    try:
        pem = cert_path.read_bytes()
        certificate = x509.load_pem_x509_certificate(pem)
    except OSError as exc:
        yield Finding(
            "problem",
            f"TLS certificate {cert_path} cannot be read ({exc.strerror or exc}); fix: the"
            " path, or the server user's read permission",
        )
        return
    except ValueError as exc:
        yield Finding("problem", f"TLS certificate {cert_path} is not a PEM certificate ({exc})")
        return
    key_path = Path(config.tls.key) if config.tls.key else cert_path
    if not os.access(key_path, os.R_OK):
        yield Finding(
            "problem",
            f"TLS key {key_path} is not readable by this user; fix: its owner or permissions",
        )
    expires = certificate.not_valid_after_utc
    left = expires - now
    if left.total_seconds() <= 0:
        yield Finding(
            "problem",
            f"TLS certificate {cert_path} expired on {expires:%Y-%m-%d}; fix: renew it, then"
            " send the server SIGHUP (or REHASH) to load it",
        )
    elif left.days < EXPIRY_WARNING_DAYS:
        yield Finding(
            "warning",
            f"TLS certificate {cert_path} expires in {left.days} days ({expires:%Y-%m-%d});"
            " renew it soon (SIGHUP loads a new one without a restart)",
        )
    else:
        yield Finding("ok", f"TLS certificate {cert_path} valid until {expires:%Y-%m-%d}")


def _metrics(config: Config) -> Iterator[Finding]:
    metrics = config.metrics
    if not metrics.enabled:
        return
    try:
        loopback = ipaddress.ip_address(metrics.host).is_loopback
    except ValueError:
        loopback = metrics.host == "localhost"
    if not loopback:
        yield Finding(
            "warning",
            f"the metrics listener is on {metrics.host}: make sure only your Prometheus can"
            " reach it (firewall), or use metrics.host = 127.0.0.1",
        )
    else:
        yield Finding("ok", f"metrics on {metrics.host}:{metrics.port}")
