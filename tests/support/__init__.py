"""The one test toolkit every test folder shares.

`irc_client`: a small blocking raw IRC client, independent of hubbub's own protocol code, and
the ways to run a real server (in-process thread, subprocess) with a config builder.

Tests import it as `support.<module>` (pyproject sets pytest's `pythonpath` to `tests`).
"""
