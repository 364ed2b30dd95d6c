"""Recurring charges: merchants charged on a regular cadence at a similar amount, found in the user's history.

The database does the heavy part (db.recurring: per merchant, case and spacing ignored, the dated amounts);
the rules below decide, for each merchant's series, whether it repeats. No AI.

- Cadence: every gap between two charging days is one period (weekly 5-9 days, monthly 25-36, yearly 350-380)
  or two periods (one missed occurrence: 12-16, 55-67, 715-745); at most one gap in four (at least one) may be
  a missed one. Month-end dates (31 Jan, 28 Feb, 31 Mar, 30 Apr) are 28-31 days apart: monthly.
- Occurrences: at least 4 weekly, 3 monthly, 3 yearly charges, or 2 yearly charges of the same amount.
- Amount: each charge is within 20 % of the first charge of its price level; a larger change starts a new level
  and must persist (the next charge is within 20 % of it). A first charge alone at its level (an introductory
  price) is accepted; an outlier in the middle or an unconfirmed jump at the end is not a recurring charge.
- Still running: at most one expected occurrence is missing at the end (the next expected date is counted as
  missed once it is more than 2 / 5 / 14 days past); a series that missed two is over and not listed.
- Price change: a run of at least two equal charges followed by a different amount that repeats at least twice,
  or is the latest charge ("Netflix went from 15.49 to 17.99 in March 2026").
- Typical amount: the latest price when there is one (two equal latest charges, or the latest price change),
  else the median of the last three charges of the latest price level (rounded to the cent).
- Yearly cost: the typical amount x 52 (weekly), x 12 (monthly), x 1 (yearly).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from finbuddy.context import Context
from finbuddy.money import format_amount, from_cents

if TYPE_CHECKING:
    from finbuddy.db import Connection
    from finbuddy.db.recurring import MerchantDay

# How far back the history is read: long enough for three yearly charges (26 months).
LOOKBACK_DAYS = 800


@dataclass(frozen=True)
class Cadence:
    name: str
    one: tuple[int, int]  # a gap of one period, in days (inclusive)
    two: tuple[int, int]  # a gap of two periods: one occurrence missed
    min_occurrences: int
    per_year: int
    grace_days: int  # how late a charge may be before it counts as missed

    def periods(self, gap: int) -> int | None:
        if self.one[0] <= gap <= self.one[1]:
            return 1
        if self.two[0] <= gap <= self.two[1]:
            return 2
        return None


WEEKLY = Cadence("weekly", (5, 9), (12, 16), 4, 52, 2)
MONTHLY = Cadence("monthly", (25, 36), (55, 67), 3, 12, 5)
YEARLY = Cadence("yearly", (350, 380), (715, 745), 3, 1, 14)
CADENCES = (WEEKLY, MONTHLY, YEARLY)


@dataclass(frozen=True)
class PriceChange:
    date: dt.date  # the first charge at the new price
    old_amount: Decimal
    new_amount: Decimal

    def describe(self, merchant: str) -> str:
        month = f"{calendar.month_name[self.date.month]} {self.date.year}"
        return f"{merchant} went from {format_amount(self.old_amount)} to {format_amount(self.new_amount)} in {month}"

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "from": format_amount(self.old_amount),
            "to": format_amount(self.new_amount),
        }


@dataclass(frozen=True)
class RecurringCharge:
    """A charge that repeats. `charges` are the (date, cents) of the series, oldest first."""

    merchant: str
    category: str
    cadence: str  # weekly | monthly | yearly
    typical_amount: Decimal
    last_date: dt.date
    next_date: dt.date
    yearly_cost: Decimal
    occurrences: int
    price_changes: tuple[PriceChange, ...]
    first_date: dt.date
    charges: tuple[tuple[dt.date, int], ...] = field(repr=False)
    anchor_day: int = field(repr=False)  # monthly: the day of the month it is charged on (31: the month's end)

    def expected_dates(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The expected charging dates from next_date on that fall in [start, end]."""
        cadence = _CADENCE[self.cadence]
        found = []
        day = self.next_date
        while day <= end:
            if day >= start:
                found.append(day)
            day = _advance(cadence, day, self.anchor_day)
        return found

    def charged_between(self, start: dt.date, end: dt.date) -> int:
        """Cents of this series charged in [start, end]."""
        return sum(cents for day, cents in self.charges if start <= day <= end)

    def to_json(self) -> dict[str, Any]:
        return {
            "merchant": self.merchant,
            "category": self.category,
            "cadence": self.cadence,
            "typical_amount": format_amount(self.typical_amount),
            "last_date": self.last_date.isoformat(),
            "next_date": self.next_date.isoformat(),
            "yearly_cost": format_amount(self.yearly_cost),
            "occurrences": self.occurrences,
            "first_date": self.first_date.isoformat(),
            "price_changes": [
                {**change.to_json(), "text": change.describe(self.merchant)} for change in self.price_changes
            ],
        }


_CADENCE = {c.name: c for c in CADENCES}


@dataclass(frozen=True)
class RecurringReport:
    """What `finbuddy recurring` shows: the charges, soonest first, and what they cost together."""

    user: str
    currency: str
    today: dt.date
    charges: list[RecurringCharge]

    @property
    def yearly_total(self) -> Decimal:
        return sum((c.yearly_cost for c in self.charges), Decimal("0.00"))

    @property
    def monthly_average(self) -> Decimal:
        """The yearly total spread over twelve months, to the cent."""
        return from_cents(half_up(self.yearly_total * 100 / 12))

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "currency": self.currency,
            "today": self.today.isoformat(),
            "recurring": [c.to_json() for c in self.charges],
            "yearly_total": format_amount(self.yearly_total),
            "monthly_average": format_amount(self.monthly_average),
        }


def find_recurring(ctx: Context) -> list[RecurringCharge]:
    """ctx.user's recurring charges still running today, the soonest next charge first (empty for a new user)."""
    from finbuddy.db.users import find_user_id

    today = ctx.today()
    with ctx.db.read(reporting=True) as conn:
        user_id = find_user_id(conn, ctx.user)
        if user_id is None:
            return []
        return recurring_in(conn, user_id, today)


def recurring_report(ctx: Context) -> RecurringReport:
    return RecurringReport(ctx.user, ctx.currency, ctx.today(), find_recurring(ctx))


def recurring_in(conn: Connection, user_id: int, today: dt.date) -> list[RecurringCharge]:
    """find_recurring on an open connection (the dashboard's forecast reads it in its own transaction)."""
    from finbuddy.db.recurring import recurring_candidates

    rows = recurring_candidates(conn, user_id, today - dt.timedelta(days=LOOKBACK_DAYS))
    return detect_recurring(rows, today)


def _key(merchant: str) -> str:
    """Case and spacing ignored, beyond ASCII too (SQLite's lower() folds ASCII letters only)."""
    return "".join(merchant.split()).casefold()


def detect_recurring(rows: list[MerchantDay], today: dt.date) -> list[RecurringCharge]:
    """The recurring charges among per-merchant dated amounts (in any order)."""
    series: dict[str, dict[dt.date, list[Any]]] = {}
    for row in rows:
        days = series.setdefault(_key(row.merchant), {})
        if row.day in days:  # two spellings of one merchant on one day: one charge, and one (fixed) spelling
            day = days[row.day]
            day[0] += row.cents
            day[1], day[2] = max(day[1], row.merchant), max(day[2], row.category)
        else:
            days[row.day] = [row.cents, row.merchant, row.category]
    found = []
    for days in series.values():
        ordered = sorted(days.items())
        _, latest_merchant, latest_category = ordered[-1][1]
        charge = _recurring([(day, cents) for day, (cents, _, _) in ordered], latest_merchant, latest_category)
        running = _still_running(charge, today) if charge is not None else None
        if running is not None:
            found.append(running)
    found.sort(key=lambda c: (c.next_date, _key(c.merchant)))
    return found


def _recurring(charges: list[tuple[dt.date, int]], merchant: str, category: str) -> RecurringCharge | None:
    if len(charges) < 2:
        return None
    dates = [day for day, _ in charges]
    cents = [amount for _, amount in charges]
    cadence = _cadence(dates, cents)
    if cadence is None or not _amounts_hold(cents):
        return None
    changes = _price_changes(charges)
    typical = from_cents(_typical(charges, changes))
    anchor = _anchor_day(dates)
    return RecurringCharge(
        merchant=merchant,
        category=category,
        cadence=cadence.name,
        typical_amount=typical,
        last_date=dates[-1],
        next_date=_first_after(cadence, dates[-1], anchor),
        yearly_cost=typical * cadence.per_year,
        occurrences=len(charges),
        price_changes=tuple(changes),
        first_date=dates[0],
        charges=tuple(charges),
        anchor_day=anchor,
    )


def _cadence(dates: list[dt.date], cents: list[int]) -> Cadence | None:
    gaps = [(later - earlier).days for earlier, later in pairwise(dates)]
    for cadence in CADENCES:
        spans = [cadence.periods(gap) for gap in gaps]
        if None in spans:
            continue
        if spans.count(2) > max(1, len(gaps) // 4):
            continue
        needed = cadence.min_occurrences
        if cadence is YEARLY and len(dates) == 2 and cents[0] == cents[1]:
            needed = 2
        if len(dates) >= needed:
            return cadence
    return None


def _within(amount: int, level: int) -> bool:
    return abs(amount - level) * 5 <= level  # within 20 % of the level


def _levels(cents: list[int]) -> list[list[int]]:
    levels = [[cents[0]]]
    for amount in cents[1:]:
        if _within(amount, levels[-1][0]):
            levels[-1].append(amount)
        else:
            levels.append([amount])
    return levels


def _amounts_hold(cents: list[int]) -> bool:
    """Similar amounts, or a change of price that persists (see the module's rules)."""
    return all(len(level) >= 2 for level in _levels(cents)[1:])


def _runs(charges: list[tuple[dt.date, int]]) -> list[tuple[int, dt.date, int]]:
    """(cents, first date, length) of each run of equal consecutive amounts."""
    runs: list[tuple[int, dt.date, int]] = []
    for day, cents in charges:
        if runs and runs[-1][0] == cents:
            runs[-1] = (cents, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((cents, day, 1))
    return runs


def _price_changes(charges: list[tuple[dt.date, int]]) -> list[PriceChange]:
    runs = _runs(charges)
    changes = []
    for index, (before, after) in enumerate(pairwise(runs)):
        latest = index + 1 == len(runs) - 1
        if before[2] >= 2 and (after[2] >= 2 or latest):
            changes.append(PriceChange(after[1], from_cents(before[0]), from_cents(after[0])))
    return changes


def _typical(charges: list[tuple[dt.date, int]], changes: list[PriceChange]) -> int:
    """Cents: the latest price if there is one, else the median of the latest level's last three charges."""
    cents = [amount for _, amount in charges]
    if cents[-2] == cents[-1] or (changes and changes[-1].date == charges[-1][0]):
        return cents[-1]
    recent = sorted(_levels(cents)[-1][-3:])
    middle = len(recent) // 2
    if len(recent) % 2:
        return recent[middle]
    return half_up(Decimal(recent[middle - 1] + recent[middle]) / 2)


def half_up(value: Decimal) -> int:
    """A fractional number of cents rounded to whole cents, halves away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _anchor_day(dates: list[dt.date]) -> int:
    """The day of the month a monthly charge is made on: 31 when every charge fell on a month's last day,
    else the most frequent day (the later day on a tie)."""
    if all(day.day == calendar.monthrange(day.year, day.month)[1] for day in dates):
        return 31
    counts: dict[int, int] = {}
    for day in dates:
        counts[day.day] = counts.get(day.day, 0) + 1
    return max(counts, key=lambda d: (counts[d], d))


def _month_day(year: int, month: int, day: int) -> dt.date:
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _first_after(cadence: Cadence, last: dt.date, anchor: int) -> dt.date:
    """The next expected charge after the one of `last` (which may have come a few days early or late)."""
    if cadence is WEEKLY:
        return last + dt.timedelta(days=7)
    if cadence is YEARLY:
        return _month_day(last.year + 1, last.month, last.day)
    # Monthly: the first anchored day more than half a month after the last charge.
    year, month = last.year, last.month
    while True:
        candidate = _month_day(year, month, anchor)
        if candidate > last + dt.timedelta(days=15):
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _advance(cadence: Cadence, day: dt.date, anchor: int) -> dt.date:
    if cadence is WEEKLY:
        return day + dt.timedelta(days=7)
    if cadence is YEARLY:
        return _month_day(day.year + 1, day.month, day.day)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return _month_day(year, month, anchor)


def _still_running(charge: RecurringCharge, today: dt.date) -> RecurringCharge | None:
    """The charge with its next date moved past one missed occurrence; None if it missed two (it has ended)."""
    cadence = _CADENCE[charge.cadence]
    next_date = charge.next_date
    missed = 0
    while next_date < today - dt.timedelta(days=cadence.grace_days):
        next_date = _advance(cadence, next_date, charge.anchor_day)
        missed += 1
        if missed >= 2:
            return None
    return charge if next_date == charge.next_date else replace(charge, next_date=next_date)
