"""Bulk record work for import/export: imports staged outside the write lock, streamed reads for export.

An import is staged, then published:
- stage: the rows go, chunk by chunk, into a TEMPORARY table of one connection (SQLite keeps it in
  the connection's own temporary database, PostgreSQL in the session), each chunk checked against
  the fingerprints the user already has. Nothing here takes the write lock or is visible to anyone.
- publish: ONE write transaction copies the staged rows into `records` by INSERT ... SELECT,
  after re-checking only what another import may have added meanwhile. Concurrent writers wait
  for this copy (index maintenance), not for reading, parsing and hashing the file; on SQLite they
  wait for it however long it takes (engine.publishing_transaction), never failing on the busy timeout.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from finbuddy.db.engine import Database, hold_publish_lock, publishing_transaction
from finbuddy.db.records import RECORD_COLUMNS
from finbuddy.db.tables import records, users

_EXISTING = (
    sa.select(records.c.fingerprint)
    .where(records.c.user_id == sa.bindparam("user_id"))
    .where(records.c.fingerprint.in_(sa.bindparam("fingerprints", expanding=True)))
)

# Keyed by (expense_date, seq): publishing reads it in date order and numbers the records in that
# order too, so the inserts into records' primary key and date-led indexes stay local (on SQLite
# the copy takes about half the time it takes in file order; only the fingerprint index is random).
_staging = sa.Table(
    "finbuddy_import_staging",
    sa.MetaData(),
    sa.Column("expense_date", sa.Date, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),  # the row's place in the file
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("merchant", sa.String(200), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("category_source", sa.String(8), nullable=True),
    sa.PrimaryKeyConstraint("expense_date", "seq"),
    prefixes=["TEMPORARY"],
    sqlite_with_rowid=False,
)
STAGED_FIELDS = (
    "kind",
    "amount_cents",
    "expense_date",
    "category",
    "merchant",
    "note",
    "fingerprint",
    "category_source",
)


def lock_user(conn: Connection, user_id: int) -> None:
    """Serialise bulk writers of one user (row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    conn.execute(sa.select(users.c.id).where(users.c.id == user_id).with_for_update())


def has_fingerprints(conn: Connection, user_id: int, from_id: int = 0) -> bool:
    """Whether any of the user's records numbered `from_id` or later came from an import."""
    stmt = (
        sa.select(records.c.id)
        .where(records.c.user_id == user_id, records.c.id >= from_id, records.c.fingerprint.is_not(None))
        .limit(1)
    )
    return conn.execute(stmt).first() is not None


def existing_fingerprints(conn: Connection, user_id: int, fingerprints: Sequence[str]) -> set[str]:
    """Which of `fingerprints` the user's records already carry (served by uq_records_user_fingerprint)."""
    if not fingerprints:
        return set()
    rows = conn.execute(_EXISTING, {"user_id": user_id, "fingerprints": list(fingerprints)})
    return {row[0] for row in rows}


class _FastInsert:
    """Chunked inserts of complete rows into one table.

    PostgreSQL: COPY FROM STDIN through psycopg (several times faster than multi-row VALUES).
    SQLite: the table's Core insert compiled once and run through the driver's executemany, with
    date columns rendered by the column types' own SQLite bind processors (cached per distinct
    value); this skips SQLAlchemy's per-row parameter processing, ~35% of the insert time here.
    """

    def __init__(self, conn: Connection, table: sa.Table) -> None:
        self.table = table
        self.names = [c.name for c in table.columns]
        self.sqlite = conn.dialect.name == "sqlite"
        if self.sqlite:
            compiled = sa.insert(table).compile(dialect=conn.dialect)
            self._sql = compiled.string
            self._getter = operator.itemgetter(*(compiled.positiontup or ()))
            self._processors = {
                c.name: c.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                for c in table.columns
                if isinstance(c.type, sa.Date | sa.DateTime)
            }
            self._rendered: dict[Any, Any] = {}

    def _render(self, value: Any, processor: Any) -> Any:
        text = self._rendered.get(value)
        if text is None:
            text = processor(value) if processor is not None else value
            if len(self._rendered) < 100_000:
                self._rendered[value] = text
        return text

    def insert(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if not self.sqlite:
            columns = ", ".join(self.names)
            with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
                with cursor.copy(f"COPY {self.table.name} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[name] for name in self.names])
            return
        getter, render, processors = self._getter, self._render, self._processors.items()
        params = []
        for row in rows:
            row = dict(row)
            for name, processor in processors:
                row[name] = render(row[name], processor)
            params.append(getter(row))
        conn.exec_driver_sql(self._sql, params)


class StagedImport:
    """One import being staged on `conn` (see the module docstring); use through stage_import()."""

    def __init__(self, conn: Connection, user: str) -> None:
        self.conn = conn
        self.user = user
        self.staged = 0  # rows accepted so far (not the user's duplicates); also the next seq
        self.last_duplicates: set[str] = set()  # fingerprints of the last add's rows that the user already had
        self._inserter = _FastInsert(conn, _staging)
        with conn.begin():
            row = conn.execute(sa.select(users.c.id, users.c.next_record_id).where(users.c.name == user)).first()
            self.user_id: int | None = None if row is None else row[0]
            # Records numbered from here on are newer than this staging: publish re-checks only those.
            self._watermark = 0 if row is None else row[1]
            self._check = self.user_id is not None and has_fingerprints(conn, self.user_id)

    def add(self, rows: Sequence[dict[str, Any]], keep: bool = True) -> int:
        """Stage rows (dicts of STAGED_FIELDS, in file order); returns how many the user already has.

        With keep=False (a dry run) the rows are only checked, not staged.
        """
        duplicates = 0
        self.last_duplicates = set()
        with self.conn.begin():  # reads records, writes only the temporary table: no write lock
            if self._check:
                assert self.user_id is not None  # _check is only set for an existing user
                known = existing_fingerprints(self.conn, self.user_id, [r["fingerprint"] for r in rows])
                self.last_duplicates = known
                if known:
                    duplicates = sum(1 for r in rows if r["fingerprint"] in known)
                    rows = [r for r in rows if r["fingerprint"] not in known]
            if keep:
                first = self.staged
                self._inserter.insert(self.conn, [{**row, "seq": first + i} for i, row in enumerate(rows)])
            self.staged += len(rows)
        return duplicates

    def publish(self, now: dt.datetime, also: Callable[[Connection, int], None] | None = None) -> tuple[int, int]:
        """Copy the staged rows into records in one write transaction: (imported, duplicates found now).

        The user is created if needed; rows that an import committed since staging already holds are
        dropped; the records get the user's next numbers in date order (file order within a day).
        `also(conn, user_id)` runs in the same transaction once rows were copied (the rules' hit counts).
        """
        from finbuddy.db.users import allocate_record_ids, ensure_user

        conn = self.conn
        if conn.dialect.name == "postgresql" and self.user_id is None:
            # A new user's row is committed first: the user's other writers then meet the publish's
            # lock (await_publish), not its uncommitted row, which they could only wait for until
            # their lock timeout.
            with conn.begin():
                ensure_user(conn, self.user, now)
        with publishing_transaction(conn, self.staged):
            user_id = ensure_user(conn, self.user, now)
            hold_publish_lock(conn, user_id)
            lock_user(conn, user_id)
            late = 0
            if self.staged and has_fingerprints(conn, user_id, self._watermark):
                late = self._drop_known(user_id)
            count = self.staged - late
            if count == 0:
                return 0, late
            first = allocate_record_ids(conn, user_id, count)
            in_order = (_staging.c.expense_date, _staging.c.seq)
            select = sa.select(
                sa.literal(user_id, sa.Integer),
                sa.literal(first - 1, sa.Integer) + sa.func.row_number().over(order_by=in_order),
                *(_staging.c[name] for name in STAGED_FIELDS),
                sa.literal(now, records.c.created_at.type),
                sa.literal(now, records.c.updated_at.type),
            ).order_by(*in_order)
            columns = ["user_id", "id", *STAGED_FIELDS, "created_at", "updated_at"]
            conn.execute(sa.insert(records).from_select(columns, select))
            if also is not None:
                also(conn, user_id)
            return count, late

    def _drop_known(self, user_id: int) -> int:
        known = sa.exists().where(records.c.user_id == user_id, records.c.fingerprint == _staging.c.fingerprint)
        return self.conn.execute(sa.delete(_staging).where(known)).rowcount


@contextmanager
def stage_import(db: Database, user: str) -> Iterator[StagedImport]:
    """A StagedImport on a connection of its own; the staging table is gone afterwards."""
    with db.connection() as conn:
        with conn.begin():
            # Unqualified, DROP finds the temporary table first on both backends; one may be left on
            # this pooled connection by an import that died before its clean-up.
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_staging.name}")
            _staging.create(conn)
        try:
            yield StagedImport(conn, user)
        finally:
            try:
                if conn.in_transaction():
                    conn.rollback()
                with conn.begin():
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_staging.name}")
            except DBAPIError:
                conn.invalidate()  # a broken connection: the pool will not hand it out again


def stream_records(conn: Connection, user_id: int, batch: int = 2000) -> Iterator[sa.Row]:
    """The user's records oldest first, fetched in batches (server-side cursor on PostgreSQL)."""
    stmt = sa.select(*RECORD_COLUMNS).where(records.c.user_id == user_id).order_by(records.c.expense_date, records.c.id)
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
    yield from result
