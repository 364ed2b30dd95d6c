"""benchmarks/scale/population.py --quick: the generated population is what the product itself reads, on both backends.

The script runs as a subprocess (as an operator runs it); the test then reads the database through the product's
library (`finbuddy.open_context`, `monthly_summary`) and through direct SQL, and checks they agree, and that every
row keeps the product's invariants (per-user record ids 1..n, next_record_id, data and portfolio versions, the
records' indexes exactly as the migrations make them). No timing is asserted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, drop_pg_database, require_postgres

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "scale" / "population.py"
sys.path.insert(0, str(ROOT))

from benchmarks.scale import params  # noqa: E402

REPLAY_DAY = dt.date.fromisoformat(params.DAY.replay_day)


def _run(*args: str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINBUDDY_") and k != "PYTEST_CURRENT_TEST"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "users," in proc.stderr  # a progress line per chunk
    return json.loads(proc.stdout)


@pytest.fixture
def new_pg_url():
    """The URL of a PostgreSQL database that does not exist yet (the script creates it); dropped afterwards."""
    require_postgres()
    import sqlalchemy as sa

    name = f"finbuddy_test_pop_{uuid.uuid4().hex[:10]}"
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        drop_pg_database(conn, name)
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def population_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("new_pg_url")
    return f"sqlite:///{tmp_path / 'population.db'}"


def _records_index_definitions(url: str) -> dict[str, str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                rows = conn.execute(
                    sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'records'")
                ).all()
            else:
                rows = conn.execute(
                    sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'")
                ).all()
    finally:
        engine.dispose()
    return {name: " ".join(str(sql).split()) for name, sql in rows if sql}


def _migrated_index_definitions(url: str) -> dict[str, str]:
    """The records' indexes of an empty database that the product's migrations made (in the same kind of database)."""
    import sqlalchemy as sa

    from finbuddy.db import Database
    from finbuddy.db.migrate import upgrade

    if url.startswith("sqlite"):
        fresh = url.replace("population.db", "fresh.db")
        upgrade(Database(fresh, auto_migrate=True))
        return _records_index_definitions(fresh)
    base, name = url.rsplit("/", 1)
    fresh_name = f"{name}_fresh"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{fresh_name}"')
    try:
        db = Database(f"{base}/{fresh_name}")
        upgrade(db)
        db.dispose()
        return _records_index_definitions(f"{base}/{fresh_name}")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{fresh_name}"')
        admin.dispose()


def test_quick_population_is_what_the_product_reads(population_url, tmp_path):
    import sqlalchemy as sa

    import finbuddy
    from finbuddy.dates import month_bounds
    from finbuddy.db.tables import budgets, database_identity, holdings, prices, records, users

    figures = _run("--url", population_url, tmp_path=tmp_path)

    # The figures the lab reports.
    assert figures["users"] == params.QUICK_USERS
    assert figures["rows"]["users"] == params.QUICK_USERS
    assert figures["rows_total"] == sum(figures["rows"].values())
    assert figures["rows"]["records"] > params.QUICK_USERS
    assert 0 < figures["rows"]["budgets"] and 0 < figures["rows"]["holdings"] == figures["rows"]["prices"]
    assert figures["rows_per_s"] > 0 and figures["records_load_rows_per_s"] > 0
    assert set(figures["elapsed_s"]) >= {"schema", "load", "index", "analyze", "total"}
    assert figures["database_bytes"] > 0
    spread = figures["records_per_user"]
    model = params.POPULATION
    assert model.records_min <= spread["min"] <= spread["median"] <= spread["p90"] <= spread["p99"] <= spread["max"]
    assert spread["max"] <= model.records_max
    assert all(check["ok"] for check in figures["product_check"])
    assert 0 < figures["shares"]["recurring_users"] <= model.recurring_share + 0.1

    # The records' secondary indexes are the migrations' own, re-created after the load.
    assert _records_index_definitions(population_url) == _migrated_index_definitions(population_url)

    engine = sa.create_engine(population_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(database_identity)).scalar_one() == 1
            counts = {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (users, records, budgets, holdings, prices)
            }
            assert counts == figures["rows"]
            per_user = {
                row.user_id: row
                for row in conn.execute(
                    sa.select(
                        records.c.user_id,
                        sa.func.count().label("n"),
                        sa.func.max(records.c.id).label("top"),
                        sa.func.min(records.c.id).label("low"),
                    ).group_by(records.c.user_id)
                )
            }
            owned_budgets = dict(
                conn.execute(sa.select(budgets.c.user_id, sa.func.count()).group_by(budgets.c.user_id)).all()
            )
            owned_holdings = dict(
                conn.execute(sa.select(holdings.c.user_id, sa.func.count()).group_by(holdings.c.user_id)).all()
            )
            owned_prices = dict(
                conn.execute(sa.select(prices.c.user_id, sa.func.count()).group_by(prices.c.user_id)).all()
            )
            for user in conn.execute(sa.select(users)).all():
                n = per_user[user.id]
                assert user.name == f"user{user.id:06d}"
                assert (n.low, n.top, n.n) == (1, n.n, n.n) and user.next_record_id == n.n + 1
                assert user.data_version == n.n + owned_budgets.get(user.id, 0)
                assert user.portfolio_version == owned_holdings.get(user.id, 0) + owned_prices.get(user.id, 0)
            assert set(conn.execute(sa.select(records.c.kind).distinct()).scalars()) == {"expense", "income"}
            assert set(conn.execute(sa.select(records.c.category_source).distinct()).scalars()) == {"user"}
            low, high = conn.execute(
                sa.select(sa.func.min(records.c.expense_date), sa.func.max(records.c.expense_date))
            ).one()
            assert REPLAY_DAY - dt.timedelta(days=model.history_days) <= low and high < REPLAY_DAY
            recurring = conn.execute(sa.select(sa.func.count()).where(records.c.merchant.is_not(None))).scalar_one()
            assert recurring > 0
            # The heaviest users and a few others: the product's month against a direct SUM of their rows.
            sample = sorted(per_user, key=lambda uid: -per_user[uid].n)[:3] + [1, 2, params.QUICK_USERS]
    finally:
        engine.dispose()

    start, end = month_bounds(REPLAY_DAY.replace(day=1))
    env = {
        "FINBUDDY_HOME": str(tmp_path / "home"),
        "FINBUDDY_DATABASE_URL": population_url,
        "FINBUDDY_USER_TIMEZONE": "UTC",
        "FINBUDDY_FAKE_NOW": f"{REPLAY_DAY.isoformat()}T09:00:00+00:00",
    }
    engine = sa.create_engine(population_url)
    try:
        for user_id in sample:
            with finbuddy.open_context(f"user{user_id:06d}", env=env) as ctx:
                summary = finbuddy.monthly_summary(ctx)
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.select(records.c.kind, records.c.category, sa.func.sum(records.c.amount_cents))
                    .where(
                        records.c.user_id == user_id,
                        records.c.expense_date >= start,
                        records.c.expense_date <= end,
                    )
                    .group_by(records.c.kind, records.c.category)
                ).all()
                user_budgets = dict(
                    conn.execute(
                        sa.select(budgets.c.category, budgets.c.amount_cents).where(budgets.c.user_id == user_id)
                    ).all()
                )
            expenses = {category: int(total) for kind, category, total in rows if kind == "expense"}
            income = sum(int(total) for kind, _category, total in rows if kind == "income")
            shown = {row.category: row for row in summary.by_category}
            assert {c: shown[c].total_cents for c in expenses} == expenses
            assert summary.expenses_cents == sum(expenses.values())
            assert summary.income_cents == income
            budgeted = {c: row.budget_cents for c, row in shown.items() if row.budget_cents is not None}
            assert budgeted == user_budgets
    finally:
        engine.dispose()


def test_quick_population_without_the_indexes_keeps_only_the_unique_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'population.db'}"
    figures = _run("--url", url, "--no-indexes", tmp_path=tmp_path)
    assert all(check["ok"] for check in figures["product_check"])
    assert set(_records_index_definitions(url)) == {"uq_records_user_fingerprint"}


def test_quick_population_in_a_temporary_file_leaves_nothing(tmp_path):
    figures = _run(tmp_path=tmp_path)
    assert figures["backend"] == "sqlite" and figures["users"] == params.QUICK_USERS
    assert list(tmp_path.iterdir()) == []


def test_the_same_seed_makes_the_same_users():
    from benchmarks.scale.population import generate_chunk

    first, again, other = generate_chunk(1, 50, 7), generate_chunk(1, 50, 7), generate_chunk(1, 50, 8)
    assert all((first.records[key] == again.records[key]).all() for key in first.records)
    assert first.rows() != other.rows() or (first.records["amount_cents"] != other.records["amount_cents"]).any()
