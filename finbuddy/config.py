"""Settings: defaults < config.toml < FINBUDDY_* environment < command-line options; all paths in one place.

`load_settings()` reads the layers once, validates every value (same rules, same one-line errors
naming the key) and returns one frozen `Settings`: a typed dataclass per section
(`settings.ai.timeout: float`, `settings.cache.summary_ttl: int`, `settings.user.timezone: str`, ...),
`settings.sources` (where each value came from, for `config show`) and `settings.paths`.

`KEYS` is the registry of keys (parser, environment variable, secrecy) and `defaults()` their
defaults; each key is also a field of its section's dataclass (a test keeps the three in step).
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finbuddy.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger(__name__)

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


# Upper bounds: a value past them is a typo or an attack, and would fail far from here (a PostgreSQL
# integer overflow, an HTTP client or date arithmetic that cannot take it) as an internal error.
MAX_COUNT = 2_147_483_647  # quotas and limits: counted in PostgreSQL integer columns
MAX_TTL = 10 * 365 * 86_400  # ten years, in seconds
MAX_TIMEOUT = 3600.0  # one hour per request
MAX_RETRIES = 10
MAX_REQUESTS_PER_MINUTE = 1_000_000
MAX_WORKERS = 64  # threads of the insight batch; more only queue for database connections
MAX_PRICE = 100_000.0  # USD per million tokens


def _int(minimum: int, maximum: int, unit: str = "") -> Callable[[Any], int]:
    """An integer in [minimum, maximum]; `unit` explains the maximum in the message (e.g. "10 years")."""
    too_small = "must be a non-negative integer" if minimum == 0 else f"must be at least {minimum}"
    too_large = f"must be at most {maximum}" + (f" ({unit})" if unit else "")

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("must be an integer")
        if isinstance(value, str):
            text = value.strip()
            if not re.fullmatch(r"-?[0-9]+", text):
                raise ValueError("must be an integer")
            if len(text.lstrip("-").lstrip("0")) > len(str(maximum)):
                # Out of range whatever the digits (and Python refuses to convert very long ones).
                raise ValueError(too_small if text.startswith("-") else too_large)
            value = int(text)
        if not isinstance(value, int):
            raise ValueError("must be an integer")
        if value < minimum:
            raise ValueError(too_small)
        if value > maximum:
            raise ValueError(too_large)
        return value

    return parse


def _seconds(maximum: float) -> Callable[[Any], float]:
    """A positive, finite number of seconds, at most `maximum`."""

    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("must be a number of seconds")
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError("must be a number of seconds") from None
        if not isinstance(value, (int, float)) or not (value > 0):
            raise ValueError("must be a positive number of seconds")
        if value > maximum:  # inf too
            raise ValueError(f"must be at most {maximum:g} seconds")
        return float(value)

    return parse


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
    from finbuddy.money import is_currency_code

    text = _str(value).strip().upper()
    if not is_currency_code(text):
        raise ValueError("must be an ISO 4217 currency code such as USD or EUR")
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


def _opt_model(value: Any) -> str | None:
    """An optional model name: unset, or 1-64 printable characters (blank unsets it)."""
    text = _opt_str(value)
    return None if text is None else _user_name(text)


def _insights_mode(value: Any) -> str:
    text = _str(value).strip().lower()
    if text not in ("sync", "batch"):
        raise ValueError("must be sync (paced calls) or batch (the OpenAI Batch API)")
    return text


# A model's prices: synchronous input and output, and optionally the Batch API's (half of those when not given).
PRICE_SIDES = ("input", "output")
BATCH_PRICE_SIDES = ("batch_input", "batch_output")


def _prices(value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict):
        raise ValueError("must be a table of models")
    prices: dict[str, dict[str, float]] = {}
    for model, entry in value.items():
        if not isinstance(entry, dict) or set(entry) - {*PRICE_SIDES, *BATCH_PRICE_SIDES}:
            raise ValueError(
                f"entry {model!r} must have only 'input' and 'output' prices (and 'batch_input', 'batch_output')"
            )
        parsed = {}
        for side in PRICE_SIDES + tuple(side for side in BATCH_PRICE_SIDES if side in entry):
            price = entry.get(side, 0.0)
            if isinstance(price, bool) or not isinstance(price, (int, float)) or not 0 <= price <= MAX_PRICE:
                raise ValueError(
                    f"{model!r} {side} must be a non-negative number (USD per million tokens) at most {MAX_PRICE:g}"
                )
            parsed[side] = float(price)
        prices[str(model)] = parsed
    return prices


# --- URLs: checked here without SQLAlchemy (start-up speed), in the shape SQLAlchemy's make_url reads
# (scheme://[user[:password]@][host][:port][/database][?query]), so a bad one is a config error naming
# the key instead of an internal error wherever it is first used.

_URL = re.compile(
    r"""
    (?P<scheme>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.VERBOSE | re.DOTALL,
)
DATABASE_URL_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
CACHE_URL_FORMS = "redis://[:PASSWORD@]HOST:6379/0 (or rediss://, unix://)"
HTTP_URL_FORMS = "http:// or https://HOST[:PORT]/PATH, e.g. http://localhost:11434/v1"
QUEUE_URL_FORMS = "amqp://USER:PASSWORD@HOST:5672/VHOST (or amqps://), e.g. amqp://guest:guest@127.0.0.1:5672/%2F"
# postgres:// is what hosting providers hand out; psycopg (3) is the driver finbuddy ships with.
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")
_SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")


def _url(value: Any, expected: str) -> tuple[str, dict[str, str]] | None:
    """(text, parts) of a URL value, None when unset; ValueError when it is not a URL at all."""
    text = _opt_str(value)
    if text is None:
        return None
    match = _URL.fullmatch(text)
    if not match:
        raise ValueError(f"must be a URL: {expected}")
    parts = {name: part or "" for name, part in match.groupdict().items()}
    port = parts["port"]
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        raise ValueError(f"has a port that is not a number from 1 to 65535: expected {expected}")
    return text, parts


def _database_url(value: Any) -> str | None:
    """A SQLite or PostgreSQL URL; postgres:// and postgresql:// become postgresql+psycopg://."""
    found = _url(value, DATABASE_URL_FORMS)
    if found is None:
        return None
    text, parts = found
    scheme = parts["scheme"].lower()
    rest = text[len(parts["scheme"]) :]
    if scheme in _POSTGRES_SCHEMES:
        return "postgresql+psycopg" + rest
    if scheme in _SQLITE_SCHEMES:
        if any(parts[name] for name in ("username", "password", "ipv4host", "ipv6host", "port")):
            raise ValueError("must be sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH (a SQLite URL has no host)")
        return scheme + rest
    raise ValueError(f"scheme {parts['scheme']}:// is not supported: expected {DATABASE_URL_FORMS}")


def _cache_url(value: Any) -> str | None:
    found = _url(value, CACHE_URL_FORMS)
    if found is None:
        return None
    text, parts = found
    if parts["scheme"].lower() not in ("redis", "rediss", "unix"):
        raise ValueError(f"scheme {parts['scheme']}:// is not supported: expected {CACHE_URL_FORMS}")
    return text


def _cache_prefix(value: Any) -> str:
    """The key prefix inside a shared Redis: short, and nothing that would need quoting in a key."""
    text = _str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", text):
        raise ValueError("must be 1-64 characters from A-Z a-z 0-9 _ . : - (e.g. fb or acme-prod)")
    return text


def _http_url(value: Any) -> str | None:
    found = _url(value, HTTP_URL_FORMS)
    if found is None:
        return None
    text, parts = found
    if parts["scheme"].lower() not in ("http", "https") or not (parts["ipv4host"] or parts["ipv6host"]):
        raise ValueError(f"must be a URL: {HTTP_URL_FORMS}")
    return text


def _queue_url(value: Any) -> str | None:
    """A RabbitMQ URL as pika reads it, checked here without importing pika (start-up speed)."""
    found = _url(value, QUEUE_URL_FORMS)
    if found is None:
        return None
    text, parts = found
    if parts["scheme"].lower() not in ("amqp", "amqps"):
        raise ValueError(f"scheme {parts['scheme']}:// is not supported: expected {QUEUE_URL_FORMS}")
    if not (parts["ipv4host"] or parts["ipv6host"]):
        raise ValueError(f"has no host: expected {QUEUE_URL_FORMS}")
    return text


def _queue_name(value: Any) -> str:
    # The broker adds ".insights" and Dramatiq ".DQ"/".XQ"; RabbitMQ takes names up to 255 bytes.
    text = _str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}", text):
        raise ValueError("must be 1-100 characters: letters, digits and _ . : - (starting with a letter or digit)")
    return text


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    parse: Callable[[Any], Any]
    secret: bool = False
    env_ok: bool = True
    url: bool = False  # a URL: its password is masked wherever the value is shown

    def shown(self, raw: Any) -> str:
        """The raw value as an error message may quote it: never a secret, a URL's password masked."""
        if self.secret:
            return "********"
        if self.url and isinstance(raw, str):
            return repr(mask_url(raw))
        return repr(raw)

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env(self) -> str:
        return f"FINBUDDY_{self.section.upper()}_{self.name.upper()}"


KEYS: tuple[Key, ...] = (
    Key("database", "url", _database_url, url=True),
    Key("database", "reporting_url", _database_url, url=True),
    Key("database", "timeout", _seconds(MAX_TIMEOUT)),
    Key("cache", "dir", _opt_str),
    Key("cache", "url", _cache_url, url=True),
    Key("cache", "prefix", _cache_prefix),
    Key("cache", "portfolio_ttl", _int(0, MAX_TTL, "10 years")),
    Key("cache", "summary_ttl", _int(0, MAX_TTL, "10 years")),
    Key("cache", "ai_ttl", _int(0, MAX_TTL, "10 years")),
    Key("ai", "provider", _provider),
    Key("ai", "model", _user_name),
    Key("ai", "small_model", _opt_model),
    Key("ai", "daily_quota", _int(0, MAX_COUNT)),
    Key("ai", "global_daily_limit", _int(0, MAX_COUNT)),
    Key("ai", "ask_reserve", _fraction),
    Key("ai", "requests_per_minute", _int(1, MAX_REQUESTS_PER_MINUTE)),
    Key("ai", "timeout", _seconds(MAX_TIMEOUT)),
    Key("ai", "max_retries", _int(0, MAX_RETRIES)),
    Key("ai", "base_url", _http_url, url=True),
    Key("ai", "api_key", _opt_str, secret=True),
    Key("ai", "prices", _prices, env_ok=False),
    Key("ai", "insights_mode", _insights_mode),
    Key("user", "name", _user_name),
    Key("user", "currency", _currency),
    Key("user", "timezone", _timezone),
    Key("daemon", "insights_at", _clock_time),
    Key("daemon", "workers", _int(1, MAX_WORKERS)),
    Key("queue", "url", _queue_url, url=True),
    Key("queue", "name", _queue_name),
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
    """Every key's default by dotted name (None: resolved when the settings are built, or unset)."""
    return {
        "database.url": None,
        "database.reporting_url": None,
        "database.timeout": 30.0,
        "cache.dir": None,
        "cache.url": None,
        "cache.prefix": "fb",
        "cache.portfolio_ttl": 3600,
        "cache.summary_ttl": 1800,
        "cache.ai_ttl": 86400,
        "ai.provider": "auto",
        "ai.model": "gpt-4o-mini",
        "ai.small_model": None,
        "ai.daily_quota": 5,
        "ai.global_daily_limit": 10000,
        "ai.ask_reserve": 0.2,
        "ai.requests_per_minute": 60,
        "ai.timeout": 30.0,
        "ai.max_retries": 2,
        "ai.base_url": None,
        "ai.api_key": None,
        "ai.prices": {model: dict(entry) for model, entry in DEFAULT_PRICES.items()},
        "ai.insights_mode": "sync",
        "user.name": None,  # resolved lazily: the login name
        "user.currency": "USD",
        "user.timezone": None,  # resolved lazily: the system zone
        "daemon.insights_at": "07:00",
        "daemon.workers": 4,
        "queue.url": None,
        "queue.name": "finbuddy",
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


# --- the typed sections: one frozen dataclass per [section]; field names are the keys' names


@dataclass(frozen=True)
class DatabaseSettings:
    url: str | None  # as configured; None: the SQLite file in the data dir (see Settings.database_url)
    reporting_url: str | None
    timeout: float  # seconds: statement, lock and idle-in-transaction limits on PostgreSQL


@dataclass(frozen=True)
class CacheSettings:
    dir: str | None  # as configured; None: the user cache dir (see Settings.cache_dir)
    url: str | None  # a shared Redis (phase 2); None: the disk cache
    prefix: str  # key prefix inside that Redis
    portfolio_ttl: int
    summary_ttl: int
    ai_ttl: int


@dataclass(frozen=True)
class AISettings:
    provider: str  # "auto", "openai" or "offline" as configured (see Settings.ai_provider())
    model: str
    small_model: str | None  # a cheaper model for simple questions (the router); None: ai.model takes every question
    daily_quota: int
    global_daily_limit: int
    ask_reserve: float  # share of global_daily_limit that only asks may use
    requests_per_minute: int
    timeout: float
    max_retries: int
    base_url: str | None  # [ai] base_url / FINBUDDY_AI_BASE_URL only (see Settings.base_url())
    api_key: str | None = field(repr=False)  # [ai] api_key / FINBUDDY_AI_API_KEY only (see Settings.api_key())
    prices: dict[str, dict[str, float]] = field(repr=False)
    insights_mode: str  # "sync" (paced calls) or "batch" (the OpenAI Batch API, results within 24 h)


@dataclass(frozen=True)
class UserSettings:
    name: str
    currency: str
    timezone: str  # an IANA name (Settings.timezone is the ZoneInfo)


@dataclass(frozen=True)
class DaemonSettings:
    insights_at: str  # "HH:MM", local time
    workers: int


@dataclass(frozen=True)
class QueueSettings:
    url: str | None  # amqp://...: the daily insights become jobs for `finbuddy worker` (phase 2)
    name: str  # prefix of the queue names on the broker and of the global rate's keys in Redis


_Section = TypeVar("_Section", bound="DataclassInstance")

SECTIONS: dict[str, type] = {
    "database": DatabaseSettings,
    "cache": CacheSettings,
    "ai": AISettings,
    "user": UserSettings,
    "daemon": DaemonSettings,
    "queue": QueueSettings,
}


def _section(cls: type[_Section], values: Mapping[str, Any]) -> _Section:
    """The typed section `cls` from the parsed values by dotted key (its fields are the keys' names)."""
    name = next(section for section, section_cls in SECTIONS.items() if section_cls is cls)
    return cls(**{f.name: values[f"{name}.{f.name}"] for f in fields(cls)})


@dataclass(frozen=True)
class Settings:
    """The effective configuration, built once by `load_settings()`, with where each value came from."""

    database: DatabaseSettings
    cache: CacheSettings
    ai: AISettings
    user: UserSettings
    daemon: DaemonSettings
    queue: QueueSettings
    # dotted key -> "default" | "file" | "env" | "option"
    sources: Mapping[str, str]
    paths: Paths
    env: Mapping[str, str] = field(repr=False, default_factory=dict)

    # Convenience accessors: the effective values that combine a key with a fallback.
    @property
    def database_url(self) -> str:
        """[database] url, else the SQLite file in the data dir."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.paths.data_dir / 'finbuddy.db'}"

    @property
    def cache_dir(self) -> Path:
        """[cache] dir, else the user cache dir (or FINBUDDY_HOME/cache)."""
        configured = self.cache.dir
        return Path(configured).expanduser() if configured else self.paths.cache_dir

    @property
    def user_name(self) -> str:
        return self.user.name

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.user.timezone)

    @property
    def currency(self) -> str:
        return self.user.currency

    def api_key(self) -> str | None:
        """The OpenAI API key. Lookup order: FINBUDDY_AI_API_KEY, OPENAI_API_KEY, [ai] api_key in the config file."""
        if self.sources.get("ai.api_key") == "env":
            return self.ai.api_key
        env_key = (self.env.get("OPENAI_API_KEY") or "").strip()
        if env_key:
            return env_key
        return self.ai.api_key

    def base_url(self) -> str | None:
        """An OpenAI-compatible endpoint: [ai] base_url / FINBUDDY_AI_BASE_URL, else OPENAI_BASE_URL."""
        if self.ai.base_url:
            return self.ai.base_url
        return (self.env.get("OPENAI_BASE_URL") or "").strip() or None

    def ai_provider(self) -> str:
        """The provider to use, `openai` or `offline`: `auto` is openai when an API key is set."""
        if self.ai.provider == "auto":
            return "openai" if self.api_key() else "offline"
        return self.ai.provider

    def masked(self) -> dict[str, dict[str, Any]]:
        """Every setting by section, secrets masked, for `config show`."""
        shown: dict[str, dict[str, Any]] = {}
        for key in KEYS:
            value = getattr(getattr(self, key.section), key.name)
            if key.secret:
                value = "********" if value else None
            shown.setdefault(key.section, {})[key.name] = value
        shown["database"]["url"] = self.database_url
        shown["cache"]["dir"] = str(self.cache_dir)
        shown["ai"]["api_key"] = "********" if self.api_key() else None
        shown["ai"]["base_url"] = self.base_url()
        for key in KEYS:
            if key.url and shown[key.section][key.name]:
                shown[key.section][key.name] = mask_url(shown[key.section][key.name])
        shown["ai"]["effective_provider"] = self.ai_provider()
        return shown


# user:PASSWORD@ (to the last "@" before the path; else, as SQLAlchemy reads it, to the first "@").
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)(?:[^/?#]*@|[^@]*@)")
# ?password=, &sslpassword=, ?api_key=, ?token= ...: a query parameter whose name says it is a secret.
_QUERY_SECRET = re.compile(r"([?&;][^=&;#]*(?:pass|pwd|secret|token|key)[^=&;#]*=)[^&;#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with its secrets hidden: the password of `user:password@`, and the value of every query
    parameter named like a password, secret, token or key (`?password=`, `?sslpassword=`, `?api_key=`)."""
    # The user name may be empty ("redis://:password@host").
    url = _URL_PASSWORD.sub(r"\1****@", url)
    return _QUERY_SECRET.sub(r"\1****", url)


def _read_config_file(path: Path, warn: Callable[[str], None]) -> dict[str, Any]:
    """The file's keys by dotted name (unparsed); {} when there is no file. A file that holds the API key
    is made private (0600) if others could read it; when that is impossible its key is not used."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            raw = handle.read()
            flat = _parse_config_text(path, raw)
            secret = flat.get("ai.api_key")
            if secret is not None and str(secret).strip() and not _keep_private(handle.fileno(), path, warn):
                del flat["ai.api_key"]
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return flat


def _parse_config_text(path: Path, raw: bytes) -> dict[str, Any]:
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
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


def _keep_private(fd: int, path: Path, warn: Callable[[str], None]) -> bool:
    """Make the open config file (which holds a secret) 0600 if group or others have any access to it.
    False, with a warning, when it cannot be made private (not our file, a read-only or mode-less file system)."""
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if not mode & 0o077:
        return True
    try:
        os.fchmod(fd, 0o600)
        still_open = stat.S_IMODE(os.fstat(fd).st_mode) & 0o077  # some file systems ignore modes
        problem = f"its mode stays {stat.S_IMODE(os.fstat(fd).st_mode):04o}" if still_open else ""
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    if problem:
        warn(
            f"config file {path} holds an API key readable by others and cannot be made private ({problem}); "
            f"not using that key: chmod 600 {path}, or set OPENAI_API_KEY instead"
        )
        return False
    warn(f"config file {path} held an API key readable by others (mode {mode:04o}); made it 0600")
    return True


def load_settings(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Build the effective settings. `env` defaults to os.environ; `overrides` are command-line options
    (highest precedence); `warn` receives non-fatal notices (the CLI prints them on stderr; None logs them)."""
    env = dict(os.environ if env is None else env)
    paths = Paths.from_env(env)
    values = defaults()
    sources = {dotted: "default" for dotted in values}

    for dotted, raw in _read_config_file(paths.config_file, warn or log.warning).items():
        key = KEYS_BY_DOTTED[dotted]
        try:
            values[dotted] = key.parse(raw)
        except ValueError as why:
            raise ConfigError(
                f"config file {paths.config_file}: [{key.section}] {key.name} = {key.shown(raw)} {why}"
            ) from None
        sources[dotted] = "file"

    for key in KEYS:
        if not key.env_ok:
            continue
        names = [key.env] + (["FINBUDDY_USER"] if key.dotted == "user.name" else [])
        for name in names:
            raw = env.get(name)
            # A blank variable unsets an optional key (a URL, a directory) and is ignored for the others.
            if raw is None or (raw.strip() == "" and key.parse not in (_opt_str, _opt_model) and not key.url):
                continue
            try:
                values[key.dotted] = key.parse(raw)
            except ValueError as why:
                raise ConfigError(f"{name}={key.shown(raw)}: [{key.section}] {key.name} {why}") from None
            sources[key.dotted] = "env"
            break

    for dotted, raw in (overrides or {}).items():
        if raw is None:
            continue
        key = KEYS_BY_DOTTED[dotted]
        try:
            values[dotted] = key.parse(raw)
        except ValueError as why:
            raise ConfigError(f"option {dotted} {key.shown(raw)} {why}") from None
        sources[dotted] = "option"

    openai_base_url = env.get("OPENAI_BASE_URL", "")
    if values["ai.base_url"] is None and openai_base_url.strip():
        try:
            _http_url(openai_base_url)
        except ValueError as why:
            raise ConfigError(f"OPENAI_BASE_URL={mask_url(openai_base_url)!r} {why}") from None
    if values["user.name"] is None:
        values["user.name"] = _user_name(_login_name())
    if values["user.timezone"] is None:
        values["user.timezone"] = system_timezone()
    return Settings(
        database=_section(DatabaseSettings, values),
        cache=_section(CacheSettings, values),
        ai=_section(AISettings, values),
        user=_section(UserSettings, values),
        daemon=_section(DaemonSettings, values),
        queue=_section(QueueSettings, values),
        sources=MappingProxyType(sources),
        paths=paths,
        env=MappingProxyType(env),
    )


def example_config_text() -> str:
    """The documented example config file shipped in the package (what `config init` writes)."""
    from importlib.resources import files

    return files("finbuddy").joinpath("data/config.example.toml").read_text(encoding="utf-8")


def make_private_dir(path: Path) -> Path:
    """Create the directory `path` and any missing parents, each 0700 whatever the umask (Path.mkdir(parents=True)
    gives the parents the umask's mode, 0777 under umask 000). Existing directories are left as they are; a file
    in the way raises FileExistsError. Every directory finbuddy creates is made here."""
    target = Path(path)
    missing: list[Path] = []
    current = target
    while not current.is_dir() and current.parent != current:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            # Made a moment ago by a concurrent first run: not ours to chmod. A file in the way: the
            # target's is FileExistsError (as Path.mkdir(exist_ok=True)), a parent's NotADirectoryError next.
            if directory == target and not directory.is_dir():
                raise
            continue
        os.chmod(directory, 0o700)  # the umask may have taken bits away
    return target


def write_example_config(path: Path, force: bool) -> Path:
    """`config init`: write the documented example, 0600, refusing to overwrite unless forced."""
    if path.exists() and not force:
        raise ConfigError(f"config file {path} already exists; pass --force to overwrite it")
    make_private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(example_config_text())
    os.chmod(path, 0o600)
    return path
