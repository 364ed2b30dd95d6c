"""Daily insights in the database: one row per user and local day, claimed before the AI call, then done or failed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import as_utc, dialect_insert
from finbuddy.db.tables import holdings, insights, records, users


def _length(column: sa.Column) -> int:
    length = cast(sa.String, column.type).length
    assert length is not None, f"{column} is a bounded string column"
    return length


ERROR_LENGTH = _length(insights.c.error)
OWNER_LENGTH = _length(insights.c.claimed_by)  # a worker identity


@dataclass(frozen=True)
class InsightState:
    """Where one user stands for one day: their insight row, if any."""

    user_id: int
    user: str
    status: str | None  # None: no row yet
    attempts: int
    claimed_by: str | None
    claimed_at: dt.datetime | None
    day: dt.date | None = None  # the (local) day the row is for
    timezone: str | None = None  # the user's own zone and currency (users row; None: the install's settings)
    currency: str | None = None
    updated_at: dt.datetime | None = None  # for a 'queued' row: when it was queued


# Read by name (not position) in _state, so a column added here needs no other change.
_COLUMNS = (
    users.c.id.label("user_id"),
    users.c.name.label("user"),
    insights.c.status,
    insights.c.attempts,
    insights.c.claimed_by,
    insights.c.claimed_at,
    users.c.timezone,
    users.c.currency,
    insights.c.updated_at,
)


def _states(day: dt.date) -> sa.Select:
    joined = users.outerjoin(insights, sa.and_(insights.c.user_id == users.c.id, insights.c.day == day))
    return sa.select(*_COLUMNS).select_from(joined)


def _state(row: sa.Row, day: dt.date, found: bool = True) -> InsightState:
    """The state from a row of _COLUMNS; `found=False`: the user's columns only (no insight row for `day`)."""
    return InsightState(
        user_id=row.user_id,
        user=row.user,
        status=row.status if found else None,
        attempts=(row.attempts or 0) if found else 0,
        claimed_by=row.claimed_by if found else None,
        claimed_at=as_utc(row.claimed_at) if found else None,
        updated_at=as_utc(row.updated_at) if found else None,
        day=day,
        timezone=row.timezone,
        currency=row.currency,
    )


def _has_data() -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.exists().where(records.c.user_id == users.c.id),
        sa.exists().where(holdings.c.user_id == users.c.id),
    )


def insight_states(conn: Connection, day: dt.date) -> list[InsightState]:
    """Every user with data (records or holdings) and their insight row for `day`, if any, in user order."""
    return [_state(row, day) for row in conn.execute(_states(day).where(_has_data()).order_by(users.c.id))]


def local_insight_states(
    conn: Connection, local_day: Callable[[str | None], dt.date], first: dt.date, last: dt.date
) -> list[InsightState]:
    """Every user with data and their insight row for their own local day, in user order, by one query.

    `local_day(users.timezone)` is a user's day now (None: the install's zone); every such day lies in
    [`first`, `last`] (the UTC day ± 1 holds all zones). The query reads each user's rows of those days through
    the (user_id, day) key, and the row of the user's own day is picked here: SQL cannot turn an IANA zone into
    a date on SQLite.
    """
    joined = users.outerjoin(
        insights,
        sa.and_(insights.c.user_id == users.c.id, insights.c.day >= first, insights.c.day <= last),
    )
    stmt = (
        sa.select(*_COLUMNS, insights.c.day.label("row_day"))
        .select_from(joined)
        .where(_has_data())
        .order_by(users.c.id)
    )
    states: list[InsightState] = []
    for row in conn.execute(stmt):
        if not states or states[-1].user_id != row.user_id:
            states.append(_state(row, local_day(row.timezone), found=False))
        if row.row_day is not None and row.row_day == states[-1].day:
            states[-1] = _state(row, row.row_day)
    return states


def insight_state(conn: Connection, user: str, day: dt.date) -> InsightState | None:
    """One user's insight row for `day` (status None if there is none yet), with their stored zone and currency;
    None if there is no such user."""
    row = conn.execute(_states(day).where(users.c.name == user)).first()
    return _state(row, day) if row is not None else None


def claim_insight(
    conn: Connection,
    user_id: int,
    day: dt.date,
    worker: str,
    now: dt.datetime,
    stale_before: dt.datetime,
    max_attempts: int,
    dead_owner: str | None = None,
) -> int | None:
    """Claim (user, day) for `worker` in one atomic statement; returns the attempt number, or None if not ours.

    A new row is inserted as 'claimed'. An existing row is taken over only if it is 'queued' (planned for a queue
    worker), 'failed' with attempts left, or 'claimed' by an owner known to be dead (`dead_owner`, compared and
    swapped) or since before `stale_before` (longer ago than any call can take). A 'done' row is never touched.
    """
    insert = dialect_insert(conn)
    stmt = insert(insights).values(
        user_id=user_id,
        day=day,
        status="claimed",
        attempts=1,
        claimed_by=worker,
        claimed_at=now,
        updated_at=now,
    )
    retake = sa.or_(
        sa.and_(insights.c.status == "failed", insights.c.attempts < max_attempts),
        insights.c.status == "queued",
        sa.and_(insights.c.status == "claimed", insights.c.claimed_at < stale_before),
    )
    if dead_owner is not None:
        retake = sa.or_(retake, sa.and_(insights.c.status == "claimed", insights.c.claimed_by == dead_owner))
    stmt = stmt.on_conflict_do_update(
        index_elements=[insights.c.user_id, insights.c.day],
        set_={
            "status": "claimed",
            "attempts": insights.c.attempts + 1,
            "claimed_by": stmt.excluded.claimed_by,
            "claimed_at": stmt.excluded.claimed_at,
            "updated_at": stmt.excluded.updated_at,
            "error": None,
        },
        where=retake,
    ).returning(insights.c.attempts)
    return conn.execute(stmt).scalar()


# The states of a row held by a worker: 'claimed' by a process calling the AI, 'batched' by a line of a Batch API
# batch (claimed_by 'batch:<id>'), which only that batch's results finish or fail.
HELD_STATES = ("claimed", "batched")


def queue_insights(
    conn: Connection,
    day: dt.date,
    user_ids: list[int],
    now: dt.datetime,
    requeue_before: dt.datetime,
    stale_before: dt.datetime,
    max_attempts: int,
) -> list[int]:
    """Mark the users' rows for `day` 'queued' (planned for a queue worker) in one atomic statement; returns the
    ids marked, which are the ones to enqueue.

    A user with no row gets one. An existing row is marked only if it 'failed' with attempts left, was 'queued'
    before `requeue_before` (its message is presumed lost: dead-lettered or purged), or is 'claimed' since before
    `stale_before` (its worker is gone). A 'done' row, a live claim and a recent 'queued' row are left alone, so
    two planners running at once never enqueue the same user twice. `updated_at` is when it was queued.
    """
    if not user_ids:
        return []
    insert = dialect_insert(conn)
    stmt = insert(insights).values(
        [{"user_id": user_id, "day": day, "status": "queued", "attempts": 0, "updated_at": now} for user_id in user_ids]
    )
    again = sa.or_(
        sa.and_(insights.c.status == "failed", insights.c.attempts < max_attempts),
        sa.and_(insights.c.status == "queued", insights.c.updated_at < requeue_before),
        sa.and_(insights.c.status == "claimed", insights.c.claimed_at < stale_before),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[insights.c.user_id, insights.c.day],
        set_={"status": "queued", "error": None, "updated_at": stmt.excluded.updated_at},
        where=again,
    ).returning(insights.c.user_id)
    return [row[0] for row in conn.execute(stmt)]


def _our_claim(user_id: int, day: dt.date, worker: str) -> sa.ColumnElement[bool]:
    """The insight row this worker claimed and still holds (a stale claim retaken by another is not ours)."""
    return sa.and_(
        insights.c.user_id == user_id,
        insights.c.day == day,
        insights.c.status.in_(HELD_STATES),
        insights.c.claimed_by == worker,
    )


def finish_insight(
    conn: Connection,
    user_id: int,
    day: dt.date,
    worker: str,
    now: dt.datetime,
    text: str,
    source: str,
    model: str | None,
    figures: Any,
) -> bool:
    """Store the insight on our claim; False if the claim is no longer ours (it went stale and was retaken).

    `source` and `model` are what the provider reported, clamped to their columns: a model name longer than
    the column must not cost the user an insight that was paid for (PostgreSQL refuses the whole row).
    """
    stmt = (
        sa.update(insights)
        .where(_our_claim(user_id, day, worker))
        .values(
            status="done",
            text=text,
            source=source[: _length(insights.c.source)],
            model=model[: _length(insights.c.model)] if model is not None else None,
            figures=json.dumps(figures, ensure_ascii=False, default=str) if figures is not None else None,
            error=None,
            updated_at=now,
        )
    )
    return conn.execute(stmt).rowcount == 1


def fail_insight(
    conn: Connection,
    user_id: int,
    day: dt.date,
    worker: str,
    now: dt.datetime,
    error: str,
    count_attempt: bool = True,
) -> bool:
    """Record a failure on our claim, to be retried by a later run; `count_attempt=False` gives the attempt back."""
    values: dict[str, Any] = {"status": "failed", "error": error[:ERROR_LENGTH], "updated_at": now}
    if not count_attempt:
        values["attempts"] = insights.c.attempts - 1
    stmt = sa.update(insights).where(_our_claim(user_id, day, worker)).values(**values)
    return conn.execute(stmt).rowcount == 1


def latest_insight(conn: Connection, user_id: int) -> sa.RowMapping | None:
    """The user's most recent finished insight."""
    stmt = (
        sa.select(
            insights.c.day,
            insights.c.text,
            insights.c.source,
            insights.c.model,
            insights.c.figures,
            insights.c.updated_at,
        )
        .where(insights.c.user_id == user_id, insights.c.status == "done")
        .order_by(insights.c.day.desc())
        .limit(1)
    )
    return conn.execute(stmt).mappings().first()


def insight_rows(conn: Connection, day: dt.date | None = None) -> list[sa.RowMapping]:
    """Every insight row (optionally of one day) with its user's name: for status and tests."""
    stmt = sa.select(
        users.c.name.label("user"),
        insights.c.day,
        insights.c.status,
        insights.c.attempts,
        insights.c.claimed_by,
        insights.c.text,
        insights.c.error,
    ).select_from(insights.join(users, users.c.id == insights.c.user_id))
    if day is not None:
        stmt = stmt.where(insights.c.day == day)
    return list(conn.execute(stmt.order_by(users.c.id, insights.c.day)).mappings())
