"""Record queries: insert, fetch, filter (newest first), update and delete, always scoped to one user."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from finbuddy.db.tables import budgets, records

RECORD_COLUMNS = (
    records.c.id,
    records.c.kind,
    records.c.amount_cents,
    records.c.expense_date,
    records.c.category,
    records.c.merchant,
    records.c.note,
)


def insert_record(conn: Connection, user_id: int, record_id: int, values: Mapping[str, Any], now: dt.datetime) -> None:
    conn.execute(sa.insert(records).values(user_id=user_id, id=record_id, created_at=now, updated_at=now, **values))


def get_record(conn: Connection, user_id: int, record_id: int) -> RowMapping | None:
    stmt = sa.select(*RECORD_COLUMNS).where(records.c.user_id == user_id, records.c.id == record_id)
    return conn.execute(stmt).mappings().first()


def _where(
    stmt: sa.Select,
    user_id: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
    category: str | None = None,
) -> sa.Select:
    stmt = stmt.where(records.c.user_id == user_id)
    if start is not None:
        stmt = stmt.where(records.c.expense_date >= start)
    if end is not None:
        stmt = stmt.where(records.c.expense_date <= end)
    if category is not None:
        stmt = stmt.where(records.c.category == category)
    return stmt


def select_records(
    user_id: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
    category: str | None = None,
    limit: int | None = None,
) -> sa.Select:
    """Newest first; served by ix_records_user_date (or ix_records_user_category with a category)."""
    stmt = _where(sa.select(*RECORD_COLUMNS), user_id, start, end, category)
    stmt = stmt.order_by(records.c.expense_date.desc(), records.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


def count_records(
    conn: Connection,
    user_id: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
    category: str | None = None,
) -> int:
    """How many records the filters of select_records match (an index-only count)."""
    stmt = _where(sa.select(sa.func.count()).select_from(records), user_id, start, end, category)
    return conn.execute(stmt).scalar_one()


def category_in_use(conn: Connection, user_id: int, category: str) -> bool:
    """Whether the user has a record or a budget in this category (two index lookups)."""
    in_records = sa.select(records.c.id).where(records.c.user_id == user_id, records.c.category == category)
    in_budgets = sa.select(budgets.c.category).where(budgets.c.user_id == user_id, budgets.c.category == category)
    stmt = sa.select(sa.or_(sa.exists(in_records), sa.exists(in_budgets)))
    return bool(conn.execute(stmt).scalar())


def user_categories(conn: Connection, user_id: int) -> list[str]:
    """Every category the user has a record or a budget in, sorted."""
    stmt = sa.union(
        sa.select(records.c.category).where(records.c.user_id == user_id).distinct(),
        sa.select(budgets.c.category).where(budgets.c.user_id == user_id),
    )
    return sorted(row[0] for row in conn.execute(stmt))


def find_records(conn: Connection, user_id: int, **filters: Any) -> list[RowMapping]:
    return list(conn.execute(select_records(user_id, **filters)).mappings())


def update_record(conn: Connection, user_id: int, record_id: int, changes: Mapping[str, Any], now: dt.datetime) -> bool:
    stmt = (
        sa.update(records)
        .where(records.c.user_id == user_id, records.c.id == record_id)
        .values(updated_at=now, **changes)
    )
    return conn.execute(stmt).rowcount == 1


def delete_record(conn: Connection, user_id: int, record_id: int) -> bool:
    stmt = sa.delete(records).where(records.c.user_id == user_id, records.c.id == record_id)
    return conn.execute(stmt).rowcount == 1
