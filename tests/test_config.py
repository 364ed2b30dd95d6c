"""Configuration: precedence, FINBUDDY_HOME / FINBUDDY_CONFIG, one-line errors naming the key, config commands."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import types
import typing
from pathlib import Path

import pytest

from finbuddy.config import KEYS, SECTIONS, example_config_text, load_settings, make_private_dir, mask_url
from finbuddy.errors import ConfigError
from tests.helpers_ledger import one_line_error

SECRET = "sk-secret-0123456789abcdef"


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- precedence ---------------------------------------------------------------------


def test_defaults_apply_without_file_or_environment(finbuddy_env):
    settings = load_settings(env={"FINBUDDY_HOME": str(finbuddy_env)})
    assert settings.cache.summary_ttl == 1800
    assert settings.cache.portfolio_ttl == 3600
    assert settings.cache.ai_ttl == 86400
    assert settings.ai.daily_quota == 5
    assert settings.ai.global_daily_limit == 10000
    assert settings.ai.model == "gpt-4o-mini"
    assert settings.currency == "USD"
    assert settings.sources["ai.daily_quota"] == "default"


def test_file_beats_default_env_beats_file_option_beats_env(finbuddy_env):
    write_config(finbuddy_env, '[user]\nname = "from-file"\n[ai]\ndaily_quota = 7\n')
    env = {"FINBUDDY_HOME": str(finbuddy_env)}
    from_file = load_settings(env=env)
    assert from_file.user_name == "from-file"
    assert from_file.ai.daily_quota == 7
    assert from_file.sources["ai.daily_quota"] == "file"

    env.update({"FINBUDDY_USER_NAME": "from-env", "FINBUDDY_AI_DAILY_QUOTA": "9"})
    from_env = load_settings(env=env)
    assert from_env.user_name == "from-env"
    assert from_env.ai.daily_quota == 9
    assert from_env.sources["ai.daily_quota"] == "env"

    from_option = load_settings(env=env, overrides={"user.name": "from-option"})
    assert from_option.user_name == "from-option"
    assert from_option.sources["user.name"] == "option"


def test_cli_user_option_beats_environment_and_file(cli, finbuddy_env):
    write_config(finbuddy_env, '[user]\nname = "carol"\n')
    r = cli("--user", "bob", "add", "1", "x", "--json")
    assert r.exit_code == 0
    assert r.json["user"] == "bob"
    r = cli("add", "1", "x", "--json")  # FINBUDDY_USER=alice from the fixture beats the file
    assert r.json["user"] == "alice"


@pytest.mark.parametrize("key", [k for k in KEYS if k.env_ok and k.dotted != "ai.api_key"], ids=lambda k: k.dotted)
def test_every_key_has_a_finbuddy_environment_variable(key):
    assert key.env == f"FINBUDDY_{key.section.upper()}_{key.name.upper()}"


def test_environment_overrides_ttls_and_database_url(finbuddy_env, tmp_path):
    env = {
        "FINBUDDY_HOME": str(finbuddy_env),
        "FINBUDDY_CACHE_SUMMARY_TTL": "60",
        "FINBUDDY_DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
    }
    settings = load_settings(env=env)
    assert settings.cache.summary_ttl == 60
    assert settings.database_url == f"sqlite:///{tmp_path / 'other.db'}"


def test_finbuddy_config_names_another_file(finbuddy_env, tmp_path):
    other = tmp_path / "elsewhere" / "my.toml"
    other.parent.mkdir()
    other.write_text('[user]\ncurrency = "eur"\n')
    settings = load_settings(env={"FINBUDDY_HOME": str(finbuddy_env), "FINBUDDY_CONFIG": str(other)})
    assert settings.paths.config_file == other
    assert settings.currency == "EUR"


def test_finbuddy_home_moves_every_path(tmp_path):
    home = tmp_path / "profile"
    settings = load_settings(env={"FINBUDDY_HOME": str(home), "FINBUDDY_USER": "x"})
    paths = settings.paths
    for path in (paths.config_file, paths.data_dir, paths.cache_dir, paths.log_dir, paths.runtime_dir):
        assert home in path.parents
    assert settings.database_url == f"sqlite:///{home / 'data' / 'finbuddy.db'}"
    assert home in settings.cache_dir.parents


def test_without_home_paths_come_from_platformdirs(tmp_path):
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "HOME": str(tmp_path),
        "FINBUDDY_USER": "x",
    }
    old = dict(os.environ)
    try:
        os.environ.pop("FINBUDDY_HOME", None)
        os.environ.update(env)
        settings = load_settings(env={**env})
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert "finbuddy" in str(settings.paths.config_file)
    assert settings.paths.config_file.name == "config.toml"


def test_cli_writes_the_database_under_finbuddy_home(cli, finbuddy_env):
    assert cli("add", "1", "x").exit_code == 0
    assert (finbuddy_env / "data" / "finbuddy.db").exists()


# --- typed settings ---------------------------------------------------------------


def test_every_key_is_a_field_of_its_typed_section_and_nothing_else_is():
    declared = {f"{section}.{f.name}" for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    assert declared == {key.dotted for key in KEYS}


def _is_instance(value, hint) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is_instance(value, arg) for arg in typing.get_args(hint))
    return isinstance(value, typing.get_origin(hint) or hint)


def test_typed_sections_hold_values_of_their_declared_types(finbuddy_env):
    # From the three layers at once: a file value, environment strings, an option.
    write_config(finbuddy_env, '[ai]\ntimeout = 12\n[cache]\nportfolio_ttl = 60\n[user]\ncurrency = "eur"\n')
    env = {
        "FINBUDDY_HOME": str(finbuddy_env),
        "FINBUDDY_AI_DAILY_QUOTA": "7",
        "FINBUDDY_AI_TIMEOUT": "2.5",
        "FINBUDDY_DAEMON_WORKERS": "3",
    }
    settings = load_settings(env=env, overrides={"user.name": "zoe"})
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        typed = getattr(settings, section)
        assert isinstance(typed, cls)
        for f in dataclasses.fields(cls):
            value = getattr(typed, f.name)
            assert _is_instance(value, hints[f.name]), (f"{section}.{f.name}", value, hints[f.name])
    assert settings.ai.timeout == 2.5 and isinstance(settings.ai.timeout, float)
    assert settings.ai.daily_quota == 7 and settings.daemon.workers == 3
    assert settings.cache.portfolio_ttl == 60 and settings.user.currency == "EUR" and settings.user.name == "zoe"
    assert (settings.sources["ai.timeout"], settings.sources["cache.portfolio_ttl"], settings.sources["user.name"]) == (
        "env",
        "file",
        "option",
    )


def test_file_timeout_given_as_an_integer_is_a_float(finbuddy_env):
    write_config(finbuddy_env, "[ai]\ntimeout = 12\n")
    settings = load_settings(env={"FINBUDDY_HOME": str(finbuddy_env)})
    assert settings.ai.timeout == 12.0 and isinstance(settings.ai.timeout, float)


def test_settings_cannot_change_after_they_are_built(finbuddy_env):
    settings = load_settings(env={"FINBUDDY_HOME": str(finbuddy_env)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.ai.timeout = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.ai = settings.ai  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.sources["ai.timeout"] = "file"  # type: ignore[index]


def test_the_api_key_is_not_in_the_settings_repr(finbuddy_env):
    write_config(finbuddy_env, f'[ai]\napi_key = "{SECRET}"\n')
    os.chmod(finbuddy_env / "config.toml", 0o600)
    settings = load_settings(env={"FINBUDDY_HOME": str(finbuddy_env)})
    assert settings.ai.api_key == SECRET
    assert SECRET not in repr(settings) and SECRET not in repr(settings.ai)


# --- bad configuration: one line naming the key, exit 2 --------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[ai\ndaily_quota = 5\n", "not valid TOML"),
        ("[ai]\nno_such_key = 1\n", "no_such_key"),
        ("[nosection]\nx = 1\n", "nosection"),
        ('[user]\ntimezone = "Mars/Olympus"\n', "timezone"),
        ("[cache]\nsummary_ttl = -5\n", "summary_ttl"),
        ('[ai]\ndaily_quota = "five"\n', "daily_quota"),
        ("[ai]\ndaily_quota = 2.5\n", "daily_quota"),
        ('[ai]\nprovider = "claude"\n', "provider"),
        ('[user]\ncurrency = "dollars"\n', "currency"),
        ('[daemon]\ninsights_at = "25:00"\n', "insights_at"),
        ("[ai]\ntimeout = 1e300\n", "timeout"),
        ("[ai]\ntimeout = inf\n", "timeout"),
        ("[ai]\ndaily_quota = 9223372036854775807\n", "daily_quota"),
        ("[cache]\nai_ttl = 315360001\n", "ai_ttl"),
        ('[ai.prices."m"]\ninput = nan\n', "prices"),
        ('[ai.prices."m"]\noutput = inf\n', "prices"),
        ("top = 1\n", "top"),
    ],
)
def test_bad_config_file_is_one_line_error_naming_the_key_exit_2(cli, finbuddy_env, text, named):
    write_config(finbuddy_env, text)
    r = cli("list")
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert named in line
    assert "config.toml" in line
    assert r.stdout == ""


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("FINBUDDY_USER_TIMEZONE", "Nowhere/Town", "timezone"),
        ("FINBUDDY_CACHE_SUMMARY_TTL", "-1", "summary_ttl"),
        ("FINBUDDY_CACHE_AI_TTL", "soon", "ai_ttl"),
        ("FINBUDDY_AI_DAILY_QUOTA", "5.5", "daily_quota"),
        ("FINBUDDY_AI_TIMEOUT", "-3", "timeout"),
        ("FINBUDDY_AI_REQUESTS_PER_MINUTE", "0", "requests_per_minute"),
    ],
)
def test_bad_environment_value_is_one_line_error_naming_the_key_exit_2(cli, monkeypatch, name, value, named):
    monkeypatch.setenv(name, value)
    r = cli("add", "1", "x")
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert named in line and name in line


# Every numeric key: its largest value, and one past it (a value that used to reach an internal
# error: a PostgreSQL integer overflow, an HTTP client or date arithmetic that could not take it).
BOUNDS = [
    ("FINBUDDY_AI_DAILY_QUOTA", "2147483647", "99999999999999999999", "must be at most 2147483647"),
    ("FINBUDDY_AI_GLOBAL_DAILY_LIMIT", "2147483647", "2147483648", "must be at most 2147483647"),
    ("FINBUDDY_AI_TIMEOUT", "3600", "1e300", "must be at most 3600 seconds"),
    ("FINBUDDY_AI_MAX_RETRIES", "10", "99999999999", "must be at most 10"),
    ("FINBUDDY_AI_REQUESTS_PER_MINUTE", "1000000", "1000001", "must be at most 1000000"),
    ("FINBUDDY_CACHE_PORTFOLIO_TTL", "315360000", "315360001", "must be at most 315360000 (10 years)"),
    ("FINBUDDY_CACHE_SUMMARY_TTL", "315360000", "99999999999999999999", "must be at most 315360000 (10 years)"),
    ("FINBUDDY_CACHE_AI_TTL", "315360000", "315360001", "must be at most 315360000 (10 years)"),
    ("FINBUDDY_DAEMON_WORKERS", "64", "65", "must be at most 64"),
    ("FINBUDDY_DATABASE_TIMEOUT", "3600", "1e300", "must be at most 3600 seconds"),
    ("FINBUDDY_AI_ASK_RESERVE", "1", "1.5", "must be a share between 0 and 1"),
]


def test_the_bounds_above_cover_every_numeric_key():
    numeric = {
        f"FINBUDDY_{section.upper()}_{name.upper()}"
        for section, cls in SECTIONS.items()
        for name, hint in typing.get_type_hints(cls).items()
        if hint in (int, float)
    }
    assert numeric == {name for name, *_ in BOUNDS}


@pytest.mark.parametrize(("name", "largest", "too_large", "why"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_a_numeric_value_past_its_bound_is_one_line_exit_2(cli, monkeypatch, name, largest, too_large, why):
    cli("add", "5", "food")
    monkeypatch.setenv(name, too_large)
    for args in (("quota",), ("ask", "how am I doing?"), ("add", "1", "x")):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.stderr)
        line = one_line_error(r.stderr)
        assert f"{name}={too_large!r}" in line and why in line
        assert r.stdout == ""
    monkeypatch.setenv(name, largest)
    assert cli("quota").exit_code == 0


def test_every_numeric_key_at_its_bound_works_end_to_end(cli, backend, monkeypatch):
    for name, largest, _, _ in BOUNDS:
        monkeypatch.setenv(name, largest)
    assert cli("add", "5", "food").exit_code == 0
    quota = cli("quota", "--json")
    assert quota.exit_code == 0, quota.stderr
    assert (quota.json["limit"], quota.json["remaining"], quota.json["global"]) == (
        2147483647,
        2147483647,
        {"used": 0, "limit": 2147483647},
    )
    ask = cli("ask", "how am I doing?", "--json")
    assert ask.exit_code == 0, ask.stderr
    assert ask.json["source"] == "offline"
    for args in (("summary", "--fresh"), ("portfolio", "show"), ("daemon", "run-once")):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)


def test_an_ai_call_at_the_largest_quotas_and_timeout_is_recorded(cli, backend, monkeypatch, openai_server):
    for name, largest, _, _ in BOUNDS:
        monkeypatch.setenv(name, largest)
    cli("add", "5", "food")
    ask = cli("ask", "how am I doing?", "--json")
    assert ask.exit_code == 0, ask.stderr
    assert ask.json["source"] == "openai"
    assert ask.json["quota"]["used"] == 1 and ask.json["quota"]["remaining"] == 2147483646
    assert cli("quota", "--json").json["global"] == {"used": 1, "limit": 2147483647}
    assert openai_server.count == 1


def test_bad_config_with_json_prints_error_document(cli, finbuddy_env):
    write_config(finbuddy_env, "[cache]\nsummary_ttl = -5\n")
    r = cli("list", "--json")
    assert r.exit_code == 2
    assert r.json["error"]["type"] == "config_error"
    assert "summary_ttl" in r.json["error"]["message"]


def test_bad_config_in_a_subprocess_has_no_traceback(run_process_env):
    r = run_process_env(["list"])
    assert r.exit_code == 2
    one_line_error(r.stderr)


@pytest.fixture
def run_process_env(finbuddy_env):
    from tests.conftest import run_process

    write_config(finbuddy_env, "[ai\n")

    def run(args):
        return run_process(args)

    return run


def test_non_utf8_config_is_a_config_error(finbuddy_env):
    (finbuddy_env).mkdir(parents=True, exist_ok=True)
    (finbuddy_env / "config.toml").write_bytes(b'[user]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings()


def test_secret_value_is_not_echoed_in_a_config_error(finbuddy_env):
    write_config(finbuddy_env, f'[ai]\napi_key = ["{SECRET}"]\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "api_key" in str(info.value)
    assert SECRET not in str(info.value)


# --- every directory finbuddy creates is 0700, whatever the umask ----------------------


@pytest.fixture
def umask():
    """Set the process umask for the test (os.umask(...) through the returned function); restored after."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def _dir_modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root.parent)): stat.S_IMODE(path.stat().st_mode)
        for path in [root, *root.rglob("*")]
        if path.is_dir()
    }


@pytest.mark.parametrize("mask", [0o000, 0o277], ids=["umask-000", "umask-277"])
def test_make_private_dir_creates_every_missing_parent_0700(tmp_path, umask, mask):
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    umask(mask)
    made = make_private_dir(existing / "a" / "b" / "c")
    assert made == existing / "a" / "b" / "c"
    assert _dir_modes(existing / "a") == {"a": 0o700, "a/b": 0o700, "a/b/c": 0o700}
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # not ours: left alone
    make_private_dir(existing / "a" / "b" / "c")  # already there: fine
    (existing / "file").write_text("x")
    with pytest.raises(FileExistsError):
        make_private_dir(existing / "file")
    with pytest.raises(NotADirectoryError):
        make_private_dir(existing / "file" / "below")


def test_every_directory_of_a_new_home_is_0700_under_umask_000(cli, tmp_path, monkeypatch, umask):
    import datetime as dt

    from finbuddy.daemon.process import PidFile

    root = tmp_path / "new"
    home = root / "profile"
    monkeypatch.setenv("FINBUDDY_HOME", str(home))
    monkeypatch.setenv("FINBUDDY_CONFIG", str(root / "etc" / "finbuddy" / "config.toml"))
    umask(0o000)
    assert cli("config", "init").exit_code == 0
    assert cli("add", "5", "food").exit_code == 0
    assert cli("summary").exit_code == 0  # the cache directory
    assert cli("daemon", "run-once").exit_code == 0  # the log and runtime (job lock) directories
    pidfile = PidFile(home / "elsewhere" / "run" / "finbuddy.pid")
    pidfile.acquire(dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC))
    pidfile.release()
    modes = _dir_modes(root)
    expected = ["new", "new/etc", "new/etc/finbuddy", "new/profile", "new/profile/data", "new/profile/cache"]
    expected += ["new/profile/logs", "new/profile/run", "new/profile/elsewhere", "new/profile/elsewhere/run"]
    assert set(expected) <= set(modes)
    assert {path: oct(mode) for path, mode in modes.items() if mode != 0o700} == {}


# --- config show / path / init -----------------------------------------------------


# --- a config file that holds the API key is private -------------------------------


def test_a_config_file_holding_the_api_key_readable_by_others_is_made_0600_once(cli, finbuddy_env):
    path = write_config(finbuddy_env, f'[ai]\napi_key = "{SECRET}"\n')
    os.chmod(path, 0o644)
    r = cli("config", "show", "--json")
    assert r.exit_code == 0, r.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    warning = f"config file {path} held an API key readable by others (mode 0644); made it 0600"
    assert r.stderr == f"finbuddy: warning: {warning}\n"
    assert r.json["settings"]["ai"]["effective_provider"] == "openai"  # the key is used
    assert r.json["sources"]["ai.api_key"] == "file"
    again = cli("config", "show", "--json")
    assert again.exit_code == 0 and again.stderr == ""


def test_a_group_readable_config_file_with_the_api_key_is_made_0600(finbuddy_env):
    path = write_config(finbuddy_env, f'[ai]\napi_key = "{SECRET}"\n')
    os.chmod(path, 0o640)
    warnings: list[str] = []
    settings = load_settings(env={"FINBUDDY_HOME": str(finbuddy_env)}, warn=warnings.append)
    assert settings.api_key() == SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(warnings) == 1 and "made it 0600" in warnings[0] and SECRET not in warnings[0]


def test_a_config_file_without_a_key_keeps_its_mode(cli, finbuddy_env):
    path = write_config(finbuddy_env, '[user]\ncurrency = "EUR"\n[ai]\napi_key = ""\n')
    os.chmod(path, 0o644)
    r = cli("config", "show", "--json")
    assert r.exit_code == 0 and r.stderr == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_key_in_a_file_that_cannot_be_made_private_is_not_used(cli, finbuddy_env, monkeypatch):
    path = write_config(finbuddy_env, f'[ai]\napi_key = "{SECRET}"\n[user]\ncurrency = "EUR"\n')
    os.chmod(path, 0o644)

    def refuse(fd, mode):  # the file system's answer for a file that is not ours (we run as root here)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refuse)
    r = cli("config", "show", "--json")
    assert r.exit_code == 0, r.stderr
    line = r.stderr.strip()
    assert line.startswith(f"finbuddy: warning: config file {path} holds an API key readable by others")
    assert "cannot be made private (Operation not permitted); not using that key" in line
    assert SECRET not in r.stdout + r.stderr
    assert r.json["settings"]["ai"]["api_key"] is None
    assert r.json["settings"]["ai"]["effective_provider"] == "offline"
    assert "ai.api_key" not in r.json["sources"]
    assert r.json["settings"]["user"]["currency"] == "EUR"  # the rest of the file still applies
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_config_show_masks_the_api_key_everywhere(cli, monkeypatch, finbuddy_env):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", "postgresql+psycopg://bob:hunter2@db.example:5432/fin")
    for args in (("config", "show"), ("config", "show", "--json")):
        r = cli(*args)
        assert r.exit_code == 0, r.stderr
        assert SECRET not in r.stdout + r.stderr
        assert "hunter2" not in r.stdout + r.stderr
    data = cli("config", "show", "--json").json
    assert data["settings"]["ai"]["api_key"] == "********"
    assert data["settings"]["ai"]["effective_provider"] == "openai"
    assert data["settings"]["database"]["url"] == "postgresql+psycopg://bob:****@db.example:5432/fin"


def test_config_show_masks_a_key_from_the_config_file(cli, finbuddy_env):
    write_config(finbuddy_env, f'[ai]\napi_key = "{SECRET}"\n')
    r = cli("config", "show", "--json")
    assert r.exit_code == 0
    assert SECRET not in r.stdout
    assert r.json["settings"]["ai"]["api_key"] == "********"
    assert r.json["sources"]["ai.api_key"] == "file"


def test_config_show_json_shape_and_sources(cli, finbuddy_env, monkeypatch):
    monkeypatch.setenv("FINBUDDY_AI_DAILY_QUOTA", "3")
    r = cli("config", "show", "--json")
    assert r.exit_code == 0
    data = r.json
    assert set(data) >= {"config_file", "settings", "sources", "paths"}
    assert data["settings"]["ai"]["daily_quota"] == 3
    assert data["sources"]["ai.daily_quota"] == "env"
    assert data["settings"]["ai"]["api_key"] is None
    assert data["settings"]["ai"]["effective_provider"] == "offline"
    assert data["config_file"] == str(finbuddy_env / "config.toml")
    assert set(data["settings"]) >= {"database", "cache", "ai", "user", "daemon"}


def test_config_show_for_people_lists_keys(cli):
    r = cli("config", "show")
    assert r.exit_code == 0
    assert "ai.daily_quota" in r.stdout
    assert "user.timezone" in r.stdout


def test_mask_url_hides_only_the_password():
    assert mask_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:****@h/db"
    assert mask_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert mask_url("redis://:pw@h:6379/0") == "redis://:****@h:6379/0"
    assert mask_url("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://h/db?password=hunter2", "postgresql://h/db?password=****"),
        ("postgresql://h/db?sslmode=require&password=hunter2", "postgresql://h/db?sslmode=require&password=****"),
        ("postgresql://u:hunter2@h/db?PASSWORD=hunter2&x=1", "postgresql://u:****@h/db?PASSWORD=****&x=1"),
        ("postgresql://h/db?sslpassword=hunter2", "postgresql://h/db?sslpassword=****"),
        ("redis://h:6379/0?password=hunter2", "redis://h:6379/0?password=****"),
        ("https://proxy.example/v1?api_key=hunter2", "https://proxy.example/v1?api_key=****"),
        ("postgresql://u:hun@ter2@h/db", "postgresql://u:****@h/db"),
        ("postgresql://u:hun/ter2@h/db", "postgresql://u:****@h/db"),
    ],
)
def test_mask_url_hides_a_password_in_the_query_too(url, masked):
    assert mask_url(url) == masked
    assert "hunter2" not in mask_url(url) and "ter2" not in mask_url(url)


URL_KEYS = [
    (
        "FINBUDDY_DATABASE_URL",
        "database.url",
        "postgresql+psycopg://bob:hunter2@db.example:5432/fin?password=hunter2",
        "postgresql+psycopg://bob:****@db.example:5432/fin?password=****",
    ),
    (
        "FINBUDDY_DATABASE_REPORTING_URL",
        "database.reporting_url",
        "postgres://bob:hunter2@replica/fin",
        "postgresql+psycopg://bob:****@replica/fin",
    ),
    (
        "FINBUDDY_CACHE_URL",
        "cache.url",
        "redis://:hunter2@127.0.0.1:6379/0?password=hunter2",
        "redis://:****@127.0.0.1:6379/0?password=****",
    ),
    (
        "FINBUDDY_AI_BASE_URL",
        "ai.base_url",
        "https://bob:hunter2@proxy.example/v1?api_key=hunter2",
        "https://bob:****@proxy.example/v1?api_key=****",
    ),
    ("OPENAI_BASE_URL", "ai.base_url", "https://proxy.example/v1?token=hunter2", "https://proxy.example/v1?token=****"),
]


@pytest.mark.parametrize(("name", "dotted", "url", "shown"), URL_KEYS, ids=[k[0] for k in URL_KEYS])
def test_config_show_masks_passwords_on_every_url_key(cli, monkeypatch, name, dotted, url, shown):
    monkeypatch.setenv(name, url)
    r = cli("config", "show")
    assert r.exit_code == 0, r.stderr
    assert "hunter2" not in r.stdout + r.stderr
    [row] = [line for line in r.stdout.splitlines() if f" {dotted} " in line]
    assert "****" in row
    r = cli("config", "show", "--json")
    assert r.exit_code == 0, r.stderr
    assert "hunter2" not in r.stdout + r.stderr
    section, key = dotted.split(".")
    assert r.json["settings"][section][key] == shown


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("::::", "must be a URL: sqlite:///PATH or postgresql://"),
        ("not a url", "must be a URL"),
        ("sqlite:relative.db", "must be a URL"),
        ("sqlite://somehost/x.db", "a SQLite URL has no host"),
        ("postgresql://bob:hunter2@h:port/db", "port that is not a number"),
        ("postgresql://bob:hunter2@h:99999/db", "port that is not a number"),
        ("mysql://bob:hunter2@h/db", "scheme mysql:// is not supported"),
        ("postgresql+psycopg2://h/db", "scheme postgresql+psycopg2:// is not supported"),
    ],
)
@pytest.mark.parametrize("name", ["FINBUDDY_DATABASE_URL", "FINBUDDY_DATABASE_REPORTING_URL"])
def test_a_garbage_database_url_is_one_line_exit_2_with_the_password_masked(cli, monkeypatch, name, url, why):
    monkeypatch.setenv(name, url)
    for args in (("list",), ("summary", "--fresh"), ("config", "show")):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.stderr)
        line = one_line_error(r.stderr)
        assert name in line and why in line and "url" in line
        assert "hunter2" not in line
        assert r.stdout == ""


def test_a_garbage_database_url_in_the_config_file_names_the_file_and_key(cli, finbuddy_env):
    write_config(finbuddy_env, '[database]\nurl = "::::"\n')
    r = cli("list", "--json")
    assert r.exit_code == 2
    assert r.json["error"]["type"] == "config_error"
    assert "config.toml" in r.json["error"]["message"] and "[database] url = '::::'" in r.json["error"]["message"]


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("FINBUDDY_CACHE_URL", "::::"),
        ("FINBUDDY_CACHE_URL", "memcached://h:11211"),
        ("FINBUDDY_AI_BASE_URL", "::::"),
        ("FINBUDDY_AI_BASE_URL", "ftp://h/v1"),
        ("OPENAI_BASE_URL", "::::"),
    ],
)
def test_a_garbage_cache_or_ai_url_is_one_line_exit_2(cli, monkeypatch, name, url):
    monkeypatch.setenv(name, url)
    r = cli("ask", "how am I doing?")
    assert r.exit_code == 2
    assert name in one_line_error(r.stderr)


def test_accepted_database_urls_are_what_the_engine_can_open(tmp_path):
    from sqlalchemy.engine import make_url

    from finbuddy.db.engine import create_engine

    home = {"FINBUDDY_HOME": str(tmp_path / "h")}
    for url, expected in [
        ("postgres://u:p@h:5432/db?sslmode=require", "postgresql+psycopg://u:p@h:5432/db?sslmode=require"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("POSTGRES://h/db", "postgresql+psycopg://h/db"),
        ("postgresql+psycopg://[::1]:5432/db", "postgresql+psycopg://[::1]:5432/db"),
        (f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'a.db'}"),
        ("sqlite+pysqlite:///rel.db", "sqlite+pysqlite:///rel.db"),
        ("sqlite://", "sqlite://"),
    ]:
        settings = load_settings(env={**home, "FINBUDDY_DATABASE_URL": url})
        assert settings.database.url == settings.database_url == expected
        parsed = make_url(expected)
        if parsed.get_backend_name() == "postgresql":
            engine = create_engine(expected)  # builds the engine, connects to nothing
            assert engine.dialect.driver == "psycopg"
            engine.dispose()


def test_a_postgres_url_from_a_hosting_provider_works(cli, pg_database, monkeypatch):
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", pg_database.replace("postgresql+psycopg://", "postgres://"))
    r = cli("add", "12.50", "groceries", "--json")
    assert r.exit_code == 0, r.stderr
    listed = cli("list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [row["amount"] for row in listed.json if row["id"] == r.json["id"]] == ["12.50"]
    cli("delete", str(r.json["id"]))


def test_config_path_prints_the_location(cli, finbuddy_env, monkeypatch, tmp_path):
    r = cli("config", "path")
    assert r.exit_code == 0
    assert r.stdout.strip() == str(finbuddy_env / "config.toml")
    monkeypatch.setenv("FINBUDDY_CONFIG", str(tmp_path / "x.toml"))
    assert cli("config", "path").stdout.strip() == str(tmp_path / "x.toml")


def test_config_path_works_even_when_the_file_is_malformed(cli, finbuddy_env):
    write_config(finbuddy_env, "[ai\n")
    r = cli("config", "path")
    assert r.exit_code == 0
    assert r.stdout.strip() == str(finbuddy_env / "config.toml")


def test_config_init_writes_the_example_0600(cli, finbuddy_env):
    r = cli("config", "init")
    assert r.exit_code == 0, r.stderr
    path = finbuddy_env / "config.toml"
    assert path.read_text(encoding="utf-8") == example_config_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in r.stdout
    # and the written example loads as valid configuration with the defaults
    settings = load_settings()
    assert settings.cache.summary_ttl == 1800
    assert settings.ai.daily_quota == 5


def test_config_init_refuses_to_overwrite_without_force(cli, finbuddy_env):
    path = write_config(finbuddy_env, '[user]\ncurrency = "EUR"\n')
    r = cli("config", "init")
    assert r.exit_code == 2
    assert "--force" in one_line_error(r.stderr)
    assert path.read_text() == '[user]\ncurrency = "EUR"\n'
    r = cli("config", "init", "--force")
    assert r.exit_code == 0
    assert path.read_text(encoding="utf-8") == example_config_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_example_config_documents_every_key():
    text = example_config_text()
    for key in KEYS:
        assert key.name in text, key.dotted


def test_api_key_lookup_order(finbuddy_env):
    base = {"FINBUDDY_HOME": str(finbuddy_env)}
    assert load_settings(env=base).api_key() is None
    assert load_settings(env={**base, "OPENAI_API_KEY": "sk-a"}).api_key() == "sk-a"
    assert load_settings(env={**base, "OPENAI_API_KEY": "sk-a", "FINBUDDY_AI_API_KEY": "sk-b"}).api_key() == "sk-b"
    write_config(finbuddy_env, '[ai]\napi_key = "sk-c"\n')
    assert load_settings(env=base).api_key() == "sk-c"
    assert load_settings(env={**base, "OPENAI_API_KEY": "sk-a"}).api_key() == "sk-a"


def test_config_show_json_is_one_document(cli):
    r = cli("config", "show", "--json")
    json.loads(r.stdout)


def _show_layers(finbuddy_env, monkeypatch) -> None:
    """A value from each layer: file, environment (and the fixture's FINBUDDY_USER/_TIMEZONE), and --user."""
    write_config(finbuddy_env, '[cache]\nsummary_ttl = 60\n[user]\ncurrency = "eur"\n[daemon]\ninsights_at = "6:30"\n')
    monkeypatch.setenv("FINBUDDY_AI_DAILY_QUOTA", "3")
    monkeypatch.setenv("FINBUDDY_AI_TIMEOUT", "12.5")
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", "postgres://bob:hunter2@db.example/fin?password=hunter2")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


SHOWN_URL = "postgresql+psycopg://bob:****@db.example/fin?password=****"


def test_config_show_json_gives_each_effective_value_and_where_it_came_from(cli, finbuddy_env, monkeypatch):
    _show_layers(finbuddy_env, monkeypatch)
    r = cli("--user", "bob", "config", "show", "--json")
    assert r.exit_code == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr and "hunter2" not in r.stdout + r.stderr
    data = r.json
    assert data["config_file"] == str(finbuddy_env / "config.toml")
    assert data["paths"] == {
        "data_dir": str(finbuddy_env / "data"),
        "cache_dir": str(finbuddy_env / "cache"),
        "log_dir": str(finbuddy_env / "logs"),
        "runtime_dir": str(finbuddy_env / "run"),
    }
    shown = data["settings"]
    for section in SECTIONS:
        expected = {key.name for key in KEYS if key.section == section} | (
            {"effective_provider"} if section == "ai" else set()
        )
        assert set(shown[section]) == expected, section
    assert shown["database"] == {"url": SHOWN_URL, "reporting_url": None, "timeout": 30.0}
    assert shown["cache"] == {
        "dir": str(finbuddy_env / "cache"),
        "url": None,
        "prefix": "fb",
        "portfolio_ttl": 3600,
        "summary_ttl": 60,
        "ai_ttl": 86400,
    }
    ai = shown["ai"]
    assert (ai["provider"], ai["effective_provider"], ai["api_key"], ai["base_url"]) == (
        "auto",
        "openai",
        "********",
        None,
    )
    assert (ai["daily_quota"], ai["timeout"], ai["global_daily_limit"], ai["max_retries"]) == (3, 12.5, 10000, 2)
    assert ai["prices"]["gpt-4o-mini"] == {"input": 0.15, "output": 0.60}
    assert shown["user"] == {"name": "bob", "currency": "EUR", "timezone": "UTC"}
    assert shown["daemon"] == {"insights_at": "06:30", "workers": 4}
    # Only values that did not come from the defaults, each with its layer.
    assert data["sources"] == {
        "cache.summary_ttl": "file",
        "user.currency": "file",
        "daemon.insights_at": "file",
        "ai.daily_quota": "env",
        "ai.timeout": "env",
        "database.url": "env",
        "user.timezone": "env",
        "user.name": "option",
    }


def _table_rows(text: str) -> dict[str, tuple[str, str]]:
    """`config show`'s table as {key: (value, from)}, a value folded over several lines joined again."""
    rows: dict[str, tuple[str, str]] = {}
    last = ""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) != 3:
            continue
        key, value, source = cells
        if key:
            rows[key], last = (value, source), key
        elif last:
            rows[last] = (f"{rows[last][0]} {value}", rows[last][1])
    return rows


def test_config_show_table_gives_each_effective_value_and_where_it_came_from(cli, finbuddy_env, monkeypatch):
    _show_layers(finbuddy_env, monkeypatch)
    monkeypatch.setenv("COLUMNS", "400")  # a long temporary path stays on one line
    r = cli("--user", "bob", "config", "show")
    assert r.exit_code == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr and "hunter2" not in r.stdout + r.stderr
    assert str(finbuddy_env / "config.toml") in r.stdout.splitlines()[0]
    rows = _table_rows(r.stdout)
    assert set(rows) == {key.dotted for key in KEYS} | {"ai.effective_provider"}
    assert rows["database.url"] == (SHOWN_URL, "env")
    assert rows["database.reporting_url"] == ("", "default")
    assert rows["cache.summary_ttl"] == ("60", "file")
    assert rows["cache.portfolio_ttl"] == ("3600", "default")
    assert rows["ai.daily_quota"] == ("3", "env")
    assert rows["ai.timeout"] == ("12.5", "env")
    assert rows["ai.api_key"] == ("********", "default")  # OPENAI_API_KEY: not one of finbuddy's keys
    assert rows["ai.effective_provider"] == ("openai", "derived")
    assert rows["user.name"] == ("bob", "option")
    assert rows["user.currency"] == ("EUR", "file")
    assert rows["user.timezone"] == ("UTC", "env")
    assert rows["daemon.insights_at"] == ("06:30", "file")
    assert rows["cache.dir"] == (str(finbuddy_env / "cache"), "default")
