"""Reading the configuration: a TOML file and command-line overrides, validated against the schema.

`load_config` reads a TOML file (or none: every default), applies dotted overrides from the
command line, and checks every value against the rule its field declares in
`hubbub.config.schema`. A bad value raises `ConfigError` naming the key. `schema()` lists every
setting for the docs and the commented defaults (`hubbub.config.text`).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import math
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubbub.config.errors import ConfigError
from hubbub.config.schema import OPERATOR_KEYS, Config, Operator, Rule, is_token, rule_of

MOTD_FILE_LIMIT = 64 * 1024  # bytes; a larger "MOTD" is surely the wrong file


@dataclass(frozen=True)
class Setting:
    """One key of the configuration: where it lives, its Python type, rule and default."""

    section: str
    key: str
    kind: type  # bool, int, float, str or tuple (of str)
    rule: Rule
    default: object

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"

    def expectation(self) -> str:
        """What this setting accepts, as the end of 'expected …'."""
        rule = self.rule
        if rule.expect:
            return rule.expect
        if self.kind is bool:
            return "true or false"
        if rule.choices:
            listed = ", ".join(f'"{c}"' for c in rule.choices)
            return f"one of {listed}"
        if self.kind is str:
            return "text" if rule.multiline else "a single line of text"
        noun = "an integer" if self.kind is int else "a number"
        if rule.low is not None and rule.high is not None:
            return f"{noun} from {_num(rule.low)} to {_num(rule.high)}"
        if rule.above is not None:
            return f"{noun} greater than {_num(rule.above)}"
        if rule.low is not None:
            return f"{noun} of at least {_num(rule.low)}"
        return noun


@functools.cache
def schema() -> dict[str, dict[str, Setting]]:
    """Every section and its settings, in declaration order: {"listen": {"port": Setting}}."""
    result: dict[str, dict[str, Setting]] = {}
    section_types = typing.get_type_hints(Config)
    for section_field in dataclasses.fields(Config):
        if section_field.metadata.get("table_array"):
            continue
        cls = section_types[section_field.name]
        hints = typing.get_type_hints(cls)
        settings: dict[str, Setting] = {}
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            kind = tuple if typing.get_origin(hint) is tuple else hint
            rule = rule_of(cls, f.name)
            settings[f.name] = Setting(section_field.name, f.name, kind, rule, f.default)
        result[section_field.name] = settings
    return result


def section_types() -> dict[str, type]:
    """{"server": ServerSection, …}, in declaration order."""
    hints = typing.get_type_hints(Config)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(Config)
        if not f.metadata.get("table_array")
    }


def load_config(
    path: Path | str | None = None, overrides: Mapping[str, object] | None = None
) -> Config:
    """Read a TOML config file (or none: all defaults), apply dotted `overrides`, validate.

    Unknown sections and keys, wrong types and out-of-range values raise `ConfigError` naming
    the key. Relative paths in the file (`server.motd_file`, `server.data_dir`, `history.path`)
    resolve against the file's directory, those in `overrides` against the working directory;
    all three are stored absolute. `server.motd_file`, when set, is read here and its text
    replaces `server.motd`.
    """
    file = Path(path) if path is not None else None
    values: dict[str, dict[str, object]] = {name: {} for name in schema()}
    from_override: set[str] = set()

    operators: tuple[Operator, ...] = ()
    if file is not None:
        base = file.parent.absolute()
        document = _read_toml(file)
        if "operators" in document:
            operators = _operators(document.pop("operators"), file)
        for section, table in document.items():
            _section(section, file=file)  # an unknown section fails here
            if not isinstance(table, dict):
                detail = f"expected a table of settings ([{section}]), got {_got(table, True)}"
                raise ConfigError.for_key(section, detail, file=file)
            for key, value in table.items():
                setting = _setting_for(f"{section}.{key}", file=file)
                values[section][key] = _validate(setting, value, base, override=False, file=file)

    for dotted, value in (overrides or {}).items():
        setting = _setting_for(dotted, override=True)
        values[setting.section][setting.key] = _validate(
            setting, value, Path.cwd(), override=True, file=None
        )
        from_override.add(dotted)

    motd_file = values["server"].get("motd_file")
    if motd_file:
        assert isinstance(motd_file, str)
        override = "server.motd_file" in from_override
        values["server"]["motd"] = _read_motd(Path(motd_file), override, None if override else file)

    types = section_types()
    sections: dict[str, Any] = {name: types[name](**vals) for name, vals in values.items()}
    return Config(**sections, operators=operators)


def _operators(value: object, file: Path) -> tuple[Operator, ...]:
    """The `[[operators]]` tables, checked. Error messages never show a password value."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        detail = "expected [[operators]] tables (name, password, host)"
        raise ConfigError.for_key("operators", detail, file=file)
    found: list[Operator] = []
    seen: set[str] = set()
    for index, table in enumerate(value):
        where = f"operators[{index}]"
        for key in table:
            if key not in OPERATOR_KEYS:
                detail = f'unknown key "{where}.{key}" (known keys: {", ".join(OPERATOR_KEYS)})'
                raise ConfigError(detail, key=f"{where}.{key}", detail=detail, file=file)
        name = table.get("name")
        if not isinstance(name, str) or not is_token(name) or len(name) > 64:
            raise ConfigError.for_key(
                f"{where}.name", "expected a name without spaces (at most 64 characters)", file=file
            )
        if name.casefold() in seen:
            raise ConfigError.for_key(f"{where}.name", f'"{name}" is listed twice', file=file)
        seen.add(name.casefold())
        password = table.get("password")
        if not isinstance(password, str) or not password.startswith("$argon2id$"):
            raise ConfigError.for_key(
                f"{where}.password",
                "expected an argon2id hash made by `hubbub oper-hash` (never the password itself)",
                file=file,
            )
        host = table.get("host", "*@*")
        if not isinstance(host, str) or not is_token(host):
            raise ConfigError.for_key(
                f"{where}.host", 'expected a user@host mask such as "*@192.0.2.*"', file=file
            )
        if "@" not in host:
            host = "*@" + host
        found.append(Operator(name, password, host))
    return tuple(found)


def _read_toml(file: Path) -> dict[str, Any]:
    where = f"config file {file}"
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it: {exc.strerror or exc}", file=file) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (bad byte at {exc.start})", file=file) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL)
        if match:
            message = f"line {match[2]}, column {match[3]}: {match[1]}"
        else:
            message = message.replace(" (at end of document)", "")
            message = f"at the end of the file: {message}"
        raise ConfigError(f"{where}: {message}", file=file) from exc


def _section(name: str, *, override: bool = False, file: Path | None = None) -> dict[str, Setting]:
    sections = schema()
    if name in sections:
        return sections[name]
    hint = ""
    close = difflib.get_close_matches(name, list(sections), n=1)
    if close:
        hint = f'; did you mean "{close[0]}"?'
    else:  # a setting written outside its section, such as a top-level `port = 6667`
        owners = [s.dotted for ss in sections.values() for s in ss.values() if s.key == name]
        if owners:
            hint = f'; did you mean "{owners[0]}"?'
    detail = f'unknown key "{name}" (known sections: {", ".join(sections)}){hint}'
    raise ConfigError(detail, key=name, detail=detail, override=override, file=file)


def _setting_for(dotted: str, *, override: bool = False, file: Path | None = None) -> Setting:
    section, dot, key = dotted.partition(".")
    settings = _section(section, override=override, file=file)
    if not dot:
        detail = f'expected one setting, such as "{section}.{next(iter(settings))}"'
        raise ConfigError.for_key(dotted, detail, override=override, file=file)
    if key in settings:
        return settings[key]
    close = [f"{section}.{k}" for k in difflib.get_close_matches(key, list(settings), n=1)]
    if not close:  # in the wrong section, such as `password` under [listen]
        close = [s.dotted for ss in schema().values() for s in ss.values() if s.key == key]
    hint = f'; did you mean "{close[0]}"?' if close else ""
    detail = f'unknown key "{dotted}" (known keys in [{section}]: {", ".join(settings)}){hint}'
    raise ConfigError(detail, key=dotted, detail=detail, override=override, file=file)


def _validate(
    setting: Setting, value: object, base: Path, *, override: bool, file: Path | None
) -> object:
    """`value` checked and converted for `setting`, or a ConfigError naming its key."""
    rule = setting.rule

    def bad(wrong_type: bool) -> ConfigError:
        detail = f"expected {setting.expectation()}, got {_got(value, wrong_type)}"
        return ConfigError.for_key(setting.dotted, detail, override=override, file=file)

    kind = setting.kind
    if kind is bool:
        if not isinstance(value, bool):
            raise bad(True)
        return value
    if kind is int or kind is float:
        if isinstance(value, bool) or not isinstance(value, int if kind is int else (int, float)):
            raise bad(True)
        number = float(value) if kind is float else value
        if not math.isfinite(number) or not _in_range(number, rule):
            raise bad(False)
        return number
    if kind is tuple:
        if isinstance(value, str):
            items: tuple[str, ...] = (value,)
        elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            items = tuple(value)
        else:
            raise bad(True)
        if rule.check is not None and not rule.check(items):
            raise bad(False)
        return items
    # A string.
    if rule.path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise bad(True)
    text = value.upper() if rule.upper else value
    if rule.multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\0" in text or (not rule.multiline and ("\r" in text or "\n" in text)):
        raise bad(False)
    if rule.choices and text not in rule.choices:
        raise bad(False)
    if rule.check is not None and not rule.check(text):
        raise bad(False)
    if rule.path and text:
        text = str(base / Path(text).expanduser())
    return text


def _read_motd(path: Path, override: bool, file: Path | None) -> str:
    key = "server.motd_file"
    try:
        with path.open("rb") as stream:
            raw = stream.read(MOTD_FILE_LIMIT + 1)
    except OSError as exc:
        detail = f"cannot read {path}: {exc.strerror or exc}"
        raise ConfigError.for_key(key, detail, override=override, file=file) from exc
    if len(raw) > MOTD_FILE_LIMIT:
        detail = f"{path} is larger than {MOTD_FILE_LIMIT // 1024} KiB; is it the right file?"
        raise ConfigError.for_key(key, detail, override=override, file=file)
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    if "\0" in text:
        detail = f"{path} holds NUL characters; expected a text file"
        raise ConfigError.for_key(key, detail, override=override, file=file)
    return text.rstrip("\n")


def _in_range(number: float, rule: Rule) -> bool:
    return (
        (rule.low is None or number >= rule.low)
        and (rule.high is None or number <= rule.high)
        and (rule.above is None or number > rule.above)
    )


def _num(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


def _got(value: object, wrong_type: bool) -> str:
    """A value as an error message shows it, TOML-like; with its type when that is the fault."""
    if isinstance(value, dict):
        return "a table"
    shown = _show(value)
    if len(shown) > 60:
        shown = shown[:59] + "…"
    return f"{shown} ({_kind_name(value)})" if wrong_type else shown


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{…}"
    return str(value)


def _kind_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime.date | datetime.time):
        return "a date/time"
    return f"a {type(value).__name__}"


def toml_string(text: str) -> str:
    """`text` as a TOML basic string, with every character TOML forbids escaped."""
    out = ['"']
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
