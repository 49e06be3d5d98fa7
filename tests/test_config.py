"""Configuration: defaults, files, validation messages, overrides, the MOTD file, TOML output."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.config import (
    Config,
    ConfigError,
    FloodSection,
    ListenSection,
    default_data_dir,
)
from hubbub.config.loader import load_config, schema
from hubbub.config.text import defaults_text, render_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hubbub.toml"
DOCS = ROOT / "docs" / "configuration.md"

FULL = """\
[server]
name = "irc.example.org"
network = "ExampleNet"
description = "an example"
motd = '''
first line
second line'''
motd_file = ""
password = "sesame"
casemapping = "ascii"
data_dir = "/var/lib/hubbub"
engine = "threads"
engine_loops = 2
thread_switch_interval = 0.01

[listen]
hosts = ["0.0.0.0", "::"]
port = 7000
proxy_protocol = true

[limits]
nick_length = 20
channel_length = 50
topic_length = 300
kick_length = 200
away_length = 100
user_length = 10
max_targets = 8
modes_per_command = 6
channels_per_user = 20
max_channels = 900
channels_per_address = 30
list_replies = 70
who_replies = 80
list_modes = 60
mask_length = 100
monitor_entries = 40
clients_per_ip = 3
max_clients = 500
sendq_bytes = 65_536
whowas_entries = 0
pending_lines = 8
invalid_utf8 = "reject"
metadata_keys = ["avatar", "status"]
metadata_max_keys = 5
metadata_max_subs = 7
metadata_max_value_bytes = 100
metadata_set_burst = 3
metadata_set_seconds = 5.0
metadata_sync_members = 50
multiline_max_bytes = 1024
multiline_max_lines = 8

[flood]
enabled = false
burst = 5
lines_per_second = 2
free_reply_lines = 5
reply_lines_per_token = 3

[timeouts]
registration = 10
ping_interval = 30.5
ping_timeout = 45.0

[history]
backend = "memory"
path = "/tmp/h.sqlite3"
url = "postgresql://hubbub@db.example/hubbub"
replay_on_join = 0
replay_plain_command = "NOTICE"
replay_time_zone = "Europe/Paris"
store_events = true
chathistory_max = 500
commit_interval_ms = 1
max_messages_per_room = 1000
max_age_days = 7
prune_interval = 60
store_private = false
private_per_account = 50
store_tagmsg = true
tagmsg_tags = ["+draft/react"]
max_tag_bytes = 256
max_pending = 500
default_access = "since_join"

[tls]
cert = "/etc/hubbub/tls.crt"
key = "/etc/hubbub/tls.key"
hosts = ["0.0.0.0"]
port = 7001
require_tls = true
proxy_protocol = true
sts = true
sts_duration = 3600

[accounts]
registration = "approval"
nick_enforcement = "reject"
grace_seconds = 10
min_password_length = 12
login_attempts = 3
login_refill_seconds = 30
register_attempts = 2
register_refill_seconds = 120
max_queued_calls = 8
register_before_connect = false
email_required = true
hash_time_cost = 2
hash_memory_kib = 32768
scram_iterations = 8192
max_channels = 3

[web]
enabled = false
hosts = ["0.0.0.0"]
port = 8081
allowed_origins = ["https://chat.example.org"]
public_origins = ["https://irc.example.org"]
servers = ["wss://irc.example.org/irc", "wss://irc-b.example.org:8443/irc"]
request_timeout = 3.5

[log]
level = "DEBUG"
queue_length = 500
format = "json"

[metrics]
enabled = true
host = "::1"
port = 9100

[proxy]
trusted = ["10.0.0.0/8", "::1"]

[cluster]
url = "redis://127.0.0.1:6379/0"
node_id = "node-a"
lease_ms = 5000
heartbeat_ms = 500
stream_length = 2000
pending_events = 100
early_events = 50
left_rooms = 30
lost_ranges = 4
reused_scan = 64
replay_window = 20
remembered_private_sides = 10
unsent_private_changes = 100
departures_kept = 64
held_messages = 300
workers = 2

[[operators]]
name = "alice"
password = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
host = "*@192.0.2.*"

[[operators]]
name = "bob"
password = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
"""


def write(tmp_path: Path, text: str, name: str = "hubbub.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value


# --- defaults and whole files --------------------------------------------------------------------


def test_no_file_gives_the_defaults() -> None:
    config = load_config()
    assert config == Config()
    assert config.listen == ListenSection(hosts=("127.0.0.1",), port=6667)
    assert config.history.backend == "sqlite"
    assert config.log.level == "INFO"


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == Config()


def test_configs_are_frozen_and_hashable() -> None:
    config = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.listen.port = 1  # type: ignore[misc]
    assert hash(config) == hash(Config())
    assert {config, Config()} == {config}


def test_a_full_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.server.name == "irc.example.org"
    assert config.server.motd == "first line\nsecond line"
    assert config.server.password == "sesame"
    assert config.server.casemapping == "ascii"
    assert config.data_path == Path("/var/lib/hubbub")
    assert (config.server.engine, config.server.engine_loops) == ("threads", 2)
    assert config.server.thread_switch_interval == 0.01
    assert config.listen == ListenSection(hosts=("0.0.0.0", "::"), port=7000, proxy_protocol=True)
    assert config.proxy.trusted == ("10.0.0.0/8", "::1")
    assert (config.cluster.url, config.cluster.node_id) == ("redis://127.0.0.1:6379/0", "node-a")
    assert (config.cluster.lease_ms, config.cluster.heartbeat_ms) == (5000, 500)
    assert config.limits.sendq_bytes == 65536
    assert config.limits.whowas_entries == 0
    assert config.limits.pending_lines == 8
    assert config.limits.invalid_utf8 == "reject"
    assert config.limits.metadata_keys == ("avatar", "status")
    assert config.flood == FloodSection(
        enabled=False, burst=5, lines_per_second=2.0, free_reply_lines=5, reply_lines_per_token=3
    )
    assert isinstance(config.flood.lines_per_second, float)
    assert config.timeouts.registration == 10.0
    assert isinstance(config.timeouts.registration, float)
    assert config.history.replay_plain_command == "NOTICE"
    assert config.history.replay_time_zone == "Europe/Paris"
    assert config.history.commit_interval_ms == 1
    assert config.history.max_age_days == 7.0
    assert config.history_path == Path("/tmp/h.sqlite3")
    assert config.history.url == "postgresql://hubbub@db.example/hubbub"
    assert config.log.level == "DEBUG"
    assert config.log.queue_length == 500
    assert config.log.format == "json"
    assert (config.metrics.enabled, config.metrics.host, config.metrics.port) == (True, "::1", 9100)
    assert [(o.name, o.host) for o in config.operators] == [
        ("alice", "*@192.0.2.*"),
        ("bob", "*@*"),
    ]
    assert "argon2id" not in repr(config.operators)  # the hash stays out of reprs
    # Every key differs from its default but motd_file: the file really set them all.
    for section, settings in schema().items():
        for key, setting in settings.items():
            if key != "motd_file":
                assert getattr(getattr(config, section), key) != setting.default, (section, key)


def test_the_example_file_loads_and_matches_config_defaults() -> None:
    assert load_config(EXAMPLE) == Config()
    assert EXAMPLE.read_text(encoding="utf-8") == defaults_text(), (
        "examples/hubbub.toml is stale: regenerate it with `hubbub config defaults`"
    )


def test_the_defaults_text_explains_every_key() -> None:
    text = defaults_text()
    for section, settings in schema().items():
        assert f"\n[{section}]\n" in text
        for key, setting in settings.items():
            assert f"\n{key} = " in text
            assert setting.rule.doc.split(".")[0] in text.replace("\n# ", " ")


def test_the_docs_name_every_section_and_key() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for section, settings in schema().items():
        assert f"## `[{section}]`" in docs
        for key in settings:
            assert f"| `{key}` |" in docs, f"{section}.{key} is not documented"


def test_every_default_passes_its_own_rule() -> None:
    overrides = {s.dotted: s.default for ss in schema().values() for s in ss.values()}
    assert load_config(None, overrides) == Config()


def test_data_dir_defaults_to_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "hubbub"
    assert load_config().history_path == tmp_path / "hubbub" / "history.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".local" / "share" / "hubbub"


# --- errors name the key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[limits]\nnick_length = -3\n",
            "limits.nick_length: expected an integer from 1 to 255, got -3",
        ),
        ("[limits]\nnick_length = 256\n", "limits.nick_length: expected an integer from 1 to 255"),
        (
            '[listen]\nport = "6667"\n',
            'listen.port: expected an integer from 0 to 65535, got "6667" (a string)',
        ),
        ("[listen]\nport = 65536\n", "listen.port: expected an integer from 0 to 65535"),
        ("[listen]\nport = 6667.0\n", "got 6667.0 (a float)"),
        ("[listen]\nhosts = []\n", "listen.hosts: expected a non-empty list"),
        ('[listen]\nhosts = ["a", "a"]\n', "listen.hosts: expected a non-empty list of distinct"),
        ("[listen]\nhosts = [1]\n", "listen.hosts: expected"),
        ('[listen]\nhosts = [""]\n', "listen.hosts: expected"),
        ('[server]\ncasemapping = "utf8"\n', 'expected one of "rfc1459", "ascii", got "utf8"'),
        ('[server]\nname = "hubbub"\n', "server.name: expected a host-like name"),
        ('[server]\nname = "a b.c"\n', "server.name: expected"),
        ('[server]\nnetwork = "my net"\n', "server.network: expected a name without spaces"),
        ('[server]\ndescription = "two\\nlines"\n', "server.description: expected a single line"),
        ('[server]\npassword = "a\\u0000b"\n', "server.password: expected a single line"),
        (
            '[history]\nbackend = "mysql"\n',
            'history.backend: expected one of "sqlite", "memory", "postgres"',
        ),
        ('[history]\nurl = "mysql://db/hubbub"\n', "history.url: expected a postgresql:// URL"),
        ('[history]\nreplay_plain_command = "PING"\n', "history.replay_plain_command: expected"),
        ('[history]\nreplay_time_zone = "Mars/Olympus"\n', "history.replay_time_zone"),
        ("[history]\ncommit_interval_ms = 0\n", "expected an integer from 1 to 10000, got 0"),
        ("[history]\ncommit_interval_ms = 10001\n", "history.commit_interval_ms"),
        ("[history]\nchathistory_max = 0\n", "history.chathistory_max"),
        ("[history]\nreplay_on_join = -1\n", "history.replay_on_join"),
        ("[history]\nmax_age_days = -1\n", "expected a number of at least 0, got -1"),
        ('[limits]\ninvalid_utf8 = "drop"\n', 'expected one of "replace", "reject"'),
        ('[limits]\nmetadata_keys = ["Avatar"]\n', "lower-case keys"),
        (
            "[limits]\nsendq_bytes = 100\n",
            "limits.sendq_bytes: expected an integer of at least 512",
        ),
        ("[flood]\nlines_per_second = 0\n", "expected a number greater than 0, got 0"),
        ("[flood]\nlines_per_second = inf\n", "flood.lines_per_second: expected"),
        ("[flood]\nlines_per_second = nan\n", "flood.lines_per_second: expected"),
        ("[flood]\nburst = 0\n", "flood.burst: expected an integer of at least 1"),
        (
            "[timeouts]\nping_timeout = -5\n",
            "timeouts.ping_timeout: expected a number greater than 0",
        ),
        ('[log]\nlevel = "verbose"\n', 'log.level: expected one of "DEBUG", "INFO"'),
        ("[log]\nlevel = {a = 1}\n", "log.level: expected one of"),
        ("[log]\nlevel = 1979-05-27\n", "(a date/time)"),
        ('[web]\nservers = ["https://a.example/irc"]\n', "web.servers: expected a list of"),
        ('[web]\nservers = ["ws://a.example/irc; script-src *"]\n', "web.servers: expected"),
        ('[web]\nservers = ["ws://a/irc", "ws://a/irc"]\n', "web.servers: expected"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    error = error_for(tmp_path, text)
    assert message in str(error)
    dotted = str(error).split(":")[0]
    assert error.key == dotted
    assert error.file == tmp_path / "hubbub.toml"
    assert not error.override


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[limits]\nnick_length = true\n", "limits.nick_length"),
        ("[listen]\nport = false\n", "listen.port"),
        ("[flood]\nlines_per_second = true\n", "flood.lines_per_second"),
        ("[flood]\nenabled = 1\n", "flood.enabled"),
        ('[flood]\nenabled = "yes"\n', "flood.enabled"),
        ("[history]\nstore_private = 0\n", "history.store_private"),
    ],
)
def test_booleans_and_integers_do_not_mix(tmp_path: Path, text: str, key: str) -> None:
    error = error_for(tmp_path, text)
    assert error.key == key
    assert "(a boolean)" in str(error) or "(an integer)" in str(error) or "(a string)" in str(error)


def test_a_boolean_error_says_what_it_wants(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[flood]\nenabled = 1\n")
    assert str(error) == "flood.enabled: expected true or false, got 1 (an integer)"


def test_numbers_accept_integers(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[timeouts]\nping_timeout = 5\n"))
    assert config.timeouts.ping_timeout == 5.0
    assert type(config.timeouts.ping_timeout) is float


def test_hosts_accepts_a_single_string(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[listen]\nhosts = "::1"\n'))
    assert config.listen.hosts == ("::1",)


def test_choices_with_upper_case_names_take_any_case(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[log]\nlevel = "debug"\n[history]\nreplay_plain_command = "notice"\n')
    )
    assert config.log.level == "DEBUG"
    assert config.history.replay_plain_command == "NOTICE"


def test_other_choices_are_case_sensitive(tmp_path: Path) -> None:
    assert error_for(tmp_path, '[server]\ncasemapping = "ASCII"\n').key == "server.casemapping"


def test_unknown_section(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[histroy]\nbackend = 'memory'\n")
    assert str(error).startswith('unknown key "histroy" (known sections: server, listen,')
    assert 'did you mean "history"?' in str(error)
    assert error.key == "histroy"


def test_unknown_key_in_a_section(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[history]\nrepaly_on_join = 3\n")
    assert str(error).startswith('unknown key "history.repaly_on_join" (known keys in [history]:')
    assert 'did you mean "history.replay_on_join"?' in str(error)
    assert error.key == "history.repaly_on_join"


def test_a_key_in_the_wrong_place_points_to_the_right_one(tmp_path: Path) -> None:
    assert 'did you mean "listen.port"?' in str(error_for(tmp_path, "port = 6667\n"))
    error = error_for(tmp_path, "[listen]\npassword = 'x'\n")
    assert 'did you mean "server.password"?' in str(error)


def test_a_subtable_is_an_unknown_key(tmp_path: Path) -> None:
    assert error_for(tmp_path, "[server.extra]\nx = 1\n").key == "server.extra"


def test_a_section_must_be_a_table(tmp_path: Path) -> None:
    error = error_for(tmp_path, "history = 3\n")
    assert str(error) == "history: expected a table of settings ([history]), got 3 (an integer)"


def test_a_toml_syntax_error_gives_the_file_and_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[server]\nname = 'a.b'\nnetwork = \n")
    path = tmp_path / "hubbub.toml"
    assert str(error).startswith(f"config file {path}: line 3, column ")
    assert error.key is None


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope\.toml: cannot read it"):
        load_config(tmp_path / "nope.toml")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[server]\ndescription = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


# --- overrides -----------------------------------------------------------------------------------


def test_overrides_apply_after_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[listen]\nport = 7000\nhosts = ['0.0.0.0']\n")
    config = load_config(path, {"listen.port": 7001, "history.backend": "memory"})
    assert config.listen == ListenSection(hosts=("0.0.0.0",), port=7001)
    assert config.history.backend == "memory"
    assert load_config(path).listen.port == 7000


def test_overrides_take_python_values() -> None:
    config = load_config(None, {"listen.hosts": ["::1", "127.0.0.1"], "listen.port": 0})
    assert config.listen == ListenSection(hosts=("::1", "127.0.0.1"), port=0)
    assert load_config(None, {"server.data_dir": Path("/srv/hubbub")}).data_path == Path(
        "/srv/hubbub"
    )


def test_overrides_are_validated_the_same_way() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"listen.port": 70000})
    assert str(info.value) == "listen.port: expected an integer from 0 to 65535, got 70000"
    assert info.value.override
    assert info.value.detail == "expected an integer from 0 to 65535, got 70000"
    with pytest.raises(ConfigError, match=r"limits\.nick_length: .*got true \(a boolean\)"):
        load_config(None, {"limits.nick_length": True})


def test_unknown_override_keys() -> None:
    with pytest.raises(ConfigError, match=r'unknown key "listen\.prot"') as info:
        load_config(None, {"listen.prot": 1})
    assert info.value.override
    with pytest.raises(ConfigError, match=r'listen: expected one setting, such as "listen\.hosts"'):
        load_config(None, {"listen": {"port": 1}})
    with pytest.raises(ConfigError, match='unknown key "nosuch"'):
        load_config(None, {"nosuch.key": 1})


# --- paths and the MOTD file ---------------------------------------------------------------------


def test_motd_file_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "motd.txt").write_bytes(b"Hello\r\nthere\r\n\r\n")
    path = write(conf_dir, '[server]\nmotd = "ignored"\nmotd_file = "motd.txt"\n')
    monkeypatch.chdir(tmp_path)  # not the config file's directory
    config = load_config(path)
    assert config.server.motd == "Hello\nthere"
    assert config.server.motd_file == str(conf_dir / "motd.txt")


def test_motd_file_override_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "motd.txt").write_text("from cwd\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_config(None, {"server.motd_file": "motd.txt"}).server.motd == "from cwd"


def test_a_missing_motd_file_names_the_key(tmp_path: Path) -> None:
    error = error_for(tmp_path, '[server]\nmotd_file = "missing.txt"\n')
    assert error.key == "server.motd_file"
    assert str(error).startswith(f"server.motd_file: cannot read {tmp_path / 'missing.txt'}")


def test_a_motd_file_that_is_a_directory(tmp_path: Path) -> None:
    error = error_for(tmp_path, f'[server]\nmotd_file = "{tmp_path}"\n')
    assert error.key == "server.motd_file"


def test_a_huge_motd_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"x" * 70_000)
    error = error_for(tmp_path, '[server]\nmotd_file = "big.txt"\n')
    assert error.key == "server.motd_file"
    assert "larger than 64 KiB" in str(error)


def test_a_motd_file_with_bad_utf8_is_read_with_replacements(tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_bytes(b"caf\xe9\n")
    config = load_config(write(tmp_path, '[server]\nmotd_file = "m.txt"\n'))
    assert config.server.motd == "caf\ufffd"


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\ndata_dir = "data"\n[history]\npath = "h/db.sqlite3"\n')
    config = load_config(path)
    assert config.data_path == tmp_path / "data"
    assert config.history_path == tmp_path / "h" / "db.sqlite3"


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config(write(tmp_path, '[server]\ndata_dir = "~/chat"\n'))
    assert config.data_path == tmp_path / "chat"


# --- TOML output ---------------------------------------------------------------------------------


def test_render_config_round_trips_a_full_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    again = load_config(write(tmp_path, render_config(config), "again.toml"))
    assert again == config


def test_render_config_escapes_awkward_text(tmp_path: Path) -> None:
    motd = 'quote " backslash \\ tab \t bold \x02 colour \x0304 del \x7f é 🎉\nline two'
    config = load_config(None, {"server.motd": motd, "server.description": "a\\b"})
    again = load_config(write(tmp_path, render_config(config)))
    assert again.server.motd == motd
    assert again == config


def test_render_config_can_hide_the_password() -> None:
    config = load_config(None, {"server.password": "sesame"})
    text = render_config(config, hide_password=True)
    assert "sesame" not in text
    assert "# password = (set, not shown)" in text
    assert 'password = "sesame"' in render_config(config)


@given(st.data())
def test_any_valid_number_round_trips(data: st.DataObject) -> None:
    overrides: dict[str, object] = {}
    for settings in schema().values():
        for setting in settings.values():
            if setting.kind is int:
                rule = setting.rule
                low = int(rule.low) if rule.low is not None else None
                high = int(rule.high) if rule.high is not None else 10**12
                overrides[setting.dotted] = data.draw(st.integers(low, high))
            elif setting.kind is float:
                rule = setting.rule
                floor = rule.low if rule.low is not None else 0.0
                ceiling = rule.high if rule.high is not None else 1e9
                value = data.draw(st.floats(floor, ceiling, allow_nan=False, allow_infinity=False))
                if rule.above is not None and value <= rule.above:
                    value = rule.above + 1.0
                overrides[setting.dotted] = value
    config = load_config(None, overrides)
    parsed = tomllib.loads(render_config(config))
    flat = {f"{section}.{key}": v for section, table in parsed.items() for key, v in table.items()}
    assert load_config(None, flat) == config


def test_proxy_trusted_must_be_addresses_or_networks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[proxy]\ntrusted = ["not-an-address"]\n'))
    assert info.value.key == "proxy.trusted"
