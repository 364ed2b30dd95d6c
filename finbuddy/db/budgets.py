"""Budget queries: one monthly amount per (user, category)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import dialect_insert
from finbuddy.db.tables import budgets


def upsert_budget(conn: Connection, user_id: int, category: str, amount_cents: int, now: dt.datetime) -> None:
    insert = dialect_insert(conn)
    stmt = insert(budgets).values(user_id=user_id, category=category, amount_cents=amount_cents, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "category"],
        set_={"amount_cents": stmt.excluded.amount_cents, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt)


def list_budgets(conn: Connection, user_id: int) -> list[tuple[str, int]]:
    stmt = (
        sa.select(budgets.c.category, budgets.c.amount_cents)
        .where(budgets.c.user_id == user_id)
        .order_by(budgets.c.category)
    )
    return [(row[0], row[1]) for row in conn.execute(stmt)]


def delete_budget(conn: Connection, user_id: int, category: str) -> bool:
    stmt = sa.delete(budgets).where(budgets.c.user_id == user_id, budgets.c.category == category)
    return conn.execute(stmt).rowcount == 1
