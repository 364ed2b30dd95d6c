"""Storage: indexes used by the list and month queries, SQLite file safety and pragmas, unreachable servers."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import time

import pytest
import sqlalchemy as sa

from finbuddy.db import Database
from finbuddy.db.records import select_records
from finbuddy.db.tables import records, users
from finbuddy.errors import StorageError
from tests.conftest import run_process, sqlite_file
from tests.helpers_ledger import count_rows, one_line_error

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


def fill(db: Database, n_users: int = 20, per_user: int = 100) -> None:
    """Many users with many records, so a planner has a reason to prefer an index."""
    with db.write() as conn:
        conn.execute(sa.insert(users), [{"name": f"u{i}", "created_at": NOW} for i in range(n_users)])
        ids = list(conn.execute(sa.select(users.c.id)).scalars())
        rows = [
            {
                "user_id": uid,
                "id": n + 1,
                "kind": "expense",
                "amount_cents": 100 + n,
                "expense_date": dt.date(2026, 1, 1) + dt.timedelta(days=n % 300),
                "category": f"c{n % 7}",
                "created_at": NOW,
                "updated_at": NOW,
            }
            for uid in ids
            for n in range(per_user)
        ]
        conn.execute(sa.insert(records), rows)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def plan(db: Database, stmt: sa.Select) -> str:
    with db.engine.connect() as conn:
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if db.is_sqlite:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).fetchall()
            return "\n".join(str(row[-1]) for row in rows)
        with conn.begin():
            # With few rows the planner may rightly prefer a scan; we ask whether an index *can* serve the query.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + sql).fetchall()
        return "\n".join(str(row[0]) for row in rows)


QUERIES = {
    "list": lambda uid: select_records(uid, limit=20),
    "month": lambda uid: select_records(uid, dt.date(2026, 3, 1), dt.date(2026, 3, 31), limit=50),
    "range": lambda uid: select_records(uid, dt.date(2026, 2, 10), dt.date(2026, 5, 1), limit=None),
    "category": lambda uid: select_records(uid, category="c3", limit=20),
    "month+category": lambda uid: select_records(uid, dt.date(2026, 3, 1), dt.date(2026, 3, 31), category="c3"),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_list_and_month_queries_use_an_index(backend, db_url, name):
    db = Database(db_url, auto_migrate=True)
    try:
        fill(db)
        with db.read() as conn:
            uid = conn.execute(sa.select(users.c.id).where(users.c.name == "u7")).scalar_one()
        text = plan(db, QUERIES[name](uid))
    finally:
        db.dispose()
    assert "ix_records_user_" in text, text
    if backend == "sqlite":
        assert "USING INDEX ix_records_user_" in text or "USING COVERING INDEX ix_records_user_" in text, text
        assert "SCAN records\n" not in text + "\n", text
    else:
        assert "Seq Scan" not in text, text


def test_list_query_needs_no_sort_step(backend, db_url):
    """Newest first comes straight off ix_records_user_date (no temp b-tree / Sort node)."""
    db = Database(db_url, auto_migrate=True)
    try:
        fill(db, n_users=5, per_user=200)
        with db.read() as conn:
            uid = conn.execute(sa.select(users.c.id).where(users.c.name == "u1")).scalar_one()
        text = plan(db, select_records(uid, limit=20))
    finally:
        db.dispose()
    assert "ix_records_user_date" in text, text
    assert "TEMP B-TREE" not in text.upper()
    if backend == "postgresql":
        assert "Sort" not in text, text


# --- SQLite file ------------------------------------------------------------------------


def test_sqlite_file_is_0600_and_its_directory_0700(cli, finbuddy_env):
    assert cli("add", "1", "x").exit_code == 0
    path = sqlite_file(finbuddy_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if extra.exists():
            assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0


def test_sqlite_file_is_private_even_with_a_permissive_umask(finbuddy_env):
    import os

    old = os.umask(0)
    try:
        r = run_process(["add", "1", "x"])
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.stderr
    path = sqlite_file(finbuddy_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_sqlite_uses_wal_foreign_keys_and_a_busy_timeout(cli, finbuddy_env):
    assert cli("add", "1", "x").exit_code == 0
    path = sqlite_file(finbuddy_env)
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()
    db = Database(f"sqlite:///{path}")
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        with pytest.raises(StorageError, match="FOREIGN KEY"):
            with db.write() as conn:
                conn.execute(
                    sa.insert(records).values(
                        user_id=999,
                        id=1,
                        kind="expense",
                        amount_cents=1,
                        expense_date=dt.date(2026, 1, 1),
                        category="x",
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
    finally:
        db.dispose()
    assert count_rows(f"sqlite:///{path}", "records") == 1


def test_sqlite_writers_take_the_write_lock_at_begin(cli, finbuddy_env):
    """BEGIN IMMEDIATE: while finbuddy holds a write transaction, another writer cannot even begin."""
    assert cli("add", "1", "x").exit_code == 0
    path = sqlite_file(finbuddy_env)
    db = Database(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with db.write():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        db.dispose()


def test_check_constraints_reject_bad_rows(backend, db_url):
    db = Database(db_url, auto_migrate=True)
    try:
        with db.write() as conn:
            conn.execute(sa.insert(users).values(name="z", created_at=NOW))
        for bad in ({"amount_cents": 0}, {"amount_cents": -5}, {"kind": "gift"}):
            values = {
                "user_id": 1,
                "id": 1,
                "kind": "expense",
                "amount_cents": 1,
                "expense_date": dt.date(2026, 1, 1),
                "category": "x",
                "created_at": NOW,
                "updated_at": NOW,
                **bad,
            }
            with db.read() as conn:
                uid = conn.execute(sa.select(users.c.id)).scalar_one()
            values["user_id"] = uid
            with pytest.raises(StorageError):
                with db.write() as conn:
                    conn.execute(sa.insert(records).values(**values))
    finally:
        db.dispose()
    assert count_rows(db_url, "records") == 0


# --- unreachable or unsupported databases --------------------------------------------


def test_unreachable_postgresql_is_exit_1_with_one_line_quickly(finbuddy_env):
    started = time.monotonic()
    r = run_process(["add", "1", "x"], env={"FINBUDDY_DATABASE_URL": "postgresql+psycopg://u:pw@127.0.0.1:1/db"})
    elapsed = time.monotonic() - started
    assert r.exit_code == 1
    line = one_line_error(r.stderr)
    assert "127.0.0.1" in line and "pw" not in line
    assert r.stdout == ""
    assert elapsed < 8


def test_unreachable_postgresql_in_json_mode(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", "postgresql+psycopg://u:secretpw@127.0.0.1:1/db")
    r = cli("list", "--json")
    assert r.exit_code == 1
    assert r.json["error"]["type"] == "storage_error"
    assert "secretpw" not in r.stdout + r.stderr


def test_unsupported_database_url_is_exit_1(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", "mysql://u@h/db")
    r = cli("list")
    assert r.exit_code == 1
    assert "not supported" in one_line_error(r.stderr)


@pytest.mark.postgres
def test_plain_postgresql_scheme_uses_psycopg(pg_database, cli, monkeypatch):
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    db_url = pg_database
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", db_url.replace("postgresql+psycopg://", "postgresql://"))
    r = cli("add", "1", "x", "--json")
    assert r.exit_code == 0, r.stderr
    assert count_rows(db_url, "records") == 1


# --- layering --------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["sqlalchemy", "alembic"])
def test_sqlalchemy_and_alembic_are_imported_only_in_db(module):
    """ruff's banned-api keeps each library in its one home (STYLE.md): finbuddy/db/ for these two."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def check(path: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--select", "TID251", "--stdin-filename", path, "-"],
            input=f"import {module}\n",
            capture_output=True,
            text=True,
            cwd=root,
        )

    outside = check("finbuddy/ledger/probe.py")
    assert outside.returncode == 1 and f"only finbuddy/db/ imports {module}" in outside.stdout, outside.stdout
    for allowed in ("finbuddy/db/probe.py", "finbuddy/db/migrations/versions/probe.py", "tests/probe.py"):
        assert check(allowed).returncode == 0, allowed
