"""The per-invocation context: settings, the clock, the user with their zone and currency, the database and cache."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finbuddy.clock import Clock
from finbuddy.config import Settings

if TYPE_CHECKING:
    from finbuddy.cache import Cache
    from finbuddy.db import Database

log = logging.getLogger("finbuddy")

PROFILE = "profile"  # a value's source: the user's own (`profile set`)
SETTINGS = "settings"  # a value's source: the install's user.timezone / user.currency


@dataclass(frozen=True)
class UserProfile:
    """The zone and currency in effect for one user: their own where they set one, else the install's settings."""

    user: str
    timezone: str  # an IANA name
    currency: str  # an ISO 4217 code
    timezone_source: str  # PROFILE | SETTINGS
    currency_source: str  # PROFILE | SETTINGS

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo keeps one instance per name: no file read after the first

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "timezone": self.timezone,
            "currency": self.currency,
            "timezone_source": self.timezone_source,
            "currency_source": self.currency_source,
        }


def known_zone(name: str | None) -> ZoneInfo | None:
    """The zone of that IANA name, or None (no name, or one this machine's tz database does not know)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def resolve_profile(
    settings: Settings,
    user: str,
    timezone: str | None,
    currency: str | None,
    warn: Callable[[str], None] | None = None,
) -> UserProfile:
    """The profile in effect for `user` from their stored zone and currency (None: not set, use the settings).

    A stored zone this machine does not know (its tz database is older than the one that stored it) falls back
    to the install's zone with a warning, rather than making every command of that user fail.
    """
    zone_name, zone_source = settings.user.timezone, SETTINGS
    if timezone:
        if known_zone(timezone) is not None:
            zone_name, zone_source = timezone, PROFILE
        else:
            (warn or log.warning)(
                f"user {user!r}: time zone {timezone!r} is not known on this machine; "
                f"using user.timezone {zone_name} (update the tz database, or `finbuddy profile set --timezone`)"
            )
    if currency:
        return UserProfile(user, zone_name, currency, zone_source, PROFILE)
    return UserProfile(user, zone_name, settings.user.currency, zone_source, SETTINGS)


@dataclass
class Context:
    settings: Settings
    clock: Clock = field(default_factory=Clock.from_env)
    user: str = ""
    # Where non-fatal warnings go (the CLI prints them on stderr); None logs them.
    warn: Callable[[str], None] | None = None
    # ctx.user's profile once read; kept with the user it belongs to, so a copy made for another user
    # (copy.copy, for_user) never shows this user's zone or currency.
    _profile: UserProfile | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.user:
            self.user = self.settings.user_name
        if self.settings.cache.url:
            # Every command, not only those that read the cache: a shared cache that cannot work
            # is a configuration error (exit 2) before anything is changed.
            from finbuddy.cache import require_cache_client

            require_cache_client(self.settings)

    @cached_property
    def db(self) -> Database:
        from finbuddy.db import open_database

        return open_database(self.settings, warn=self.warn)

    @cached_property
    def cache(self) -> Cache:
        from finbuddy.cache import open_cache

        return open_cache(self.settings, self.clock, lambda: self.db.identity, warn=self.warn)

    # --- the user's zone and currency ------------------------------------------------

    @property
    def profile(self) -> UserProfile:
        """ctx.user's zone and currency: read on first use by one indexed query, then kept for this context."""
        profile = self._profile
        if profile is None or profile.user != self.user:
            from finbuddy.db.users import stored_profile

            with self.db.read() as conn:
                stored = stored_profile(conn, self.user)
            profile = self.profile_of(
                self.user, stored.timezone if stored else None, stored.currency if stored else None
            )
            self._profile = profile
        return profile

    def profile_of(self, user: str, timezone: str | None, currency: str | None) -> UserProfile:
        """The profile in effect for `user`, whose stored zone and currency (None: not set) the caller read."""
        return resolve_profile(self.settings, user, timezone, currency, self.warn)

    def use_profile(self, profile: UserProfile) -> UserProfile:
        """Use `profile` from now on (ctx.user's, just written by `profile set`); returns it."""
        if profile.user == self.user:
            self._profile = profile
        return profile

    def for_user(self, user: str, profile: UserProfile | None = None) -> Context:
        """A context for `user` sharing this one's settings, clock, database and cache (the daemon's batch).

        `profile` is the user's, when the caller has read it already (the batch reads every user's zone in its
        selection query); without it, the copy reads it on first use.
        """
        self.db, self.cache  # noqa: B018 - open them once here so the copy shares them
        other = copy.copy(self)
        other.user = user
        other._profile = profile if profile is not None and profile.user == user else None
        return other

    @property
    def zone(self) -> ZoneInfo:
        """ctx.user's time zone: "today", the quota day, the insight day and displayed times are local to it."""
        return self.profile.zone

    @property
    def currency(self) -> str:
        """ctx.user's display currency (ISO 4217)."""
        return self.profile.currency

    def now(self) -> dt.datetime:
        return self.clock.now()

    def today(self) -> dt.date:
        """The calendar day in ctx.user's zone."""
        return self.clock.today(self.zone)

    # --- the install's own zone (the daemon's schedule, whoever its user is) -------------

    @property
    def install_zone(self) -> ZoneInfo:
        """The install's user.timezone: the daemon's schedule and job days, not any one user's."""
        return self.settings.timezone

    def install_today(self) -> dt.date:
        return self.clock.today(self.install_zone)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
        if "cache" in self.__dict__:
            self.cache.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_context(
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    warn: Callable[[str], None] | None = None,
) -> Context:
    """The library's front door: a Context for `user` (default: user.name) with the settings the environment
    and config file give (`env` instead of os.environ, e.g. {"FINBUDDY_HOME": ...}). Use it as a context
    manager so the database and cache are closed: `with open_context("alice") as ctx: ...`."""
    from finbuddy.config import load_settings

    settings = load_settings(env=env, overrides={"user.name": user}, warn=warn)
    return Context(settings=settings, clock=clock or Clock.from_env(env), warn=warn)
