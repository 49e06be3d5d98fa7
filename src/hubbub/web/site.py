"""The web client's static files, held in memory and answered with the right HTTP headers.

The files in `hubbub/web/static/` are read once, when the web listener starts. A request is
answered by looking its path up in that table: nothing on disk is opened per request, so there
is no path to traverse and anything not in the table is a 404.

Caching: every file has a strong ETag (a hash of its bytes) and `If-None-Match` gets a 304.
`index.html` refers to its stylesheet and entry script with `?v=<hash>`; a request carrying the
current hash may be cached for a year (`immutable`), anything else is `no-cache` (the browser
revalidates with the ETag, so an upgrade of hubbub is seen at the next load).

Every response carries a Content-Security-Policy that allows scripts and styles from the page's
own origin only (no inline script, no `eval`), WebSocket connections to it, and images from it
and from any http(s) address (people's avatars).

The network's servers: given the WebSocket URLs of `[web] servers`, index.html names them in
`<meta name="hubbub-servers">` (the page tries them in order and moves to the next when one is
lost) and the policy's `connect-src` allows exactly those besides the page's own origin.
"""

from __future__ import annotations

import hashlib
import html
import importlib.resources
import re
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

__all__ = ["CSP", "Asset", "Reply", "StaticSite"]

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}


def content_security_policy(servers: Sequence[str] = ()) -> str:
    """The policy of every response; `servers` are WebSocket URLs the page may connect to
    besides its own origin (`[web] servers`)."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            # Avatars (metadata `avatar`) are pictures on other sites, over https or http: see
            # docs/web.md#avatars-and-privacy for what loading them gives away.
            "img-src 'self' data: https: http:",
            " ".join(["connect-src 'self'", *servers]),
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CSP = content_security_policy()

#: Headers on every response the site gives (pages, errors and 304s alike).
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)

LONG_CACHE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# index.html names these with ?v=<hash> so that they can be cached for long.
_SERVERS_META = '<meta name="hubbub-servers" content="">'
_VERSIONED_REF = re.compile(r'(?P<attr>(?:href|src)=")(?P<name>[A-Za-z0-9_.-]+\.(?:js|css|svg))"')


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    content_type: str
    etag: str
    version: str  # the hash index.html puts in ?v=


@dataclass(frozen=True)
class Reply:
    status: HTTPStatus
    headers: list[tuple[str, str]]
    body: bytes


def _version(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


class StaticSite:
    """The web client's files; `respond(path, if_none_match)` is the whole HTTP surface."""

    def __init__(
        self, files: dict[str, bytes] | None = None, *, servers: Sequence[str] = ()
    ) -> None:
        raw = _load_package_files() if files is None else dict(files)
        versions = {name: _version(body) for name, body in raw.items()}
        self.headers = _security_headers(content_security_policy(servers))
        index = raw.get("index.html")
        if index is not None:
            raw["index.html"] = _list_servers(_version_refs(index, versions), servers)
            versions["index.html"] = _version(raw["index.html"])
        self.assets: dict[str, Asset] = {}
        for name, body in raw.items():
            suffix = name[name.rfind(".") :] if "." in name else ""
            content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
            version = versions[name]
            self.assets[name] = Asset(name, body, content_type, f'"{version}"', version)

    def lookup(self, path: str) -> Asset | None:
        """The asset a URL path (without its query) names, or None."""
        if path == "/" or path == "":
            return self.assets.get("index.html")
        if not path.startswith("/"):
            return None
        return self.assets.get(path[1:])

    def respond(self, target: str, if_none_match: str | None = None) -> Reply:
        """The reply to a GET of `target` (path and optional query, as on the request line)."""
        path, _, query = target.partition("?")
        asset = self.lookup(path)
        if asset is None:
            return self.error(HTTPStatus.NOT_FOUND)
        versioned = asset.name != "index.html" and f"v={asset.version}" in query.split("&")
        headers = [
            ("Cache-Control", LONG_CACHE if versioned else REVALIDATE),
            ("ETag", asset.etag),
            *self.headers,
        ]
        if if_none_match is not None and _etag_matches(if_none_match, asset.etag):
            return Reply(HTTPStatus.NOT_MODIFIED, headers, b"")
        headers.append(("Content-Type", asset.content_type))
        return Reply(HTTPStatus.OK, headers, asset.body)

    @staticmethod
    def error(status: HTTPStatus, text: str | None = None) -> Reply:
        body = f"{status.value} {text or status.phrase}\n".encode()
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-store"),
            *SECURITY_HEADERS,
        ]
        return Reply(status, headers, body)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [item.strip() for item in header.split(",")]
    # A weak validator (W/"…") matches too: If-None-Match uses the weak comparison.
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)


def _security_headers(policy: str) -> tuple[tuple[str, str], ...]:
    """`SECURITY_HEADERS` with `policy` as the Content-Security-Policy."""
    return tuple(
        (name, policy if name == "Content-Security-Policy" else value)
        for name, value in SECURITY_HEADERS
    )


def _list_servers(index: bytes, servers: Sequence[str]) -> bytes:
    """index.html with `servers` (space-separated) in its hubbub-servers meta tag."""
    if not servers:
        return index
    filled = f'<meta name="hubbub-servers" content="{html.escape(" ".join(servers))}">'
    return index.decode("utf-8").replace(_SERVERS_META, filled, 1).encode("utf-8")


def _version_refs(index: bytes, versions: dict[str, str]) -> bytes:
    text = index.decode("utf-8")

    def add_version(match: re.Match[str]) -> str:
        name = match["name"]
        version = versions.get(name)
        if version is None:
            return match[0]
        return f'{match["attr"]}{name}?v={version}"'

    return _VERSIONED_REF.sub(add_version, text).encode("utf-8")


def _load_package_files() -> dict[str, bytes]:
    """Every regular file directly in hubbub/web/static (names only, no subdirectories)."""
    root = importlib.resources.files("hubbub.web") / "static"
    files: dict[str, bytes] = {}
    for entry in root.iterdir():
        name = entry.name
        if entry.is_file() and not name.startswith("."):
            files[name] = entry.read_bytes()
    return files
