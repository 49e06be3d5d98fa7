"""Casemapping: the one way hubbub decides whether two nicks or channel names are the same.

IRC compares names case-insensitively, and servers advertise *which* folding they use in the
`CASEMAPPING` ISUPPORT token (https://modern.ircdocs.horse/#casemapping-parameter). Every
comparison of names anywhere in hubbub goes through `Casemapping.fold`, so changing the mapping
in the config changes it everywhere at once.
"""

from __future__ import annotations

import enum
import string

__all__ = ["Casemapping"]

_ASCII_UPPER = string.ascii_uppercase
_ASCII_LOWER = string.ascii_lowercase

# Built once at import: folding is a single C-level str.translate per name.
_TABLES: dict[str, dict[int, int]] = {
    "ascii": str.maketrans(_ASCII_UPPER, _ASCII_LOWER),
    # RFC 1459 came from Scandinavia, where []\~ are the capitals of {}|^.
    "rfc1459": str.maketrans(_ASCII_UPPER + "[]\\~", _ASCII_LOWER + "{}|^"),
    # As rfc1459 but without ~/^, which some servers (and their clients) never folded.
    "rfc1459-strict": str.maketrans(_ASCII_UPPER + "[]\\", _ASCII_LOWER + "{}|"),
}


class Casemapping(enum.Enum):
    """A casemapping, valued by its name as written in the CASEMAPPING token."""

    ASCII = "ascii"
    """Only A-Z fold to a-z."""
    RFC1459 = "rfc1459"
    """A-Z → a-z and []\\~ → {}|^ (the classic IRC default)."""
    RFC1459_STRICT = "rfc1459-strict"
    """A-Z → a-z and []\\ → {}|, leaving ~ and ^ distinct."""

    def __init__(self, value: str) -> None:
        self._table = _TABLES[value]

    def fold(self, name: str) -> str:
        """The canonical form of `name`: equal folds mean the same nick or channel."""
        return name.translate(self._table)

    @classmethod
    def from_name(cls, name: str) -> Casemapping:
        """The casemapping called `name` (case-insensitive); ValueError if there is none."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown casemapping {name!r}; known: {known}") from None
