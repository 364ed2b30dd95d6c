"""Budget alerts: a budget that passed 80 % or 100 % of its monthly amount, written once by the daemon's daily run.

One alert per budget, threshold and month: a budget found at 85 % gets an 80 % alert, and a 100 % alert when a
later run finds it at or over its amount; a budget first found over its amount gets the 100 % alert only. A
budget changed to another amount is judged afresh against the new amount (an alert records the amount it was
about). Spending is the month's expenses in the budget's category, as on the dashboard. No AI.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finbuddy.context import Context
from finbuddy.dates import month_bounds, previous_month
from finbuddy.money import format_cents, format_cents_grouped

if TYPE_CHECKING:
    from finbuddy.db import Connection, RowMapping

# `insights` shows the alerts of this month and any written this long ago or less (last month's last days).
RECENT = dt.timedelta(days=7)


@dataclass(frozen=True)
class BudgetAlert:
    category: str
    month: dt.date  # its first day
    threshold: int  # 80 | 100
    budget_cents: int
    spent_cents: int
    written_at: dt.datetime

    @property
    def used_pct(self) -> float:
        return round(self.spent_cents * 100 / self.budget_cents, 1)

    @property
    def short_text(self) -> str:
        """Without the month (the dashboard shows one month)."""
        verb = "reached" if self.threshold == 100 and self.spent_cents == self.budget_cents else "passed"
        return (
            f"{self.category} {verb} {self.threshold} % of its {format_cents_grouped(self.budget_cents)} budget "
            f"({format_cents_grouped(self.spent_cents)} spent, {self.used_pct:.1f} %)"
        )

    @property
    def text(self) -> str:
        month = f"{calendar.month_name[self.month.month]} {self.month.year}"
        return self.short_text.replace(" budget (", f" budget in {month} (", 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "month": self.month.strftime("%Y-%m"),
            "threshold": self.threshold,
            "budget": format_cents(self.budget_cents),
            "spent": format_cents(self.spent_cents),
            "used_pct": self.used_pct,
            "written_at": self.written_at.isoformat(),
            "text": self.text,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BudgetAlert:
        return cls(
            category=data["category"],
            month=dt.date.fromisoformat(data["month"] + "-01"),
            threshold=int(data["threshold"]),
            budget_cents=_cents(data["budget"]),
            spent_cents=_cents(data["spent"]),
            written_at=dt.datetime.fromisoformat(data["written_at"]),
        )


def _cents(text: str) -> int:
    from decimal import Decimal

    return int(Decimal(text) * 100)


@dataclass(frozen=True)
class AlertRun:
    """What one run of the alerts job did."""

    months: list[dt.date]
    written: int

    def to_json(self) -> dict[str, Any]:
        return {"alerts": self.written, "months": [m.strftime("%Y-%m") for m in self.months]}


def months_to_check(today: dt.date, last_run_day: dt.date | None) -> list[dt.date]:
    """This month; and last month too when the previous run was before this month began, so spending in its
    last days after that run is judged (once the month is over, nothing changes it any more)."""
    this = today.replace(day=1)
    if last_run_day is not None and last_run_day < this:
        return [previous_month(this), this]
    return [this]


def write_budget_alerts(ctx: Context, last_run_day: dt.date | None = None, user: str | None = None) -> AlertRun:
    """Write the alerts due for every user (or only `user`) in the months to check since `last_run_day`."""
    from finbuddy.db.alerts import write_alerts
    from finbuddy.db.users import find_user_id

    months = months_to_check(ctx.install_today(), last_run_day)
    written = 0
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = None
        if user is not None:
            user_id = find_user_id(conn, user)
            if user_id is None:
                return AlertRun(months, 0)
        for first in months:
            written += write_alerts(conn, first, month_bounds(first)[1], now, user_id)
    return AlertRun(months, written)


def _alerts(rows: Iterable[RowMapping]) -> list[BudgetAlert]:
    from finbuddy.db.engine import as_utc

    return [
        BudgetAlert(
            category=row["category"],
            month=row["month"],
            threshold=row["threshold"],
            budget_cents=row["budget_cents"],
            spent_cents=row["spent_cents"],
            written_at=as_utc(row["created_at"]) or row["created_at"],
        )
        for row in rows
    ]


def month_alerts(conn: Connection, user_id: int, month: dt.date) -> list[BudgetAlert]:
    """The user's alerts of the month starting `month`, newest first (the dashboard's)."""
    from finbuddy.db.alerts import read_alerts

    return _alerts(read_alerts(conn, user_id, [month.replace(day=1)]))


def recent_alerts(ctx: Context, user: str | None = None) -> list[BudgetAlert]:
    """The user's alerts of this month, and any written in the last 7 days, newest first (for `insights`)."""
    from finbuddy.db.alerts import read_alerts
    from finbuddy.db.users import find_user_id

    with ctx.db.read() as conn:
        user_id = find_user_id(conn, user or ctx.user)
        if user_id is None:
            return []
        rows = read_alerts(conn, user_id, [ctx.today().replace(day=1)], ctx.now() - RECENT)
    return _alerts(rows)
