"""Recurring-charge candidates: per merchant (case and spacing ignored) the dated amounts, aggregated in SQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.tables import records

# A merchant seen on more days than this in the look-back is a shop, not a subscription: a weekly charge over
# the look-back (see ledger.recurring.LOOKBACK_DAYS) is about 115 days. Leaving such merchants out in SQL keeps
# the rows sent to Python few even for a user with a million records.
MAX_DAYS_PER_MERCHANT = 130


@dataclass(frozen=True)
class MerchantDay:
    """One merchant's expenses of one day: summed, with the spelling and category seen that day."""

    key: str  # the merchant, lower case and without spaces (the SQL side of the key; see ledger.recurring)
    day: dt.date
    cents: int
    merchant: str  # as spelled on those records (one spelling per row: spellings of one key come apart)
    category: str


def merchant_key(column: sa.ColumnElement[str | None]) -> sa.ColumnElement:
    """lower(merchant) without spaces (ordinary and no-break): "NETFLIX.COM" and "Netflix .com" are one merchant."""
    return sa.func.lower(sa.func.replace(sa.func.replace(column, " ", ""), "\u00a0", ""))


def recurring_candidates_stmt(user_id: int, since: dt.date, max_days: int = MAX_DAYS_PER_MERCHANT) -> sa.Select:
    """Per (merchant, day) the summed expenses since `since`, for merchants (by merchant_key) seen on 2..max_days
    days.

    The first GROUP BY follows ix_records_user_kind_merchant (covering, already in merchant and date order: no
    sort, no table lookups); the key and the count per key are then computed over those grouped rows only."""
    per_day = (
        sa.select(
            records.c.merchant,
            records.c.expense_date.label("day"),
            sa.func.sum(records.c.amount_cents).label("cents"),
            sa.func.max(records.c.category).label("category"),
        )
        .where(
            records.c.user_id == user_id,
            records.c.kind == "expense",
            records.c.merchant.is_not(None),
            records.c.expense_date >= since,
        )
        .group_by(records.c.merchant, records.c.expense_date)
        .subquery("per_day")
    )
    key = merchant_key(per_day.c.merchant)
    counted = sa.select(
        key.label("key"),
        per_day.c.day,
        per_day.c.cents,
        per_day.c.merchant,
        per_day.c.category,
        sa.func.count().over(partition_by=key).label("days"),
    ).subquery("counted")
    # No ORDER BY: the rows are grouped again per merchant in Python, which orders each series itself.
    return sa.select(counted.c.key, counted.c.day, counted.c.cents, counted.c.merchant, counted.c.category).where(
        counted.c.days.between(2, max_days)
    )


def recurring_candidates(conn: Connection, user_id: int, since: dt.date) -> list[MerchantDay]:
    return [
        MerchantDay(key, day, int(cents), merchant, category)
        for key, day, cents, merchant, category in conn.execute(recurring_candidates_stmt(user_id, since))
    ]
