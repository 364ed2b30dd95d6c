"""The one clock: every "now" and "today" in finbuddy comes from here, so tests can fix it."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo

# Tests (and reproducible demos) may pin time for a whole process tree with an
# ISO-8601 timestamp with offset, e.g. FINBUDDY_FAKE_NOW=2026-11-25T10:00:00+00:00.
FAKE_NOW_ENV = "FINBUDDY_FAKE_NOW"


class Clock:
    """Wall-clock time, optionally pinned to a fixed instant."""

    def __init__(self, fixed: dt.datetime | None = None) -> None:
        if fixed is not None and fixed.tzinfo is None:
            raise ValueError("a fixed clock needs an aware datetime")
        self.fixed = fixed

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Clock:
        raw = (os.environ if env is None else env).get(FAKE_NOW_ENV)
        if not raw:
            return cls()
        value = dt.datetime.fromisoformat(raw)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return cls(value)

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        if self.fixed is not None:
            return self.fixed.astimezone(dt.UTC)
        return dt.datetime.now(dt.UTC)

    def local_now(self, zone: ZoneInfo) -> dt.datetime:
        return self.now().astimezone(zone)

    def today(self, zone: ZoneInfo) -> dt.date:
        """The calendar day in `zone` right now."""
        return self.local_now(zone).date()


def next_local_midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The instant the local day after `day` starts in `zone` (aware, in that zone)."""
    following = day + dt.timedelta(days=1)
    return dt.datetime.combine(following, dt.time(0, 0), tzinfo=zone)
