"""Bulk record work for import/export: fingerprint look-ups, chunked Core inserts, streamed reads."""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.records import RECORD_COLUMNS
from finbuddy.db.tables import records, users

_EXISTING = (
    sa.select(records.c.fingerprint)
    .where(records.c.user_id == sa.bindparam("user_id"))
    .where(records.c.fingerprint.in_(sa.bindparam("fingerprints", expanding=True)))
)


def lock_user(conn: Connection, user_id: int) -> None:
    """Serialise bulk writers of one user (row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    conn.execute(sa.select(users.c.id).where(users.c.id == user_id).with_for_update())


def has_fingerprints(conn: Connection, user_id: int) -> bool:
    """Whether any of the user's records came from an import (only those can be duplicates)."""
    stmt = sa.select(records.c.id).where(records.c.user_id == user_id, records.c.fingerprint.is_not(None)).limit(1)
    return conn.execute(stmt).first() is not None


def existing_fingerprints(conn: Connection, user_id: int, fingerprints: Sequence[str]) -> set[str]:
    """Which of `fingerprints` the user's records already carry (served by uq_records_user_fingerprint)."""
    if not fingerprints:
        return set()
    rows = conn.execute(_EXISTING, {"user_id": user_id, "fingerprints": list(fingerprints)})
    return {row[0] for row in rows}


class RecordInserter:
    """Chunked executemany of complete record rows (user_id, id, kind, ... fingerprint, created_at, updated_at).

    PostgreSQL: a Core insert, which SQLAlchemy batches into multi-row VALUES. SQLite: the same Core
    insert compiled once and run through the driver's executemany, with the date columns rendered by
    the column types' own SQLite bind processors (cached per distinct value); this skips SQLAlchemy's
    per-row parameter processing, ~35% of the insert time here.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        if self.sqlite:
            compiled = sa.insert(records).compile(dialect=conn.dialect)
            self._sql = compiled.string
            names = list(compiled.positiontup or ())
            self._getter = operator.itemgetter(*names)
            self._date = records.c.expense_date.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            self._stamp = records.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            self._rendered: dict[Any, Any] = {}

    def _render(self, value: Any, processor) -> Any:
        text = self._rendered.get(value)
        if text is None:
            text = processor(value) if processor is not None else value
            if len(self._rendered) < 100_000:
                self._rendered[value] = text
        return text

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if not self.sqlite:
            self.conn.execute(sa.insert(records), list(rows))
            return
        getter, render, date, stamp = self._getter, self._render, self._date, self._stamp
        params = []
        for row in rows:
            row = dict(row)
            row["expense_date"] = render(row["expense_date"], date)
            row["created_at"] = render(row["created_at"], stamp)
            row["updated_at"] = render(row["updated_at"], stamp)
            params.append(getter(row))
        self.conn.exec_driver_sql(self._sql, params)


def stream_records(conn: Connection, user_id: int, batch: int = 2000) -> Iterator[sa.Row]:
    """The user's records oldest first, fetched in batches (server-side cursor on PostgreSQL)."""
    stmt = sa.select(*RECORD_COLUMNS).where(records.c.user_id == user_id).order_by(records.c.expense_date, records.c.id)
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
    yield from result
