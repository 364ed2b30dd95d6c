"""Spending trends: a category x month table of the last N months, with averages and sparklines."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from finbuddy.context import Context
from finbuddy.dates import month_bounds
from finbuddy.errors import ValidationError
from finbuddy.money import format_cents

DEFAULT_MONTHS = 6
MAX_MONTHS = 120
SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int] | tuple[int, ...]) -> str:
    """One bar per value, scaled from 0 (▁) to the largest value (█), to the nearest of the eight heights."""
    peak = max(values, default=0)
    if peak <= 0:
        return SPARKS[0] * len(values)
    top = len(SPARKS) - 1
    # round(value / peak * 7) with halves rounded up, in integers
    return "".join(SPARKS[(max(0, v) * top * 2 + peak) // (2 * peak)] for v in values)


def _average(total: int, months: int) -> int:
    """Cents, halves rounded up (the totals are never negative)."""
    return (total * 2 + months) // (2 * months)


@dataclass(frozen=True)
class TrendRow:
    category: str
    totals_cents: tuple[int, ...]  # one per month of the table, oldest first

    @property
    def total_cents(self) -> int:
        return sum(self.totals_cents)

    @property
    def average_cents(self) -> int:
        """The mean over every month of the table, empty months included."""
        return _average(self.total_cents, len(self.totals_cents))

    @property
    def sparkline(self) -> str:
        return sparkline(self.totals_cents)

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "totals": [format_cents(c) for c in self.totals_cents],
            "total": format_cents(self.total_cents),
            "average": format_cents(self.average_cents),
            "sparkline": self.sparkline,
        }


@dataclass(frozen=True)
class Trend:
    user: str
    currency: str
    months: tuple[dt.date, ...]  # the first day of each month, oldest first; the last is this month
    rows: list[TrendRow]  # the largest total first
    category: str | None  # the --category filter, if any
    today: dt.date

    @property
    def total(self) -> TrendRow:
        columns = zip(*(r.totals_cents for r in self.rows), strict=True) if self.rows else ()
        sums = tuple(sum(c) for c in columns) or (0,) * len(self.months)
        return TrendRow("total", sums)

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "currency": self.currency,
            "months": [m.strftime("%Y-%m") for m in self.months],
            "category": self.category,
            "rows": [r.to_json() for r in self.rows],
            "total": {k: v for k, v in self.total.to_json().items() if k != "category"},
            "through": self.today.isoformat(),
        }


def last_months(today: dt.date, count: int) -> tuple[dt.date, ...]:
    """The first days of the `count` months that end with today's month, oldest first."""
    index = today.year * 12 + today.month - 1
    return tuple(dt.date(i // 12, i % 12 + 1, 1) for i in range(index - count + 1, index + 1))


def spending_trend(ctx: Context, months: int = DEFAULT_MONTHS, category: str | None = None) -> Trend:
    """ctx.user's expenses per category and month over the last `months` months, this one included (to date)."""
    from finbuddy.db.trend import monthly_category_totals
    from finbuddy.db.users import find_user_id
    from finbuddy.ledger.fields import normalize_category

    if not 1 <= months <= MAX_MONTHS:
        raise ValidationError(f"--months {months} is out of range: expected a whole number from 1 to {MAX_MONTHS}")
    wanted = normalize_category(category) if category is not None else None
    today = ctx.today()
    firsts = last_months(today, months)
    start, end = firsts[0], month_bounds(firsts[-1])[1]
    with ctx.db.read(reporting=True) as conn:
        user_id = find_user_id(conn, ctx.user)
        found = [] if user_id is None else monthly_category_totals(conn, user_id, start, end, wanted)
    column = {(m.year, m.month): i for i, m in enumerate(firsts)}
    table: dict[str, list[int]] = {}
    for name, year, month, cents in found:
        table.setdefault(name, [0] * months)[column[(year, month)]] += cents
    if wanted is not None and wanted not in table:
        table[wanted] = [0] * months  # the asked-for category, even with nothing spent: a row of zeros
    rows = [TrendRow(name, tuple(totals)) for name, totals in table.items()]
    rows.sort(key=lambda r: (-r.total_cents, r.category))
    return Trend(ctx.user, ctx.currency, firsts, rows, wanted, today)
