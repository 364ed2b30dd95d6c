"""Holdings and price queries, always scoped to one user; every change is followed by a portfolio version bump."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import dialect_insert
from finbuddy.db.tables import holdings, prices

_CHUNK = 500


def get_holding(conn: Connection, user_id: int, ticker: str) -> tuple[int, int | None, int] | None:
    """(quantity_e8, cost_micros, cost_quantity_e8) of one holding, or None."""
    row = conn.execute(
        sa.select(holdings.c.quantity_e8, holdings.c.cost_micros, holdings.c.cost_quantity_e8).where(
            holdings.c.user_id == user_id, holdings.c.ticker == ticker
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def upsert_holding(
    conn: Connection,
    user_id: int,
    ticker: str,
    quantity_e8: int,
    cost_micros: int | None,
    cost_quantity_e8: int,
    now: dt.datetime,
) -> None:
    stmt = dialect_insert(conn)(holdings).values(
        user_id=user_id,
        ticker=ticker,
        quantity_e8=quantity_e8,
        cost_micros=cost_micros,
        cost_quantity_e8=cost_quantity_e8,
        created_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "ticker"],
        set_={
            "quantity_e8": stmt.excluded.quantity_e8,
            "cost_micros": stmt.excluded.cost_micros,
            "cost_quantity_e8": stmt.excluded.cost_quantity_e8,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    conn.execute(stmt)


def delete_holding(conn: Connection, user_id: int, ticker: str) -> bool:
    stmt = sa.delete(holdings).where(holdings.c.user_id == user_id, holdings.c.ticker == ticker)
    return conn.execute(stmt).rowcount == 1


def upsert_prices(
    conn: Connection, user_id: int, quotes: Iterable[tuple[str, int, dt.date]], source: str, now: dt.datetime
) -> int:
    """Store (ticker, price_micros, price_date) rows; a price of the same ticker and day is replaced,
    other days are kept (history). Returns how many rows were written."""
    rows = [
        {"user_id": user_id, "ticker": t, "price_micros": p, "price_date": d, "source": source, "updated_at": now}
        for t, p, d in quotes
    ]
    if not rows:
        return 0
    stmt = dialect_insert(conn)(prices)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "ticker", "price_date"],
        set_={
            "price_micros": stmt.excluded.price_micros,
            "source": stmt.excluded.source,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    conn.execute(stmt, rows)
    return len(rows)


def latest_prices(conn: Connection, user_id: int, tickers: Iterable[str]) -> dict[str, tuple[int, dt.date]]:
    """{ticker: (price_micros, price_date)} of each ticker's latest price (tickers without one are absent)."""
    wanted = sorted(set(tickers))
    latest = prices.alias("latest")
    newest = (
        sa.select(sa.func.max(latest.c.price_date))
        .where(latest.c.user_id == prices.c.user_id, latest.c.ticker == prices.c.ticker)
        .scalar_subquery()
    )
    found: dict[str, tuple[int, dt.date]] = {}
    for at in range(0, len(wanted), _CHUNK):  # bounded parameter lists, however long a price file is
        stmt = sa.select(prices.c.ticker, prices.c.price_micros, prices.c.price_date).where(
            prices.c.user_id == user_id, prices.c.ticker.in_(wanted[at : at + _CHUNK]), prices.c.price_date == newest
        )
        found.update((r[0], (r[1], r[2])) for r in conn.execute(stmt))
    return found


def holdings_with_prices(
    conn: Connection, user_id: int
) -> list[tuple[str, int, int | None, int, int | None, dt.date | None]]:
    """(ticker, quantity_e8, cost_micros, cost_quantity_e8, price_micros, price_date) of every holding,
    by ticker, with its ticker's latest price (None without one)."""
    latest = prices.alias("latest")
    newest = (
        sa.select(sa.func.max(latest.c.price_date))
        .where(latest.c.user_id == holdings.c.user_id, latest.c.ticker == holdings.c.ticker)
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            holdings.c.ticker,
            holdings.c.quantity_e8,
            holdings.c.cost_micros,
            holdings.c.cost_quantity_e8,
            prices.c.price_micros,
            prices.c.price_date,
        )
        .select_from(
            holdings.outerjoin(
                prices,
                sa.and_(
                    prices.c.user_id == holdings.c.user_id,
                    prices.c.ticker == holdings.c.ticker,
                    prices.c.price_date == newest,
                ),
            )
        )
        .where(holdings.c.user_id == user_id)
        .order_by(holdings.c.ticker)
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(stmt)]


def list_holdings(conn: Connection, user_id: int) -> list[tuple[str, int, int | None, int]]:
    """(ticker, quantity_e8, cost_micros, cost_quantity_e8) of every holding, by ticker."""
    stmt = (
        sa.select(holdings.c.ticker, holdings.c.quantity_e8, holdings.c.cost_micros, holdings.c.cost_quantity_e8)
        .where(holdings.c.user_id == user_id)
        .order_by(holdings.c.ticker)
    )
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(stmt)]
