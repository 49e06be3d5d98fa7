"""Unit tests for `hubbub.protocol.casemap`."""

from __future__ import annotations

import pytest

from hubbub.protocol import Casemapping


def test_ascii_folds_only_letters() -> None:
    assert Casemapping.ASCII.fold("NiCk[]\\~") == "nick[]\\~"


def test_rfc1459_folds_scandinavian_brackets() -> None:
    assert Casemapping.RFC1459.fold("NiCk[]\\~") == "nick{}|^"
    assert Casemapping.RFC1459.fold("{}|^") == "{}|^"


def test_rfc1459_strict_leaves_tilde() -> None:
    assert Casemapping.RFC1459_STRICT.fold("A[]\\~") == "a{}|~"


@pytest.mark.parametrize("mapping", list(Casemapping))
def test_non_ascii_is_untouched(mapping: Casemapping) -> None:
    assert mapping.fold("ÄÖÜ#Straße") == "ÄÖÜ#straße"


@pytest.mark.parametrize("mapping", list(Casemapping))
def test_fold_is_idempotent(mapping: Casemapping) -> None:
    name = "#Chan[Ops]\\Team~1"
    assert mapping.fold(mapping.fold(name)) == mapping.fold(name)


def test_channel_names_compare_through_fold() -> None:
    fold = Casemapping.RFC1459.fold
    assert fold("#Hubbub[Dev]") == fold("#hubbub{dev}")
    assert Casemapping.ASCII.fold("#Hubbub[Dev]") != Casemapping.ASCII.fold("#hubbub{dev}")


@pytest.mark.parametrize(
    ("name", "mapping"),
    [
        ("ascii", Casemapping.ASCII),
        ("rfc1459", Casemapping.RFC1459),
        ("RFC1459", Casemapping.RFC1459),
        (" rfc1459-strict ", Casemapping.RFC1459_STRICT),
    ],
)
def test_from_name(name: str, mapping: Casemapping) -> None:
    assert Casemapping.from_name(name) is mapping


@pytest.mark.parametrize("name", ["", "utf8", "rfc7613", "precis"])
def test_from_name_unknown(name: str) -> None:
    with pytest.raises(ValueError, match="unknown casemapping"):
        Casemapping.from_name(name)


def test_value_is_the_isupport_token() -> None:
    assert Casemapping.RFC1459.value == "rfc1459"
