"""SASL: the AUTHENTICATE command (IRCv3 sasl 3.1 / 3.2) with PLAIN, SCRAM-SHA-256 and EXTERNAL.

https://ircv3.net/specs/extensions/sasl-3.1 — the exchange:

    C: AUTHENTICATE PLAIN          S: AUTHENTICATE +
    C: AUTHENTICATE <base64>       (400-byte chunks; a chunk of exactly 400 means "more";
                                    "+" alone is an empty message or ends a 400-byte run)
    S: 900 (logged in) + 903       or 904 (failed) / 905 (too long) / 906 (aborted: AUTHENTICATE *)
                                   / 907 (already logged in) / 908 (the mechanisms, on a bad one)

PLAIN is checked against the argon2id hash on the account worker (never on the loop). SCRAM-
SHA-256 reads the account's stored SCRAM keys on the worker, then checks the client's proof on
the loop (two HMACs: cheap). EXTERNAL logs in to the account the TLS client certificate's
SHA-256 fingerprint is linked to (NickServ CERT ADD). Attempts are throttled per address and per
account when they are submitted (`hubbub.core.login.LoginThrottle`: a SCRAM exchange takes its
tokens at its first message and gets them back with a right proof), and at most one check per
address and per account is in flight (`hubbub.core.login.CheckGate`).

A check answers through `Reply.later`: while it runs, the client's next lines wait (in order),
so a client that sends CAP END right behind its last AUTHENTICATE gets its 903 before the
welcome.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from hubbub.accounts.model import Account, Credentials, account_name
from hubbub.accounts.scram import ScramError, ScramServer
from hubbub.accounts.store import AccountStore
from hubbub.core import login as accounts
from hubbub.core.commands import command
from hubbub.core.ports import CallFailure
from hubbub.protocol import numerics as n

if TYPE_CHECKING:
    from hubbub.core.reply import Reply
    from hubbub.core.server import ChatServer
    from hubbub.protocol.message import Message

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "EXTERNAL")
CAP_VALUE = ",".join(MECHANISMS)
CHUNK = 400
#: Longest SASL message (base64, all chunks together) accepted.
MAX_MESSAGE = 4096


class SaslState:
    """One exchange under way on a connection (`session.sasl`)."""

    __slots__ = (
        "account",
        "buffer",
        "credentials",
        "fold",
        "mechanism",
        "pending",
        "scram",
        "step",
    )

    def __init__(self, mechanism: str) -> None:
        self.mechanism = mechanism
        self.buffer = ""
        self.step = 1
        self.scram: ScramServer | None = None
        self.credentials: Credentials | None = None
        self.account = ""
        self.fold = ""
        self.pending = False


@command("AUTHENTICATE", 1, before_registration=True)
def handle_authenticate(server: ChatServer, reply: Reply, msg: Message) -> None:
    session = reply.session
    arg = msg.params[0]
    if arg == "*":
        session.sasl = None
        reply.numeric(n.ERR_SASLABORTED, "SASL authentication aborted")
        return
    state = session.sasl
    if state is None:
        start(server, reply, arg.upper())
        return
    if len(arg.encode()) > CHUNK:
        session.sasl = None
        reply.numeric(n.ERR_SASLTOOLONG, "SASL message too long")
        return
    if arg != "+":
        state.buffer += arg
    if len(state.buffer) > MAX_MESSAGE:
        session.sasl = None
        reply.numeric(n.ERR_SASLTOOLONG, "SASL message too long")
        return
    if len(arg) == CHUNK:
        return  # more to come
    text, state.buffer = state.buffer, ""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        fail(server, reply)
        return
    if state.mechanism == "PLAIN":
        plain(server, reply, data)
    elif state.mechanism == "EXTERNAL":
        external(server, reply, data)
    else:
        scram(server, reply, state, data)


def start(server: ChatServer, reply: Reply, mechanism: str) -> None:
    session = reply.session
    if session.user.account:
        reply.numeric(n.ERR_SASLALREADY, "You have already authenticated using SASL")
        return
    if mechanism not in MECHANISMS:
        reply.numeric(n.RPL_SASLMECHS, CAP_VALUE, "are available SASL mechanisms")
        reply.numeric(n.ERR_SASLFAIL, "SASL authentication failed")
        return
    if mechanism == "EXTERNAL" and not session.certfp:
        reply.numeric(n.ERR_SASLFAIL, "SASL authentication failed: no client certificate")
        return
    session.sasl = SaslState(mechanism)
    reply.add("AUTHENTICATE +")


def send(reply: Reply, data: bytes) -> None:
    """A server message of the exchange, base64 in 400-byte chunks."""
    text = base64.b64encode(data).decode()
    for start_at in range(0, len(text), CHUNK):
        reply.add("AUTHENTICATE " + text[start_at : start_at + CHUNK])
    if not text or len(text) % CHUNK == 0:
        reply.add("AUTHENTICATE +")


def fail(server: ChatServer, reply: Reply, text: str = "SASL authentication failed") -> None:
    reply.session.sasl = None
    reply.numeric(n.ERR_SASLFAIL, text)


def succeed(server: ChatServer, reply: Reply, account_id: str) -> None:
    reply.session.sasl = None
    accounts.login(server, reply, account_id)
    reply.numeric(n.RPL_SASLSUCCESS, "SASL authentication successful")


def finish_login(server: ChatServer, reply: Reply, outcome: accounts.Outcome, authzid: str) -> None:
    status, detail = outcome
    name = account_name(detail)
    if status == accounts.OK and authzid and server.fold(authzid) != server.fold(name):
        status = accounts.BAD  # may not act as another account
    if status == accounts.OK:
        if reply.session.user.account:
            fail(server, reply, "You are already logged in")
        else:
            succeed(server, reply, detail)
    elif status == accounts.BAD:
        fail(server, reply)
    else:
        fail(server, reply, "SASL authentication failed: " + accounts.failure_text(status, detail))


def plain(server: ChatServer, reply: Reply, data: bytes) -> None:
    parts = data.split(b"\0")
    if len(parts) != 3:
        fail(server, reply)
        return
    try:
        authzid, authcid, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        fail(server, reply)
        return
    if not server.valid_nick(authcid) or not password:
        fail(server, reply)
        return
    fold = server.fold(authcid)
    lookup = accounts.password_lookup(server.accounts.passwords, fold, password)
    accounts.check_login(
        server,
        reply,
        fold,
        lookup,
        lambda later, outcome: finish_login(server, later, outcome, authzid),
    )


def external(server: ChatServer, reply: Reply, data: bytes) -> None:
    certfp = reply.session.certfp
    try:
        authzid = data.decode("utf-8")
    except UnicodeDecodeError:
        fail(server, reply)
        return
    if certfp is None:
        fail(server, reply)
        return
    accounts.check_login(
        server,
        reply,
        "",
        accounts.cert_lookup(certfp),
        lambda later, outcome: finish_login(server, later, outcome, authzid),
    )


def scram(server: ChatServer, reply: Reply, state: SaslState, data: bytes) -> None:
    session = reply.session
    if state.step == 1:
        nonce = base64.b64encode(server.randomness.token_bytes(18)).decode()
        scram_server = state.scram = ScramServer(nonce)
        try:
            username = scram_server.client_first(data)
        except ScramError:
            fail(server, reply)
            return
        if not server.valid_nick(username) or (
            scram_server.authzid and server.fold(scram_server.authzid) != server.fold(username)
        ):
            fail(server, reply)
            return
        fold = state.fold = server.fold(username)
        keys = accounts.throttle_keys(session, fold)
        if accounts.throttled(server, reply, keys, _throttled_scram):
            return
        if server.accounts.full:
            _throttled_scram(reply, (accounts.UNAVAILABLE, ""))
            return
        # The attempt takes its tokens now; the proof (step 2) gives them back if it is right.
        server.accounts.throttle.take(keys, server.now)

        def found(later: Reply, result: Any) -> None:
            if session.sasl is not state:
                return
            if isinstance(result, CallFailure):
                server.accounts.throttle.refund(keys, server.now)
                text = accounts.failure_text(accounts.UNAVAILABLE, "")
                fail(server, later, "SASL authentication failed: " + text)
                return
            if isinstance(result, Account):
                state.credentials = result.credentials
                state.account = result.stable_id
                state.pending = result.pending
                salt = result.credentials.scram_salt
                iterations = result.credentials.scram_iterations
            else:  # unknown: answer the same way, fail at the proof
                salt = server.randomness.token_bytes(16)
                iterations = server.config.accounts.scram_iterations
            state.step = 2
            send(later, scram_server.server_first(salt, iterations))

        def lookup(store: AccountStore) -> Account | None:
            return store.get(fold)

        accounts.guarded(server, session, keys, lookup, reply.later(found))
        return
    exchange = state.scram
    assert exchange is not None
    if state.step == 2:
        keys = accounts.throttle_keys(session, state.fold)
        credentials = state.credentials
        try:
            if credentials is None:
                raise ScramError("unknown account")
            final = exchange.client_final(data, credentials)
        except ScramError:
            server.counters.login_failures += 1
            fail(server, reply)  # the token taken at step 1 stays taken
            return
        server.accounts.throttle.refund(keys, server.now)
        if state.pending:
            text = accounts.failure_text(accounts.PENDING, "")
            fail(server, reply, "SASL authentication failed: " + text)
            return
        state.step = 3
        send(reply, final)
        return
    # step 3: the client acknowledges the server's signature with an empty message
    if data:
        fail(server, reply)
        return
    succeed(server, reply, state.account)


def _throttled_scram(reply: Reply, outcome: accounts.Outcome) -> None:
    reply.session.sasl = None
    reply.numeric(
        n.ERR_SASLFAIL,
        "SASL authentication failed: " + accounts.failure_text(*outcome),
    )
