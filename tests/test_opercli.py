"""`hubbub oper-hash` and operators in `hubbub config check`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from hubbub.cli import main
from hubbub.config.loader import load_config


def test_oper_hash_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-oper-password\n"))
    assert main(["oper-hash", "--stdin", "--name", "alice", "--host", "*@10.0.0.*"]) == 0
    out, err = capsys.readouterr()
    phc = out.strip()
    assert phc.startswith("$argon2id$") and PasswordHasher().verify(phc, "a-long-oper-password")
    assert "a-long-oper-password" not in out + err
    config_file = tmp_path / "h.toml"
    config_file.write_text(err.split("\n", 2)[2])  # the [[operators]] table it printed
    (entry,) = load_config(config_file).operators
    assert (entry.name, entry.password, entry.host) == ("alice", phc, "*@10.0.0.*")
    assert main(["config", "check", str(config_file)]) == 0
    shown = capsys.readouterr().out
    assert '[[operators]]\nname = "alice"\n# password = (set, not shown)' in shown


def test_oper_hash_refuses_a_short_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["oper-hash", "--stdin"]) == 1
    assert "at least" in capsys.readouterr().err
