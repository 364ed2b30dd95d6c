"""The usage ledger, summed per day: AI calls, cache hits, tokens and estimated cost, for one user or everyone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from finbuddy.context import Context
from finbuddy.errors import ValidationError

MAX_DAYS = 366


@dataclass(frozen=True)
class UsageDay:
    day: dt.date
    calls: int  # AI calls that succeeded (and count as spent)
    failed: int  # calls that failed and were refunded
    in_flight: int  # calls still reserved (running, or left by a killed process until the sweep)
    cache_hits: int
    tokens_in: int
    tokens_out: int
    cost_micro_usd: int

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "calls": self.calls,
            "failed": self.failed,
            "in_flight": self.in_flight,
            "cache_hits": self.cache_hits,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "estimated_cost": format_usd(self.cost_micro_usd, 2),
            "estimated_cost_usd": format_usd(self.cost_micro_usd, 6),
        }


@dataclass(frozen=True)
class UsageReport:
    user: str | None  # None: every user (--all)
    start: dt.date
    end: dt.date
    days: list[UsageDay]
    total: UsageDay

    def to_json(self) -> dict[str, Any]:
        total = self.total.to_json()
        total.pop("date")
        return {
            "user": self.user,
            "scope": "all" if self.user is None else "user",
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "days": [day.to_json() for day in self.days],
            "total": total,
        }


def format_usd(micro_usd: int, places: int) -> str:
    from decimal import ROUND_HALF_UP, Decimal

    value = (Decimal(micro_usd) / Decimal(1_000_000)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{value:.{places}f}"


def _usage_day(day: dt.date, by_day: dict[dt.date, dict[str, Any]]) -> UsageDay:
    row = by_day.get(day)
    if row is None:
        return UsageDay(day, 0, 0, 0, 0, 0, 0, 0)
    return UsageDay(**{**row, "day": day})


def usage_report(ctx: Context, days: int = 7, all_users: bool = False) -> UsageReport:
    """The last `days` days up to today: the user's by their quota day, or (all_users) everyone's by UTC day."""
    from finbuddy.advisor.quota import global_day, quota_day
    from finbuddy.db.ai_usage import usage_by_day
    from finbuddy.db.users import find_user_id

    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"--days {days} is not valid: expected 1-{MAX_DAYS}")
    end = global_day(ctx) if all_users else quota_day(ctx)
    start = end - dt.timedelta(days=days - 1)
    with ctx.db.read(reporting=True) as conn:
        if all_users:
            rows = usage_by_day(conn, start, end, None)
        else:
            user_id = find_user_id(conn, ctx.user)
            rows = [] if user_id is None else usage_by_day(conn, start, end, user_id)
    by_day = {row["day"]: row for row in rows}
    listed = [_usage_day(start + dt.timedelta(days=offset), by_day) for offset in range(days)]
    counts = [f.name for f in fields(UsageDay) if f.name != "day"]
    total = UsageDay(end, **{name: sum(getattr(d, name) for d in listed) for name in counts})
    return UsageReport(user=None if all_users else ctx.user, start=start, end=end, days=listed, total=total)
