"""Channel mode +f (per-member message limit): its ISUPPORT type and the refusal numeric."""

from __future__ import annotations

from conformance_helpers import Network, ask, isupport, numerics


def test_f_is_a_type_c_mode(net: Network) -> None:
    """Modern IRC, CHANMODES: "Type C: Modes that change a setting on a channel. These modes
    MUST have a parameter when being set, and MUST NOT have a parameter when being unset.\""""
    raw = net.raw()
    lines = raw.register("alice")
    types = isupport(lines)["CHANMODES"].split(",")
    assert "f" in types[2]
    raw.join("#c")
    set_lines = ask(raw, "MODE #c +f 2:60")
    (change,) = [line for line in set_lines if line.command == "MODE"]
    assert change.params[1:] == ["+f", "2:60"]
    unset_lines = ask(raw, "MODE #c -f")
    (change,) = [line for line in unset_lines if line.command == "MODE"]
    assert change.params[1:] == ["-f"]


def test_a_message_over_the_limit_gets_cannotsendtochan(net: Network) -> None:
    """Modern IRC, ERR_CANNOTSENDTOCHAN (404): "<client> <channel> :Cannot send to channel" —
    "Indicates that the PRIVMSG / NOTICE could not be delivered to <channel>. This is generally
    sent in response to channel modes, such as a channel being moderated and the client not
    having permission to speak on the channel.\""""
    op = net.user("op")
    op.join("#c")
    alice = net.user("alice")
    alice.join("#c")
    ask(op, "MODE #c +f 2:600")
    # (Each client on another node, tests/cluster/test_nodes_conformance.py: the limit holds
    # on alice's node once it has applied the MODE, which she sees.)
    alice.until(lambda line: line.command == "MODE" and "+f" in line.params, what="the MODE")
    assert numerics(ask(alice, "PRIVMSG #c :one", "PRIVMSG #c :two"), "404") == []
    refused = numerics(ask(alice, "PRIVMSG #c :three"), "404")
    assert len(refused) == 1
    assert refused[0].params[:2] == ["alice", "#c"]
    # The operator saw the first two only.
    texts = [line.text for line in ask(op) if line.command == "PRIVMSG"]
    assert "three" not in texts
