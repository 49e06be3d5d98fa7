"""draft/account-registration as configured (issue 10): the capability value says what the
configuration allows (`before-connect`, `email-required`), and REGISTER keeps to it.

https://ircv3.net/specs/extensions/account-registration
"""

from __future__ import annotations

from account_helpers import PASSWORD, account_config
from core_helpers import Harness


def cap_value(h: Harness) -> str:
    c = h.connect()
    c.send("CAP LS 302")
    # CAP LS 302 may take several lines (`CAP * LS * :…` then `CAP * LS :…`).
    offered = [i for line in c.raw() if " LS " in line for i in line.split(" :", 1)[1].split()]
    (item,) = [i for i in offered if i.startswith("draft/account-reg")]
    c.send("QUIT")
    return item.partition("=")[2]


def test_the_default_value() -> None:
    assert cap_value(Harness(account_config())) == "before-connect,custom-account-name"


def test_no_before_connect_when_registration_must_wait() -> None:
    h = Harness(account_config(register_before_connect=False))
    assert "before-connect" not in cap_value(h).split(",")
    c = h.connect()
    c.send("CAP LS 302")
    c.send(f"REGISTER someone * {PASSWORD}")
    assert c.raw()[-1].startswith(
        ":hubbub.local FAIL REGISTER COMPLETE_CONNECTION_REQUIRED someone :"
    )
    c.send("NICK someone")
    c.send("USER s 0 * :s")
    c.send("CAP END")
    c.send(f"REGISTER someone * {PASSWORD}")
    assert any(" REGISTER SUCCESS someone " in line for line in c.raw())


def test_email_required_is_advertised_and_enforced() -> None:
    h = Harness(account_config(email_required=True))
    assert cap_value(h).split(",") == ["before-connect", "email-required", "custom-account-name"]
    c = h.client("someone")
    c.send(f"REGISTER * * {PASSWORD}")
    assert c.raw()[-1].startswith(":hubbub.local FAIL REGISTER INVALID_EMAIL someone :")
    c.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    assert "e-mail address" in c.raw()[-1]
    c.send(f"REGISTER * someone@example.org {PASSWORD}")
    assert any(" REGISTER SUCCESS someone " in line for line in c.raw())


def test_register_star_after_a_nick_refused_for_its_owner_is_account_exists() -> None:
    """A nick refused as in use by the account's owner, then REGISTER * before connecting:
    the account exists (ACCOUNT_EXISTS naming it), not NEED_NICK; with no nick asked for at
    all, NEED_NICK."""
    h = Harness(account_config())
    owner = h.client("owner")
    owner.send(f"REGISTER * * {PASSWORD}")
    c = h.connect()
    c.send("CAP LS 302")
    c.send("NICK owner")
    c.send(f"REGISTER * * {PASSWORD}")
    assert c.raw()[-1].startswith(":hubbub.local FAIL REGISTER ACCOUNT_EXISTS owner :")
    fresh = h.connect()
    fresh.send("CAP LS 302")
    fresh.send(f"REGISTER * * {PASSWORD}")
    assert fresh.raw()[-1].startswith(":hubbub.local FAIL REGISTER NEED_NICK * :")
