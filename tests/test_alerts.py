"""Budget alerts: the daemon's budget-alerts job writes one per budget, threshold and month; insights and summary
show them. Today is 2026-11-25 unless a test moves the clock."""

from __future__ import annotations

import datetime as dt

import pytest

from finbuddy.clock import Clock
from finbuddy.config import load_settings
from finbuddy.context import Context
from tests.helpers_ledger import query


@pytest.fixture
def run_job():
    """Run the registered budget-alerts job once, as the daemon does, at `now`; returns its result."""
    made: list[Context] = []

    def run(now: str = "2026-11-25T12:00:00+00:00") -> dict:
        from finbuddy.daemon.jobs import default_jobs
        from finbuddy.daemon.scheduler import JobRunner

        ctx = Context(settings=load_settings(), clock=Clock(dt.datetime.fromisoformat(now)))
        made.append(ctx)
        runner = JobRunner(ctx)
        [job] = [j for j in default_jobs(ctx.settings) if j.name == "budget-alerts"]
        outcome = runner.run_job(job, "test")
        assert outcome.status == "ok", outcome.result
        return outcome.result

    yield run
    for ctx in made:
        ctx.close()


def alerts(db_url: str, user: str = "alice") -> list[tuple]:
    rows = query(
        db_url,
        "SELECT a.month, a.category, a.budget_cents, a.threshold, a.spent_cents FROM budget_alerts a "
        "JOIN users u ON u.id = a.user_id WHERE u.name = :user "
        "ORDER BY a.month, a.category, a.budget_cents, a.threshold",
        user=user,
    )
    return [(str(r["month"]), r["category"], r["budget_cents"], r["threshold"], r["spent_cents"]) for r in rows]


def add(cli, amount: str, category: str, day: str = "2026-11-20", user: str = "alice") -> None:
    assert cli("--user", user, "add", amount, category, "--date", day).exit_code == 0


def test_one_alert_per_threshold_per_month(cli, backend, db_url, run_job):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    add(cli, "79.99", "dining")
    assert run_job()["alerts"] == 0  # 79.99 %: below 80
    add(cli, "0.01", "dining")
    assert run_job()["alerts"] == 1  # exactly 80 %
    assert alerts(db_url) == [("2026-11-01", "dining", 10000, 80, 8000)]
    assert run_job()["alerts"] == 0  # running again writes nothing new
    add(cli, "15", "dining")
    assert run_job()["alerts"] == 0  # 95 %: still the 80 % alert
    add(cli, "5", "dining")
    assert run_job()["alerts"] == 1  # 100 %
    assert run_job()["alerts"] == 0
    add(cli, "50", "dining")
    assert run_job()["alerts"] == 0  # 150 %: nothing above 100
    assert alerts(db_url) == [("2026-11-01", "dining", 10000, 80, 8000), ("2026-11-01", "dining", 10000, 100, 10000)]


def test_a_budget_first_found_over_its_amount_gets_the_100_alert_only(cli, backend, db_url, run_job):
    assert cli("budget", "set", "fun", "50").exit_code == 0
    add(cli, "60", "fun")
    assert run_job()["alerts"] == 1
    assert alerts(db_url) == [("2026-11-01", "fun", 5000, 100, 6000)]
    assert run_job()["alerts"] == 0


def test_next_month_starts_again(cli, backend, db_url, run_job):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    add(cli, "85", "dining", "2026-11-10")
    assert run_job("2026-11-25T12:00:00+00:00")["alerts"] == 1
    add(cli, "90", "dining", "2026-12-03")
    assert run_job("2026-12-04T07:00:00+00:00") == {"alerts": 1, "months": ["2026-11", "2026-12"]}
    assert run_job("2026-12-05T07:00:00+00:00") == {"alerts": 0, "months": ["2026-12"]}
    assert alerts(db_url) == [("2026-11-01", "dining", 10000, 80, 8500), ("2026-12-01", "dining", 10000, 80, 9000)]


def test_the_last_days_of_a_month_are_judged_after_it_ends(cli, backend, db_url, run_job):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    add(cli, "50", "dining", "2026-11-10")
    assert run_job("2026-11-29T07:00:00+00:00")["alerts"] == 0
    add(cli, "60", "dining", "2026-11-30")  # after the last November run
    assert run_job("2026-12-01T07:00:00+00:00") == {"alerts": 1, "months": ["2026-11", "2026-12"]}
    assert alerts(db_url) == [("2026-11-01", "dining", 10000, 100, 11000)]


def test_a_budget_changed_after_an_alert_is_judged_against_its_new_amount(cli, backend, db_url, run_job):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    add(cli, "85", "dining")
    assert run_job()["alerts"] == 1  # 80 % of 100
    assert cli("budget", "set", "dining", "200").exit_code == 0
    assert run_job()["alerts"] == 0  # 42.5 % of 200
    add(cli, "85", "dining")
    assert run_job()["alerts"] == 1  # 170: 85 % of 200
    assert cli("budget", "set", "dining", "100").exit_code == 0  # back to 100: 170 %
    assert run_job()["alerts"] == 1  # 100 % of 100 (its 80 % alert was written already)
    assert cli("budget", "set", "dining", "200").exit_code == 0
    assert run_job()["alerts"] == 0  # 200 already had its 80 % alert this month
    assert alerts(db_url) == [
        ("2026-11-01", "dining", 10000, 80, 8500),
        ("2026-11-01", "dining", 10000, 100, 17000),
        ("2026-11-01", "dining", 20000, 80, 17000),
    ]


def test_a_user_with_no_budgets_gets_no_alerts(cli, backend, db_url, run_job):
    add(cli, "5000", "rent")
    assert run_job()["alerts"] == 0
    assert alerts(db_url) == []
    missing = cli("insights")  # no insight, no alert: as before, exit 1
    assert missing.exit_code == 1 and "no daily insight for alice yet" in missing.stderr


def test_one_run_writes_every_users_alerts_and_each_sees_only_their_own(cli, backend, db_url, run_job):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    assert cli("--user", "bob", "budget", "set", "dining", "10").exit_code == 0
    add(cli, "50", "dining")
    add(cli, "9", "dining", user="bob")
    add(cli, "900", "travel", user="bob")  # no budget for travel
    assert run_job()["alerts"] == 1
    assert alerts(db_url) == []  # alice: 50 %
    assert alerts(db_url, "bob") == [("2026-11-01", "dining", 1000, 80, 900)]
    assert cli("insights", "--json").exit_code == 1  # alice has neither an insight nor an alert
    bob = cli("--user", "bob", "insights", "--json").json
    assert [a["category"] for a in bob["alerts"]] == ["dining"]


def test_run_once_writes_alerts_and_insights_shows_them(cli, backend):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    assert cli("budget", "set", "[b]fun[/b]", "50").exit_code == 0
    add(cli, "85", "dining")
    add(cli, "60", "[b]fun[/b]")
    once = cli("daemon", "run-once", "--json")
    assert once.exit_code == 0, once.stderr
    ran = {item["job"]: item for item in once.json["ran"]}
    assert ran["budget-alerts"]["result"] == {"alerts": 2, "months": ["2026-11"]}
    data = cli("insights", "--json").json
    assert data["date"] == "2026-11-25" and data["text"]  # the insight, as before
    assert data["alerts"] == [
        {
            "category": "[b]fun[/b]",
            "month": "2026-11",
            "threshold": 100,
            "budget": "50.00",
            "spent": "60.00",
            "used_pct": 120.0,
            "written_at": "2026-11-25T12:00:00+00:00",
            "text": "[b]fun[/b] passed 100 % of its 50.00 budget in November 2026 (60.00 spent, 120.0 %)",
        },
        {
            "category": "dining",
            "month": "2026-11",
            "threshold": 80,
            "budget": "100.00",
            "spent": "85.00",
            "used_pct": 85.0,
            "written_at": "2026-11-25T12:00:00+00:00",
            "text": "dining passed 80 % of its 100.00 budget in November 2026 (85.00 spent, 85.0 %)",
        },
    ]
    human = cli("insights").stdout
    assert human.startswith("Daily insight for alice, 2026-11-25 (offline):")
    assert "Budget alerts:" in human
    assert "[b]fun[/b] passed 100 % of its 50.00 budget in November 2026" in human  # verbatim, not markup
    assert "dining passed 80 % of its 100.00 budget" in human
    # run-once again: the job is daily, so it is not due; nothing changes
    again = cli("daemon", "run-once", "--json").json
    assert "budget-alerts" in {item["job"] for item in again["not_due"]}


def test_insights_shows_alerts_before_the_first_insight(cli, backend, run_job):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    add(cli, "100", "dining")
    run_job()
    result = cli("insights", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json
    assert (data["user"], data["date"], data["text"]) == ("alice", None, None)
    assert [(a["category"], a["threshold"]) for a in data["alerts"]] == [("dining", 100)]
    assert "reached 100 %" in data["alerts"][0]["text"]  # spent exactly the budget
    human = cli("insights")
    assert human.exit_code == 0
    assert "No daily insight for alice yet." in human.stdout and "dining reached 100 %" in human.stdout


def test_insights_shows_last_months_alerts_for_a_week(cli, backend, run_job, monkeypatch):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    add(cli, "90", "dining", "2026-11-30")
    run_job("2026-11-30T20:00:00+00:00")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-12-07T20:00:00+00:00")
    assert [a["month"] for a in cli("insights", "--json").json["alerts"]] == ["2026-11"]
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-12-07T20:00:01+00:00")  # more than 7 days after it was written
    assert cli("insights", "--json").exit_code == 1


def test_the_dashboard_shows_the_months_alerts_even_when_cached(cli, backend, run_job):
    assert cli("budget", "set", "dining", "100").exit_code == 0
    add(cli, "85", "dining")
    add(cli, "120", "dining", "2026-10-10")
    first = cli("summary", "--json").json
    assert first["alerts"] == []
    run_job()  # writes the November alert; the user's data (and the cache key) did not change
    cached = cli("summary", "--json").json
    assert cached["cached"] is True
    assert [(a["month"], a["threshold"], a["spent"]) for a in cached["alerts"]] == [("2026-11", 80, "85.00")]
    assert cli("summary", "--month", "2026-10", "--json").json["alerts"] == []  # October's run never happened
    out = cli("summary").stdout
    assert "Budget alerts" in out and "dining passed 80 % of its 100.00 budget (85.00 spent, 85.0 %)" in out


def test_the_job_is_registered_daily_at_the_insight_time(monkeypatch):
    from finbuddy.daemon.jobs import Daily, default_jobs

    monkeypatch.setenv("FINBUDDY_DAEMON_INSIGHTS_AT", "06:30")
    [job] = [j for j in default_jobs(load_settings()) if j.name == "budget-alerts"]
    assert job.schedule == Daily(dt.time(6, 30))
