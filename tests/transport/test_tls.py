"""TLS end to end: the real server on 127.0.0.1 with a certificate made by `hubbub cert`, real
`ssl` clients; SASL PLAIN, SCRAM-SHA-256 and EXTERNAL (a generated client certificate); no
password in a DEBUG log; SIGHUP reloads the certificate (in a child process)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import logging
import signal
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub.accounts.scram import ScramClient
from hubbub.app import App
from hubbub.cli import main as cli_main
from hubbub.config import Config
from hubbub.tls import make_certificate
from support.config import server_config, write_config
from support.irc_client import IrcClient, clients
from support.servers import ServerProcess, ThreadedServer
from support.waiting import wait_for

PASSWORD = "tls-test-password-77"
FAST = {"hash_time_cost": 1, "hash_memory_kib": 64}


class TlsClient(IrcClient):
    """IrcClient over TLS; the server's certificate is checked against `cafile`."""

    def __init__(
        self,
        address: tuple[str, int],
        cafile: Path,
        cert: tuple[Path, Path] | None = None,
        timeout: float = 5.0,
    ) -> None:
        context = ssl.create_default_context(cafile=str(cafile))
        if cert is not None:
            context.load_cert_chain(*cert)
        raw = socket.create_connection(address, timeout=timeout)
        sock = context.wrap_socket(raw, server_hostname="localhost")
        super().__init__(address, timeout=timeout, sock=sock)

    def server_fingerprint(self) -> str:
        der = self.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        assert der is not None
        return hashlib.sha256(der).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "tls"
    assert cli_main(["cert", "--out", str(out), "--host", "localhost"]) == 0
    return out / "hubbub.crt", out / "hubbub.key"


def tls_config(tmp_path: Path, certs: tuple[Path, Path]) -> Config:
    config = server_config(
        tmp_path / "data",
        tls={"cert": str(certs[0]), "key": str(certs[1]), "port": 0},
        accounts=FAST,
    )
    if hasattr(config, "web"):
        config = dataclasses.replace(config, web=dataclasses.replace(config.web, enabled=False))
    return config


@pytest.fixture
def server(tmp_path: Path, certs: tuple[Path, Path]) -> Iterator[ThreadedServer]:
    with ThreadedServer(tls_config(tmp_path, certs)) as running:
        yield running


def tls_address(server: ThreadedServer) -> tuple[str, int]:
    assert server.app is not None and server.app.tls_addresses
    return server.app.tls_addresses[0]


def negotiate_sasl(client: IrcClient, nick: str) -> None:
    client.nick = nick
    client.send("CAP LS 302", f"NICK {nick}", f"USER {nick} 0 * :{nick}", "CAP REQ :sasl")
    client.until(lambda x: x.command == "CAP" and x.params[1:2] == ["ACK"])


def register_account(client: IrcClient, nick: str) -> None:
    client.register(nick)
    client.send(f"REGISTER * * {PASSWORD}")
    client.expect("900")


def test_sasl_plain_and_scram_over_tls(server: ThreadedServer, certs: tuple[Path, Path]) -> None:
    address = tls_address(server)
    owner = TlsClient(address, certs[0])
    plain = TlsClient(address, certs[0])
    scram = TlsClient(address, certs[0])
    with clients(owner, plain, scram):
        register_account(owner, "alice")
        owner.send("QUIT")

        negotiate_sasl(plain, "alice")
        plain.send("AUTHENTICATE PLAIN")
        assert plain.expect("AUTHENTICATE")[-1].params == ["+"]
        plain.send("AUTHENTICATE " + b64(f"\0alice\0{PASSWORD}".encode()))
        assert [x.command for x in plain.until(lambda x: x.command == "903")][-2:] == [
            "900",
            "903",
        ]
        plain.send("CAP END")
        plain.expect("001")
        plain.send("MODE alice", "WHOIS alice")
        assert plain.expect("221")[-1].params[1] == "+Z"
        whois = plain.expect("318")
        assert {"330", "671"} <= {x.command for x in whois}

        negotiate_sasl(scram, "alice_")
        client = ScramClient("alice", PASSWORD)
        scram.send("AUTHENTICATE SCRAM-SHA-256")
        scram.expect("AUTHENTICATE")
        scram.send("AUTHENTICATE " + b64(client.first()))
        first = scram.expect("AUTHENTICATE")[-1].params[0]
        scram.send("AUTHENTICATE " + b64(client.final(base64.b64decode(first))))
        final = scram.expect("AUTHENTICATE")[-1].params[0]
        assert client.verify(base64.b64decode(final))
        scram.send("AUTHENTICATE +")
        scram.expect("903")
        scram.send("CAP END")
        scram.expect("001")


def test_external_with_a_client_certificate(
    server: ThreadedServer, certs: tuple[Path, Path], tmp_path: Path
) -> None:
    client_cert = (tmp_path / "me.crt", tmp_path / "me.key")
    fingerprint = make_certificate(*client_cert, "me", client=True)
    address = tls_address(server)
    first = TlsClient(address, certs[0], cert=client_cert)
    second = TlsClient(address, certs[0], cert=client_cert)
    nocert = TlsClient(address, certs[0])
    with clients(first, second, nocert):
        register_account(first, "bob")
        first.send("PRIVMSG NickServ :CERT ADD", "WHOIS bob")
        # Per client, replies come in the order of its commands: NickServ's, then the WHOIS.
        got = first.expect("276")
        assert any(x.command == "NOTICE" and "added" in x.text for x in got)
        assert fingerprint in got[-1].text
        negotiate_sasl(second, "someone")
        second.send("AUTHENTICATE EXTERNAL")
        second.expect("AUTHENTICATE")
        second.send("AUTHENTICATE +")
        logged_in = second.expect("903")
        assert next(x for x in logged_in if x.command == "900").params[2] == "bob"
        negotiate_sasl(nocert, "other")
        nocert.send("AUTHENTICATE EXTERNAL")
        nocert.expect("904")


def test_passwords_never_reach_the_log(
    tmp_path: Path, certs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hubbub")
    secrets = [PASSWORD, "second-secret-99", "third-secret-42"]
    with ThreadedServer(tls_config(tmp_path, certs)) as server:
        a = IrcClient(server.address)
        b = IrcClient(server.address)
        c = TlsClient(tls_address(server), certs[0])
        with clients(a, b, c):
            a.register("carol")
            a.send(f"REGISTER * * {secrets[0]}")
            a.expect("900")
            a.send(f"PRIVMSG NickServ :SET PASSWORD {secrets[1]}")
            a.until(lambda x: x.command == "NOTICE" and "changed" in x.text)
            b.register("dave")
            b.send(f"PRIVMSG NickServ :REGISTER {secrets[2]}")
            b.expect("900")
            b.send("PRIVMSG NickServ :LOGOUT")
            b.expect("901")
            b.send(f"PRIVMSG NickServ :IDENTIFY dave {secrets[2]}")
            b.expect("900")
            negotiate_sasl(c, "erin")
            c.send("AUTHENTICATE PLAIN")
            c.expect("AUTHENTICATE")
            c.send("AUTHENTICATE " + b64(f"\0carol\0{secrets[1]}".encode()))
            c.expect("903")
    text = caplog.text
    assert "AUTHENTICATE ***" in text and "NickServ :IDENTIFY ***" in text  # DEBUG was on
    for secret in secrets:
        assert secret not in text
    assert b64(f"\0carol\0{secrets[1]}".encode()) not in text


def test_a_missing_certificate_stops_the_start(tmp_path: Path) -> None:
    config = tls_config(tmp_path, (tmp_path / "none.crt", tmp_path / "none.key"))
    app = App(config)
    with pytest.raises(OSError, match=r"none\.crt"):
        asyncio.run(app.start())
    assert app.tls_server is None and app.accounts_worker is not None


def test_sighup_reloads_the_certificate(tmp_path: Path, certs: tuple[Path, Path]) -> None:
    data = tmp_path / "data"
    extra = (
        f'\n[tls]\ncert = "{certs[0]}"\nkey = "{certs[1]}"\nport = 0\n'
        "\n[accounts]\nhash_time_cost = 1\nhash_memory_kib = 64\n"
    )
    if "web" in Config.__dataclass_fields__:
        extra += "\n[web]\nenabled = false\n"
    config_file = write_config(tmp_path / "hubbub.toml", data, extra)
    with ServerProcess(config_file) as server:
        said = wait_for(
            lambda: next((line for line in server.log if "TLS on " in line), None), 10, "TLS on"
        )
        port = int(said.split("TLS on ")[1].split(" ")[0].rsplit(":", 1)[1])
        address = ("127.0.0.1", port)
        old = TlsClient(address, certs[0])
        with clients(old):
            old.register("keeper")
            before = old.server_fingerprint()
            make_certificate(*certs, "localhost")  # a new pair at the same paths
            assert server.proc is not None
            server.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "TLS certificate reloaded" in server.text, 10, "the reload")
            new = TlsClient(address, certs[0])  # trusts only the new certificate
            with clients(new):
                assert new.server_fingerprint() != before
                new.register("newcomer")
            old.send("PING :still-here")
            assert old.expect("PONG")[-1].text == "still-here"
        assert server.terminate() == 0
