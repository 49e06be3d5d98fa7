"""A configuration written back out as TOML text, for operators.

`defaults_text()` is the complete commented example `hubbub config defaults` prints (and
examples/hubbub.toml holds); `render_config()` the effective configuration `hubbub config check`
prints. Both load back with `load_config` to the configuration they were made from (except a
password hidden on request).
"""

from __future__ import annotations

import textwrap

from hubbub.config import Config
from hubbub.config.loader import schema, toml_string

__all__ = ["DEFAULTS_HEADER", "defaults_text", "render_config", "toml_value"]

DEFAULTS_HEADER = """\
hubbub configuration: every section and key, each at its default value.
Printed by `hubbub config defaults`; docs/configuration.md explains more.
Keep only what you change, then run `hubbub serve --config FILE`."""


def defaults_text() -> str:
    return render_config(Config(), explain=True, header=DEFAULTS_HEADER)


def render_config(
    config: Config, *, explain: bool = False, hide_password: bool = False, header: str = ""
) -> str:
    """`config` as TOML. `explain` adds each section's and key's meaning and accepted values."""
    lines: list[str] = []
    if header:
        lines += _comment(header, wrap=False)
        lines.append("")
    for section, settings in schema().items():
        values = getattr(config, section)
        if explain:
            lines += _comment(type(values).__doc__ or "")
        lines.append(f"[{section}]")
        for key, setting in settings.items():
            value = getattr(values, key)
            if explain:
                lines += _comment(setting.rule.doc)
                lines += _comment(f"Accepts {setting.expectation()}.")
            if hide_password and key == "password" and value:
                lines.append(f"# {key} = (set, not shown)")
            else:
                lines.append(f"{key} = {toml_value(value)}")
            if explain:
                lines.append("")
        if not explain:
            lines.append("")
    lines += _operators(config, explain, hide_password)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


OPERATORS_DOC = """\
IRC operators: one [[operators]] table each, allowed to use OPER (docs/operators.md).
`name` is what OPER names; `password` an argon2id hash made by `hubbub oper-hash` (never the
password itself); `host` (optional, default "*@*") a user@host mask the client must match.
REHASH (or SIGHUP) re-reads them. For example:"""

OPERATORS_EXAMPLE = "\n".join(
    (
        "[[operators]]",
        'name="alice"',
        'password="$argon2id$v=19$m=65536,t=3,p=4$..."',
        'host="*@127.0.0.1"',
    )
)


def _operators(config: Config, explain: bool, hide_password: bool) -> list[str]:
    lines: list[str] = []
    if explain and not config.operators:
        lines += _comment(OPERATORS_DOC, wrap=False)
        lines += _comment(OPERATORS_EXAMPLE, wrap=False)
        lines.append("")
    for operator in config.operators:
        lines.append("[[operators]]")
        lines.append(f"name = {toml_value(operator.name)}")
        if hide_password:
            lines.append("# password = (set, not shown)")
        else:
            lines.append(f"password = {toml_value(operator.password)}")
        lines.append(f"host = {toml_value(operator.host)}")
        lines.append("")
    return lines


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _comment(text: str, *, wrap: bool = True) -> list[str]:
    out: list[str] = []
    for paragraph in text.strip().splitlines():
        pieces = textwrap.wrap(paragraph, width=96) if wrap else [paragraph]
        out += [f"# {piece}".rstrip() for piece in pieces or [""]]
    return out
