"""Connection registration (Modern IRC, "Connection Registration", USER, and the welcome)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from conformance_helpers import Network, ask, network, numerics

from hubbub.cli import main as cli_main
from support.irc_client import IrcClient


def tls_client(address: tuple[str, int], cafile: Path) -> IrcClient:
    """IrcClient over TLS, the server's certificate checked against `cafile`."""
    context = ssl.create_default_context(cafile=str(cafile))
    raw = socket.create_connection(address, timeout=5.0)
    return IrcClient(address, sock=context.wrap_socket(raw, server_hostname="localhost"))


def test_user_with_an_empty_realname_is_refused(net: Network) -> None:
    """Modern IRC, USER: "Parameters: <username> 0 * <realname>"; ERR_NEEDMOREPARAMS (461):
    "Returned when a client command cannot be parsed because not enough parameters were
    supplied." An empty realname is no realname (irctest's testEmptyRealname expects 461)."""
    client = net.raw()
    got = ask(client, "NICK norealname", "USER name 0 * :")
    assert [line.command for line in got] == ["461"]
    assert got[0].params[1] == "USER"
    # The connection is not registered, and a proper USER still works.
    got = ask(client, "USER name 0 * :Real Name")
    assert numerics(got, "001")


def test_a_user_name_without_usable_characters_gets_a_default(net: Network) -> None:
    """Modern IRC, USER: "The minimum length of <username> is 1, ie. it MUST NOT be empty. If
    it is empty, the server SHOULD reject the command with ERR_NEEDMOREPARAMS (even if an
    empty parameter is provided); otherwise it MUST use a default value instead." A user name
    of ten emoji keeps nothing a user name may hold: registration goes on with a default
    user name, never left waiting, and the realname is kept."""
    client = net.raw()
    got = ask(client, "NICK emojiuser", "USER " + "\U0001f600" * 10 + " 0 * :realname")
    assert numerics(got, "001")
    whois = numerics(ask(client, "WHOIS emojiuser"), "311")
    assert whois[0].params[2] == "~user" and whois[0].params[-1] == "realname"


def test_the_welcome_announces_the_tls_user_mode(tmp_path: Path) -> None:
    """Modern IRC, MODE: "If <target> is a nickname that matches the nickname of the user that
    sent the command and the <modestring> parameter is given ... a MODE message is sent to
    the user containing the changed modes"; RPL_UMODEIS (221) "the current modes of the
    client". Clients learn the modes the server gave them (+Z, on a TLS connection) from a
    MODE at the end of registration: irssi's status bar shows only what it was told."""
    out = tmp_path / "tls"
    assert cli_main(["cert", "--out", str(out), "--host", "localhost"]) == 0
    cert, key = out / "hubbub.crt", out / "hubbub.key"
    with network(tmp_path / "data", tls={"cert": str(cert), "key": str(key), "port": 0}) as net:
        assert net.server.app is not None and net.server.app.tls_addresses
        secure = tls_client(net.server.app.tls_addresses[0], cert)
        net.clients.append(secure)
        welcome = secure.register("secure")
        welcome += ask(secure)
        modes = [line for line in welcome if line.command == "MODE"]
        assert modes and "Z" in modes[0].params[1], [line.raw for line in welcome[-5:]]
        assert modes[0].params[0] == "secure"
        assert "Z" in numerics(ask(secure, "MODE secure"), "221")[0].params[1]
        # A plain connection is not told +Z.
        plain = net.user("plain")
        assert not [line for line in ask(plain) if line.command == "MODE"]
