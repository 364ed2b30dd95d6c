"""Engines and transactions: SQLite pragmas, BEGIN IMMEDIATE for writers, PostgreSQL time limits, the schema
and identity check by one cheap query, and reports on a read replica that never miss a committed write."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor, ExceptionContext
    from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, PoolResetState

    from finbuddy.config import Settings

import datetime as dt
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, ProgrammingError

from finbuddy.config import make_private_dir, mask_url
from finbuddy.db.revision import HEAD_REVISION
from finbuddy.errors import StorageError

log = logging.getLogger("finbuddy.db")

CONNECT_TIMEOUT_S = 3
DEFAULT_TIMEOUT_S = 30.0
# The server cancels a statement at the timeout and answers at once; an answer that has not come
# this much later will not come (a partition, or a server or proxy that hangs).
CLIENT_GRACE_S = 2.0
# libpq's statement/lock timeouts are int milliseconds: keep far inside that.
_MAX_TIMEOUT_S = 86_400.0
# A report waits this long for the replica to replay the primary's WAL position, then reads the primary.
REPLICA_WAIT_S = 0.2
# After the replica could not be reached, reports read the primary this long before trying it again.
REPLICA_RETRY_S = 30.0
_WRITE_OPTION = "finbuddy_write"
_PUBLISH_OPTION = "finbuddy_publish"
_NO_DEADLINE_OPTION = "finbuddy_no_deadline"
_DEADLINE_OPTION = "finbuddy_deadline_s"  # this connection's own client deadline (a publish's)
_TIMEOUT_OPTION = "finbuddy_timeout"  # database.timeout, on every connection of the engine
_NOTIFY_OPTION = "finbuddy_notify"  # who hears a writer waiting for an import's publish
# A publish may take database.timeout plus one second per this many rows (PostgreSQL copies ~50k rows a
# second here on a quiet machine; the margin is for a busy one).
PUBLISH_ROWS_PER_S = 5_000
# pg_advisory_xact_lock(PUBLISH_LOCK_SPACE, user_id): held exclusively by an import publishing a user's rows.
# The two-key form's key space does not overlap the one-key form's (the migration lock).
PUBLISH_LOCK_SPACE = 0x46425055
_HOLD_PUBLISH = sa.text("SELECT pg_advisory_xact_lock(:space, :user_id)")
_TRY_JOIN_PUBLISH = sa.text("SELECT pg_try_advisory_xact_lock_shared(:space, :user_id)")
_JOIN_PUBLISH = sa.text("SELECT pg_advisory_xact_lock_shared(:space, :user_id)")
_PUBLISH_LIMITS = sa.text("SELECT set_config('statement_timeout', :ms, true), set_config('lock_timeout', :ms, true)")
_PUBLISH_WAIT = "an import is publishing its rows into this database; waiting for it to finish"

# The schema revision and the database's identity in one round trip (the identity table exists from 0005).
_SCHEMA_STATE = sa.text("SELECT v.version_num, (SELECT min(i.id) FROM database_identity i) FROM alembic_version v")
_REVISION = sa.text("SELECT version_num FROM alembic_version")
_PRIMARY_LSN = sa.text("SELECT pg_current_wal_lsn()::text")
_REPLAYED = sa.text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)")
_NO_LIMITS = sa.text(
    "SELECT set_config('statement_timeout', '0', true), set_config('lock_timeout', '0', true),"
    " set_config('idle_in_transaction_session_timeout', '0', true)"
)


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
    try:
        # exist_ok: another process's first run may create it between our check and our mkdir.
        make_private_dir(path.parent)
        if not path.exists():
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StorageError(
            f"cannot create database file {path}: {reason} (check FINBUDDY_HOME or database.url)"
        ) from None


# SQLite's result codes for a file it cannot write: a full disk, a read-only file system, an I/O error.
_SQLITE_FILE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY")


def _file_system_state(path: Path) -> str | None:
    """Why files next to `path` cannot be written, as far as the file system says: full or read-only."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return "read-only file system"
    if stats.f_bavail == 0:
        return "no space left on device"
    return None


def _describe_sqlite_file_error(url: str, exc: DBAPIError) -> str | None:
    """One line for SQLite failing to write its files ("disk I/O error" names neither the file nor the cause)."""
    path = sqlite_path(url)
    name = str(getattr(exc.orig, "sqlite_errorname", ""))
    if path is None or not name.startswith(_SQLITE_FILE_ERRORS):
        return None
    state = _file_system_state(path)
    return f"cannot use database file {path}: {describe_db_error(exc)}" + (f" ({state})" if state else "")


def _ensure_wal(cursor: DBAPICursor, busy_timeout: float) -> None:
    """Switch a (new) database file to WAL once. The switch needs an exclusive lock and may report
    "database is locked" without waiting out the busy timeout while other first-time processes hold
    the file open, so retry it briefly; every later open finds WAL already set (it is persistent)."""
    import sqlite3

    deadline = time.monotonic() + busy_timeout
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


def publish_lock_path(database: Path) -> Path:
    """The file an import's publish holds an exclusive flock on (see `publishing_transaction`)."""
    return database.with_name(database.name + "-publish.lock")


def _publish_running(lock: Path | None) -> bool:
    """Whether an import is publishing into this SQLite database right now (its flock is held)."""
    if lock is None:
        return False
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no import ever published here (writers never create the file)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock if it was granted


def _wait_for_publish(lock: Path) -> None:
    """Block until no import is publishing (a killed importer's flock goes with its process)."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def _is_locked(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc))
    return "locked" in text or "busy" in text


def _configure_sqlite(engine: Engine, busy_timeout: float, lock: Path | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(
        dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry
    ) -> None:  # pragma: no cover - exercised by every test
        # Let SQLAlchemy (not the sqlite3 module) decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {max(1, int(busy_timeout * 1000))}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _ensure_wal(cursor, busy_timeout)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:  # pragma: no cover - exercised by every test
        # A deferred transaction that reads and then writes fails at once with
        # "database is locked" whatever the busy timeout; writers take the lock first.
        options = conn.get_execution_options()
        if not options.get(_WRITE_OPTION):
            conn.exec_driver_sql("BEGIN")
        elif options.get(_PUBLISH_OPTION) or lock is None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            _begin_beside_publishes(conn, lock, options.get(_NOTIFY_OPTION) or log.info)


def _begin_beside_publishes(conn: Connection, lock: Path, notify: Callable[[str], None]) -> None:
    """BEGIN IMMEDIATE for an ordinary writer, which waits out an import's publish however long it takes.

    A publish holds the write lock for as long as copying its rows takes (seconds per 100k rows,
    more on a busy machine), which may exceed the busy timeout; the writer then waits on the
    publish's flock instead of failing with "database is locked". Its own busy timeout still bounds
    a wait for anything else (another process's ordinary write, or a foreign program's lock).
    """
    told = False
    while True:
        if _publish_running(lock):
            if not told:
                notify(_PUBLISH_WAIT)
                told = True
            _wait_for_publish(lock)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            # A publish that began between the check and BEGIN held the lock past the busy timeout.
            if not (_is_locked(exc) and _publish_running(lock)):
                raise


@contextmanager
def publishing_transaction(conn: Connection, rows: int) -> Iterator[Connection]:
    """A write transaction that may hold its locks long: an import's all-or-nothing publish of `rows` rows.

    SQLite locks the whole database: this first takes an exclusive flock on `publish_lock_path`, and
    ordinary writers that find it held wait until the publish ends instead of failing after their busy
    timeout (two imports publish one after the other). PostgreSQL locks the user's row: the publish
    announces itself with `hold_publish_lock` and its statement, lock and client limits grow with its
    size (database.timeout plus a second per PUBLISH_ROWS_PER_S rows); the user's other writers wait
    for it through `await_publish`.
    """
    path = sqlite_path(str(conn.engine.url)) if conn.dialect.name == "sqlite" else None
    with ExitStack() as stack:
        if conn.dialect.name == "postgresql":
            limit = conn.get_execution_options().get(_TIMEOUT_OPTION, DEFAULT_TIMEOUT_S) + rows / PUBLISH_ROWS_PER_S
            limit = min(limit, _MAX_TIMEOUT_S)
            conn.execution_options(**{_DEADLINE_OPTION: limit + CLIENT_GRACE_S})
            stack.callback(conn.execution_options, **{_DEADLINE_OPTION: None})
        if path is not None:
            lock = publish_lock_path(path)
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise StorageError(f"cannot create lock file {lock}: {exc.strerror or type(exc).__name__}") from None
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        conn.execution_options(**{_PUBLISH_OPTION: True})
        stack.callback(conn.execution_options, **{_PUBLISH_OPTION: False})
        with write_transaction(conn):
            if conn.dialect.name == "postgresql":
                conn.execute(_PUBLISH_LIMITS, {"ms": str(int(limit * 1000))})
            yield conn


def hold_publish_lock(conn: Connection, user_id: int) -> None:
    """PostgreSQL: mark this transaction as publishing the user's import (see `await_publish`). Take it before
    the user's row lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(_HOLD_PUBLISH, {"space": PUBLISH_LOCK_SPACE, "user_id": user_id})


def await_publish(conn: Connection, user_id: int) -> None:
    """PostgreSQL: before a write locks the user's row, wait for an import that is publishing the user's rows.

    The publish holds that row for as long as copying takes, which may exceed this writer's lock timeout
    (database.timeout); a writer that finds the publish's lock held waits for it with no limit of its own
    (the publish's limits bound it) instead of failing, and says so. Otherwise it holds the lock shared
    until it commits (a later publish waits for it) and costs one short query. SQLite: nothing to do
    (BEGIN IMMEDIATE already waited, see _begin_beside_publishes).
    """
    if conn.dialect.name != "postgresql":
        return
    key = {"space": PUBLISH_LOCK_SPACE, "user_id": user_id}
    if conn.execute(_TRY_JOIN_PUBLISH, key).scalar():
        return
    notify = conn.get_execution_options().get(_NOTIFY_OPTION) or log.info
    notify(_PUBLISH_WAIT)
    unlimited = {_NO_DEADLINE_OPTION: True}
    conn.execute(_NO_LIMITS, execution_options=unlimited)
    conn.execute(_JOIN_PUBLISH, key, execution_options=unlimited)


class Deadline:
    """Gives up on a PostgreSQL connection that has not answered within `seconds`.

    The server's own limits (statement, lock and idle-in-transaction timeouts) end its side of a
    stuck command and free its locks, and TCP keepalives notice a peer that vanished; neither helps
    a client waiting on a peer that is still there but silent (a hung server, a proxy or a firewall
    that stops forwarding). This watches every wait for an answer (statements, commits and rollbacks,
    the ping at check-out) and, past the deadline, shuts the connection's socket down: the waiting
    call then fails at once with a connection error, which `fired()` lets the caller name.
    One thread per process, started on first use.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, Any]] = {}  # waiting thread -> (deadline, DBAPI connection)
        self._fired: set[int] = set()
        self._thread: threading.Thread | None = None

    def arm(self, dbapi_connection: Any, seconds: float | None = None) -> None:
        with self._cond:
            was_idle = not self._armed
            wait = self.seconds if seconds is None else seconds
            self._armed[threading.get_ident()] = (time.monotonic() + wait, dbapi_connection)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="finbuddy-db-deadline", daemon=True)
                self._thread.start()
            elif was_idle:
                self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._armed.pop(threading.get_ident(), None)

    def fired(self) -> bool:
        """Whether a wait of the calling thread was cut short (and forget it)."""
        with self._cond:
            ident = threading.get_ident()
            found = ident in self._fired
            self._fired.discard(ident)
            return found

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for ident, (deadline, connection) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[ident]
                        self._fired.add(ident)
                        _shut_down(connection)
                pending = [deadline for deadline, _ in self._armed.values()]
                self._cond.wait(timeout=max(0.0, min(pending) - now) if pending else None)


def _shut_down(dbapi_connection: Any) -> None:
    """Make every wait on this psycopg connection's socket return at once (the connection is lost)."""
    import socket

    try:
        fd = dbapi_connection.fileno()
        sock = socket.socket(fileno=os.dup(fd))
    except Exception:  # already closed: nothing waits on it
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _postgresql_connect_args(parsed: URL, timeout: float) -> dict[str, Any]:
    """libpq settings: server-side statement, lock and idle-in-transaction timeouts (options the URL
    itself gives win), TCP keepalives and a TCP user timeout."""
    ms = int(timeout * 1000)
    limits = f"-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms}"
    given = parsed.query.get("options")
    if isinstance(given, tuple):
        given = " ".join(given)
    return {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": parsed.query.get("application_name", "finbuddy"),
        "options": f"{limits} {given}" if given else limits,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 3,
        "keepalives_count": 3,
        "tcp_user_timeout": int((timeout + CLIENT_GRACE_S) * 1000),
    }


def _guard_postgresql(engine: Engine, deadline: Deadline) -> None:
    """Arm the deadline around every wait for the server (see Deadline)."""

    def arm(conn: Connection, options: Any = None) -> None:
        # An invalidated connection (its socket already lost) has nothing left to wait on.
        options = conn.get_execution_options() if options is None else options
        if not conn.invalidated and not options.get(_NO_DEADLINE_OPTION):
            deadline.arm(conn.connection.dbapi_connection, options.get(_DEADLINE_OPTION))

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Connection, cursor: Any, statement: Any, parameters: Any, context: Any, many: bool) -> None:
        # the statement's own execution options (await_publish's unlimited wait) over the connection's
        arm(conn, context.execution_options if context is not None else None)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Connection, *_cursor_statement_parameters_context_executemany: object) -> None:
        deadline.disarm()

    @event.listens_for(engine, "handle_error")
    def _error(context: ExceptionContext) -> None:
        deadline.disarm()

    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        arm(conn)  # disarmed by Database._transaction when the block ends

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Connection) -> None:
        arm(conn)

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["finbuddy_fresh"] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        # pool_pre_ping's job (a connection the server dropped while pooled is replaced), but
        # under the deadline; a connection made for this check-out needs no ping.
        if record.info.pop("finbuddy_fresh", False):
            return
        deadline.arm(dbapi_connection)
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:
            raise DisconnectionError(str(exc)) from exc
        finally:
            deadline.disarm()

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, reset_state: PoolResetState) -> None:
        deadline.arm(dbapi_connection)

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        deadline.disarm()


def create_engine(
    url: str,
    timeout: float = DEFAULT_TIMEOUT_S,
    deadline: Deadline | None = None,
    notify: Callable[[str], None] | None = None,
) -> Engine:
    """An engine for `url`. `timeout` is PostgreSQL's statement/lock/idle limit and SQLite's busy
    timeout; `notify` hears a SQLite writer waiting for an import's publish."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            _prepare_sqlite_file(path)
        busy_timeout = min(timeout, _MAX_TIMEOUT_S)
        engine = _shared_sqlite_engine(url, busy_timeout, path)
        return engine.execution_options(**{_TIMEOUT_OPTION: busy_timeout, _NOTIFY_OPTION: notify or log.info})
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        timeout = min(timeout, _MAX_TIMEOUT_S)
        connect_args = _postgresql_connect_args(parsed, timeout)
        parsed = parsed.difference_update_query(["options", "application_name"])
        engine = sa.create_engine(parsed, connect_args=connect_args)
        _guard_postgresql(engine, deadline or Deadline(timeout + CLIENT_GRACE_S))
        return engine.execution_options(**{_TIMEOUT_OPTION: timeout, _NOTIFY_OPTION: notify or log.info})
    raise StorageError(f"database URL {mask_url(url)!r} is not supported: expected sqlite:/// or postgresql+psycopg://")


# SQLite engines of this process, by URL and busy timeout (see _shared_sqlite_engine); the pid, because a forked
# child must not use connections its parent opened.
_SQLITE_ENGINES: dict[tuple[str, float, int], Engine] = {}  # (URL and file, busy timeout, pid)
_SQLITE_ENGINES_LOCK = threading.Lock()
_MAX_SQLITE_ENGINES = 8


def _shared_sqlite_engine(url: str, busy_timeout: float, path: Path | None) -> Engine:
    """One engine per SQLite file and busy timeout in this process, shared by every Database on it.

    What is shared is SQLAlchemy's cache of compiled statements (a few ms per statement kind and engine):
    a warm server's request process runs one command after another, and each would otherwise compile
    every statement anew. Connections are not shared: each Database disposes of the pool's connections
    when it closes, and the engine opens new ones for the next. Per-Database settings travel as
    execution options of the Engine each Database gets (`create_engine`).
    """
    if path is None:  # an in-memory database lives in its engine's connection: one engine each
        own = sa.create_engine(url, connect_args={"timeout": busy_timeout})
        _configure_sqlite(own, busy_timeout, None)
        return own
    # SQLAlchemy makes a relative file name absolute when it creates the engine: `sqlite:///fin.db` in two
    # directories is two files, and two engines.
    key = (f"{url}\0{os.path.abspath(path)}", busy_timeout, os.getpid())
    with _SQLITE_ENGINES_LOCK:
        engine = _SQLITE_ENGINES.get(key)
        if engine is None:
            engine = sa.create_engine(url, connect_args={"timeout": busy_timeout})
            _configure_sqlite(engine, busy_timeout, publish_lock_path(path))
            if len(_SQLITE_ENGINES) >= _MAX_SQLITE_ENGINES:
                _SQLITE_ENGINES.pop(next(iter(_SQLITE_ENGINES)))  # the oldest; its Databases keep their engine
            _SQLITE_ENGINES[key] = engine
        return engine


def dialect_insert(conn: Connection) -> Callable[..., Any]:
    """The backend's own `insert` construct: both build the same INSERT ... ON CONFLICT statements."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands timestamps back naive; every timestamp finbuddy writes is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def describe_db_error(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


class Database:
    """One database (and optionally a read replica for reports), with its schema checked on first use."""

    def __init__(
        self,
        url: str,
        reporting_url: str | None = None,
        auto_migrate: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.reporting_url = reporting_url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.auto_migrate = self.is_sqlite if auto_migrate is None else auto_migrate
        self.timeout = min(timeout, _MAX_TIMEOUT_S)
        self._deadline = Deadline(self.timeout + CLIENT_GRACE_S)
        self._warn = warn if warn is not None else log.warning
        self._replica_down_until = 0.0
        self._engine: Engine | None = None
        self._reporting_engine: Engine | None = None
        self._schema_ok = False
        self._identity: str | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.url, self.timeout, self._deadline, self._warn)
        return self._engine

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def dispose(self) -> None:
        for engine in (self._engine, self._reporting_engine):
            if engine is not None:
                engine.dispose()
        self._engine = self._reporting_engine = None

    def _error(self, failure: str, exc: DBAPIError, url: str | None = None) -> StorageError:
        url = url or self.url
        if self._deadline.fired():
            return StorageError(
                f"database {mask_url(url)} did not answer within {self.timeout + CLIENT_GRACE_S:g} s "
                "(a network partition or a hung server); gave up"
            )
        message = _describe_sqlite_file_error(url, exc) if self.is_sqlite else None
        return StorageError(message or f"{failure} {mask_url(url)}: {describe_db_error(exc)}")

    # --- schema and identity -----------------------------------------------------

    def _schema_state(self) -> tuple[str | None, str | None]:
        """(Alembic revision, database identity) by one query; no Alembic import. A database older
        than the identity table costs a second query (and is about to be migrated)."""
        self._deadline.fired()  # forget an earlier cut-short wait: only this check's counts
        try:
            with self.engine.connect() as conn:
                try:
                    row = conn.execute(_SCHEMA_STATE).first()
                    return (None, None) if row is None else (row[0], row[1])
                except (OperationalError, ProgrammingError) as exc:
                    if not _is_missing_table(exc):
                        raise
                conn.rollback()
                try:
                    return conn.execute(_REVISION).scalar(), None
                except (OperationalError, ProgrammingError) as exc:
                    if _is_missing_table(exc):
                        return None, None
                    raise
        except DBAPIError as exc:
            raise self._error("cannot reach database", exc) from None

    def ensure_schema(self) -> None:
        if self._schema_ok:
            return
        revision, identity = self._schema_state()
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
            revision, identity = self._schema_state()
        if identity is None:
            identity = self._new_identity()
        self._identity = identity
        self._schema_ok = True

    def _new_identity(self) -> str:
        """The migration writes the identity; a database whose row was deleted gets a new one (so it
        shares no cache entries with what it was before)."""
        import uuid

        from finbuddy.db.tables import database_identity

        with self.raw_write() as conn:
            insert = dialect_insert(conn)
            conn.execute(insert(database_identity).values(id=uuid.uuid4().hex).on_conflict_do_nothing())
            return conn.execute(sa.select(sa.func.min(database_identity.c.id))).scalar_one()

    @property
    def identity(self) -> str:
        """A random id made when this database was created (or migrated to 0005): what the cache is keyed by.
        Read with the schema check, so it costs no round trip of its own."""
        self.ensure_schema()
        assert self._identity is not None
        return self._identity

    # --- transactions -----------------------------------------------------------

    @contextmanager
    def _transaction(self, engine: Engine, write: bool, failure: str, url: str | None = None) -> Iterator[Connection]:
        self._deadline.fired()  # forget a cut-short ping whose connection the pool has since replaced
        try:
            with engine.connect() as conn:
                if write:
                    conn = conn.execution_options(**{_WRITE_OPTION: True})
                try:
                    with conn.begin():
                        yield conn
                finally:
                    self._deadline.disarm()  # armed by the commit or rollback
        except DBAPIError as exc:
            raise self._error(failure, exc, url) from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite): committed on success, rolled back on any error."""
        self.ensure_schema()
        with self._transaction(self.engine, True, "database error on") as conn:
            yield conn

    @contextmanager
    def read(self, reporting: bool = False) -> Iterator[Connection]:
        """A read-only transaction. `reporting=True` reads the replica (`reporting_url`) when it has
        replayed everything the primary had written when the read began, so a report never misses a
        write committed before it, the user's own included; a replica that is behind after a short wait
        (REPLICA_WAIT_S) or unreachable (one warning) leaves the read to the primary."""
        self.ensure_schema()
        with ExitStack() as stack:
            conn = self._replica_read(stack) if reporting and self.reporting_url else None
            if conn is None:
                conn = stack.enter_context(self._transaction(self.engine, False, "database error on"))
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
        """A write transaction without the schema check (used by migrations themselves). On PostgreSQL
        it has no time limits: a migration may rewrite whole tables, or wait for another process's."""
        with self._transaction(self.engine, True, "cannot migrate database") as conn:
            if not self.is_sqlite:
                conn.execution_options(**{_NO_DEADLINE_OPTION: True})
                conn.execute(_NO_LIMITS)
            yield conn

    # --- the read replica ----------------------------------------------------------

    def _replica_read(self, stack: ExitStack) -> Connection | None:
        """A transaction on the replica, entered into `stack`, if the replica has caught up; else None."""
        assert self.reporting_url is not None
        if time.monotonic() < self._replica_down_until:
            return None
        replica_url = self.reporting_url
        if self.is_sqlite or make_url(replica_url).get_backend_name() != "postgresql":
            self._replica_unusable("is not a PostgreSQL streaming replica of a PostgreSQL database")
            return None
        # The primary's WAL position now covers every transaction committed before this read.
        with self._transaction(self.engine, False, "database error on") as conn:
            target = conn.execute(_PRIMARY_LSN).scalar_one()
        if self._reporting_engine is None:
            self._reporting_engine = create_engine(replica_url, self.timeout, self._deadline)
        try:
            with ExitStack() as attempt:
                conn = attempt.enter_context(
                    self._transaction(self._reporting_engine, False, "cannot reach read replica", url=replica_url)
                )
                replayed = self._wait_replayed(conn, target)
                if replayed is None:
                    self._replica_unusable("is not a streaming standby (it replays no WAL)")
                    return None
                if replayed:
                    stack.push(attempt.pop_all())
                    return conn
        except StorageError as exc:
            self._replica_down_until = time.monotonic() + REPLICA_RETRY_S
            self._warn(f"{exc}; reading from the primary")
            return None
        log.info("read replica %s is behind the primary; reading from the primary", mask_url(replica_url))
        return None

    def _wait_replayed(self, conn: Connection, target: str) -> bool | None:
        """Whether the replica has replayed up to `target` within REPLICA_WAIT_S (None: not a standby)."""
        give_up = time.monotonic() + REPLICA_WAIT_S
        pause = 0.001
        while True:
            replayed = conn.execute(_REPLAYED, {"lsn": target}).scalar()
            if replayed is None or replayed:
                return replayed
            if time.monotonic() >= give_up:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _replica_unusable(self, why: str) -> None:
        self._replica_down_until = float("inf")
        self._warn(f"database.reporting_url {mask_url(self.reporting_url or '')} {why}; reading from the primary")


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


def open_database(settings: Settings, warn: Callable[[str], None] | None = None) -> Database:
    """The Database the settings point at; `warn` receives non-fatal warnings (a read replica that is down)."""
    return Database(
        settings.database_url,
        settings.database.reporting_url,
        timeout=settings.database.timeout,
        warn=warn,
    )
