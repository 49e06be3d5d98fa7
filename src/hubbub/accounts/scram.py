"""The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677), without I/O and without hashing.

The exchange, as bytes (base64 is the SASL layer's business):

    client-first  n,,n=user,r=<client nonce>
    server-first  r=<client nonce><server nonce>,s=<salt>,i=<iterations>
    client-final  c=biws,r=<both nonces>,p=<proof>
    server-final  v=<server signature>

Verifying the proof is two HMACs and a SHA-256: cheap, so it may run anywhere. The costly part
(PBKDF2, `scram_keys`) happened when the password was set (`hubbub.accounts.passwords`).
Channel binding is not offered (the client's gs2 flag must be "n" or "y").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

from hubbub.accounts.model import Credentials

__all__ = ["ScramClient", "ScramError", "ScramServer", "saslprep", "scram_keys"]


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep as far as SCRAM needs it: map, NFKC-normalise, refuse what is
    prohibited. A string that cannot be prepared is used as it is (RFC 5802 lets the server
    decide; both sides do the same here)."""
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for c in prepared:
        if (
            stringprep.in_table_c12(c)
            or stringprep.in_table_c21_c22(c)
            or stringprep.in_table_c3(c)
            or stringprep.in_table_c4(c)
            or stringprep.in_table_c5(c)
            or stringprep.in_table_c6(c)
            or stringprep.in_table_c7(c)
            or stringprep.in_table_c8(c)
            or stringprep.in_table_c9(c)
            or stringprep.in_table_a1(c)
        ):
            return text
    return prepared


def scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) of RFC 5802 for SHA-256."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return stored_key, server_key


class ScramError(Exception):
    """The client's message is malformed or its proof is wrong."""


def _attributes(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if len(key) != 1 or not eq:
            raise ScramError("malformed attribute")
        out.append((key, value))
    return out


def _unescape_name(value: str) -> str:
    if "=" in value.replace("=2C", "").replace("=3D", ""):
        raise ScramError("bad escape in user name")
    return value.replace("=2C", ",").replace("=3D", "=")


class ScramServer:
    """One SCRAM-SHA-256 exchange. Call `client_first`, then `server_first` with the account's
    credentials (or made-up ones for an unknown account), then `client_final`."""

    def __init__(self, nonce: str | None = None) -> None:
        self.server_nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.username = ""
        self.authzid = ""
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def client_first(self, data: bytes) -> str:
        """Parse the client's first message; returns the user name it names."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("not UTF-8") from None
        flag, comma, rest = text.partition(",")
        authzid, comma2, bare = rest.partition(",")
        if not comma or not comma2 or flag not in ("n", "y"):
            raise ScramError("channel binding is not supported" if flag.startswith("p") else "")
        if authzid:
            if not authzid.startswith("a="):
                raise ScramError("malformed authzid")
            self.authzid = _unescape_name(authzid[2:])
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise ScramError("expected n= and r=")
        if any(key == "m" for key, _ in attrs):
            raise ScramError("mandatory extensions are not supported")
        self.username = _unescape_name(attrs[0][1])
        self._gs2_header = f"{flag},{authzid},"
        self._client_first_bare = bare
        self._nonce = attrs[1][1] + self.server_nonce
        return self.username

    def server_first(self, salt: bytes, iterations: int) -> bytes:
        salt_text = base64.b64encode(salt).decode()
        self._server_first = f"r={self._nonce},s={salt_text},i={iterations}"
        return self._server_first.encode()

    def client_final(self, data: bytes, credentials: Credentials) -> bytes:
        """Check the client's proof against `credentials`; returns the server-final message."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("not UTF-8") from None
        without_proof, sep, proof_text = text.rpartition(",p=")
        if not sep:
            raise ScramError("no proof")
        attrs = dict(_attributes(without_proof))
        expected_binding = base64.b64encode(self._gs2_header.encode()).decode()
        if attrs.get("c") != expected_binding:
            raise ScramError("channel binding mismatch")
        if attrs.get("r") != self._nonce:
            raise ScramError("nonce mismatch")
        try:
            proof = base64.b64decode(proof_text, validate=True)
        except ValueError:
            raise ScramError("bad proof encoding") from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = hmac.digest(credentials.stored_key, auth_message, "sha256")
        if len(proof) != len(signature):
            raise ScramError("wrong proof")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), credentials.stored_key):
            raise ScramError("wrong proof")
        server_signature = hmac.digest(credentials.server_key, auth_message, "sha256")
        return b"v=" + base64.b64encode(server_signature)


class ScramClient:
    """The client side of the same exchange (for tests and clients)."""

    def __init__(self, username: str, password: str, nonce: str | None = None) -> None:
        name = username.replace("=", "=3D").replace(",", "=2C")
        self.password = saslprep(password).encode()
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n={name},r={self.nonce}"
        self._server_signature = b""

    def first(self) -> bytes:
        return ("n,," + self.first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        attrs = dict(_attributes(text))
        if not attrs.get("r", "").startswith(self.nonce):
            raise ScramError("server nonce does not extend ours")
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self.first_bare},{text},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> bool:
        """Whether the server proved it knows the password too."""
        expected = b"v=" + base64.b64encode(self._server_signature)
        return hmac.compare_digest(server_final, expected)
