"""Strict Transport Security (https://ircv3.net/specs/extensions/sts), against a real server
with a TLS listener."""

from __future__ import annotations

from pathlib import Path

from conformance_helpers import ask, network
from test_conformance_registration import tls_client

from hubbub.cli import main as cli_main
from support.irc_client import IrcClient, Line
from support.servers import free_port


def cap_ls(client: IrcClient) -> dict[str, str]:
    client.send("CAP LS 302")
    lines: list[Line] = []
    while True:
        line = client.first(lambda x: x.command == "CAP")
        lines.append(line)
        if line.params[2] != "*":
            break
    caps: dict[str, str] = {}
    for line in lines:
        for item in line.params[-1].split():
            name, _, value = item.partition("=")
            caps[name] = value
    return caps


def certificate(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "tls"
    assert cli_main(["cert", "--out", str(out), "--host", "localhost"]) == 0
    return out / "hubbub.crt", out / "hubbub.key"


def test_upgrade_and_persistence_policies(tmp_path: Path) -> None:
    """sts: "An STS capability advertised on an insecure connection with at least a port key
    present expresses an STS upgrade policy" ("To enforce an STS upgrade policy, servers MUST
    send this key to non-securely connected clients"), and "An STS capability advertised on
    a secure connection with at least a duration key present expresses an STS persistence
    policy" ("servers MUST send this key to securely connected clients")."""
    cert, key = certificate(tmp_path)
    port = free_port()
    tls = {"cert": str(cert), "key": str(key), "port": port, "sts": True, "sts_duration": 600}
    with network(tmp_path / "data", tls=tls) as net:
        plain = net.raw()
        assert cap_ls(plain)["sts"] == f"port={port}"
        assert net.server.app is not None
        secure = tls_client(net.server.app.tls_addresses[0], cert)
        net.clients.append(secure)
        assert cap_ls(secure)["sts"] == "duration=600"


def test_sts_cannot_be_requested(tmp_path: Path) -> None:
    """sts: "Clients MUST NOT request this capability (CAP REQ). Servers MAY reply with a CAP
    NAK message if a client requests this capability.\""""
    cert, key = certificate(tmp_path)
    tls = {"cert": str(cert), "key": str(key), "port": free_port(), "sts": True}
    with network(tmp_path / "data", tls=tls) as net:
        client = net.raw()
        got = ask(client, "CAP REQ :sts", "CAP LIST")
        caps = [line for line in got if line.command == "CAP"]
        assert caps[0].params[1] == "NAK"
        assert "sts" not in caps[1].params[-1].split()


def test_sts_is_an_optional_setting(tmp_path: Path) -> None:
    """sts: "In compliant server software, this capability MUST be made available as an
    optional configuration setting": off by default, and never without a certificate."""
    cert, key = certificate(tmp_path)
    with network(tmp_path / "a", tls={"cert": str(cert), "key": str(key), "port": 0}) as net:
        assert "sts" not in cap_ls(net.raw())
    with network(tmp_path / "b", tls={"sts": True}) as net:
        assert "sts" not in cap_ls(net.raw())
