"""Record queries: insert, fetch, filter (newest first), update and delete, always scoped to one user."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from finbuddy.db.tables import records

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


def select_records(
    user_id: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
    category: str | None = None,
    limit: int | None = None,
) -> sa.Select:
    """Newest first; served by ix_records_user_date (or ix_records_user_category with a category)."""
    stmt = sa.select(*RECORD_COLUMNS).where(records.c.user_id == user_id)
    if start is not None:
        stmt = stmt.where(records.c.expense_date >= start)
    if end is not None:
        stmt = stmt.where(records.c.expense_date <= end)
    if category is not None:
        stmt = stmt.where(records.c.category == category)
    stmt = stmt.order_by(records.c.expense_date.desc(), records.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


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
