"""The dashboard's forecast for the month in progress: the month-end projection and "safe to spend per day".

Projection (money in cents, rounded to the cent at the end, halves up):

    projected = spent to date                      (expenses dated from the 1st to today)
              + pace x days after today            (pace = spent to date without its recurring charges / days
                                                     elapsed, today included)
              + recurring charges still due         (expected from today to the month's end, not yet recorded)
              + expenses dated after today          (what you entered ahead)

Recurring charges (ledger.recurring) are counted at their amount, not extrapolated: rent paid on the 1st does
not make the pace thirty rents.

Safe to spend per day, from today to the month's end (today included):

    budgets left = the month's budgets - the month's spending in budgeted categories - recurring charges still
                   due in budgeted categories                       (when you have budgets)
    income left  = the month's income - the month's expenses - recurring charges still due
                                                                     (when you recorded income this month)
    safe per day = the smaller of the two that apply, / days left, rounded down to the cent; 0.00 when nothing
                   is left; none without budgets and income.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finbuddy.money import format_cents, to_cents

if TYPE_CHECKING:
    from finbuddy.ledger.recurring import RecurringCharge


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator in whole cents, halves up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _money(cents: int | None) -> str | None:
    return None if cents is None else format_cents(cents)


@dataclass(frozen=True)
class DueCharge:
    """A recurring charge expected later this month (or a few days late and not recorded yet)."""

    merchant: str
    category: str
    date: dt.date
    cents: int
    cadence: str

    def to_json(self) -> dict[str, Any]:
        return {
            "merchant": self.merchant,
            "category": self.category,
            "date": self.date.isoformat(),
            "amount": format_cents(self.cents),
            "cadence": self.cadence,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DueCharge:
        from decimal import Decimal

        return cls(
            data["merchant"],
            data["category"],
            dt.date.fromisoformat(data["date"]),
            to_cents(Decimal(data["amount"])),
            data["cadence"],
        )


@dataclass(frozen=True)
class Forecast:
    """The inputs; every figure shown is a property computed from them (the rules are the module's)."""

    today: dt.date
    days_in_month: int
    spent_to_date_cents: int
    recurring_to_date_cents: int
    scheduled_cents: int
    recurring_due: tuple[DueCharge, ...]
    expenses_cents: int  # the whole month's
    income_cents: int
    budget_total_cents: int | None  # None: no budgets
    budgeted_spent_cents: int  # the month's spending in budgeted categories
    budgeted_categories: frozenset[str]

    @property
    def days_elapsed(self) -> int:
        return self.today.day

    @property
    def days_after_today(self) -> int:
        return self.days_in_month - self.days_elapsed

    @property
    def pace_base_cents(self) -> int:
        return self.spent_to_date_cents - self.recurring_to_date_cents

    @property
    def daily_pace_cents(self) -> int:
        return _half_up(self.pace_base_cents, self.days_elapsed)

    @property
    def pace_rest_cents(self) -> int:
        return _half_up(self.pace_base_cents * self.days_after_today, self.days_elapsed)

    @property
    def recurring_due_cents(self) -> int:
        return sum(c.cents for c in self.recurring_due)

    @property
    def projected_cents(self) -> int:
        return self.spent_to_date_cents + self.pace_rest_cents + self.recurring_due_cents + self.scheduled_cents

    @property
    def budgeted_due_cents(self) -> int:
        return sum(c.cents for c in self.recurring_due if c.category in self.budgeted_categories)

    @property
    def budget_left_cents(self) -> int | None:
        if self.budget_total_cents is None:
            return None
        return self.budget_total_cents - self.budgeted_spent_cents - self.budgeted_due_cents

    @property
    def income_left_cents(self) -> int | None:
        if not self.income_cents:
            return None
        return self.income_cents - self.expenses_cents - self.recurring_due_cents

    @property
    def safe_basis(self) -> str | None:
        known = (("budgets", self.budget_left_cents), ("income", self.income_left_cents))
        return " and ".join(name for name, left in known if left is not None) or None

    @property
    def available_cents(self) -> int | None:
        known = [v for v in (self.budget_left_cents, self.income_left_cents) if v is not None]
        return min(known) if known else None

    @property
    def safe_days(self) -> int:
        return self.days_after_today + 1

    @property
    def safe_per_day_cents(self) -> int | None:
        available = self.available_cents
        return None if available is None else max(0, available) // self.safe_days

    def to_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "days_in_month": self.days_in_month,
            "days_elapsed": self.days_elapsed,
            "days_after_today": self.days_after_today,
            "spent_to_date": format_cents(self.spent_to_date_cents),
            "recurring_to_date": format_cents(self.recurring_to_date_cents),
            "daily_pace": format_cents(self.daily_pace_cents),
            "pace_rest_of_month": format_cents(self.pace_rest_cents),
            "recurring_due": [c.to_json() for c in self.recurring_due],
            "recurring_due_total": format_cents(self.recurring_due_cents),
            "scheduled": format_cents(self.scheduled_cents),
            "projected": format_cents(self.projected_cents),
            "safe_to_spend": {
                "per_day": _money(self.safe_per_day_cents),
                "days": self.safe_days,
                "basis": self.safe_basis,
                "available": _money(self.available_cents),
                "budget_left": _money(self.budget_left_cents),
                "income_left": _money(self.income_left_cents),
                "budgets": _money(self.budget_total_cents),
                "budgeted_categories": sorted(self.budgeted_categories),
                "budgeted_spent": format_cents(self.budgeted_spent_cents),
                "budgeted_due": format_cents(self.budgeted_due_cents),
                "income": format_cents(self.income_cents),
                "expenses": format_cents(self.expenses_cents),
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Forecast:
        from decimal import Decimal

        def cents(text: str | None) -> int | None:
            return None if text is None else to_cents(Decimal(text))

        safe = data["safe_to_spend"]
        return cls(
            today=dt.date.fromisoformat(data["today"]),
            days_in_month=int(data["days_in_month"]),
            spent_to_date_cents=to_cents(Decimal(data["spent_to_date"])),
            recurring_to_date_cents=to_cents(Decimal(data["recurring_to_date"])),
            scheduled_cents=to_cents(Decimal(data["scheduled"])),
            recurring_due=tuple(DueCharge.from_json(c) for c in data["recurring_due"]),
            expenses_cents=to_cents(Decimal(safe["expenses"])),
            income_cents=to_cents(Decimal(safe["income"])),
            budget_total_cents=cents(safe["budgets"]),
            budgeted_spent_cents=to_cents(Decimal(safe["budgeted_spent"])),
            budgeted_categories=frozenset(safe["budgeted_categories"]),
        )


def month_forecast(
    today: dt.date,
    start: dt.date,
    end: dt.date,
    daily: list[tuple[dt.date, int]],
    income_cents: int,
    spent_by_category: dict[str, int],
    budgets: dict[str, int],
    recurring: list[RecurringCharge],
) -> Forecast | None:
    """The forecast of the month [start, end] when today is in it (None for any other month)."""
    if not start <= today <= end:
        return None
    spent_to_date = sum(cents for day, cents in daily if day <= today)
    expenses = sum(cents for _, cents in daily)
    due = []
    for charge in recurring:
        # From next_date on (a few days late, even from last month's end: it has not come yet) to the month's end.
        for day in charge.expected_dates(dt.date.min, end):
            amount = to_cents(charge.typical_amount)
            due.append(DueCharge(charge.merchant, charge.category, day, amount, charge.cadence))
    due.sort(key=lambda c: (c.date, c.merchant.casefold()))
    return Forecast(
        today=today,
        days_in_month=(end - start).days + 1,
        spent_to_date_cents=spent_to_date,
        recurring_to_date_cents=sum(c.charged_between(start, today) for c in recurring),
        scheduled_cents=expenses - spent_to_date,
        recurring_due=tuple(due),
        expenses_cents=expenses,
        income_cents=income_cents,
        budget_total_cents=sum(budgets.values()) if budgets else None,
        budgeted_spent_cents=sum(spent_by_category.get(c, 0) for c in budgets),
        budgeted_categories=frozenset(budgets),
    )
