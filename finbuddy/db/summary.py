"""Month aggregates for `summary`: GROUP BY queries on the covering index, never records loaded into Python."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.tables import budgets, records

TOP_MERCHANTS = 5


@dataclass(frozen=True)
class MonthAggregates:
    """Raw figures of one user's month, in cents."""

    by_kind_category: list[tuple[str, str, int, int]]  # (kind, category, total, count)
    daily: list[tuple[dt.date, int]]  # expense days only, ascending
    top_merchants: list[tuple[str, int, int]]  # (merchant, total, count), largest first
    budgets: list[tuple[str, int]]


def _in_period(start: dt.date, end: dt.date) -> sa.ColumnElement[bool]:
    return sa.and_(records.c.expense_date >= start, records.c.expense_date <= end)


def category_totals_stmt(user_id: int, start: dt.date, end: dt.date) -> sa.Select:
    """Totals and counts per (kind, category): a range scan of ix_records_user_kind_date (covering)."""
    total = sa.func.sum(records.c.amount_cents)
    return (
        sa.select(records.c.kind, records.c.category, total, sa.func.count())
        .where(records.c.user_id == user_id, records.c.kind.in_(("expense", "income")), _in_period(start, end))
        .group_by(records.c.kind, records.c.category)
    )


def daily_totals_stmt(user_id: int, start: dt.date, end: dt.date) -> sa.Select:
    """Expenses per day: the same index, already in date order."""
    return (
        sa.select(records.c.expense_date, sa.func.sum(records.c.amount_cents))
        .where(records.c.user_id == user_id, records.c.kind == "expense", _in_period(start, end))
        .group_by(records.c.expense_date)
        .order_by(records.c.expense_date)
    )


def top_merchants_stmt(user_id: int, start: dt.date, end: dt.date, limit: int = TOP_MERCHANTS) -> sa.Select:
    total = sa.func.sum(records.c.amount_cents).label("total")
    return (
        sa.select(records.c.merchant, total, sa.func.count())
        .where(
            records.c.user_id == user_id,
            records.c.kind == "expense",
            _in_period(start, end),
            records.c.merchant.is_not(None),
        )
        .group_by(records.c.merchant)
        .order_by(total.desc(), records.c.merchant)
        .limit(limit)
    )


def compared_expenses_stmt(
    user_id: int, start: dt.date, end: dt.date, previous_start: dt.date, previous_end: dt.date
) -> sa.Select:
    """Expenses per category in [start, end] and in the earlier [previous_start, previous_end]:
    one range scan of ix_records_user_kind_date from previous_start to end (covering)."""
    amount = records.c.amount_cents
    current = sa.func.sum(sa.case((records.c.expense_date >= start, amount), else_=0))
    previous = sa.func.sum(sa.case((records.c.expense_date <= previous_end, amount), else_=0))
    return (
        sa.select(records.c.category, current, previous)
        .where(
            records.c.user_id == user_id,
            records.c.kind == "expense",
            _in_period(previous_start, end),
            sa.or_(records.c.expense_date >= start, records.c.expense_date <= previous_end),
        )
        .group_by(records.c.category)
    )


def compared_expenses(
    conn: Connection, user_id: int, start: dt.date, end: dt.date, previous_start: dt.date, previous_end: dt.date
) -> list[tuple[str, int, int]]:
    """(category, total in [start, end], total in [previous_start, previous_end]) of every category spent in either."""
    stmt = compared_expenses_stmt(user_id, start, end, previous_start, previous_end)
    return [(c, int(t), int(p)) for c, t, p in conn.execute(stmt)]


def budgets_stmt(user_id: int) -> sa.Select:
    return sa.select(budgets.c.category, budgets.c.amount_cents).where(budgets.c.user_id == user_id)


def month_aggregates(conn: Connection, user_id: int, start: dt.date, end: dt.date) -> MonthAggregates:
    """The month's own figures for `summary`, in four indexed queries (the comparison is compared_expenses)."""
    return MonthAggregates(
        by_kind_category=[
            (k, c, int(t), int(n)) for k, c, t, n in conn.execute(category_totals_stmt(user_id, start, end))
        ],
        daily=[(d, int(t)) for d, t in conn.execute(daily_totals_stmt(user_id, start, end))],
        top_merchants=[(m, int(t), int(n)) for m, t, n in conn.execute(top_merchants_stmt(user_id, start, end))],
        budgets=[(c, int(a)) for c, a in conn.execute(budgets_stmt(user_id))],
    )


def compiled_sql(stmt: sa.Select, dialect: str) -> str:
    """The statement as literal SQL for `dialect` (benchmarks run it through the raw driver)."""
    target: sa.engine.Dialect
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        target = postgresql.dialect()
    else:
        from sqlalchemy.dialects import sqlite

        target = sqlite.dialect()
    return str(stmt.compile(dialect=target, compile_kwargs={"literal_binds": True}))
