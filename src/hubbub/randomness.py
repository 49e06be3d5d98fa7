"""The operating system's randomness, as the core's `Randomness` port (hubbub.core.ports).

The core has no randomness of its own: the application hands it this, tests a seeded one.
"""

from __future__ import annotations

import secrets

__all__ = ["SystemRandomness"]


class SystemRandomness:
    """`secrets`: unpredictable enough for confirmation codes, nonces and the msgid prefix."""

    __slots__ = ()

    def token_hex(self, nbytes: int) -> str:
        return secrets.token_hex(nbytes)

    def token_bytes(self, nbytes: int) -> bytes:
        return secrets.token_bytes(nbytes)

    def below(self, upper: int) -> int:
        return secrets.randbelow(upper)
