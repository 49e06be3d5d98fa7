"""The `hubbub` command line, and the console logging `hubbub serve` sets up."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubbub import __version__, logsetup
from hubbub.cli import main
from hubbub.config import Config
from hubbub.config.loader import load_config


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    hubbub = logging.getLogger("hubbub")
    saved = (list(root.handlers), root.level, hubbub.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    hubbub.setLevel(saved[2])


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """Stand in for hubbub.app: `run` records the config it was given and returns 0."""
    seen: list[Config] = []

    def run(config: Config) -> int:
        seen.append(config)
        return 0

    module = types.ModuleType("hubbub.app")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hubbub.app", module)
    return seen


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"hubbub {__version__}\n"
    assert __version__ == "0.1.0"


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "serve" in err and "config" in err


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_serve_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Run the chat server" in out
    for flag in ("--config FILE", "--host HOST", "--port N", "--data-dir DIR", "--log-level"):
        assert flag in out
    assert "--memory" in out
    assert "repeat" in out  # --host is repeatable


def test_config_help_lists_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--help"]) == 0
    out = capsys.readouterr().out
    assert "check" in out and "defaults" in out
    assert main(["config"]) == 2


# --- config check / config defaults --------------------------------------------------------------


def test_config_check_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "good.toml"
    path.write_text('[listen]\nport = 7000\n[server]\npassword = "sesame"\n', encoding="utf-8")
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {path} is valid.")
    assert "port = 7000" in out
    assert "sesame" not in out
    assert "# history database: " in out
    # What it prints is TOML giving the same configuration (but for the hidden password).
    printed = tmp_path / "printed.toml"
    printed.write_text(out, encoding="utf-8")
    assert load_config(printed, {"server.password": "sesame"}) == load_config(path)


def test_config_check_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[limits]\nnick_length = -3\n", encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"hubbub: {path}: limits.nick_length: expected an integer from 1 to 255, got -3\n"
    )


def test_config_check_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[limits\n", encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    assert re.match(rf"hubbub: config file {re.escape(str(path))}: line 1", capsys.readouterr().err)


def test_config_check_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_config_defaults_loads_back_to_the_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "defaults"]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "defaults.toml"
    path.write_text(out, encoding="utf-8")
    assert load_config(path) == Config()
    assert out.count("\n# Accepts ") == sum(1 for line in out.splitlines() if " = " in line[:40])


# --- serve ---------------------------------------------------------------------------------------


def test_serve_passes_the_config_to_the_app(tmp_path: Path, fake_app: list[Config]) -> None:
    path = tmp_path / "hubbub.toml"
    path.write_text('[listen]\nport = 7000\n[server]\nname = "irc.example.org"\n', "utf-8")
    assert main(["serve", "--config", str(path)]) == 0
    (config,) = fake_app
    assert config.listen.port == 7000
    assert config.server.name == "irc.example.org"


def test_serve_flags_override_the_file(
    tmp_path: Path, fake_app: list[Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hubbub.toml"
    path.write_text('[listen]\nport = 7000\nhosts = ["0.0.0.0"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    argv = ["serve", "-c", str(path), "--host", "::1", "--host", "127.0.0.1", "--port", "0"]
    argv += ["--data-dir", "state", "--log-level", "debug", "--memory"]
    assert main(argv) == 0
    (config,) = fake_app
    assert config.listen.hosts == ("::1", "127.0.0.1")
    assert config.listen.port == 0
    assert config.data_path == tmp_path / "state"  # relative to the working directory
    assert config.log.level == "DEBUG"
    assert config.history.backend == "memory"
    assert logging.getLogger("hubbub").level == logging.DEBUG


def test_serve_store_selects_postgres_or_a_sqlite_file(
    tmp_path: Path, fake_app: list[Config], capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://hubbub@db.example:5433/hubbub"
    assert main(["serve", "--store", url]) == 0
    assert main(["serve", "--store", f"sqlite:{tmp_path / 'h.db'}"]) == 0
    postgres, sqlite = fake_app
    assert (postgres.history.backend, postgres.history.url) == ("postgres", url)
    assert (sqlite.history.backend, sqlite.history_path) == ("sqlite", tmp_path / "h.db")
    assert main(["serve", "--store", "mysql://db/hubbub"]) == 2
    assert "--store: expected a postgresql:// URL" in capsys.readouterr().err


def test_serve_without_a_file_uses_the_defaults(fake_app: list[Config]) -> None:
    assert main(["serve"]) == 0
    assert fake_app == [Config()]


def test_serve_with_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hubbub.toml"
    path.write_text("[histroy]\n", encoding="utf-8")
    assert main(["serve", "--config", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f'hubbub: {path}: unknown key "histroy"')


def test_serve_with_a_bad_flag_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "70000"]) == 2
    assert capsys.readouterr().err == (
        "hubbub: --port: expected an integer from 0 to 65535, got 70000\n"
    )
    assert main(["serve", "--host", "a b"]) == 2
    assert capsys.readouterr().err.startswith("hubbub: --host: expected")
    assert main(["serve", "--port", "x"]) == 2
    assert "invalid int value" in capsys.readouterr().err
    assert main(["serve", "--log-level", "loud"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_serve_returns_the_apps_status(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("hubbub.app")
    module.run = lambda config: 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hubbub.app", module)
    assert main(["serve", "--memory"]) == 3


def test_serve_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(config: Config) -> int:
        raise KeyboardInterrupt

    module = types.ModuleType("hubbub.app")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hubbub.app", module)
    assert main(["serve", "--memory"]) == 130


def test_the_module_runs_as_a_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hubbub.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == f"hubbub {__version__}\n"


# --- logging -------------------------------------------------------------------------------------


def test_log_lines_look_right(capsys: pytest.CaptureFixture[str]) -> None:
    logsetup.configure("INFO")
    logging.getLogger("hubbub.net").info("listening on %s", "127.0.0.1:6667")
    logging.getLogger("hubbub.net").debug("not shown")
    err = capsys.readouterr().err
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO  hubbub\.net: listening on 127\.0\.0\.1:6667\n", err
    )


def test_configure_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    logsetup.configure("WARNING")
    logsetup.configure("debug")
    ours = [h for h in logging.getLogger().handlers if isinstance(h, logsetup._StderrHandler)]
    assert len(ours) == 1
    logging.getLogger("hubbub.core").debug("raw line")
    assert capsys.readouterr().err.count("DEBUG hubbub.core: raw line") == 1


def test_other_libraries_only_warn(capsys: pytest.CaptureFixture[str]) -> None:
    logsetup.configure("DEBUG")
    logging.getLogger("asyncio").info("chatter")
    logging.getLogger("asyncio").warning("trouble")
    err = capsys.readouterr().err
    assert "chatter" not in err
    assert "WARNING asyncio: trouble" in err


def test_configure_rejects_unknown_levels() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        logsetup.configure("LOUD")


def test_workers_without_a_cluster_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """`--workers N` alone would be N separate networks on one port: refused, clearly."""
    assert main(["serve", "--workers", "2", "--memory"]) == 2
    assert "needs --cluster" in capsys.readouterr().err
