"""Racing processes and threads against the quota and the sweep: exactly the quota through, and no deadlock."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import FIXED_NOW, run_process
from tests.fakes.openai_server import Reply


@pytest.mark.slow
def test_twelve_concurrent_asks_let_exactly_the_quota_through(cli, backend, openai_server):
    assert cli("add", "12.50", "groceries").exit_code == 0  # creates the user and (SQLite) the schema
    openai_server.always(Reply(200, delay=0.2))  # calls overlap, as real ones do
    with ThreadPoolExecutor(max_workers=12) as pool:
        # distinct questions, so no process can be served by another's cached answer
        results = list(pool.map(lambda n: run_process(["ask", f"question number {n}", "--json"]), range(12)))
    codes = sorted(r.exit_code for r in results)
    assert codes == [0] * 5 + [3] * 7, [(r.exit_code, r.stderr) for r in results]
    assert openai_server.count == 5
    for result in results:
        if result.exit_code == 3:
            assert "Daily AI limit reached (5/5)" in result.stderr
    assert sorted(r.json["quota"]["used"] for r in results if r.exit_code == 0) == [1, 2, 3, 4, 5]
    quota = cli("quota", "--json").json
    assert (quota["used"], quota["remaining"], quota["global"]["used"]) == (5, 0, 5)


def _stale_reservations(url: str, users: list[str], created_at: dt.datetime) -> None:
    """One reservation per user left 'reserved' by a killed process (counted in the user's quota and the
    global limit), as the state a crash leaves behind."""
    import sqlalchemy as sa

    from finbuddy.db.tables import ai_calls

    day = created_at.date()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            ids = dict(conn.execute(sa.text("SELECT name, id FROM users")).all())
            for name in users:
                conn.execute(
                    sa.text(
                        "INSERT INTO ai_quota (user_id, day, used) VALUES (:u, :d, 1) "
                        "ON CONFLICT (user_id, day) DO UPDATE SET used = ai_quota.used + 1"
                    ),
                    {"u": ids[name], "d": day},
                )
                conn.execute(
                    sa.insert(ai_calls).values(
                        user_id=ids[name],
                        id=uuid.uuid4().hex,
                        kind="ask",
                        day=day,
                        global_day=day,
                        status="reserved",
                        counts_quota=1,
                        provider="openai",
                        model="gpt-4o-mini",
                        created_at=created_at,
                    )
                )
            conn.execute(
                sa.text(
                    "INSERT INTO ai_global_usage (day, used) VALUES (:d, :n) "
                    "ON CONFLICT (day) DO UPDATE SET used = ai_global_usage.used + :n"
                ),
                {"d": day, "n": len(users)},
            )
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_sweep_and_concurrent_asks_never_deadlock_on_postgresql(pg_database, monkeypatch, openai_server):
    """The reproduction: 60 stale reservations, 12 concurrent asks and sweeps, several rounds.

    The reservations were made 30 s before the asks' clock: not yet stale for the asks (their own sweep leaves
    them: a live call may take that long), but stale for two sweeps running an hour later (a daemon, another
    host) while the asks reserve. Each ask takes its user's quota row, then the global one; a sweep that held
    the global row while it went on to refund the next user's quota row deadlocked with them."""
    import sqlalchemy as sa

    from finbuddy.advisor import ask, longest_call_seconds, sweep_stale_reservations
    from finbuddy.clock import Clock
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from tests.conftest import _truncate_pg
    from tests.fakes_daemon import seed_users

    _truncate_pg(pg_database)
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", pg_database)
    monkeypatch.setenv("FINBUDDY_AI_DAILY_QUOTA", "100")  # one ask and one stale reservation a round
    users = seed_users(60, prefix="u")
    askers = users[:12]  # their quota rows are among those the sweeps give back
    openai_server.always(Reply(200, delay=0.05))
    now = dt.datetime.fromisoformat(FIXED_NOW)
    made_at = now - dt.timedelta(seconds=30)
    assert longest_call_seconds(load_settings()) + 60 > 30  # still live for the asks

    def one(job: tuple[int, str]) -> str | None:
        round_number, who = job
        sweeping = who.startswith("sweeper")
        clock = Clock(now + dt.timedelta(hours=1)) if sweeping else Clock(now)
        ctx = Context(load_settings(), clock=clock, user="daemon" if sweeping else who)
        try:
            if sweeping:
                sweep_stale_reservations(ctx)
            else:
                ask(ctx, f"round {round_number}: may {who} buy a bike?")
            return None
        except Exception as exc:  # collected, so every thread's outcome is seen
            return f"{who}: {type(exc).__name__}: {exc}"
        finally:
            ctx.close()

    rounds = 3
    for round_number in range(rounds):
        _stale_reservations(pg_database, users, made_at)
        jobs = [(round_number, name) for name in ["sweeper-1", *askers[:6], "sweeper-2", *askers[6:]]]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            errors = [e for e in pool.map(one, jobs) if e]
        assert errors == [], errors

    engine = sa.create_engine(pg_database)
    try:
        with engine.connect() as conn:
            statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM ai_calls GROUP BY status")).all())
            used = dict(
                conn.execute(sa.text("SELECT u.name, q.used FROM ai_quota q JOIN users u ON u.id = q.user_id")).all()
            )
            global_used = conn.execute(sa.text("SELECT used FROM ai_global_usage")).scalar_one()
    finally:
        engine.dispose()
    # every stale reservation refunded exactly once, every ask counted once
    assert statuses == {"refunded": 60 * rounds, "succeeded": 12 * rounds}
    assert {name: used[name] for name in askers} == {name: rounds for name in askers}
    assert all(used[name] == 0 for name in users[12:])
    assert global_used == 12 * rounds
    assert openai_server.count == 12 * rounds
