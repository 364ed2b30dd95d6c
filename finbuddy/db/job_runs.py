"""The last run of each daemon job: when it started and finished, how it ended, and the last local day it completed."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import as_utc, dialect_insert
from finbuddy.db.tables import job_runs


@dataclass(frozen=True)
class JobRun:
    job: str
    last_day: dt.date | None = None
    last_started_at: dt.datetime | None = None
    last_finished_at: dt.datetime | None = None
    last_status: str | None = None
    last_result: Any = None


def read_job_runs(conn: Connection) -> dict[str, JobRun]:
    runs = {}
    for row in conn.execute(sa.select(job_runs)).mappings():
        try:
            result = json.loads(row["last_result"]) if row["last_result"] else None
        except ValueError:
            result = None
        runs[row["job"]] = JobRun(
            job=row["job"],
            last_day=row["last_day"],
            last_started_at=as_utc(row["last_started_at"]),
            last_finished_at=as_utc(row["last_finished_at"]),
            last_status=row["last_status"],
            last_result=result,
        )
    return runs


def record_job_start(conn: Connection, job: str, now: dt.datetime) -> None:
    insert = dialect_insert(conn)
    stmt = insert(job_runs).values(job=job, last_started_at=now, last_status="running")
    stmt = stmt.on_conflict_do_update(
        index_elements=[job_runs.c.job],
        set_={"last_started_at": stmt.excluded.last_started_at, "last_status": "running"},
    )
    conn.execute(stmt)


def record_job_end(
    conn: Connection, job: str, now: dt.datetime, status: str, result: Any, completed_day: dt.date | None
) -> None:
    """The outcome of a run; `completed_day` (the local day it completed for) is kept unless given."""
    insert = dialect_insert(conn)
    encoded = json.dumps(result, ensure_ascii=False, default=str)
    values: dict[str, Any] = {
        "job": job,
        "last_finished_at": now,
        "last_status": status,
        "last_result": encoded,
    }
    if completed_day is not None:
        values["last_day"] = completed_day
    stmt = insert(job_runs).values(**values)
    update = {k: getattr(stmt.excluded, k) for k in values if k != "job"}
    conn.execute(stmt.on_conflict_do_update(index_elements=[job_runs.c.job], set_=update))
