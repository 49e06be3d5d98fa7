"""TLS for the listener: self-signed certificates, the server's SSLContext, reloads, client
certificate fingerprints.

* `make_certificate` writes a self-signed certificate and key (`hubbub cert`; tests use it for
  client certificates too).
* `ServerTls` owns the SSLContext the TLS listener uses. `reload()` (SIGHUP) loads the
  certificate files again into that same context: connections made afterwards get the new
  certificate, existing ones keep their session. A pair that does not load (missing file, key
  that does not match) is refused and the old one stays in use.
* Client certificates are requested but never required or verified: SASL EXTERNAL identifies a
  client by its certificate's SHA-256 fingerprint, which it linked to its account itself
  (NickServ CERT ADD), so any certificate, self-signed included, is acceptable. Python's `ssl`
  has no switch for "ask for a certificate, accept any": with CERT_OPTIONAL, OpenSSL aborts the
  handshake on a certificate it cannot verify. `_accept_any_client_certificate` installs an
  OpenSSL verify callback that accepts every certificate (through ctypes, on the libssl the
  `_ssl` module is linked with). If that is not possible on a platform, client certificates are
  not requested at all (a warning says so) and EXTERNAL is unavailable; TLS still works.
"""

from __future__ import annotations

import ctypes
import datetime
import hashlib
import ipaddress
import logging
import os
import ssl
from pathlib import Path
from typing import Any

__all__ = ["ServerTls", "TlsError", "certificate_fingerprint", "make_certificate"]

log = logging.getLogger("hubbub.tls")


class TlsError(OSError):
    """The certificate or key cannot be used; the message says which and why. An OSError, so
    that `hubbub serve` reports it like a port it cannot bind: one line, exit status 1."""


def make_certificate(
    cert_path: Path, key_path: Path, common_name: str, *, days: int = 825, client: bool = False
) -> str:
    """Write a self-signed certificate (EC P-256, SHA-256) and its key; return its fingerprint.

    A server certificate names `common_name`, localhost, 127.0.0.1 and ::1 as alternative
    names. The key file is created readable by its owner only.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if client:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH
        names: list[x509.GeneralName] = [x509.DNSName(common_name)]
        if common_name != "localhost":
            names.append(x509.DNSName("localhost"))
        for address in ("127.0.0.1", "::1"):
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, lower-case hex (what CERT ADD takes)."""
    return hashlib.sha256(der).hexdigest()


def peer_fingerprint(ssl_object: Any) -> str | None:
    """The client certificate's fingerprint of a TLS connection, if it presented one."""
    if ssl_object is None:
        return None
    try:
        der = ssl_object.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        return None
    return certificate_fingerprint(der) if der else None


# -- accepting any client certificate ------------------------------------------------------------

_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept_any(preverify_ok: int, store: int | None) -> int:
    return 1


_ACCEPT_ANY = _VERIFY_CALLBACK(_accept_any)  # kept alive for the process's lifetime


def _accept_any_client_certificate(context: ssl.SSLContext) -> bool:
    """Request client certificates and accept any, verified or not. False if not possible."""
    try:
        import _ssl

        libssl = ctypes.CDLL(_ssl.__file__)  # resolves through _ssl's own libssl
        get_mode = libssl.SSL_CTX_get_verify_mode
        get_mode.argtypes = [ctypes.c_void_p]
        get_mode.restype = ctypes.c_int
        set_verify = libssl.SSL_CTX_set_verify
        set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK]
        set_verify.restype = None
        # CPython's PySSLContext: PyObject_HEAD, then the SSL_CTX pointer.
        ctx = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
        if not ctx:
            return False
        # Check that the pointer really is this context's SSL_CTX before writing through it.
        context.verify_mode = ssl.CERT_OPTIONAL
        if get_mode(ctx) != 1:  # SSL_VERIFY_PEER
            context.verify_mode = ssl.CERT_NONE
            if get_mode(ctx) != 0:
                return False
            context.verify_mode = ssl.CERT_OPTIONAL
            return False
        set_verify(ctx, 1, _ACCEPT_ANY)
        return True
    except (OSError, AttributeError, ImportError, ValueError):
        return False


class ServerTls:
    """The TLS listener's SSLContext, loaded from certificate files and reloadable."""

    def __init__(self, cert: str | Path, key: str | Path | None = None) -> None:
        self.cert = Path(cert)
        self.key = Path(key) if key else None
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load(self.context)
        self.client_certificates = _accept_any_client_certificate(self.context)
        if not self.client_certificates:
            self.context.verify_mode = ssl.CERT_NONE
            log.warning(
                "TLS client certificates cannot be accepted on this platform: "
                "SASL EXTERNAL is unavailable"
            )
        self.fingerprint = self._fingerprint()

    def _load(self, context: ssl.SSLContext) -> None:
        try:
            context.load_cert_chain(self.cert, self.key)
        except FileNotFoundError as exc:
            raise TlsError(f"cannot read {exc.filename or self.cert}: no such file") from exc
        except ssl.SSLError as exc:
            raise TlsError(
                f"cannot use {self.cert}" + (f" with {self.key}" if self.key else "") + f": {exc}"
            ) from exc
        except OSError as exc:
            raise TlsError(f"cannot read {self.cert}: {exc.strerror or exc}") from exc

    def _fingerprint(self) -> str:
        try:
            der = ssl.PEM_cert_to_DER_cert(self.cert.read_text(encoding="ascii", errors="replace"))
        except (OSError, ValueError):
            return "?"
        return certificate_fingerprint(der)

    def reload(self) -> bool:
        """Load the files again (SIGHUP). The pair is tried on a scratch context first; if it
        does not load, the error is logged and the old certificate stays. True if reloaded."""
        try:
            self._load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
            self._load(self.context)
        except TlsError as exc:
            log.error("TLS certificate not reloaded, keeping the old one: %s", exc)
            return False
        self.fingerprint = self._fingerprint()
        log.info("TLS certificate reloaded from %s (SHA-256 %s)", self.cert, self.fingerprint)
        return True
