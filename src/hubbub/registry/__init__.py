"""Server state that survives restarts beside accounts: registered channels and server bans.

* `model` — `RegisteredChannel` (a ChanServ registration: owner, op accounts, topic, modes,
  bans, history access) and `ServerBan` (a K-line or D-line with its expiry).
* `store` — the `RegistryStore` contract (`ChannelStore` + `BanStore`); `memory` and `sqlite`
  fulfil it (SQLite: tables of their own in the history database file, own connection).
* `worker` / `service` — one store on its own thread, reached from the event loop, exactly like
  the account store (`hubbub.accounts`).
"""
