"""Settings: defaults < config.toml < FINBUDDY_* environment < command-line options; all paths in one place."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finbuddy.errors import ConfigError

APP_NAME = "finbuddy"
HOME_ENV = "FINBUDDY_HOME"
CONFIG_ENV = "FINBUDDY_CONFIG"

DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    "gpt-4o": {"input": 2.50, "output": 10.00},
}


# --- value parsers: each takes the raw value and returns the typed one or raises ValueError(why)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = _str(value).strip()
    return text or None


def _int(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("must be an integer")
        if isinstance(value, str):
            if not re.fullmatch(r"\s*-?[0-9]+\s*", value):
                raise ValueError("must be an integer")
            value = int(value)
        if not isinstance(value, int):
            raise ValueError("must be an integer")
        if value < minimum:
            raise ValueError("must be a non-negative integer" if minimum == 0 else f"must be at least {minimum}")
        return value

    return parse


def _positive_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
    if not isinstance(value, (int, float)) or not (value > 0) or value == float("inf"):
        raise ValueError("must be a positive number of seconds")
    return float(value)


def _fraction(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a share between 0 and 1, e.g. 0.2")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError("must be a share between 0 and 1, e.g. 0.2") from None
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("must be a share between 0 and 1, e.g. 0.2")
    return float(value)


def _provider(value: Any) -> str:
    text = _str(value).strip().lower()
    if text not in ("auto", "openai", "offline"):
        raise ValueError("must be one of auto, openai, offline")
    return text


def _timezone(value: Any) -> str:
    text = _str(value).strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not a known IANA time zone (e.g. Europe/Berlin, UTC)") from None
    return text


def _currency(value: Any) -> str:
    text = _str(value).strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", text):
        raise ValueError("must be a three-letter ISO 4217 code such as USD or EUR")
    return text


def _clock_time(value: Any) -> str:
    text = _str(value).strip()
    match = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError("must be a time of day HH:MM, e.g. 07:00")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _user_name(value: Any) -> str:
    text = _str(value).strip()
    if not 1 <= len(text) <= 64 or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("must be 1-64 printable characters")
    return text


def _prices(value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict):
        raise ValueError("must be a table of models")
    prices: dict[str, dict[str, float]] = {}
    for model, entry in value.items():
        if not isinstance(entry, dict) or set(entry) - {"input", "output"}:
            raise ValueError(f"entry {model!r} must have only 'input' and 'output' prices")
        parsed = {}
        for side in ("input", "output"):
            price = entry.get(side, 0.0)
            if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
                raise ValueError(f"{model!r} {side} must be a non-negative number (USD per million tokens)")
            parsed[side] = float(price)
        prices[str(model)] = parsed
    return prices


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    parse: Callable[[Any], Any]
    secret: bool = False
    env_ok: bool = True

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env(self) -> str:
        return f"FINBUDDY_{self.section.upper()}_{self.name.upper()}"


KEYS: tuple[Key, ...] = (
    Key("database", "url", _opt_str, secret=False),
    Key("database", "reporting_url", _opt_str),
    Key("cache", "dir", _opt_str),
    Key("cache", "url", _opt_str),
    Key("cache", "portfolio_ttl", _int(0)),
    Key("cache", "summary_ttl", _int(0)),
    Key("cache", "ai_ttl", _int(0)),
    Key("ai", "provider", _provider),
    Key("ai", "model", _user_name),
    Key("ai", "daily_quota", _int(0)),
    Key("ai", "global_daily_limit", _int(0)),
    Key("ai", "ask_reserve", _fraction),
    Key("ai", "requests_per_minute", _int(1)),
    Key("ai", "timeout", _positive_float),
    Key("ai", "max_retries", _int(0)),
    Key("ai", "base_url", _opt_str),
    Key("ai", "api_key", _opt_str, secret=True),
    Key("ai", "prices", _prices, env_ok=False),
    Key("user", "name", _user_name),
    Key("user", "currency", _currency),
    Key("user", "timezone", _timezone),
    Key("daemon", "insights_at", _clock_time),
    Key("daemon", "workers", _int(1)),
)
KEYS_BY_DOTTED = {key.dotted: key for key in KEYS}


def system_timezone() -> str:
    """The machine's IANA zone name: $TZ, then /etc/localtime, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:  # pragma: no cover
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                ZoneInfo(name)
                return name
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return "UTC"


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no login name on odd systems
        return "me"


def defaults() -> dict[str, Any]:
    return {
        "database.url": None,
        "database.reporting_url": None,
        "cache.dir": None,
        "cache.url": None,
        "cache.portfolio_ttl": 3600,
        "cache.summary_ttl": 1800,
        "cache.ai_ttl": 86400,
        "ai.provider": "auto",
        "ai.model": "gpt-4o-mini",
        "ai.daily_quota": 5,
        "ai.global_daily_limit": 10000,
        "ai.ask_reserve": 0.2,
        "ai.requests_per_minute": 60,
        "ai.timeout": 30.0,
        "ai.max_retries": 2,
        "ai.base_url": None,
        "ai.api_key": None,
        "ai.prices": DEFAULT_PRICES,
        "user.name": None,  # resolved lazily: the login name
        "user.currency": "USD",
        "user.timezone": None,  # resolved lazily: the system zone
        "daemon.insights_at": "07:00",
        "daemon.workers": 4,
    }


@dataclass(frozen=True)
class Paths:
    """Every file location finbuddy uses; FINBUDDY_HOME moves all of them."""

    config_file: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path
    runtime_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Paths:
        home = env.get(HOME_ENV)
        config_override = env.get(CONFIG_ENV)
        if home:
            root = Path(home).expanduser()
            paths = cls(
                config_file=root / "config.toml",
                data_dir=root / "data",
                cache_dir=root / "cache",
                log_dir=root / "logs",
                runtime_dir=root / "run",
            )
        else:
            import platformdirs

            dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
            paths = cls(
                config_file=Path(dirs.user_config_dir) / "config.toml",
                data_dir=Path(dirs.user_data_dir),
                cache_dir=Path(dirs.user_cache_dir),
                log_dir=Path(dirs.user_log_dir),
                runtime_dir=Path(dirs.user_state_dir) / "run",
            )
        if config_override:
            paths = Paths(
                Path(config_override).expanduser(),
                paths.data_dir,
                paths.cache_dir,
                paths.log_dir,
                paths.runtime_dir,
            )
        return paths


@dataclass
class Settings:
    """The effective configuration, with where each value came from."""

    values: dict[str, Any]
    sources: dict[str, str]
    paths: Paths
    env: Mapping[str, str] = field(repr=False, default_factory=dict)

    def __getitem__(self, dotted: str) -> Any:
        return self.values[dotted]

    # Convenience accessors for the keys code reads most.
    @property
    def database_url(self) -> str:
        url = self.values["database.url"]
        if url:
            return url
        return f"sqlite:///{self.paths.data_dir / 'finbuddy.db'}"

    @property
    def cache_dir(self) -> Path:
        configured = self.values["cache.dir"]
        return Path(configured).expanduser() if configured else self.paths.cache_dir

    @property
    def user_name(self) -> str:
        return self.values["user.name"]

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.values["user.timezone"])

    @property
    def currency(self) -> str:
        return self.values["user.currency"]

    def api_key(self) -> str | None:
        """The OpenAI API key. Lookup order: FINBUDDY_AI_API_KEY, OPENAI_API_KEY, [ai] api_key in the config file."""
        if self.sources.get("ai.api_key") == "env":
            return self.values["ai.api_key"]
        env_key = (self.env.get("OPENAI_API_KEY") or "").strip()
        if env_key:
            return env_key
        return self.values["ai.api_key"]

    def base_url(self) -> str | None:
        """An OpenAI-compatible endpoint: [ai] base_url / FINBUDDY_AI_BASE_URL, else OPENAI_BASE_URL."""
        if self.values["ai.base_url"]:
            return self.values["ai.base_url"]
        return (self.env.get("OPENAI_BASE_URL") or "").strip() or None

    def ai_provider(self) -> str:
        provider = self.values["ai.provider"]
        if provider == "auto":
            return "openai" if self.api_key() else "offline"
        return provider

    def masked(self) -> dict[str, dict[str, Any]]:
        """Every setting by section, secrets masked, for `config show`."""
        shown: dict[str, dict[str, Any]] = {}
        for key in KEYS:
            value = self.values[key.dotted]
            if key.secret:
                value = "********" if value else None
            shown.setdefault(key.section, {})[key.name] = value
        shown["database"]["url"] = mask_url(self.database_url)
        if shown["database"]["reporting_url"]:
            shown["database"]["reporting_url"] = mask_url(shown["database"]["reporting_url"])
        if shown["cache"]["url"]:
            shown["cache"]["url"] = mask_url(shown["cache"]["url"])
        shown["cache"]["dir"] = str(self.cache_dir)
        shown["ai"]["api_key"] = "********" if self.api_key() else None
        shown["ai"]["base_url"] = self.base_url()
        shown["ai"]["effective_provider"] = self.ai_provider()
        return shown


def mask_url(url: str) -> str:
    """Hide a password in a database or cache URL."""
    # The user name may be empty ("redis://:password@host").
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1****@", url)


def _read_config_file(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    flat: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: {section!r} must be a [section] table")
        for name, value in table.items():
            dotted = f"{section}.{name}"
            if dotted not in KEYS_BY_DOTTED:
                raise ConfigError(f"config file {path}: unknown key [{section}] {name}")
            flat[dotted] = value
    return flat


def load_settings(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the effective settings. `overrides` are command-line options (highest precedence)."""
    env = dict(os.environ if env is None else env)
    paths = Paths.from_env(env)
    values = defaults()
    sources = {dotted: "default" for dotted in values}

    for dotted, raw in _read_config_file(paths.config_file).items():
        key = KEYS_BY_DOTTED[dotted]
        try:
            values[dotted] = key.parse(raw)
        except ValueError as why:
            shown = "********" if key.secret else repr(raw)
            raise ConfigError(f"config file {paths.config_file}: [{key.section}] {key.name} = {shown} {why}") from None
        sources[dotted] = "file"

    for key in KEYS:
        if not key.env_ok:
            continue
        names = [key.env] + (["FINBUDDY_USER"] if key.dotted == "user.name" else [])
        for name in names:
            raw = env.get(name)
            if raw is None or (raw.strip() == "" and key.parse is not _opt_str):
                continue
            try:
                values[key.dotted] = key.parse(raw)
            except ValueError as why:
                shown = "********" if key.secret else repr(raw)
                raise ConfigError(f"{name}={shown}: [{key.section}] {key.name} {why}") from None
            sources[key.dotted] = "env"
            break

    for dotted, raw in (overrides or {}).items():
        if raw is None:
            continue
        key = KEYS_BY_DOTTED[dotted]
        try:
            values[dotted] = key.parse(raw)
        except ValueError as why:
            raise ConfigError(f"option {dotted} {raw!r} {why}") from None
        sources[dotted] = "option"

    if values["user.name"] is None:
        values["user.name"] = _user_name(_login_name())
    if values["user.timezone"] is None:
        values["user.timezone"] = system_timezone()
    return Settings(values=values, sources=sources, paths=paths, env=env)


def example_config_text() -> str:
    from importlib.resources import files

    return files("finbuddy").joinpath("data/config.example.toml").read_text(encoding="utf-8")


def write_example_config(path: Path, force: bool) -> Path:
    """`config init`: write the documented example, 0600, refusing to overwrite unless forced."""
    if path.exists() and not force:
        raise ConfigError(f"config file {path} already exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(example_config_text())
    os.chmod(path, 0o600)
    return path
