"""Sanity checks for the numeric reply table."""

from __future__ import annotations

from hubbub.protocol import numerics


def constants() -> dict[str, str]:
    return {k: v for k, v in vars(numerics).items() if k.startswith(("RPL_", "ERR_"))}


def test_every_numeric_is_three_ascii_digits_and_unique() -> None:
    values = list(constants().values())
    assert all(isinstance(v, str) and len(v) == 3 and v.isdigit() for v in values)
    assert len(values) == len(set(values))


def test_names_maps_back() -> None:
    assert {v: k for k, v in constants().items()} == numerics.NAMES
    assert numerics.NAMES["001"] == "RPL_WELCOME"


def test_well_known_values() -> None:
    assert numerics.RPL_ISUPPORT == "005"
    assert numerics.RPL_NAMREPLY == "353"
    assert numerics.ERR_NICKNAMEINUSE == "433"
    assert numerics.RPL_SASLMECHS == "908"
