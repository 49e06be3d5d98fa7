"""draft/pre-away (https://ircv3.net/specs/extensions/pre-away), against a real server."""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics


def test_away_before_registration_with_the_cap(net: Network) -> None:
    """pre-away: "If the capability has been negotiated, servers MUST accept the AWAY command
    before connection registration has completed." and "If the client's nickname was not
    already present on the server, then AWAY pre-registration sets the away message but does
    not inhibit reporting of the change in nickname status, e.g. via monitor.\""""
    watcher = net.user("watcher")
    ask(watcher, "MONITOR + early")
    early = net.raw()
    early.send("CAP LS 302", "NICK early", "USER early 0 * :early")
    early.until(lambda x: x.command == "CAP")
    early.send("CAP REQ :draft/pre-away")
    early.until(lambda x: x.command == "CAP")
    early.send("AWAY :connecting from a phone")
    assert early.first(lambda x: x.command in ("306", "451")).command == "306"
    early.send("CAP END")
    early.until(lambda x: x.command in ("376", "422"))
    assert watcher.first(lambda x: x.command == "730").text.startswith("early!")
    got = ask(watcher, "WHOIS early")
    assert [line.text for line in numerics(got, "301")] == ["connecting from a phone"]


def test_away_star_means_not_present(net: Network) -> None:
    """pre-away: "servers SHOULD treat the form: AWAY * ... as indicating that the user is not
    present for an unspecified reason.\""""
    bot = net.raw()
    bot.send("CAP LS 302", "CAP REQ :draft/pre-away", "AWAY *", "NICK bouncer")
    bot.send("USER b 0 * :b", "CAP END")
    bot.until(lambda x: x.command in ("376", "422"))
    got = ask(net.user("alice"), "WHO bouncer")
    assert numerics(got, "352")[0].params[6].startswith("G")


def test_away_before_registration_without_the_cap(net: Network) -> None:
    """pre-away: clients "MUST negotiate the capability"; without it AWAY before registration
    is refused like any command that needs registration (451)."""
    client = net.raw()
    client.send("AWAY :too soon")
    assert client.first(lambda x: x.command == "451").command == "451"
