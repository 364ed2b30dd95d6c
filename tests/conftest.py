"""Shared fixtures: every test runs in its own FINBUDDY_HOME, on SQLite and (where asked) the real PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXED_NOW = "2026-11-25T12:00:00+00:00"
PG_ADMIN_URL = os.environ.get("FINBUDDY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("FINBUDDY_TEST_REQUIRE_POSTGRES") == "1"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def finbuddy_env(tmp_path, monkeypatch):
    """A private home for every test; no setting leaks in from the machine."""
    for name in list(os.environ):
        if name.startswith(("FINBUDDY_", "OPENAI_")) and name not in (
            "FINBUDDY_TEST_POSTGRES_URL",
            "FINBUDDY_TEST_REQUIRE_POSTGRES",
        ):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("FINBUDDY_HOME", str(home))
    monkeypatch.setenv("FINBUDDY_USER", "alice")
    monkeypatch.setenv("FINBUDDY_USER_TIMEZONE", "UTC")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", FIXED_NOW)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    return home


def run_cli(args: list[str], capsys, input: str | None = None) -> Result:
    """Run finbuddy in-process through its real entry point and error boundary."""
    from finbuddy.cli import main

    capsys.readouterr()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(input or "")
    try:
        code = main([str(a) for a in args])
    finally:
        sys.stdin = old_stdin
    out, err = capsys.readouterr()
    return Result(code, out, err)


@pytest.fixture
def cli(capsys):
    def invoke(*args: Any, input: str | None = None) -> Result:
        return run_cli(list(args), capsys, input=input)

    return invoke


def run_process(args: list[str], env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60):
    """Run `python -m finbuddy` as a separate process (for concurrency and real exit codes)."""
    full_env = dict(os.environ)
    full_env.pop("PYTEST_CURRENT_TEST", None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "finbuddy", *map(str, args)],
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# --- PostgreSQL -------------------------------------------------------------------


def _pg_reachable() -> str | None:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return "psycopg is not installed"
    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test session (per xdist worker), migrated, dropped afterwards."""
    problem = _pg_reachable()
    if problem:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}"
        if REQUIRE_PG:
            pytest.fail(message + " (FINBUDDY_TEST_REQUIRE_POSTGRES=1 makes this mandatory)")
        pytest.skip(message)
    import sqlalchemy as sa

    name = f"finbuddy_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    from finbuddy.db import Database
    from finbuddy.db.migrate import upgrade

    db = Database(url)
    upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


def _truncate_pg(url: str) -> None:
    import sqlalchemy as sa

    from finbuddy.db.tables import metadata

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        # The database's identity is not data: it stays, like the schema.
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name != "database_identity")
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, monkeypatch, finbuddy_env) -> str:
    """Run the test on SQLite (a file in the test's home) and on the real PostgreSQL server."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        _truncate_pg(url)
        monkeypatch.setenv("FINBUDDY_DATABASE_URL", url)
        return "postgresql"
    return "sqlite"


@pytest.fixture
def db_url(backend, finbuddy_env) -> str:
    """The database URL the current test's finbuddy uses."""
    from finbuddy.config import load_settings

    return load_settings().database_url


def sqlite_file(home: Path) -> Path:
    return home / "data" / "finbuddy.db"
