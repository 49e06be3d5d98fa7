"""Every command in the command table has help text (hubbub.core.help)."""

from __future__ import annotations

from core_helpers import Harness

from hubbub.core.commands import COMMANDS
from hubbub.core.help import HELP_TEXT


def test_every_command_has_help() -> None:
    missing = sorted(name for name in COMMANDS if name not in HELP_TEXT)
    assert missing == [], f"commands without HELP text: {missing}"


def test_every_help_line_fits_and_starts_with_the_syntax() -> None:
    for name, lines in HELP_TEXT.items():
        assert lines[0].split()[0] == name, name
        assert all(0 < len(line) <= 100 for line in lines), name


def test_help_for_every_command_is_answered(h: Harness) -> None:
    alice = h.client("alice")
    for name in COMMANDS:
        alice.send(f"HELP {name.lower()}")
        got = alice.lines()
        assert got[0].command == "704" and got[-1].command == "706", name
