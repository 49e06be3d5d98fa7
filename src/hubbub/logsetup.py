"""Console logging for the server: one line per record on standard error.

    2026-11-24 21:05:03 INFO  hubbub.net: listening on 127.0.0.1:6667

`configure` may be called any number of times; the last level wins and there is only ever one
hubbub handler. The chosen level applies to hubbub's own loggers; other libraries' loggers
(asyncio, …) only show warnings and errors, so DEBUG stays readable.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["FORMAT", "LEVELS", "configure"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time (it may be replaced, e.g. by tests)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


_handler: _StderrHandler | None = None


def configure(level: str) -> None:
    """Send log records to stderr at `level` (DEBUG, INFO, WARNING or ERROR; any case)."""
    global _handler
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    number = logging.getLevelNamesMapping()[name]
    root = logging.getLogger()
    if _handler is None:
        _handler = _StderrHandler()
        _handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    if _handler not in root.handlers:
        root.addHandler(_handler)
    root.setLevel(max(number, logging.WARNING))
    logging.getLogger("hubbub").setLevel(number)
