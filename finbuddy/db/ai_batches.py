"""The daily insights' Batch API batches in the database: one row per batch file, and the insight rows of its lines."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import as_utc, dialect_insert
from finbuddy.db.tables import ai_batches, insights, users

# Our states of a batch row, in order. 'preparing': the intent (lines claimed and reserved, nothing uploaded yet);
# 'uploaded': its file is at the provider; 'submitted': the batch exists; 'ingesting': its results are being
# written; 'ingested': done with; 'abandoned': given up before any batch existed (its lines released).
PREPARING, UPLOADED, SUBMITTED, INGESTING, INGESTED, ABANDONED = (
    "preparing",
    "uploaded",
    "submitted",
    "ingesting",
    "ingested",
    "abandoned",
)
UNSUBMITTED = (PREPARING, UPLOADED)
LIVE = (PREPARING, UPLOADED, SUBMITTED, INGESTING)  # its lines are still out: no other call is made for them
BATCHED = "batched"  # the insight row's status while its line is in a batch
# Rows per multi-row statement: 8 parameters each stays far under SQLite's 32,766 and PostgreSQL's 65,535.
ROWS_PER_STATEMENT = 1000


@dataclass(frozen=True)
class BatchRow:
    id: str
    day: dt.date
    chunk: int
    status: str
    provider_status: str | None
    owner: str | None
    lines: int
    bytes: int
    succeeded: int
    failed: int
    input_file_id: str | None
    batch_id: str | None
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime | None
    expires_at: dt.datetime | None
    finished_at: dt.datetime | None


_TIMES = ("created_at", "updated_at", "submitted_at", "expires_at", "finished_at")


def _row(row: sa.RowMapping) -> BatchRow:
    values = dict(row)
    for name in _TIMES:
        values[name] = as_utc(values[name])
    return BatchRow(**values)


def line_owner(batch: str) -> str:
    """The claimed_by of the insight rows whose lines are in batch `batch` (our id)."""
    return f"batch:{batch}"


def insert_batch(conn: Connection, id: str, day: dt.date, owner: str, now: dt.datetime) -> int:
    """A new 'preparing' batch row for `day`, numbered after the day's others; returns its chunk number. Two
    processes numbering at once on PostgreSQL: the second waits for the first's commit, then takes the next number."""
    while True:
        last = conn.execute(sa.select(sa.func.max(ai_batches.c.chunk)).where(ai_batches.c.day == day)).scalar()
        chunk = 0 if last is None else int(last) + 1
        insert = dialect_insert(conn)
        stmt = (
            insert(ai_batches)
            .values(id=id, day=day, chunk=chunk, status=PREPARING, owner=owner, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["day", "chunk"])
            .returning(ai_batches.c.chunk)
        )
        if conn.execute(stmt).scalar() is not None:
            return chunk


def update_batch(conn: Connection, id: str, now: dt.datetime, owner: str | None = None, **values: Any) -> bool:
    """Change batch `id` (only while `owner` holds it, when given); False if it is not there or not ours."""
    if "error" in values and values["error"] is not None:
        values["error"] = str(values["error"])[:300]
    stmt = sa.update(ai_batches).where(ai_batches.c.id == id).values(updated_at=now, **values)
    if owner is not None:
        stmt = stmt.where(ai_batches.c.owner == owner)
    return conn.execute(stmt).rowcount == 1


def take_over(conn: Connection, id: str, status: str, old_owner: str | None, new_owner: str, now: dt.datetime) -> bool:
    """Compare and swap: batch `id` in `status` held by `old_owner` becomes `new_owner`'s (one process wins)."""
    owner_is = ai_batches.c.owner.is_(None) if old_owner is None else ai_batches.c.owner == old_owner
    stmt = (
        sa.update(ai_batches)
        .where(ai_batches.c.id == id, ai_batches.c.status == status, owner_is)
        .values(owner=new_owner, updated_at=now)
    )
    return conn.execute(stmt).rowcount == 1


def delete_batch(conn: Connection, id: str) -> None:
    conn.execute(sa.delete(ai_batches).where(ai_batches.c.id == id))


def get_batch(conn: Connection, id: str) -> BatchRow | None:
    row = conn.execute(sa.select(ai_batches).where(ai_batches.c.id == id)).mappings().first()
    return None if row is None else _row(row)


def batch_rows(conn: Connection, statuses: tuple[str, ...] | None = None, day: dt.date | None = None) -> list[BatchRow]:
    """Batch rows (in some states, or of one day), by day and chunk."""
    stmt = sa.select(ai_batches).order_by(ai_batches.c.day, ai_batches.c.chunk)
    if statuses is not None:
        stmt = stmt.where(ai_batches.c.status.in_(statuses))
    if day is not None:
        stmt = stmt.where(ai_batches.c.day == day)
    return [_row(row) for row in conn.execute(stmt).mappings()]


def shown_batches(conn: Connection, day: dt.date) -> list[BatchRow]:
    """The batches `daemon status` shows: the day's, and any other day's still live."""
    stmt = (
        sa.select(ai_batches)
        .where(sa.or_(ai_batches.c.day == day, ai_batches.c.status.in_(LIVE)))
        .order_by(ai_batches.c.day, ai_batches.c.chunk)
    )
    return [_row(row) for row in conn.execute(stmt).mappings()]


def live_batch_count(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).where(ai_batches.c.status.in_(LIVE))).scalar() or 0


# --- the lines: insight rows claimed by a batch ------------------------------------------


def mark_batched(
    conn: Connection,
    lines: list[tuple[int, dt.date, str]],
    owner: str,
    now: dt.datetime,
    stale_before: dt.datetime,
    max_attempts: int,
) -> set[int]:
    """Claim (user, day) for batch lines, `lines` being (user id, the user's local day, figures as JSON; one line per
    user): atomically per row, like
    claim_insight, with status 'batched', an attempt counted and the figures the line was built from (stored now,
    so that the line can be built again, and the insight shows them). A new row is inserted; an existing one is
    taken only if it 'failed' with attempts left or is 'claimed' since before `stale_before`. Returns the ids
    claimed: the lines to send."""
    claimed: set[int] = set()
    retake = sa.or_(
        sa.and_(insights.c.status == "failed", insights.c.attempts < max_attempts),
        sa.and_(insights.c.status == "claimed", insights.c.claimed_at < stale_before),
    )
    for start in range(0, len(lines), ROWS_PER_STATEMENT):
        part = lines[start : start + ROWS_PER_STATEMENT]
        insert = dialect_insert(conn)
        stmt = insert(insights).values(
            [
                {
                    "user_id": user_id,
                    "day": day,
                    "status": BATCHED,
                    "attempts": 1,
                    "claimed_by": owner,
                    "claimed_at": now,
                    "figures": figures,
                    "updated_at": now,
                }
                for user_id, day, figures in part
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[insights.c.user_id, insights.c.day],
            set_={
                "status": BATCHED,
                "attempts": insights.c.attempts + 1,
                "claimed_by": stmt.excluded.claimed_by,
                "claimed_at": stmt.excluded.claimed_at,
                "figures": stmt.excluded.figures,
                "updated_at": stmt.excluded.updated_at,
                "error": None,
            },
            where=retake,
        ).returning(insights.c.user_id)
        claimed.update(row[0] for row in conn.execute(stmt))
    return claimed


@dataclass(frozen=True)
class BatchLine:
    """A line of a batch as the database holds it: its insight row, still in the batch."""

    user_id: int
    user: str
    day: dt.date
    figures: str | None  # JSON


def batched_lines(conn: Connection, owner: str) -> list[BatchLine]:
    """The insight rows still held by batch lines claimed by `owner`, in user order."""
    stmt = (
        sa.select(insights.c.user_id, users.c.name, insights.c.day, insights.c.figures)
        .select_from(insights.join(users, users.c.id == insights.c.user_id))
        .where(insights.c.status == BATCHED, insights.c.claimed_by == owner)
        .order_by(insights.c.user_id)
    )
    return [BatchLine(row[0], row[1], row[2], row[3]) for row in conn.execute(stmt)]
