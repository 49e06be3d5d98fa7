"""The real client's address from trusted proxies, over real sockets: PROXY v1 and v2 on the
IRC listener, Forwarded / X-Forwarded-For on the WebSocket listener, ignored from others."""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

from websockets.sync.client import connect as ws_connect

from hubbub.protocol.proxy import V2_SIGNATURE
from support.config import server_config, web_server_config
from support.irc_client import IrcClient
from support.servers import ThreadedServer


def proxied(tmp_path: Path, trusted: tuple[str, ...], **sections: dict[str, object]) -> object:
    return server_config(
        tmp_path,
        listen={"hosts": ("127.0.0.1",), "port": 0, "proxy_protocol": True},
        proxy={"trusted": trusted},
        **sections,
    )


def welcome_host(client: IrcClient, nick: str) -> str:
    lines = client.register(nick)
    (welcome,) = [line for line in lines if line.command == "001"]
    return welcome.text.rsplit("@", 1)[1]


def v2_header(source: str, port: int) -> bytes:
    address = ipaddress.ip_address(source)
    if address.version == 4:
        block = address.packed + ipaddress.IPv4Address("127.0.0.1").packed
        family = 0x11
    else:
        block = address.packed + ipaddress.IPv6Address("::1").packed
        family = 0x21
    block += struct.pack("!HH", port, 6667)
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(block)) + block


def test_proxy_v1_from_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    with ThreadedServer(proxied(tmp_path, ("127.0.0.1",))) as server:  # type: ignore[arg-type]
        client = IrcClient(server.address)
        try:
            client.send_raw(b"PROXY TCP4 192.0.2.7 127.0.0.1 56324 6667\r\n")
            assert welcome_host(client, "alice") == "192.0.2.7"
            client.send("WHOIS alice")
            whois = client.expect("318")
            (user,) = [line for line in whois if line.command == "311"]
            assert user.params[3] == "192.0.2.7"
        finally:
            client.close()


def test_proxy_v2_with_the_first_line_in_the_same_packet(tmp_path: Path) -> None:
    with ThreadedServer(proxied(tmp_path, ("127.0.0.0/8",))) as server:  # type: ignore[arg-type]
        client = IrcClient(server.address)
        try:
            client.send_raw(v2_header("2001:db8::7", 4000) + b"CAP LS 302\r\n")
            assert any(line.command == "CAP" for line in client.until(lambda x: x.command == "CAP"))
            client.send("CAP END")
            assert welcome_host(client, "bob") == "2001:db8::7"
        finally:
            client.close()


def test_a_header_from_an_untrusted_peer_is_not_believed(tmp_path: Path) -> None:
    with ThreadedServer(proxied(tmp_path, ("10.0.0.0/8",))) as server:  # type: ignore[arg-type]
        client = IrcClient(server.address)
        try:
            # Just a line nobody registered understands; the peer stays who it is.
            client.send("PROXY TCP4 192.0.2.7 127.0.0.1 56324 6667")
            client.expect("451")
            assert welcome_host(client, "mallory") == "127.0.0.1"
        finally:
            client.close()


def test_a_trusted_proxy_without_a_header_is_cut_off(tmp_path: Path) -> None:
    with ThreadedServer(proxied(tmp_path, ("127.0.0.1",))) as server:  # type: ignore[arg-type]
        sock = socket.create_connection(server.address, timeout=10)
        try:
            sock.sendall(b"NICK alice\r\nUSER a 0 * :a\r\n")
            assert sock.recv(100) == b""  # closed without a word: "must not try to guess"
        finally:
            sock.close()


def test_per_address_limits_use_the_real_address(tmp_path: Path) -> None:
    config = proxied(tmp_path, ("127.0.0.1",), limits={"clients_per_ip": 1})
    with ThreadedServer(config) as server:  # type: ignore[arg-type]
        first, second, third = (IrcClient(server.address) for _ in range(3))
        try:
            first.send_raw(b"PROXY TCP4 192.0.2.1 127.0.0.1 1000 6667\r\n")
            assert welcome_host(first, "one") == "192.0.2.1"
            second.send_raw(b"PROXY TCP4 192.0.2.2 127.0.0.1 1000 6667\r\n")
            assert welcome_host(second, "two") == "192.0.2.2"  # the proxy is not the limit
            third.send_raw(b"PROXY TCP4 192.0.2.1 127.0.0.1 1001 6667\r\n")
            lines = third.until_closed()
            assert any(
                line.command == "ERROR" and "Too many connections" in line.text for line in lines
            )
        finally:
            for client in (first, second, third):
                client.close()


def ws_welcome_host(port: int, headers: dict[str, str]) -> str:
    with ws_connect(
        f"ws://127.0.0.1:{port}/irc",
        subprotocols=["text.ircv3.net"],  # type: ignore[list-item]
        additional_headers=headers,
        open_timeout=10,
    ) as ws:
        ws.send("NICK webby")
        ws.send("USER w 0 * :w")
        while True:
            message = ws.recv(timeout=10)
            assert isinstance(message, str)
            for line in message.splitlines():
                if " 001 " in line:
                    return line.rsplit("@", 1)[1]


def test_forwarded_headers_from_a_trusted_proxy(tmp_path: Path) -> None:
    config = web_server_config(tmp_path, proxy={"trusted": ("127.0.0.1",)})
    with ThreadedServer(config) as server:
        port = server.web_port
        # A client's own claim on the left is ignored: the proxy appended the real address.
        assert ws_welcome_host(port, {"X-Forwarded-For": "10.9.9.9, 203.0.113.5"}) == (
            "203.0.113.5"
        )
        assert ws_welcome_host(port, {"Forwarded": 'for="[2001:db8::5]:4711"'}) == "2001:db8::5"
        assert ws_welcome_host(port, {}) == "127.0.0.1"


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path: Path) -> None:
    config = web_server_config(tmp_path, proxy={"trusted": ("10.0.0.0/8",)})
    with ThreadedServer(config) as server:
        assert ws_welcome_host(server.web_port, {"X-Forwarded-For": "203.0.113.5"}) == ("127.0.0.1")


def tls_client(address: tuple[str, int], cafile: Path, header: bytes = b"") -> IrcClient:
    """A TLS client that first sends `header` in the clear, as a TCP proxy passing TLS does."""
    import ssl

    context = ssl.create_default_context(cafile=str(cafile))
    raw = socket.create_connection(address, timeout=10)
    if header:
        raw.sendall(header)
    sock = context.wrap_socket(raw, server_hostname="localhost")
    return IrcClient(address, sock=sock)


def tls_proxied(tmp_path: Path, trusted: tuple[str, ...]) -> tuple[object, Path]:
    from hubbub.tls import make_certificate

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_certificate(cert, key, "localhost")
    config = server_config(
        tmp_path,
        tls={"cert": str(cert), "key": str(key), "port": 0, "proxy_protocol": True},
        proxy={"trusted": trusted},
    )
    return config, cert


def test_proxy_header_before_tls_from_a_trusted_proxy(tmp_path: Path) -> None:
    config, cafile = tls_proxied(tmp_path, ("127.0.0.1",))
    with ThreadedServer(config) as server:  # type: ignore[arg-type]
        assert server.app is not None
        address = server.app.tls_addresses[0]
        v1 = tls_client(address, cafile, b"PROXY TCP4 192.0.2.9 127.0.0.1 5000 6697\r\n")
        v2 = tls_client(address, cafile, v2_header("2001:db8::9", 5001))
        try:
            assert welcome_host(v1, "alice") == "192.0.2.9"
            assert welcome_host(v2, "bob") == "2001:db8::9"
        finally:
            v1.close()
            v2.close()


def test_tls_from_an_untrusted_peer_goes_straight_to_the_handshake(tmp_path: Path) -> None:
    config, cafile = tls_proxied(tmp_path, ("10.0.0.0/8",))
    with ThreadedServer(config) as server:  # type: ignore[arg-type]
        assert server.app is not None
        client = tls_client(server.app.tls_addresses[0], cafile)
        try:
            assert welcome_host(client, "carol") == "127.0.0.1"
        finally:
            client.close()


def test_a_trusted_proxy_with_a_bad_header_before_tls_is_cut_off(tmp_path: Path) -> None:
    config, _cafile = tls_proxied(tmp_path, ("127.0.0.1",))
    with ThreadedServer(config) as server:  # type: ignore[arg-type]
        assert server.app is not None
        sock = socket.create_connection(server.app.tls_addresses[0], timeout=10)
        try:
            sock.sendall(b"PROXY TCP4 nonsense\r\n")
            assert sock.recv(100) == b""
        finally:
            sock.close()
