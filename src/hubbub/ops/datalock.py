"""The data directory's lock: one server (or one restore) at a time on one SQLite file.

A running server holds an exclusive `flock` on `<history file>.lock` for its whole life;
`hubbub restore` takes the same lock, so it refuses to replace a database a server has open (a
replaced file under an open connection, with its WAL beside it, would be corrupted). A second
server on the same data directory is refused the same way. `flock` locks vanish with the
process, so a killed server leaves no stale lock behind; the file itself stays, empty.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["DataDirLocked", "DataLock", "lock_path"]


class DataDirLocked(OSError):
    """Another process holds the lock."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class DataLock:
    """An exclusive, non-blocking lock on `database`'s lock file; `release` (or exit) frees it."""

    def __init__(self, database: Path) -> None:
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self) -> DataLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirLocked(
                f"{self.path.parent}: another hubbub process (a server, or a restore) is using"
                f" this data directory (it holds {self.path.name}); stop it first"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> DataLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
