"""The one test toolkit every test folder shares (imported as `support.<module>`: pyproject
sets pytest's `pythonpath` to `tests`).

* `irc_client`: the raw IRC test client (`IrcClient`, blocking; `AsyncIrcClient`, asyncio) and
  its line parser, independent of hubbub's own protocol code. Every line it reads is checked
  against the wire rules; `fence()` (PING/PONG) proves that nothing more is on its way.
* `servers`: the real server in-process on a thread (`ThreadedServer`) or as a child process
  (`ServerProcess`), and `free_port`.
* `config`: the one config builder (`server_config`, `web_server_config`, `core_config`,
  `changed`) and `write_config` for a TOML file.
* `wire`: the wire rules (512 bytes without tags, tags at most 8191, UTF-8, no NUL/CR/LF,
  well formed), checked on every write in the core harness and every line a client reads.
* `waiting`: `wait_for` / `until`, the only way a test waits: a condition and a deadline.

What is specific to one folder stays there, built on these: the core harness
(`tests/core/core_helpers.py`), irssi in tmux (`tests/e2e`), WebSocket framing (`tests/web`),
the fake core of the transport tests (`tests/transport`).
"""
