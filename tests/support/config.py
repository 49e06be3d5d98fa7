"""The one way tests build a hubbub configuration: as dataclasses, or as a TOML file.

Sections are changed by keyword, one dict per section:
`server_config(tmp_path, limits={"sendq_bytes": 4096})`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hubbub.config import Config


def changed(config: Config, **sections: dict[str, Any]) -> Config:
    """`config` with some settings of some sections replaced."""
    changes = {
        name: dataclasses.replace(getattr(config, name), **values)
        for name, values in sections.items()
    }
    return dataclasses.replace(config, **changes)


def core_config(**sections: dict[str, Any]) -> Config:
    """The default Config with some settings changed, for the sans-IO core (no listeners)."""
    return changed(Config(), **sections)


def server_config(data_dir: Path | str | None = None, **sections: dict[str, Any]) -> Config:
    """A config for a running server: 127.0.0.1, free ports, flood control and the web listener
    off unless a section turns them on (the web listener would take the fixed port 8080 in
    every test), data in `data_dir`."""
    base = changed(
        Config(),
        listen={"hosts": ("127.0.0.1",), "port": 0},
        flood={"enabled": False},
        web={"enabled": False, "hosts": ("127.0.0.1",), "port": 0},
    )
    if data_dir is not None:
        base = changed(base, server={"data_dir": str(data_dir)})
    return changed(base, **sections)


def web_server_config(data_dir: Path | str, **sections: dict[str, Any]) -> Config:
    """`server_config` with the web listener on (a free port) and memory history."""
    web = {"enabled": True, **sections.pop("web", {})}
    history = {"backend": "memory", **sections.pop("history", {})}
    return server_config(data_dir, web=web, history=history, **sections)


def write_config(path: Path, data_dir: Path, extra: str = "") -> Path:
    """A TOML config file for `hubbub serve`: loopback, a free port, flood control and the web
    listener off; `extra` is appended as is."""
    path.write_text(
        f'[server]\ndata_dir = "{data_dir}"\n\n[listen]\nhosts = ["127.0.0.1"]\nport = 0\n\n'
        f"[flood]\nenabled = false\n{extra}"
    )
    return path
