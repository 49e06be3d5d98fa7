"""Ban exceptions (+e, EXCEPTS), invite exceptions (+I, INVEX), extended bans (EXTBAN) and
the INVITE list, against a real server. Modern IRC: https://modern.ircdocs.horse/#excepts-parameter,
#invex-parameter, #extban-parameter, #invite-message."""

from __future__ import annotations

from conformance_helpers import Network, ask, isupport, numerics


def test_tokens(net: Network) -> None:
    """Modern IRC: "The EXCEPTS parameter indicates that the server supports ban exceptions"
    (EXCEPTS=e), "The INVEX parameter indicates that the server supports invite exceptions"
    (INVEX=I), and "The EXTBAN parameter is used to advertise the extended ban prefix and the
    supported types" (EXTBAN=[<prefix>],<types>); the list modes are type A of CHANMODES."""
    tokens = isupport(net.raw().register("alice"))
    assert tokens["EXCEPTS"] == "e" and tokens["INVEX"] == "I"
    assert tokens["EXTBAN"] == ",am"
    assert tokens["CHANMODES"].split(",")[0] == "beI"


def test_ban_exception_lets_a_banned_user_join(net: Network) -> None:
    """Modern IRC, EXCEPTS: ban exceptions "allow users to be exempt from bans": a user
    matched by +b and by +e may join; the list is read with RPL_EXCEPTLIST (348) and
    RPL_ENDOFEXCEPTLIST (349)."""
    op = net.user("op")
    op.join("#room")
    ask(op, "MODE #room +b *!*@*", "MODE #room +e friend!*@*")
    friend = net.user("friend")
    assert numerics(friend.join("#room"), "366")
    stranger = net.user("stranger")
    assert numerics(ask(stranger, "JOIN #room"), "474")
    got = numerics(ask(op, "MODE #room e"), "348", "349")  # (JOINs of others interleave)
    assert [line.command for line in got] == ["348", "349"]
    assert got[0].params[2] == "friend!*@*"


def test_invite_exception_passes_invite_only(net: Network) -> None:
    """Modern IRC, INVEX: invite exceptions let matching users "join a channel set +i without
    an INVITE"; listed with RPL_INVEXLIST (346) and RPL_ENDOFINVEXLIST (347)."""
    op = net.user("op")
    op.join("#room")
    ask(op, "MODE #room +iI guest*!*@*")
    assert numerics(net.user("guest1").join("#room"), "366")
    assert numerics(ask(net.user("other"), "JOIN #room"), "473")
    got = numerics(ask(op, "MODE #room I"), "346", "347")
    assert [line.command for line in got] == ["346", "347"]


def test_account_extban(net: Network) -> None:
    """EXTBAN type a: "a:<account>" matches users logged in to that account (the EXTBAN
    token lists the types; with no prefix the type letter starts the mask)."""
    op = net.user("op")
    op.join("#room")
    ask(op, "MODE #room +b a:villain")
    villain = net.account("villain")
    assert numerics(ask(villain, "JOIN #room"), "474")
    assert numerics(net.user("villain2").join("#room"), "366")  # no account: not matched
    ask(op, "MODE #room -b a:villain", "MODE #room +iI a:friend")
    friend = net.account("friend")
    assert numerics(friend.join("#room"), "366")


def test_mute_extban(net: Network) -> None:
    """EXTBAN type m: "m:<mask>" in the ban list mutes: the user may join but "Cannot send to
    channel" (404), unless voiced or matched by an exception."""
    op = net.user("op")
    op.join("#room")
    ask(op, "MODE #room +b m:loud!*@*")
    loud = net.user("loud")
    assert numerics(loud.join("#room"), "366")
    assert numerics(ask(loud, "PRIVMSG #room :HELLO"), "404")
    ask(op, "MODE #room +e loud!*@*")
    # The exception reaches loud first: on another node (the two-node run) it is applied a
    # moment after op's node answered, and a message checked there before is still muted.
    loud.until(lambda line: line.command == "MODE" and "+e" in line.params)
    assert numerics(ask(loud, "PRIVMSG #room :hello"), "404") == []


def test_unknown_extban_type_refused(net: Network) -> None:
    """An extended ban of a type not in EXTBAN is refused with ERR_INVALIDMODEPARAM (696)."""
    op = net.user("op")
    op.join("#room")
    got = ask(op, "MODE #room +b z:anything")
    assert numerics(got, "696") and not [line for line in got if line.command == "MODE"]


def test_invite_list(net: Network) -> None:
    """Modern IRC, INVITE: "When INVITE is used with no parameters, the server replies with a
    list of channels the client is invited to (RPL_INVITELIST (336)), followed by
    RPL_ENDOFINVITELIST (337)." """
    op = net.user("op")
    op.join("#secret")
    ask(op, "MODE #secret +i")
    guest = net.user("guest")
    assert [line.command for line in ask(guest, "INVITE")] == ["337"]
    ask(op, "INVITE guest #secret")
    # The invitation itself first: from another node (the two-node run) op's RPL_INVITING
    # comes once it is sequenced, the guest's node records it a moment later.
    guest.until(lambda line: line.command == "INVITE")
    got = ask(guest, "INVITE")
    assert [line.command for line in got if line.command != "INVITE"] == ["336", "337"]
    assert numerics(got, "336")[0].params[1] == "#secret"
