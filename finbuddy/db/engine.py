"""Engines and transactions: SQLite pragmas, BEGIN IMMEDIATE for writers, schema check by one cheap query."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from finbuddy.config import mask_url
from finbuddy.db.revision import HEAD_REVISION
from finbuddy.errors import StorageError

SQLITE_BUSY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 3
_WRITE_OPTION = "finbuddy_write"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other backends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _prepare_sqlite_file(path: Path) -> None:
    """Create the directory (0700) and the database file (0600) before SQLite does, with the right modes."""
    # exist_ok: another process's first run may create it between our check and our mkdir.
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)


def _ensure_wal(cursor) -> None:
    """Switch a (new) database file to WAL once. The switch needs an exclusive lock and may report
    "database is locked" without waiting out the busy timeout while other first-time processes hold
    the file open, so retry it briefly; every later open finds WAL already set (it is persistent)."""
    import sqlite3
    import time

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        # Let SQLAlchemy (not the sqlite3 module) decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _ensure_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised by every test
        # A deferred transaction that reads and then writes fails at once with
        # "database is locked" whatever the busy timeout; writers take the lock first.
        if conn.get_execution_options().get(_WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def create_engine(url: str) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            _prepare_sqlite_file(path)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(
            parsed,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "finbuddy"},
            pool_pre_ping=True,
        )
    raise StorageError(f"database URL {mask_url(url)!r} is not supported: expected sqlite:/// or postgresql+psycopg://")


def dialect_insert(conn: Connection) -> Callable[..., Any]:
    """The backend's own `insert` construct: both build the same INSERT ... ON CONFLICT statements."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def describe_db_error(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


class Database:
    """One database (and optionally a read replica for reports), with its schema checked on first use."""

    def __init__(self, url: str, reporting_url: str | None = None, auto_migrate: bool | None = None) -> None:
        self.url = url
        self.reporting_url = reporting_url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.auto_migrate = self.is_sqlite if auto_migrate is None else auto_migrate
        self._engine: Engine | None = None
        self._reporting_engine: Engine | None = None
        self._schema_ok = False

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.url)
        return self._engine

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def dispose(self) -> None:
        for engine in (self._engine, self._reporting_engine):
            if engine is not None:
                engine.dispose()
        self._engine = self._reporting_engine = None

    # --- schema -----------------------------------------------------------------

    def current_revision(self) -> str | None:
        """The Alembic revision recorded in the database, by one query (no Alembic import)."""
        try:
            with self.engine.connect() as conn:
                try:
                    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
                except (OperationalError, ProgrammingError) as exc:
                    if _is_missing_table(exc):
                        return None
                    raise
        except DBAPIError as exc:
            raise StorageError(f"cannot reach database {mask_url(self.url)}: {describe_db_error(exc)}") from None

    def ensure_schema(self) -> None:
        if self._schema_ok:
            return
        revision = self.current_revision()
        if revision != HEAD_REVISION:
            from finbuddy.db.migrate import known_revisions

            if revision is not None and revision not in known_revisions():
                raise StorageError(
                    f"database {mask_url(self.url)} is at schema revision {revision}, "
                    "which this finbuddy does not know: upgrade finbuddy"
                )
            if not self.auto_migrate:
                state = "has no finbuddy schema" if revision is None else f"is at schema revision {revision}"
                raise StorageError(
                    f"database {mask_url(self.url)} {state}; this finbuddy needs {HEAD_REVISION}: "
                    "run `finbuddy db upgrade`"
                )
            from finbuddy.db.migrate import upgrade

            upgrade(self)
        self._schema_ok = True

    # --- transactions -----------------------------------------------------------

    @contextmanager
    def _transaction(self, engine: Engine, write: bool, failure: str) -> Iterator[Connection]:
        try:
            with engine.connect() as conn:
                if write:
                    conn = conn.execution_options(**{_WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except DBAPIError as exc:
            raise StorageError(f"{failure} {mask_url(self.url)}: {describe_db_error(exc)}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite): committed on success, rolled back on any error."""
        self.ensure_schema()
        with self._transaction(self.engine, True, "database error on") as conn:
            yield conn

    @contextmanager
    def read(self, reporting: bool = False) -> Iterator[Connection]:
        """A read-only transaction; `reporting=True` uses the read replica when one is configured."""
        self.ensure_schema()
        engine = self.engine
        if reporting and self.reporting_url:
            if self._reporting_engine is None:
                self._reporting_engine = create_engine(self.reporting_url)
            engine = self._reporting_engine
        with self._transaction(engine, False, "database error on") as conn:
            yield conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """One connection kept across several transactions (a temporary table lives as long as it).

        Begin each with `conn.begin()` (a reader) or `with write_transaction(conn):` (a writer).
        """
        self.ensure_schema()
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"database error on {mask_url(self.url)}: {describe_db_error(exc)}") from exc

    @contextmanager
    def raw_write(self) -> Iterator[Connection]:
        """A write transaction without the schema check (used by migrations themselves)."""
        with self._transaction(self.engine, True, "cannot migrate database") as conn:
            yield conn


@contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """A write transaction on a connection from Database.connection() (BEGIN IMMEDIATE on SQLite)."""
    conn.execution_options(**{_WRITE_OPTION: True})
    try:
        with conn.begin():
            yield conn
    finally:
        conn.execution_options(**{_WRITE_OPTION: False})


def _is_missing_table(exc: DBAPIError) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "no such table" in text or "does not exist" in text or "undefinedtable" in text


def open_database(settings) -> Database:
    """The Database the settings point at."""
    return Database(settings.database_url, settings.values.get("database.reporting_url"))
