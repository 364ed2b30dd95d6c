"""The monthly summary: totals, categories against budgets, daily spending, top merchants; cached per data version."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from finbuddy.context import Context
from finbuddy.dates import month_bounds, previous_month
from finbuddy.ledger.alerts import BudgetAlert
from finbuddy.ledger.forecast import Forecast
from finbuddy.money import cents_from_text as _cents
from finbuddy.money import format_cents

if TYPE_CHECKING:
    from finbuddy.db import Connection

CACHE_KIND = "summary"
# Bumped when the cached JSON shape changes, so an older entry is never read back into a newer Summary.
_SHAPE = 3


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
class CategoryChange:
    """A category's spending in the compared part of a period and in the same part of the month before."""

    category: str
    total_cents: int
    previous_cents: int

    @property
    def increase_cents(self) -> int:
        return self.total_cents - self.previous_cents

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "total": format_cents(self.total_cents),
            "previous_total": format_cents(self.previous_cents),
        }


@dataclass(frozen=True)
class Comparison:
    """A month against the month before it, like with like (see comparison_periods).

    `by_category` lists every category spent in either period, the largest increase first, so
    its first entry with a positive increase is the fastest-growing category.
    """

    start: dt.date
    end: dt.date
    previous_start: dt.date
    previous_end: dt.date
    expenses_cents: int
    previous_expenses_cents: int
    by_category: list[CategoryChange]

    @property
    def whole_months(self) -> bool:
        return (
            self.start.day == 1
            and month_bounds(self.start)[1] == self.end
            and self.previous_end == (month_bounds(self.previous_start)[1])
        )

    def labels(self) -> tuple[str, str]:
        """How people read the two periods: ("Nov", "Oct") for whole months, else ("1–6 Nov", "1–6 Oct")."""
        if self.whole_months:
            return _month_abbr(self.start), _month_abbr(self.previous_start)
        return _span(self.start, self.end), _span(self.previous_start, self.previous_end)

    def fastest_growing(self) -> CategoryChange | None:
        """The category whose spending grew most (in money) between the compared periods, if any grew."""
        growing = [c for c in self.by_category if c.increase_cents > 0]
        return growing[0] if growing else None


def _month_abbr(day: dt.date) -> str:
    return _MONTHS[day.month - 1]  # not strftime: English whatever the locale, like the rest of the output


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _span(start: dt.date, end: dt.date) -> str:
    if start == end:
        return f"{start.day} {_month_abbr(start)}"
    return f"{start.day}–{end.day} {_month_abbr(start)}"


def comparison_periods(start: dt.date, end: dt.date, today: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """(start, end, previous_start, previous_end): which part of the month [start, end] is compared
    with which part of the month before it.

    A month in progress (today within it) is compared up to today with the same days of the month
    before (1–6 Nov with 1–6 Oct), as far as that month has them (1–31 Mar with 1–28 Feb). A past
    or future month is compared whole with the whole month before.
    """
    previous_start, previous_end = month_bounds(previous_month(start))
    if start <= today <= end:
        same_day = previous_start + dt.timedelta(days=(today - start).days)
        return start, today, previous_start, min(same_day, previous_end)
    return start, end, previous_start, previous_end


def compare_with_previous_month(
    conn: Connection, user_id: int, start: dt.date, end: dt.date, today: dt.date
) -> Comparison:
    """The one computation of "this month against last month", for the dashboard and the advisor alike."""
    from finbuddy.db.summary import compared_expenses

    current_start, current_end, previous_start, previous_end = comparison_periods(start, end, today)
    rows = compared_expenses(conn, user_id, current_start, current_end, previous_start, previous_end)
    changes = [CategoryChange(c, t, p) for c, t, p in rows if t or p]
    changes.sort(key=lambda c: (-c.increase_cents, -c.total_cents, c.category))
    return Comparison(
        start=current_start,
        end=current_end,
        previous_start=previous_start,
        previous_end=previous_end,
        expenses_cents=sum(c.total_cents for c in changes),
        previous_expenses_cents=sum(c.previous_cents for c in changes),
        by_category=changes,
    )


def _no_comparison(start: dt.date, end: dt.date, today: dt.date) -> Comparison:
    current_start, current_end, previous_start, previous_end = comparison_periods(start, end, today)
    return Comparison(current_start, current_end, previous_start, previous_end, 0, 0, [])


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
    comparison: Comparison
    as_of: dt.datetime
    cached: bool
    # The month in progress only (None for any other month); see ledger.forecast for the rules.
    forecast: Forecast | None = None
    # The month's budget alerts, newest first: read at every call, never from the cache (the daemon writes
    # them without changing the user's data version).
    alerts: tuple[BudgetAlert, ...] = ()

    @property
    def previous_period_expenses_cents(self) -> int:
        """Last month's expenses over the same days as this month's compared part (like with like)."""
        return self.comparison.previous_expenses_cents

    def to_json(self) -> dict[str, Any]:
        """SPEC.md's summary shape, plus savings_rate_pct, the compared periods, cached, forecast and alerts."""
        c = self.comparison
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
            "previous_period_expenses": format_cents(c.previous_expenses_cents),
            "previous_period": {"start": c.previous_start.isoformat(), "end": c.previous_end.isoformat()},
            "compared_period": {"start": c.start.isoformat(), "end": c.end.isoformat()},
            "compared_expenses": format_cents(c.expenses_cents),
            "compared_by_category": [change.to_json() for change in c.by_category],
            "as_of": self.as_of.isoformat(),
            "cached": self.cached,
            "forecast": self.forecast.to_json() if self.forecast is not None else None,
            "alerts": [alert.to_json() for alert in self.alerts],
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
            comparison=Comparison(
                start=dt.date.fromisoformat(data["compared_period"]["start"]),
                end=dt.date.fromisoformat(data["compared_period"]["end"]),
                previous_start=dt.date.fromisoformat(data["previous_period"]["start"]),
                previous_end=dt.date.fromisoformat(data["previous_period"]["end"]),
                expenses_cents=_cents(data["compared_expenses"]),
                previous_expenses_cents=_cents(data["previous_period_expenses"]),
                by_category=[
                    CategoryChange(c["category"], _cents(c["total"]), _cents(c["previous_total"]))
                    for c in data["compared_by_category"]
                ],
            ),
            as_of=dt.datetime.fromisoformat(data["as_of"]),
            cached=cached,
            forecast=Forecast.from_json(data["forecast"]) if data["forecast"] is not None else None,
            alerts=tuple(BudgetAlert.from_json(a) for a in data["alerts"]),
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
    from finbuddy.ledger.alerts import month_alerts

    today = ctx.today()
    start, end = month_bounds((month or today).replace(day=1))
    # The comparison depends on the day (1-6 Nov against 1-6 Oct), so the key carries its end.
    compared_to = comparison_periods(start, end, today)[1].isoformat()
    currency = ctx.currency
    with ctx.db.read() as conn:
        # The primary's version: a summary the user just wrote to is never served stale,
        # even when the figures come from a lagging read replica.
        found = versions(conn, ctx.user)
        if found is None:
            # Never written: nothing to aggregate and nothing worth caching; no user row is created.
            return _empty(ctx, start, end, currency)
        user_id, data_version, _ = found
        generation = [user_id, data_version]
        alerts = tuple(month_alerts(conn, user_id, start))
        if not fresh:
            hit = ctx.cache.get(CACHE_KIND, ctx.user, generation, _SHAPE, start.isoformat(), compared_to, currency)
            if hit is not None:
                try:
                    return replace(Summary.from_json(hit.value, cached=True), alerts=alerts)
                except (KeyError, TypeError, ValueError, ArithmeticError):
                    pass  # an entry of another shape: recompute and overwrite it
        if not ctx.db.reporting_url:
            summary = _compute(ctx, conn, user_id, start, end, currency)
    if ctx.db.reporting_url:
        summary = _compute_on_replica(ctx, user_id, data_version, start, end, currency)
    summary = replace(summary, alerts=alerts)
    ctx.cache.put(
        CACHE_KIND, ctx.user, generation, _SHAPE, start.isoformat(), compared_to, currency, value=summary.to_json()
    )
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


def _compute(ctx: Context, conn: Connection, user_id: int, start: dt.date, end: dt.date, currency: str) -> Summary:
    from finbuddy.db.summary import month_aggregates

    figures = month_aggregates(conn, user_id, start, end)
    comparison = compare_with_previous_month(conn, user_id, start, end, ctx.today())
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

    today = ctx.today()
    forecast = None
    if start <= today <= end:
        from finbuddy.ledger.forecast import month_forecast
        from finbuddy.ledger.recurring import recurring_in

        forecast = month_forecast(
            today,
            start,
            end,
            figures.daily,
            income,
            {category: total for category, (total, _) in spent.items()},
            budgets,
            recurring_in(conn, user_id, today),
        )

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
        comparison=comparison,
        as_of=as_of,
        cached=False,
        forecast=forecast,
    )


def _empty(ctx: Context, start: dt.date, end: dt.date, currency: str) -> Summary:
    days = (end - start).days + 1
    today = ctx.today()
    forecast = None
    if start <= today <= end:
        from finbuddy.ledger.forecast import month_forecast

        forecast = month_forecast(today, start, end, [], 0, {}, {}, [])
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
        comparison=_no_comparison(start, end, today),
        as_of=ctx.now().astimezone(ctx.zone).replace(microsecond=0),
        cached=False,
        forecast=forecast,
    )
