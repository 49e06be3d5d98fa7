"""`hubbub doctor` on good and broken setups: what it finds, what it says to fix, its status."""

from __future__ import annotations

import datetime
import resource
from pathlib import Path

import pytest

from hubbub.cli import main
from hubbub.config import Config
from hubbub.ops.doctor import check, has_problems
from hubbub.tls import make_certificate
from support.config import changed, server_config
from support.servers import ThreadedServer


def doctor(capsys: pytest.CaptureFixture[str], config_file: Path) -> tuple[int, str]:
    status = main(["doctor", "--config", str(config_file)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_a_sound_setup_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "hubbub.toml"
    config_file.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    status, output = doctor(capsys, config_file)
    assert status == 0, output
    assert "no problems found" in output
    assert "will be created at start" in output


def test_a_broken_config_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "hubbub.toml"
    config_file.write_text("[limits]\nmax_clients = -1\n")
    status, output = doctor(capsys, config_file)
    assert status == 1
    assert "max_clients" in output


def test_a_data_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").write_text("oops")
    config_file = tmp_path / "hubbub.toml"
    config_file.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    status, output = doctor(capsys, config_file)
    assert status == 1
    assert "is not a directory" in output


def test_a_damaged_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "history.sqlite3").write_bytes(b"not a database at all" * 200)
    config_file = tmp_path / "hubbub.toml"
    config_file.write_text(f'[server]\ndata_dir = "{data}"\n')
    status, output = doctor(capsys, config_file)
    assert status == 1
    assert "cannot be opened and written" in output
    assert "restore a backup" in output


def test_a_database_in_use_is_not_opened(tmp_path: Path) -> None:
    config = server_config(tmp_path)
    with ThreadedServer(config):
        findings = check(config)
    assert not has_problems(findings)
    assert any("in use by a running server" in finding.text for finding in findings)


def test_an_expired_certificate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_certificate(cert, key, "irc.example.org", days=0)
    config_file = tmp_path / "hubbub.toml"
    config_file.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n[tls]\ncert = "{cert}"\nkey = "{key}"\n'
    )
    status, output = doctor(capsys, config_file)
    assert status == 1
    assert "expired" in output
    assert "renew it" in output


def test_a_certificate_about_to_expire_is_a_warning(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_certificate(cert, key, "irc.example.org", days=30)
    config = changed(
        Config(), server={"data_dir": str(tmp_path)}, tls={"cert": str(cert), "key": str(key)}
    )
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=25)
    findings = check(config, now=soon)
    warnings = [finding.text for finding in findings if finding.level == "warning"]
    assert any("expires in" in text for text in warnings)
    assert not has_problems(findings)


def test_a_missing_certificate(tmp_path: Path) -> None:
    config = changed(
        Config(), server={"data_dir": str(tmp_path)}, tls={"cert": str(tmp_path / "no.pem")}
    )
    findings = check(config)
    assert has_problems(findings)
    assert any("cannot be read" in finding.text for finding in findings)


def test_fd_limit_below_max_clients(tmp_path: Path) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard descriptor limit on this machine")
    config = changed(Config(), server={"data_dir": str(tmp_path)}, limits={"max_clients": hard + 1})
    findings = check(config)
    assert has_problems(findings)
    assert any("LimitNOFILE=" in finding.text for finding in findings)


def test_metrics_exposed_beyond_loopback_is_a_warning(tmp_path: Path) -> None:
    config = changed(
        Config(), server={"data_dir": str(tmp_path)}, metrics={"enabled": True, "host": "0.0.0.0"}
    )
    findings = check(config)
    assert any(f.level == "warning" and "metrics listener" in f.text for f in findings)
