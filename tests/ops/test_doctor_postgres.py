"""`hubbub doctor` with `history.backend = "postgres"`: it says whether the database answers
(a real throwaway cluster; a free port nobody listens on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.cli import main
from support.postgres_server import shared_server
from support.servers import free_port


def doctor(capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str) -> tuple[int, str]:
    config_file = tmp_path / "hubbub.toml"
    config_file.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n\n[history]\nbackend = "postgres"\n'
        f'url = "{url}"\n'
    )
    status = main(["doctor", "--config", str(config_file)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_a_reachable_database_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, output = doctor(capsys, tmp_path, shared_server().url)
    assert status == 0, output
    assert "reachable (PostgreSQL" in output


def test_an_unreachable_database_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = doctor(capsys, tmp_path, f"postgresql://hubbub@127.0.0.1:{free_port()}/x")
    assert status == 1
    assert "cannot connect" in output and "history.url" in output
