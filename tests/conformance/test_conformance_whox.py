"""IRCv3 WHOX: https://ircv3.net/specs/extensions/whox"""

from __future__ import annotations

from conformance_helpers import Network, ask, numerics


def test_fields_in_order_with_token_and_placeholders(net: Network) -> None:
    """WHOX: "Servers MUST send the fields in the order specified above. Servers MUST include
    in their reply all of the standard fields requested by the client, and MUST NOT add any
    additional field not requested by the client." — "0 is used for [account] when the user
    is logged out"; and "Servers MUST NOT send RPL_WHOREPLY replies.\""""
    dot, asker = net.user("dot"), net.user("asker")
    dot.join("#c")
    asker.join("#c")
    got = ask(asker, "WHO dot %tcuhsnfar,42")
    assert not numerics(got, "352")
    (line,) = numerics(got, "354")
    assert line.params == [
        "asker",
        "42",
        "#c",
        "~dot",
        "127.0.0.1",
        net.server.config.server.name,
        "dot",
        "H@",
        "0",
        "dot the tester",
    ]
    assert numerics(got, "315")[0].params[1] == "dot"


def test_flags_and_account_by_channel_and_mask(net: Network) -> None:
    """WHOX: "'f': return the WHO flags (away, server operator, etc)" and "'a': return the
    account name" — the flags carry the status in the channel shown, by channel and by mask
    alike (Modern IRC, RPL_WHOREPLY: "Optionally, the highest channel membership prefix that
    the client has in <channel>")."""
    member = net.account("member")
    member.join("#c")
    guest = net.user("guest")
    guest.join("#c")
    by_channel = {
        line.params[1]: line.params[2:] for line in numerics(ask(guest, "WHO #c %naf"), "354")
    }
    assert by_channel == {"member": ["H@", "member"], "guest": ["H", "0"]}
    by_mask = [line.params[1:] for line in numerics(ask(guest, "WHO m* %cnf"), "354")]
    assert by_mask == [["#c", "member", "H@"]]
