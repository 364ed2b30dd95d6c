"""Budget alerts in the database: written for every user in one INSERT ... SELECT, read per user and month."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import dialect_insert
from finbuddy.db.tables import budget_alerts, budgets, records

THRESHOLDS = (80, 100)


def write_alerts(conn: Connection, start: dt.date, end: dt.date, now: dt.datetime, user_id: int | None = None) -> int:
    """Write an alert for each budget whose spending in the month [start, end] reached 80 % or 100 % of it, unless
    that budget (category and amount) already has an alert at that threshold or a higher one this month; returns
    how many were written. Only the highest threshold reached is written: a budget found at 105 % gets one alert
    (100), not two. Idempotent: running it again writes nothing new (and two runs at once cannot both write one).
    """
    amount = records.c.amount_cents
    spent_where = [records.c.kind == "expense", records.c.expense_date >= start, records.c.expense_date <= end]
    if user_id is not None:
        spent_where.insert(0, records.c.user_id == user_id)
    spent = (
        sa.select(records.c.user_id, records.c.category, sa.func.sum(amount).label("spent"))
        .where(*spent_where)
        .group_by(records.c.user_id, records.c.category)
        .subquery("spent")
    )
    low, high = THRESHOLDS
    reached = sa.case((spent.c.spent * 100 >= budgets.c.amount_cents * high, high), else_=low)
    earlier = budget_alerts.alias("earlier")
    already = (
        sa.exists()
        .where(
            earlier.c.user_id == budgets.c.user_id,
            earlier.c.month == start,
            earlier.c.category == budgets.c.category,
            earlier.c.budget_cents == budgets.c.amount_cents,
            earlier.c.threshold >= reached,
        )
        .correlate(budgets, spent)
    )
    # SQLite needs the WHERE clause to tell a join's ON from the upsert's ON CONFLICT.
    select = (
        sa.select(
            budgets.c.user_id,
            sa.literal(start, sa.Date()),
            budgets.c.category,
            budgets.c.amount_cents,
            reached,
            spent.c.spent,
            sa.literal(now, sa.DateTime(timezone=True)),
        )
        .select_from(
            budgets.join(spent, sa.and_(spent.c.user_id == budgets.c.user_id, spent.c.category == budgets.c.category))
        )
        .where(spent.c.spent * 100 >= budgets.c.amount_cents * low, ~already)
    )
    insert = dialect_insert(conn)
    columns = ["user_id", "month", "category", "budget_cents", "threshold", "spent_cents", "created_at"]
    stmt = insert(budget_alerts).from_select(columns, select).on_conflict_do_nothing()
    # Counted from RETURNING: psycopg reports no rowcount (-1) for INSERT ... SELECT ... ON CONFLICT.
    return len(conn.execute(stmt.returning(budget_alerts.c.threshold)).all())


def read_alerts(
    conn: Connection, user_id: int, months: list[dt.date], written_since: dt.datetime | None = None
) -> list[sa.RowMapping]:
    """The user's alerts of `months` (first days), and (if given) any written since `written_since`; newest first."""
    return list(conn.execute(alerts_stmt(user_id, months, written_since)).mappings())


def alerts_stmt(user_id: int, months: list[dt.date], written_since: dt.datetime | None = None) -> sa.Select:
    """read_alerts' statement: a range of the primary key (user_id, month ...)."""
    wanted: sa.ColumnElement[bool] = budget_alerts.c.month.in_(months)
    if written_since is not None:
        wanted = sa.or_(wanted, budget_alerts.c.created_at >= written_since)
    return (
        sa.select(
            budget_alerts.c.month,
            budget_alerts.c.category,
            budget_alerts.c.budget_cents,
            budget_alerts.c.threshold,
            budget_alerts.c.spent_cents,
            budget_alerts.c.created_at,
        )
        .where(budget_alerts.c.user_id == user_id, wanted)
        .order_by(
            budget_alerts.c.created_at.desc(),
            budget_alerts.c.threshold.desc(),
            budget_alerts.c.category,
        )
    )
