"""Migrations: an empty database upgraded equals the models; older databases keep their rows; `db upgrade`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from finbuddy.db import Database
from finbuddy.db.migrate import alembic_config, known_revisions, upgrade
from finbuddy.db.revision import HEAD_REVISION
from finbuddy.db.tables import metadata
from tests.conftest import PG_ADMIN_URL, drop_pg_database, sqlite_file
from tests.helpers_ledger import count_rows, one_line_error, query

NOW = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
FIRST = "0001_ledger"


@pytest.fixture
def empty_url(request, tmp_path) -> Iterator[str]:
    """An empty database of the backend under test (PostgreSQL: a temporary database of its own)."""
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty' / 'fin.db'}"
        return
    request.getfixturevalue("pg_database")  # skips (or fails) like every PostgreSQL test when no server
    name = f"finbuddy_mig_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            drop_pg_database(conn, name)
        admin.dispose()


BACKENDS = pytest.mark.parametrize(
    "empty_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def schema_diff(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_head_revision_constant_equals_alembic_head():
    from alembic.script import ScriptDirectory

    assert HEAD_REVISION == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_known_revisions_are_the_migration_scripts():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert known_revisions() == {rev.revision for rev in script.walk_revisions()}
    assert FIRST in known_revisions()


@BACKENDS
def test_upgrade_of_an_empty_database_equals_the_models(empty_url):
    db = Database(empty_url)
    try:
        before, after = upgrade(db)
    finally:
        db.dispose()
    assert (before, after) == (None, HEAD_REVISION)
    assert schema_diff(empty_url) == []


@BACKENDS
def test_upgrade_from_the_first_revision_keeps_the_rows(empty_url):
    db = Database(empty_url, auto_migrate=False)
    try:
        assert upgrade(db, FIRST) == (None, FIRST)
        with db.raw_write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (name, next_record_id, data_version, portfolio_version, created_at) "
                "VALUES ('old-timer', 3, 2, 0, '2026-11-01 09:00:00+00:00')"
            )
            uid = conn.exec_driver_sql("SELECT id FROM users WHERE name = 'old-timer'").scalar_one()
            for rid, cents, day, note in ((1, 1250, "2026-10-30", "lunch 🍕"), (2, 99, "2026-11-01", None)):
                conn.execute(
                    sa.text(
                        "INSERT INTO records (user_id, id, kind, amount_cents, expense_date, category, note, "
                        "created_at, updated_at) VALUES (:u, :i, 'expense', :c, :d, 'food', :n, :t, :t)"
                    ),
                    {"u": uid, "i": rid, "c": cents, "d": dt.date.fromisoformat(day), "n": note, "t": NOW},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO budgets (user_id, category, amount_cents, updated_at) VALUES (:u, 'food', 40000, :t)"
                ),
                {"u": uid, "t": NOW},
            )
        assert upgrade(db) == (FIRST, HEAD_REVISION)
        assert upgrade(db) == (HEAD_REVISION, HEAD_REVISION)  # idempotent
    finally:
        db.dispose()
    rows = query(empty_url, "SELECT id, amount_cents, note FROM records ORDER BY id")
    assert rows == [{"id": 1, "amount_cents": 1250, "note": "lunch 🍕"}, {"id": 2, "amount_cents": 99, "note": None}]
    assert count_rows(empty_url, "budgets") == 1
    assert schema_diff(empty_url) == []


@BACKENDS
def test_upgraded_old_database_works_with_the_cli(empty_url, cli, monkeypatch):
    db = Database(empty_url)
    try:
        upgrade(db, FIRST)
        with db.raw_write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (name, next_record_id, data_version, portfolio_version, created_at) "
                "VALUES ('alice', 1, 0, 0, '2026-11-01 09:00:00+00:00')"
            )
    finally:
        db.dispose()
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", empty_url)
    if not empty_url.startswith("sqlite"):
        r = cli("add", "1", "x")
        assert r.exit_code == 1
        assert "finbuddy db upgrade" in one_line_error(r.stderr)
        assert f"is at schema revision {FIRST}" in r.stderr
        r = cli("db", "upgrade", "--json")
        assert r.exit_code == 0, r.stderr
        assert r.json["from"] == FIRST and r.json["to"] == HEAD_REVISION
    # SQLite files are upgraded automatically on first use
    r = cli("add", "1", "x", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["id"] == 1
    assert query(empty_url, "SELECT version_num FROM alembic_version") == [{"version_num": HEAD_REVISION}]


def test_new_sqlite_file_is_migrated_on_first_use(cli, finbuddy_env):
    assert cli("list", "--json").json == []
    url = f"sqlite:///{sqlite_file(finbuddy_env)}"
    assert query(url, "SELECT version_num FROM alembic_version") == [{"version_num": HEAD_REVISION}]


def test_db_upgrade_command_on_sqlite(cli, finbuddy_env):
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("Upgraded ")
    assert f"from empty to {HEAD_REVISION}" in r.stdout
    r = cli("db", "upgrade", "--json")
    assert r.exit_code == 0
    assert r.json == {
        "database": f"sqlite:///{sqlite_file(finbuddy_env)}",
        "from": HEAD_REVISION,
        "to": HEAD_REVISION,
    }
    r = cli("db", "upgrade")
    assert "up to date" in r.stdout


@pytest.mark.parametrize("empty_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgresql_without_schema_says_to_run_db_upgrade(empty_url, cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", empty_url)
    for args in (("add", "1", "x"), ("list",), ("budget", "list")):
        r = cli(*args)
        assert r.exit_code == 1
        line = one_line_error(r.stderr)
        assert "has no finbuddy schema" in line and "run `finbuddy db upgrade`" in line
    r = cli("list", "--json")
    assert r.json["error"]["type"] == "storage_error"
    assert count_rows(empty_url, "records") == 0
    r = cli("db", "upgrade", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["from"] is None and r.json["to"] == HEAD_REVISION
    assert cli("add", "1", "x").exit_code == 0
    assert count_rows(empty_url, "records") == 1


@BACKENDS
def test_unknown_newer_revision_asks_to_upgrade_finbuddy(empty_url, cli, monkeypatch):
    db = Database(empty_url)
    try:
        upgrade(db)
        with db.raw_write() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    finally:
        db.dispose()
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", empty_url)
    r = cli("list")
    assert r.exit_code == 1
    assert "9999_future" in one_line_error(r.stderr)
    assert "upgrade finbuddy" in r.stderr


@BACKENDS
def test_upgrade_to_portfolio_history_keeps_holdings_costs_and_prices(empty_url, cli, monkeypatch):
    """0005_portfolio_history: a cost covers its whole holding, prices become dated history."""
    before = "0004_daemon"
    db = Database(empty_url, auto_migrate=False)
    try:
        assert upgrade(db, before) == (None, before)
        with db.raw_write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (name, next_record_id, data_version, portfolio_version, created_at) "
                "VALUES ('alice', 1, 0, 3, '2026-11-01 09:00:00+00:00')"
            )
            uid = conn.exec_driver_sql("SELECT id FROM users WHERE name = 'alice'").scalar_one()
            for ticker, qty, cost in (("VWCE", 40 * 10**8, 98_500_000), ("VTI", 3 * 10**8, None)):
                conn.execute(
                    sa.text(
                        "INSERT INTO holdings (user_id, ticker, quantity_e8, cost_micros, created_at, updated_at) "
                        "VALUES (:u, :t, :q, :c, :n, :n)"
                    ),
                    {"u": uid, "t": ticker, "q": qty, "c": cost, "n": NOW},
                )
            for ticker, price, day in (("VWCE", 110_000_000, "2026-11-20"), ("MSFT", 400_000_000, "2026-10-01")):
                conn.execute(
                    sa.text(
                        "INSERT INTO prices (user_id, ticker, price_micros, price_date, source, updated_at) "
                        "VALUES (:u, :t, :p, :d, 'manual', :n)"
                    ),
                    {"u": uid, "t": ticker, "p": price, "d": dt.date.fromisoformat(day), "n": NOW},
                )
        assert upgrade(db) == (before, HEAD_REVISION)
    finally:
        db.dispose()
    assert query(
        empty_url, "SELECT ticker, quantity_e8, cost_micros, cost_quantity_e8 FROM holdings ORDER BY ticker"
    ) == [
        {"ticker": "VTI", "quantity_e8": 3 * 10**8, "cost_micros": None, "cost_quantity_e8": 0},
        {"ticker": "VWCE", "quantity_e8": 40 * 10**8, "cost_micros": 98_500_000, "cost_quantity_e8": 40 * 10**8},
    ]
    assert [
        (r["ticker"], r["price_micros"], str(r["price_date"])[:10])
        for r in query(empty_url, "SELECT ticker, price_micros, price_date FROM prices ORDER BY ticker")
    ] == [("MSFT", 400_000_000, "2026-10-01"), ("VWCE", 110_000_000, "2026-11-20")]
    assert schema_diff(empty_url) == []
    # The upgraded data works: an older price joins the history, the known cost survives a buy without cost.
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", empty_url)
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:00:00+00:00")
    assert cli("portfolio", "price", "VWCE", "50", "--date", "2025-01-02").exit_code == 0
    assert cli("portfolio", "add", "VWCE", "10").exit_code == 0
    data = cli("portfolio", "show", "--json").json
    vwce = next(h for h in data["holdings"] if h["ticker"] == "VWCE")
    # 50 x 110 = 5500.00; gain on the 40 known: 4400.00 - 3940.00 = 460.00
    assert (vwce["price"], vwce["value"], vwce["gain"], vwce["cost_quantity"]) == ("110.00", "5500.00", "460.00", "40")
    assert count_rows(empty_url, "prices") == 3


@BACKENDS
def test_upgrade_gives_an_existing_database_an_identity_of_its_own(empty_url, tmp_path):
    db = Database(empty_url, auto_migrate=False)
    try:
        upgrade(db, "0004_daemon")
        with db.raw_write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (name, next_record_id, data_version, portfolio_version, created_at) "
                "VALUES ('old-timer', 1, 0, 0, '2026-11-01 09:00:00+00:00')"
            )
        assert upgrade(db) == ("0004_daemon", HEAD_REVISION)
        (row,) = query(empty_url, "SELECT id FROM database_identity")
        assert len(row["id"]) == 32 and int(row["id"], 16) >= 0
        assert db.identity == row["id"]
    finally:
        db.dispose()
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert other.identity != row["id"]  # a new database, a new identity
    finally:
        other.dispose()
    assert count_rows(empty_url, "users") == 1


def test_the_identity_comes_with_the_schema_check_in_one_query(tmp_path):
    url = f"sqlite:///{tmp_path / 'fin.db'}"
    created = Database(url)
    created.ensure_schema()  # creates and migrates the file
    created.dispose()
    db = Database(url)
    statements: list[str] = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        first = db.identity
        db.ensure_schema()
        assert db.identity == first
    finally:
        db.dispose()
    schema_reads = [s for s in statements if "alembic_version" in s or "database_identity" in s]
    assert len(schema_reads) == 1, statements


def test_a_database_whose_identity_row_was_deleted_gets_a_new_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'fin.db'}"
    db = Database(url)
    try:
        before = db.identity
        with db.write() as conn:
            conn.exec_driver_sql("DELETE FROM database_identity")
    finally:
        db.dispose()
    again = Database(url)
    try:
        assert again.identity not in (before, None)
    finally:
        again.dispose()
    assert len(query(url, "SELECT id FROM database_identity")) == 1


@pytest.mark.parametrize("empty_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_migrations_are_not_cut_short_by_the_time_limits_of_commands(empty_url):
    """Commands run with statement, lock and idle-in-transaction limits (database.timeout); a migration
    may rewrite whole tables or wait for another process's migration, so it runs without them."""
    db = Database(empty_url, timeout=0.05)  # far shorter than the pauses between a migration's statements
    try:
        assert upgrade(db) == (None, HEAD_REVISION)
        with db.read() as conn:  # an everyday transaction still has them
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "50ms"
    finally:
        db.dispose()


@BACKENDS
def test_upgrade_to_category_rules_marks_who_chose_each_category(empty_url):
    """Revision 0009 classifies the existing records: no fingerprint = added by hand ('user': no rule changes it);
    imported with a real category = 'import'; imported uncategorized = NULL (a rule may fill it)."""
    db = Database(empty_url, auto_migrate=False)
    try:
        upgrade(db, "0008_budget_alerts")
        with db.raw_write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (name, next_record_id, data_version, portfolio_version, created_at) "
                "VALUES ('old', 4, 0, 0, '2026-11-01 09:00:00+00:00')"
            )
            uid = conn.exec_driver_sql("SELECT id FROM users WHERE name = 'old'").scalar_one()
            for rid, category, fingerprint in (
                (1, "uncategorized", None),
                (2, "food", "f2"),
                (3, "uncategorized", "f3"),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO records (user_id, id, kind, amount_cents, expense_date, category, merchant, "
                        "fingerprint, created_at, updated_at) "
                        "VALUES (:u, :i, 'expense', 100, :d, :c, 'Shop', :f, :t, :t)"
                    ),
                    {"u": uid, "i": rid, "c": category, "f": fingerprint, "d": dt.date(2026, 11, 1), "t": NOW},
                )
        assert upgrade(db) == ("0008_budget_alerts", HEAD_REVISION)
    finally:
        db.dispose()
    sources = query(empty_url, "SELECT category_source FROM records ORDER BY id")
    assert [r["category_source"] for r in sources] == ["user", "import", None]
    assert count_rows(empty_url, "category_rules") == 0
    assert schema_diff(empty_url) == []
