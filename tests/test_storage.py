"""Storage: indexes used by the list and month queries, SQLite file safety and pragmas, unreachable servers."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import time
from pathlib import Path

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


# --- a home that cannot be written, a full disk ------------------------------------------


@pytest.mark.parametrize("where", ["under-a-file", "in-proc"])
def test_a_database_file_that_cannot_be_created_is_one_line_and_exit_1(cli, monkeypatch, tmp_path, where):
    """Root writes through any mode bits, so the directory is made impossible another way: a path
    under a regular file (NotADirectoryError), or under /proc/self where nobody can create files."""
    if where == "under-a-file":
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        monkeypatch.setenv("FINBUDDY_HOME", str(blocker / "home"))
        monkeypatch.setenv("FINBUDDY_CONFIG", str(tmp_path / "no-config.toml"))
    else:
        if not Path("/proc/self").is_dir():  # pragma: no cover - not Linux
            pytest.skip("no /proc on this system")
        monkeypatch.setenv("FINBUDDY_HOME", "/proc/self/finbuddy-home")
    for args in (("add", "1", "x"), ("summary",), ("list", "--json")):
        r = cli(*args)
        assert r.exit_code == 1, r.stderr
        line = one_line_error(r.stderr) if "--json" not in args else r.json["error"]["message"]
        assert "cannot create database file" in line and "finbuddy.db" in line, line
        assert "internal error" not in r.stderr
    if where == "under-a-file":
        assert blocker.read_text() == "not a directory"


_FULL_DISK_DRIVER = r"""
import json, os, subprocess, sys

mnt = sys.argv[1]
results = {}


def finbuddy(home, *args):
    env = dict(os.environ, FINBUDDY_HOME=home)
    proc = subprocess.run([sys.executable, "-m", "finbuddy", *args], env=env, capture_output=True, text=True)
    return {"code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}


def mount(name, *options):
    os.mkdir(os.path.join(mnt, name))
    subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", os.path.join(mnt, name)], check=True)
    return os.path.join(mnt, name)


def fill(directory):
    fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:  # ENOSPC: the file system is full
        pass
    finally:
        os.close(fd)


ro = mount("ro", "ro", "size=1m")
results["read-only home"] = finbuddy(os.path.join(ro, "home"), "add", "1", "x")

new = mount("new", "size=1m")
fill(new)
results["full disk, new database"] = finbuddy(os.path.join(new, "home"), "add", "1", "x")

old = mount("old", "size=1m")
home = os.path.join(old, "home")
results["before filling"] = finbuddy(home, "add", "1", "x")
fill(old)
results["full disk, write"] = finbuddy(home, "add", "2", "y")
results["full disk, read"] = finbuddy(home, "list", "--json")
os.remove(os.path.join(old, "filler"))
results["after freeing"] = finbuddy(home, "list", "--json")
print(json.dumps(results))
"""


def _private_mounts_work() -> str | None:
    import shutil
    import subprocess

    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "unshare(1) or mount(8) is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"cannot mount a private tmpfs (needs root with CAP_SYS_ADMIN): {probe.stderr.strip()}"
    return None


def test_a_read_only_home_and_a_full_disk_are_one_line_and_exit_1(finbuddy_env, tmp_path):
    """A real read-only file system (EROFS) and a real full one (ENOSPC): small tmpfs mounts in a
    private mount namespace (`unshare --mount`), seen by this test's processes only and gone with them."""
    import json
    import os
    import subprocess
    import sys

    problem = _private_mounts_work()
    if problem:
        pytest.skip(problem)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # a real exit, not a re-raise
    proc = subprocess.run(
        ["unshare", "--mount", sys.executable, "-c", _FULL_DISK_DRIVER, str(mnt)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results["before filling"]["code"] == 0, results["before filling"]
    for name, reason in (
        ("read-only home", "read-only file system"),
        ("full disk, new database", "no space left on device"),  # fails at the switch to WAL
        ("full disk, write", "no space left on device"),
        ("full disk, read", "no space left on device"),  # WAL readers need the -shm file
    ):
        result = results[name]
        assert result["code"] == 1, (name, result)
        line = one_line_error(result["stderr"]) if result["stderr"] else ""
        if not line:  # --json: the error is the document on stdout
            line = json.loads(result["stdout"])["error"]["message"]
        assert reason in line.lower() and "internal error" not in line, (name, line)
    freed = json.loads(results["after freeing"]["stdout"])
    assert [(r["id"], r["amount"]) for r in freed] == [(1, "1.00")]  # the failed write changed nothing


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


def test_unsupported_database_url_is_a_config_error_exit_2(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", "mysql://u@h/db")
    r = cli("list")
    assert r.exit_code == 2
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


# --- a PostgreSQL connection that stops answering ----------------------------------------


class FreezingProxy:
    """A TCP proxy on loopback between finbuddy and PostgreSQL that, once the client sends `trigger`
    (bytes of a statement), forwards that statement and then nothing more in either direction: the
    connection stays open and silent, as in a network partition or with a hung server or proxy."""

    def __init__(self, upstream: tuple[str, int], trigger: bytes) -> None:
        import socket
        import threading

        self.upstream = upstream
        self.trigger = trigger
        self.frozen = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source, target, from_client: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data or self.frozen.is_set():
                return  # frozen: whatever arrives is held, never forwarded; nothing is closed
            if from_client and self.trigger in data:
                target.sendall(data)  # the server runs the statement (and takes its locks)...
                self.frozen.set()  # ...but its answer, and anything after, never arrives
                return
            try:
                target.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.mark.postgres
def test_postgresql_sessions_carry_time_limits_and_keepalives(pg_database, monkeypatch):
    from finbuddy.config import load_settings
    from finbuddy.db import open_database

    monkeypatch.setenv("FINBUDDY_DATABASE_URL", pg_database + "?options=-c%20lock_timeout%3D7s")
    monkeypatch.setenv("FINBUDDY_DATABASE_TIMEOUT", "12.5")
    db = open_database(load_settings())
    try:
        with db.read() as conn:
            shown = {
                name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
            }
            keepalives = conn.connection.dbapi_connection.info.get_parameters()
    finally:
        db.dispose()
    # database.timeout, except where the URL's own `options` say otherwise
    assert shown == {
        "statement_timeout": "12500ms",
        "lock_timeout": "7s",
        "idle_in_transaction_session_timeout": "12500ms",
    }
    assert keepalives.get("keepalives") == "1" and keepalives.get("tcp_user_timeout") == "14500"


@pytest.mark.postgres
def test_a_connection_that_stops_answering_mid_command_is_one_line_and_exit_1(pg_database, cli, monkeypatch):
    """`add` freezes right after the server ran its UPDATE of the user row (the row lock is held by a
    transaction whose client is gone): the command gives up within the configured time, and the
    server's idle-in-transaction timeout frees the lock, so the user's next `add` succeeds."""
    from sqlalchemy.engine import make_url

    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    url = make_url(pg_database)
    proxy = FreezingProxy((url.host or "127.0.0.1", url.port or 5432), trigger=b"UPDATE users SET next_record_id")
    try:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        r = run_process(
            ["add", "5", "food"],
            env={"FINBUDDY_DATABASE_URL": through_proxy, "FINBUDDY_DATABASE_TIMEOUT": "1"},
            timeout=60,  # the bound: without a deadline the command waits forever
        )
        assert proxy.frozen.is_set()  # it really froze mid-command
        assert r.exit_code == 1, r.stderr
        line = one_line_error(r.stderr)
        assert "did not answer within 3 s" in line, line  # the 1 s server timeouts + the client's grace
        assert r.stdout == ""
    finally:
        proxy.close()
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", pg_database)
    monkeypatch.setenv("FINBUDDY_DATABASE_TIMEOUT", "5")  # a lock still held would fail it, not hang it
    later = cli("add", "7", "food", "--json")
    assert later.exit_code == 0, later.stderr
    assert later.json["id"] == 1  # the frozen add never committed
    assert count_rows(pg_database, "records") == 1
