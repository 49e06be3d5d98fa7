"""The web listener's HTTP side: the page's files, their headers, caching, 404s, no traversal."""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import ServerThread, make_config

from hubbub.web.site import CSP, StaticSite

STATIC = Path(__file__).resolve().parents[2] / "src" / "hubbub" / "web" / "static"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    thread = ServerThread(make_config(tmp_path_factory.mktemp("http"))).start()
    try:
        yield thread
    finally:
        thread.stop()


def get(
    server: ServerThread, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.web_port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def body(server: ServerThread, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", server.web_port, timeout=5)
    conn.request("GET", path)
    data = conn.getresponse().read()
    conn.close()
    return data


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/irc.js", "text/javascript; charset=utf-8"),
        ("/model.js", "text/javascript; charset=utf-8"),
        ("/view.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ],
)
def test_files_have_their_content_type_and_security_headers(
    server: ServerThread, path: str, content_type: str
) -> None:
    response = get(server, path)
    assert response.status == 200
    assert response.getheader("Content-Type") == content_type
    assert response.getheader("Content-Security-Policy") == CSP
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("ETag", "").startswith('"')
    assert int(response.getheader("Content-Length", "0")) > 0


def test_the_csp_forbids_inline_and_foreign_scripts() -> None:
    directives = dict(item.split(" ", 1) for item in CSP.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CSP


def test_the_page_has_no_inline_script_or_style() -> None:
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script> in index.html"
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler in index.html"
    for script in STATIC.glob("*.js"):
        source = script.read_text()
        assert ".innerHTML" not in source and "insertAdjacentHTML" not in source, script.name
        assert "eval(" not in source and "new Function" not in source, script.name


def test_caching_index_revalidates_versioned_assets_are_immutable(server: ServerThread) -> None:
    index = get(server, "/")
    assert index.getheader("Cache-Control") == "no-cache"
    page = body(server, "/").decode()
    refs = re.findall(r'(?:href|src)="([^"]+\?v=[0-9a-f]{16})"', page)
    assert {ref.split("?")[0] for ref in refs} >= {"app.js", "style.css"}
    for ref in refs:
        response = get(server, "/" + ref)
        assert response.status == 200
        assert response.getheader("Cache-Control") == "public, max-age=31536000, immutable"
    # Without the version (or with an old one), the browser must revalidate.
    assert get(server, "/app.js").getheader("Cache-Control") == "no-cache"
    assert get(server, "/app.js?v=0000000000000000").getheader("Cache-Control") == "no-cache"


def test_etag_gives_304(server: ServerThread) -> None:
    first = get(server, "/style.css")
    etag = first.getheader("ETag")
    assert etag
    again = get(server, "/style.css", {"If-None-Match": etag})
    assert again.status == 304
    assert again.getheader("ETag") == etag
    assert get(server, "/style.css", {"If-None-Match": f'"other", W/{etag}'}).status == 304
    assert get(server, "/style.css", {"If-None-Match": '"other"'}).status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/static/app.js",
        "/../pyproject.toml",
        "/..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/./app.js",
        "//etc/passwd",
        "/app.js/",
        "/site.py",
        "/__init__.py",
    ],
)
def test_anything_else_is_404(server: ServerThread, path: str) -> None:
    response = get(server, path)
    assert response.status == 404
    assert response.getheader("Content-Security-Policy") == CSP


def test_raw_traversal_requests_are_404(server: ServerThread) -> None:
    # http.client normalises nothing, but send the request line by hand to be sure.
    for target in ("/../../../../etc/passwd", "/..\\..\\pyproject.toml"):
        with socket.create_connection(("127.0.0.1", server.web_port), timeout=5) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data.split(b"\r\n", 1)[0] == b"HTTP/1.1 404 Not Found", target


def test_a_plain_get_on_the_websocket_path_is_not_an_upgrade(server: ServerThread) -> None:
    assert get(server, "/irc").status == 404


def test_the_site_from_given_files() -> None:
    site = StaticSite(
        {
            "index.html": b'<link href="a.css"><script src="b.js"></script>',
            "a.css": b"x",
            "b.js": b"y",
        }
    )
    index = site.respond("/").body.decode()
    assert re.fullmatch(
        r'<link href="a.css\?v=[0-9a-f]{16}"><script src="b.js\?v=[0-9a-f]{16}"></script>', index
    )
    assert site.respond("/missing").status == 404
    assert site.respond("/a.css", '"nope"').status == 200


def test_the_servers_setting_lists_them_in_the_page_and_lets_the_page_connect(
    tmp_path: Path,
) -> None:
    """`[web] servers`: the page names the network's servers (meta hubbub-servers) and its
    policy's connect-src allows exactly those besides its own origin; without the setting the
    page names none (it uses its own origin) and connect-src is 'self' alone."""
    servers = ("ws://127.0.0.1:1/irc", "wss://chat-b.example.org:8443/irc")
    with ServerThread(make_config(tmp_path, web={"servers": servers})) as listing:
        response = get(listing, "/")
        page = body(listing, "/").decode()
        error = get(listing, "/missing")
    policy = response.getheader("Content-Security-Policy", "")
    directives = dict(item.split(" ", 1) for item in policy.split("; "))
    assert directives["connect-src"] == "'self' " + " ".join(servers)
    assert directives["script-src"] == "'self'"
    assert f'<meta name="hubbub-servers" content="{" ".join(servers)}">' in page
    assert error.getheader("Content-Security-Policy") == CSP  # an error page connects nowhere
    assert dict(item.split(" ", 1) for item in CSP.split("; "))["connect-src"] == "'self'"
    plain = StaticSite().lookup("/")
    assert plain is not None
    assert b'<meta name="hubbub-servers" content="">' in plain.body
