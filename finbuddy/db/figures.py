"""Figures the advisor answers locally: one user's totals over any date range, by category or merchant."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.summary import category_totals_stmt
from finbuddy.db.tables import records


def totals_by_category(conn: Connection, user_id: int, start: dt.date, end: dt.date) -> list[tuple[str, str, int, int]]:
    """(kind, category, total cents, count) over [start, end]: the summary's covering-index query, any range."""
    return [(k, c, int(t), int(n)) for k, c, t, n in conn.execute(category_totals_stmt(user_id, start, end))]


def merchant_names(conn: Connection, user_id: int) -> list[str]:
    """Every merchant name the user has recorded, as written (one row per spelling)."""
    stmt = (
        sa.select(records.c.merchant)
        .where(records.c.user_id == user_id, records.c.merchant.is_not(None))
        .distinct()
        .order_by(records.c.merchant)
    )
    return [row[0] for row in conn.execute(stmt)]


def merchant_expenses(
    conn: Connection, user_id: int, spellings: list[str], start: dt.date, end: dt.date
) -> tuple[int, int]:
    """(total cents, count) of the expenses in [start, end] at any of `spellings` (one merchant as written)."""
    stmt = sa.select(sa.func.coalesce(sa.func.sum(records.c.amount_cents), 0), sa.func.count()).where(
        records.c.user_id == user_id,
        records.c.kind == "expense",
        records.c.expense_date >= start,
        records.c.expense_date <= end,
        records.c.merchant.in_(spellings),
    )
    total, count = conn.execute(stmt).one()
    return int(total), int(count)
