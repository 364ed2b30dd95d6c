"""The monthly summary: totals, categories against budgets, daily spending, top merchants; cached per data version."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from finbuddy.context import Context
from finbuddy.dates import month_bounds, previous_month
from finbuddy.money import cents_from_text as _cents
from finbuddy.money import format_cents

CACHE_KIND = "summary"
# Bumped when the cached JSON shape changes, so an older entry is never read back into a newer Summary.
_SHAPE = 1


@dataclass(frozen=True)
class CategoryTotal:
    category: str
    total_cents: int
    count: int
    budget_cents: int | None
    budget_used_pct: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "total": format_cents(self.total_cents),
            "count": self.count,
            "budget": None if self.budget_cents is None else format_cents(self.budget_cents),
            "budget_used_pct": self.budget_used_pct,
        }


@dataclass(frozen=True)
class DailyTotal:
    date: dt.date
    total_cents: int

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "total": format_cents(self.total_cents)}


@dataclass(frozen=True)
class MerchantTotal:
    merchant: str
    total_cents: int
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"merchant": self.merchant, "total": format_cents(self.total_cents), "count": self.count}


@dataclass(frozen=True)
class Summary:
    """One user's month. Money in cents; `daily` has every day of the period (0 where nothing was spent)."""

    user: str
    currency: str
    start: dt.date
    end: dt.date
    expenses_cents: int
    income_cents: int
    net_cents: int
    savings_rate_pct: float | None
    by_category: list[CategoryTotal]
    daily: list[DailyTotal]
    top_merchants: list[MerchantTotal]
    previous_period_expenses_cents: int
    as_of: dt.datetime
    cached: bool

    def to_json(self) -> dict[str, Any]:
        """SPEC.md's summary shape, plus savings_rate_pct and cached."""
        return {
            "user": self.user,
            "currency": self.currency,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "expenses": format_cents(self.expenses_cents),
            "income": format_cents(self.income_cents),
            "net": format_cents(self.net_cents),
            "savings_rate_pct": self.savings_rate_pct,
            "by_category": [c.to_json() for c in self.by_category],
            "daily": [d.to_json() for d in self.daily],
            "top_merchants": [m.to_json() for m in self.top_merchants],
            "previous_period_expenses": format_cents(self.previous_period_expenses_cents),
            "as_of": self.as_of.isoformat(),
            "cached": self.cached,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], cached: bool) -> Summary:
        """The inverse of to_json (how a cached summary is read back)."""
        return cls(
            user=data["user"],
            currency=data["currency"],
            start=dt.date.fromisoformat(data["period"]["start"]),
            end=dt.date.fromisoformat(data["period"]["end"]),
            expenses_cents=_cents(data["expenses"]),
            income_cents=_cents(data["income"]),
            net_cents=_cents(data["net"]),
            savings_rate_pct=data["savings_rate_pct"],
            by_category=[
                CategoryTotal(
                    category=c["category"],
                    total_cents=_cents(c["total"]),
                    count=int(c["count"]),
                    budget_cents=None if c["budget"] is None else _cents(c["budget"]),
                    budget_used_pct=c["budget_used_pct"],
                )
                for c in data["by_category"]
            ],
            daily=[DailyTotal(dt.date.fromisoformat(d["date"]), _cents(d["total"])) for d in data["daily"]],
            top_merchants=[
                MerchantTotal(m["merchant"], _cents(m["total"]), int(m["count"])) for m in data["top_merchants"]
            ],
            previous_period_expenses_cents=_cents(data["previous_period_expenses"]),
            as_of=dt.datetime.fromisoformat(data["as_of"]),
            cached=cached,
        )


def _pct(part: int, whole: int) -> float:
    return round(part * 100 / whole, 1)


def monthly_summary(ctx: Context, month: dt.date | None = None, fresh: bool = False) -> Summary:
    """ctx.user's summary of the month containing `month` (default: this month in the user's zone).

    Served from the cache when the user's data has not changed since it was computed (the key
    carries the user's data version, which every write bumps) and the entry is younger than
    cache.summary_ttl; `fresh=True` recomputes and refreshes the entry.
    """
    from finbuddy.db.users import versions

    start, end = month_bounds((month or ctx.today()).replace(day=1))
    currency = ctx.settings.currency
    with ctx.db.read() as conn:
        # The primary's version: a summary the user just wrote to is never served stale,
        # even when the figures come from a lagging read replica.
        found = versions(conn, ctx.user)
        if found is None:
            # Never written: nothing to aggregate and nothing worth caching; no user row is created.
            return _empty(ctx, start, end, currency)
        user_id, data_version, _ = found
        generation = [user_id, data_version]
        if not fresh:
            hit = ctx.cache.get(CACHE_KIND, ctx.user, generation, _SHAPE, start.isoformat(), currency)
            if hit is not None:
                try:
                    return Summary.from_json(hit.value, cached=True)
                except (KeyError, TypeError, ValueError, ArithmeticError):
                    pass  # an entry of another shape: recompute and overwrite it
        if not ctx.db.reporting_url:
            summary = _compute(ctx, conn, user_id, start, end, currency)
    if ctx.db.reporting_url:
        summary = _compute_on_replica(ctx, user_id, data_version, start, end, currency)
    ctx.cache.put(CACHE_KIND, ctx.user, generation, _SHAPE, start.isoformat(), currency, value=summary.to_json())
    return summary


def _compute_on_replica(
    ctx: Context, user_id: int, data_version: int, start: dt.date, end: dt.date, currency: str
) -> Summary:
    from finbuddy.db.users import versions

    with ctx.db.read(reporting=True) as conn:
        found = versions(conn, ctx.user)
        if found is not None and found[0] == user_id and found[1] >= data_version:
            return _compute(ctx, conn, user_id, start, end, currency)
    # The replica has not caught up with the user's last write: report from the primary.
    with ctx.db.read() as conn:
        return _compute(ctx, conn, user_id, start, end, currency)


def _compute(ctx: Context, conn, user_id: int, start: dt.date, end: dt.date, currency: str) -> Summary:
    from finbuddy.db.summary import month_aggregates

    previous_start, previous_end = month_bounds(previous_month(start))
    figures = month_aggregates(conn, user_id, start, end, previous_start, previous_end)
    as_of = ctx.now().astimezone(ctx.zone).replace(microsecond=0)

    expenses = income = 0
    spent: dict[str, tuple[int, int]] = {}
    for kind, category, total, count in figures.by_kind_category:
        if kind == "income":
            income += total
        else:
            expenses += total
            spent[category] = (total, count)
    budgets = dict(figures.budgets)
    categories = []
    for category in spent.keys() | budgets.keys():
        total, count = spent.get(category, (0, 0))
        budget = budgets.get(category)
        categories.append(
            CategoryTotal(category, total, count, budget, None if budget is None else _pct(total, budget))
        )
    # Largest spending first; budgeted categories with nothing spent yet come last.
    categories.sort(key=lambda c: (-c.total_cents, c.category))

    by_day = dict(figures.daily)
    days = (end - start).days + 1
    daily = [DailyTotal(day, by_day.get(day, 0)) for day in (start + dt.timedelta(days=i) for i in range(days))]

    return Summary(
        user=ctx.user,
        currency=currency,
        start=start,
        end=end,
        expenses_cents=expenses,
        income_cents=income,
        net_cents=income - expenses,
        savings_rate_pct=_pct(income - expenses, income) if income else None,
        by_category=categories,
        daily=daily,
        top_merchants=[MerchantTotal(m, t, n) for m, t, n in figures.top_merchants],
        previous_period_expenses_cents=figures.previous_expenses,
        as_of=as_of,
        cached=False,
    )


def _empty(ctx: Context, start: dt.date, end: dt.date, currency: str) -> Summary:
    days = (end - start).days + 1
    return Summary(
        user=ctx.user,
        currency=currency,
        start=start,
        end=end,
        expenses_cents=0,
        income_cents=0,
        net_cents=0,
        savings_rate_pct=None,
        by_category=[],
        daily=[DailyTotal(start + dt.timedelta(days=i), 0) for i in range(days)],
        top_merchants=[],
        previous_period_expenses_cents=0,
        as_of=ctx.now().astimezone(ctx.zone).replace(microsecond=0),
        cached=False,
    )
