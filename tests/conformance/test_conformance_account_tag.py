"""IRCv3 account-tag: https://ircv3.net/specs/extensions/account-tag"""

from __future__ import annotations

from conformance_helpers import Network, ask, sees_join

CAPS = ["account-tag", "invite-notify", "away-notify", "setname"]


def test_every_command_sent_by_a_logged_in_user_carries_the_tag(net: Network) -> None:
    """account-tag: "The tag MUST be added by the ircd to all commands sent by a user (e.g.
    PRIVMSG, MODE, NOTICE, and all others)." — INVITE, TOPIC, MODE, KICK, PART, NICK,
    AWAY, SETNAME and QUIT included; and "If the user is not identified to any services
    account, the tag MUST NOT be sent.\""""
    acct = net.account("acct")
    watcher = net.user("watcher", CAPS)
    guest = net.user("guest")
    acct.join("#room")
    watcher.join("#room")
    guest.join("#room")
    sees_join(acct, "guest")
    acct.join("#private")
    ask(acct, "MODE #private +i", "INVITE watcher #private")
    invite = watcher.expect("INVITE")[-1]
    assert invite.tags.get("account") == "acct", invite.raw
    ask(
        acct,
        "TOPIC #room :tagged topic",
        "MODE #room +v guest",
        "PRIVMSG #room :hello",
        "KICK #room guest :bye",
        "AWAY :later",
        "SETNAME :New Name",
        "NICK acct2",
        "PART #room :gone",
    )
    wanted = {"TOPIC", "MODE", "PRIVMSG", "KICK", "AWAY", "SETNAME", "NICK", "PART"}
    seen = watcher.until(lambda line: line.command == "PART")
    from_acct = [line for line in seen if line.nick in ("acct", "acct2")]
    # Order is not the point here (room lines may be held behind a join replay while AWAY
    # and SETNAME, which belong to no room, are not): every one came, and each is tagged.
    assert {line.command for line in from_acct} == wanted, [line.raw for line in seen]
    for line in from_acct:
        assert line.tags.get("account") == "acct", line.raw
    # A user without an account: no tag.
    watcher.join("#quiet")
    other = net.user("other")
    other.join("#quiet")
    joined = watcher.until(lambda line: line.command == "JOIN" and line.nick == "other")
    assert "account" not in joined[-1].tags
    acct.send("JOIN #quiet", "QUIT :done")
    quit_line = watcher.until(lambda line: line.command == "QUIT")[-1]
    assert quit_line.tags.get("account") == "acct", quit_line.raw
