"""The one exception a configuration that cannot be used raises, with the key at fault."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """A configuration that cannot be used; `str()` is the whole message for the operator.

    `key` is the dotted key at fault (None for problems with the file as a whole), `detail` the
    message without the key, `override` tells that the bad value came from `overrides` (command
    line flags) rather than the file, and `file` names the config file involved, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        detail: str | None = None,
        override: bool = False,
        file: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.detail = message if detail is None else detail
        self.override = override
        self.file = file

    @classmethod
    def for_key(
        cls, key: str, detail: str, *, override: bool = False, file: Path | None = None
    ) -> ConfigError:
        return cls(f"{key}: {detail}", key=key, detail=detail, override=override, file=file)
