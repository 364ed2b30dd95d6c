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
    merchant: str
    category: str


def merchant_key(column) -> sa.ColumnElement:
    """lower(merchant) without spaces (ordinary and no-break): "NETFLIX.COM" and "Netflix .com" are one merchant."""
    return sa.func.lower(sa.func.replace(sa.func.replace(column, " ", ""), "\u00a0", ""))


def recurring_candidates_stmt(user_id: int, since: dt.date, max_days: int = MAX_DAYS_PER_MERCHANT) -> sa.Select:
    """Per (merchant key, day) the summed expenses since `since`, for merchants seen on 2..max_days days,
    ordered by merchant and day: one range scan of the user's expenses, grouped twice in the database."""
    keyed = (
        sa.select(
            merchant_key(records.c.merchant).label("key"),
            records.c.expense_date.label("day"),
            records.c.amount_cents,
            records.c.merchant,
            records.c.category,
        )
        .where(
            records.c.user_id == user_id,
            records.c.kind == "expense",
            records.c.expense_date >= since,
            records.c.merchant.is_not(None),
        )
        .subquery("keyed")
    )
    per_day = (
        sa.select(
            keyed.c.key,
            keyed.c.day,
            sa.func.sum(keyed.c.amount_cents).label("cents"),
            sa.func.max(keyed.c.merchant).label("merchant"),
            sa.func.max(keyed.c.category).label("category"),
        )
        .group_by(keyed.c.key, keyed.c.day)
        .subquery("per_day")
    )
    counted = sa.select(per_day, sa.func.count().over(partition_by=per_day.c.key).label("days")).subquery("counted")
    return (
        sa.select(counted.c.key, counted.c.day, counted.c.cents, counted.c.merchant, counted.c.category)
        .where(counted.c.days.between(2, max_days))
        .order_by(counted.c.key, counted.c.day)
    )


def recurring_candidates(conn: Connection, user_id: int, since: dt.date) -> list[MerchantDay]:
    return [
        MerchantDay(key, day, int(cents), merchant, category)
        for key, day, cents, merchant, category in conn.execute(recurring_candidates_stmt(user_id, since))
    ]
