"""Spending per category and month for `trend`: one GROUP BY over the covering index, never records in Python."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.tables import records


def monthly_category_totals_stmt(user_id: int, start: dt.date, end: dt.date, category: str | None = None) -> sa.Select:
    """Expenses per (category, year, month) in [start, end]: a range scan of ix_records_user_kind_date (covering)."""
    year = sa.extract("year", records.c.expense_date)
    month = sa.extract("month", records.c.expense_date)
    conditions = [
        records.c.user_id == user_id,
        records.c.kind == "expense",
        records.c.expense_date >= start,
        records.c.expense_date <= end,
    ]
    if category is not None:
        conditions.append(records.c.category == category)
    return (
        sa.select(records.c.category, year.label("year"), month.label("month"), sa.func.sum(records.c.amount_cents))
        .where(*conditions)
        .group_by(records.c.category, year, month)
    )


def monthly_category_totals(
    conn: Connection, user_id: int, start: dt.date, end: dt.date, category: str | None = None
) -> list[tuple[str, int, int, int]]:
    """(category, year, month, cents) of every category and month with spending."""
    stmt = monthly_category_totals_stmt(user_id, start, end, category)
    return [(c, int(y), int(m), int(t)) for c, y, m, t in conn.execute(stmt)]
