"""The AI usage data: per-user and global daily call counters (atomic reservations, refunds) and the ledger of calls."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import dialect_insert
from finbuddy.db.tables import ai_calls, ai_global_usage, ai_quota

RESERVED, SUCCEEDED, REFUNDED, CACHE_HIT = "reserved", "succeeded", "refunded", "cache_hit"
# A line of a Batch API batch: reserved like a call, but answered within the batch's 24 h window, so the sweep of
# dead calls leaves it alone until that window has passed. It becomes 'succeeded' or 'refunded' like a call.
BATCHED = "batched"
OPEN = (RESERVED, BATCHED)  # the states a reservation is open in


def take_user_quota(conn: Connection, user_id: int, day: dt.date, limit: int) -> int | None:
    """Count one call against (user, day) unless `limit` calls are already counted: one atomic
    statement, so racing processes can never both take the last call. Returns the new count, or None."""
    if limit <= 0:
        return None
    insert = dialect_insert(conn)
    stmt = insert(ai_quota).values(user_id=user_id, day=day, used=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "day"],
        set_={"used": ai_quota.c.used + 1},
        where=ai_quota.c.used < limit,
    ).returning(ai_quota.c.used)
    return conn.execute(stmt).scalar()


def take_global_quota(conn: Connection, day: dt.date, limit: int) -> int | None:
    """Count one call against the global daily limit (same single-statement rule). Returns the new count, or None."""
    if limit <= 0:
        return None
    insert = dialect_insert(conn)
    stmt = insert(ai_global_usage).values(day=day, used=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day"],
        set_={"used": ai_global_usage.c.used + 1},
        where=ai_global_usage.c.used < limit,
    ).returning(ai_global_usage.c.used)
    return conn.execute(stmt).scalar()


def take_global_quota_block(conn: Connection, day: dt.date, count: int, limit: int) -> int:
    """Count up to `count` calls against the global daily limit at once, as many as fit under `limit`; returns how
    many were taken (0 when none fit). Each try is one atomic statement, like take_global_quota; when not all fit,
    the next try asks for what was left (another process may take it first: then for less again)."""
    while count > 0 and limit > 0:
        count = min(count, limit)
        insert = dialect_insert(conn)
        stmt = insert(ai_global_usage).values(day=day, used=count)
        stmt = stmt.on_conflict_do_update(
            index_elements=["day"],
            set_={"used": ai_global_usage.c.used + count},
            where=ai_global_usage.c.used + count <= limit,
        ).returning(ai_global_usage.c.used)
        if conn.execute(stmt).scalar() is not None:
            return count
        count = min(count, limit - global_used(conn, day))
    return 0


def give_back_global_quota(conn: Connection, day: dt.date, count: int) -> None:
    """Return `count` calls taken from the global daily limit and not used (never below 0)."""
    if count > 0:
        used = ai_global_usage.c.used
        conn.execute(
            sa.update(ai_global_usage)
            .where(ai_global_usage.c.day == day)
            .values(used=sa.case((used > count, used - count), else_=0))
        )


def insert_call(conn: Connection, **values: Any) -> None:
    conn.execute(sa.insert(ai_calls).values(**values))


def insert_calls(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Many ledger rows in one executemany."""
    if rows:
        conn.execute(sa.insert(ai_calls), rows)


def finish_call(
    conn: Connection,
    user_id: int | None,
    call_id: str,
    *,
    tokens_in: int,
    tokens_out: int,
    cost_micro_usd: int,
    latency_ms: int,
    model: str,
    now: dt.datetime,
) -> bool:
    """reserved (or batched) → succeeded. If a sweep refunded the reservation meanwhile, the call did happen:
    mark it succeeded and count it again (without a limit: it is already spent). A None user_id matches no call."""
    values = dict(
        status=SUCCEEDED,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_micro_usd=cost_micro_usd,
        latency_ms=latency_ms,
        model=model[:64],
        finished_at=now,
        error=None,
    )
    key = (ai_calls.c.user_id == user_id) & (ai_calls.c.id == call_id)
    done = conn.execute(sa.update(ai_calls).where(key, ai_calls.c.status.in_(OPEN)).values(**values)).rowcount
    if done:
        return True
    row = conn.execute(
        sa.update(ai_calls)
        .where(key, ai_calls.c.status == REFUNDED)
        .values(**values)
        .returning(ai_calls.c.day, ai_calls.c.global_day, ai_calls.c.counts_quota)
    ).first()
    if row is None:
        return False
    _adjust_counters(conn, user_id, row, +1)
    return True


def refund_call(conn: Connection, user_id: int | None, call_id: str, error: str, now: dt.datetime) -> bool:
    """reserved (or batched) → refunded, giving the call back to the user's quota and the global limit. Happens once:
    the status change is the guard, so a second refund (or a sweep racing a refund) changes nothing.
    A None user_id matches no call."""
    row = conn.execute(
        sa.update(ai_calls)
        .where(ai_calls.c.user_id == user_id, ai_calls.c.id == call_id, ai_calls.c.status.in_(OPEN))
        .values(status=REFUNDED, error=error[:300], finished_at=now)
        .returning(ai_calls.c.day, ai_calls.c.global_day, ai_calls.c.counts_quota)
    ).first()
    if row is None:
        return False
    _adjust_counters(conn, user_id, row, -1)
    return True


def _adjust_counters(conn: Connection, user_id: int | None, row: sa.Row[Any], delta: int) -> None:
    """Count a call again (+1) or give it back (-1) on the user's quota day (if it counts) and the global day.
    Neither limit applies here: the call already happened or is being returned; counters never go below 0."""
    quota_where = [ai_quota.c.user_id == user_id, ai_quota.c.day == row.day]
    global_where = [ai_global_usage.c.day == row.global_day]
    if delta < 0:
        quota_where.append(ai_quota.c.used > 0)
        global_where.append(ai_global_usage.c.used > 0)
    if row.counts_quota:
        conn.execute(sa.update(ai_quota).where(*quota_where).values(used=ai_quota.c.used + delta))
    conn.execute(sa.update(ai_global_usage).where(*global_where).values(used=ai_global_usage.c.used + delta))


def stale_reservations(conn: Connection, older_than: dt.datetime, limit: int = 1000) -> list[tuple[int, str]]:
    """(user id, call id) of reservations still 'reserved' that were made before `older_than`, oldest first
    (in one total order, so concurrent sweeps meet the rows in the same order)."""
    stmt = (
        sa.select(ai_calls.c.user_id, ai_calls.c.id)
        .where(ai_calls.c.status == RESERVED, ai_calls.c.created_at < older_than)
        .order_by(ai_calls.c.created_at, ai_calls.c.user_id, ai_calls.c.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in conn.execute(stmt)]


def stale_batch_lines(conn: Connection, older_than: dt.datetime, limit: int = 1000) -> list[tuple[int, str]]:
    """(user id, call id) of batch lines still 'batched' that were reserved before `older_than` (their batch's
    window is over), oldest first, in the same total order as stale_reservations."""
    stmt = (
        sa.select(ai_calls.c.user_id, ai_calls.c.id)
        .where(ai_calls.c.status == BATCHED, ai_calls.c.created_at < older_than)
        .order_by(ai_calls.c.created_at, ai_calls.c.user_id, ai_calls.c.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in conn.execute(stmt)]


def user_quota_used(conn: Connection, user_id: int | None, day: dt.date) -> int:
    if user_id is None:
        return 0
    stmt = sa.select(ai_quota.c.used).where(ai_quota.c.user_id == user_id, ai_quota.c.day == day)
    return conn.execute(stmt).scalar() or 0


def global_used(conn: Connection, day: dt.date) -> int:
    return conn.execute(sa.select(ai_global_usage.c.used).where(ai_global_usage.c.day == day)).scalar() or 0


def usage_by_day(conn: Connection, start: dt.date, end: dt.date, user_id: int | None) -> list[dict[str, Any]]:
    """Ledger totals per day in [start, end]: a user's by their quota day, everyone's by the global (UTC) day.
    One dict per day with data: day, calls, failed, in_flight, cache_hits, tokens_in, tokens_out, cost_micro_usd."""
    day_col = ai_calls.c.day if user_id is not None else ai_calls.c.global_day

    def count(*statuses: str) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((ai_calls.c.status.in_(statuses), 1), else_=0))

    def total(column: sa.Column[int], status: str = SUCCEEDED) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((ai_calls.c.status == status, column), else_=0))

    stmt = (
        sa.select(
            day_col.label("day"),
            count(SUCCEEDED).label("calls"),
            count(REFUNDED).label("failed"),
            count(*OPEN).label("in_flight"),
            count(CACHE_HIT).label("cache_hits"),
            total(ai_calls.c.tokens_in).label("tokens_in"),
            total(ai_calls.c.tokens_out).label("tokens_out"),
            total(ai_calls.c.cost_micro_usd).label("cost_micro_usd"),
        )
        .where(day_col >= start, day_col <= end)
        .group_by(day_col)
        .order_by(day_col)
    )
    if user_id is not None:
        stmt = stmt.where(ai_calls.c.user_id == user_id)
    return [
        {name: value if name == "day" else int(value or 0) for name, value in row.items()}
        for row in conn.execute(stmt).mappings()
    ]
