"""Accounts: registered names with hashed passwords and TLS client-certificate fingerprints.

* `model` — `Account` and its `Credentials` (argon2id hash plus the SCRAM-SHA-256 keys).
* `passwords` — hashing and verifying (CPU-heavy: only ever called on the account worker).
* `scram` — the server side of a SCRAM-SHA-256 exchange (RFC 5802 / RFC 7677), pure.
* `store` — the `AccountStore` contract; `memory` and `sqlite` fulfil it.
* `worker` / `service` — one store on its own thread, reached from the event loop.
"""
