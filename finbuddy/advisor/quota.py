"""The daily AI quota: which day a call counts against, when it resets, and how much is left."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from finbuddy.clock import next_local_midnight
from finbuddy.context import Context


@dataclass(frozen=True)
class QuotaStatus:
    user: str
    used: int
    limit: int
    remaining: int
    resets_at: dt.datetime
    global_used: int
    global_limit: int

    def to_json(self) -> dict[str, Any]:
        """SPEC.md's quota shape."""
        return {
            "user": self.user,
            "used": self.used,
            "limit": self.limit,
            "remaining": self.remaining,
            "resets_at": self.resets_at.isoformat(),
            "global": {"used": self.global_used, "limit": self.global_limit},
        }

    def short_json(self) -> dict[str, Any]:
        """The `quota` object inside SPEC.md's ask shape."""
        return {
            "used": self.used,
            "limit": self.limit,
            "remaining": self.remaining,
            "resets_at": self.resets_at.isoformat(),
        }


def quota_day(ctx: Context) -> dt.date:
    """The calendar day in ctx.user's zone (their profile's, else user.timezone): the quota resets at local midnight."""
    return ctx.today()


def global_day(ctx: Context) -> dt.date:
    """The global limit counts UTC days, the same for every user whatever their zone."""
    return ctx.now().astimezone(dt.UTC).date()


def resets_at(ctx: Context, day: dt.date) -> dt.datetime:
    return next_local_midnight(day, ctx.zone)


def global_resets_at(ctx: Context) -> dt.datetime:
    return next_local_midnight(global_day(ctx), dt.UTC)


def build_status(ctx: Context, user: str, used: int, global_used: int) -> QuotaStatus:
    limit = ctx.settings.ai.daily_quota
    day = quota_day(ctx)
    return QuotaStatus(
        user=user,
        used=used,
        limit=limit,
        remaining=max(0, limit - used),
        resets_at=resets_at(ctx, day),
        global_used=global_used,
        global_limit=ctx.settings.ai.global_daily_limit,
    )


def read_status(ctx: Context, user: str) -> QuotaStatus:
    """The user's quota for today, read in one transaction."""
    from finbuddy.db.ai_usage import global_used, user_quota_used
    from finbuddy.db.users import find_user_id

    if user != ctx.user:
        ctx = ctx.for_user(user)  # their quota day is in their own zone
    with ctx.db.read() as conn:
        user_id = find_user_id(conn, user)
        used = user_quota_used(conn, user_id, quota_day(ctx))
        used_globally = global_used(conn, global_day(ctx))
    return build_status(ctx, user, used, used_globally)


def _when(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="minutes")


def user_limit_message(status: QuotaStatus) -> str:
    return (
        f"Daily AI limit reached ({status.limit}/{status.limit}), resets at {_when(status.resets_at)}; "
        "cached answers and the offline advisor (FINBUDDY_AI_PROVIDER=offline) still work"
    )


def ask_reserve_calls(settings: Any) -> int:
    """How many of the global daily calls only asks may use (ai.ask_reserve × ai.global_daily_limit, rounded
    down): the daily insights stop short of them, so people can still ask after a large batch."""
    limit = settings.ai.global_daily_limit
    return min(limit, int(limit * settings.ai.ask_reserve))


# Calls a person asks for: they count against the user's daily quota and may use the whole global limit.
USER_KINDS = ("ask", "categorize")


def global_ceiling(settings: Any, kind: str) -> int:
    """The global daily count a call of this kind may take the counter up to: all of it for a call a person asks
    for (ask, categorize), all but the asks' reserve for an insight. One counter, one atomic statement, two
    ceilings."""
    limit = settings.ai.global_daily_limit
    return limit if kind in USER_KINDS else limit - ask_reserve_calls(settings)


def global_limit_message(ctx: Context, limit: int) -> str:
    return (
        f"Global daily AI limit reached ({limit}/{limit} calls for all users), "
        f"resets at {_when(global_resets_at(ctx))}; cached answers and the offline advisor still work"
    )


def insight_limit_message(ctx: Context) -> str:
    limit = ctx.settings.ai.global_daily_limit
    reserve = ask_reserve_calls(ctx.settings)
    if reserve == 0:
        return global_limit_message(ctx, limit)
    return (
        f"Global daily AI limit for insights reached ({limit - reserve} of {limit} calls; ai.ask_reserve keeps "
        f"the other {reserve} for asks), resets at {_when(global_resets_at(ctx))}"
    )
