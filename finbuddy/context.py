"""The per-invocation context: settings, the clock, the user, and lazily opened database and cache."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from finbuddy.clock import Clock
from finbuddy.config import Settings

if TYPE_CHECKING:
    from finbuddy.cache import Cache
    from finbuddy.db import Database


@dataclass
class Context:
    settings: Settings
    clock: Clock = field(default_factory=Clock.from_env)
    user: str = ""
    # Where non-fatal warnings go (the CLI prints them on stderr); None logs them.
    warn: Callable[[str], None] | None = None

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

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.timezone

    def now(self) -> dt.datetime:
        return self.clock.now()

    def today(self) -> dt.date:
        return self.clock.today(self.zone)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
        if "cache" in self.__dict__:
            self.cache.close()
