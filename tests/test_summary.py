"""`finbuddy summary` and ledger.summary.monthly_summary: figures, month boundaries, caching, rendering."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

MARKUP_MERCHANT = "Café [bold]Olé[/bold]"


def seed(cli) -> None:
    """A month of alice's data whose figures are worked out by hand below, and some of bob's."""
    rows = [
        ("1200", "rent", "--date", "2026-11-01", "--merchant", "Landlord"),
        ("45.50", "groceries", "--date", "2026-11-03", "--merchant", "Corner Shop"),
        ("30.25", "Groceries", "--date", "2026-11-10", "--merchant", "Corner Shop"),
        ("20", "dining", "--date", "2026-11-10", "--merchant", MARKUP_MERCHANT),
        ("9.75", "dining", "--date", "2026-11-30"),  # last day of the month, no merchant
        ("3,000", "salary", "--date", "2026-11-15", "--income"),
        ("99.99", "groceries", "--date", "2026-10-31", "--merchant", "Corner Shop"),  # previous month
        ("50.01", "fun", "--date", "2026-10-01"),
        ("100", "gift", "--date", "2026-10-20", "--income"),
        ("500", "groceries", "--date", "2026-12-01"),  # next month
    ]
    for row in rows:
        assert cli("add", *row).exit_code == 0
    for category, amount in (("groceries", "100"), ("dining", "25"), ("travel", "200")):
        assert cli("budget", "set", category, amount).exit_code == 0
    # Another user's spending, in the same month, categories and merchant: never in alice's figures.
    assert (
        cli(
            "--user", "bob", "add", "777.77", "groceries", "--date", "2026-11-10", "--merchant", "Corner Shop"
        ).exit_code
        == 0
    )
    assert cli("--user", "bob", "add", "5000", "salary", "--date", "2026-11-02", "--income").exit_code == 0
    assert cli("--user", "bob", "budget", "set", "rent", "1").exit_code == 0


NOVEMBER = {
    "user": "alice",
    "currency": "USD",
    "period": {"start": "2026-11-01", "end": "2026-11-30"},
    # 1200 + 45.50 + 30.25 + 20 + 9.75
    "expenses": "1305.50",
    "income": "3000.00",
    "net": "1694.50",
    # 1694.50 / 3000 = 56.483 %
    "savings_rate_pct": 56.5,
    "by_category": [
        {"category": "rent", "total": "1200.00", "count": 1, "budget": None, "budget_used_pct": None},
        # 75.75 / 100
        {"category": "groceries", "total": "75.75", "count": 2, "budget": "100.00", "budget_used_pct": 75.8},
        # 29.75 / 25
        {"category": "dining", "total": "29.75", "count": 2, "budget": "25.00", "budget_used_pct": 119.0},
        {"category": "travel", "total": "0.00", "count": 0, "budget": "200.00", "budget_used_pct": 0.0},
    ],
    "top_merchants": [
        {"merchant": "Landlord", "total": "1200.00", "count": 1},
        {"merchant": "Corner Shop", "total": "75.75", "count": 2},
        {"merchant": MARKUP_MERCHANT, "total": "20.00", "count": 1},
    ],
    # Today is 25 Nov: like with like, 1-25 Nov against 1-25 Oct (fun 50.01; the 99.99 of 31 Oct is later).
    "previous_period_expenses": "50.01",
    "previous_period": {"start": "2026-10-01", "end": "2026-10-25"},
    "compared_period": {"start": "2026-11-01", "end": "2026-11-25"},
    # 1200 + 45.50 + 30.25 + 20 (the 9.75 of 30 Nov is after today)
    "compared_expenses": "1295.75",
    "compared_by_category": [
        {"category": "rent", "total": "1200.00", "previous_total": "0.00"},
        {"category": "groceries", "total": "75.75", "previous_total": "0.00"},
        {"category": "dining", "total": "20.00", "previous_total": "0.00"},
        {"category": "fun", "total": "0.00", "previous_total": "50.01"},
    ],
    "as_of": "2026-11-25T12:00:00+00:00",
    "cached": False,
}


def _without_daily(data: dict) -> dict:
    # forecast and alerts (fields added later) are pinned in tests/test_forecast.py and tests/test_alerts.py
    return {k: v for k, v in data.items() if k not in ("daily", "forecast", "alerts")}


def test_summary_figures_match_hand_computed_expectations(cli, backend):
    seed(cli)
    result = cli("summary", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json
    assert _without_daily(data) == _without_daily(NOVEMBER)
    daily = {d["date"]: d["total"] for d in data["daily"]}
    assert len(data["daily"]) == 30
    assert [d["date"] for d in data["daily"]] == sorted(daily)
    assert {day: total for day, total in daily.items() if total != "0.00"} == {
        "2026-11-01": "1200.00",
        "2026-11-03": "45.50",
        "2026-11-10": "50.25",  # alice's two expenses that day; bob's 777.77 is not hers
        "2026-11-30": "9.75",
    }


def test_month_option_previous_and_next_month(cli, backend):
    seed(cli)
    october = cli("summary", "--month", "2026-10", "--json").json
    assert october["period"] == {"start": "2026-10-01", "end": "2026-10-31"}
    assert (october["expenses"], october["income"], october["net"]) == ("150.00", "100.00", "-50.00")
    assert october["savings_rate_pct"] == -50.0
    # a past month is complete: all of it against all of September
    assert october["previous_period_expenses"] == "0.00"
    assert october["previous_period"] == {"start": "2026-09-01", "end": "2026-09-30"}
    assert (october["compared_period"], october["compared_expenses"]) == (october["period"], "150.00")
    assert len(october["daily"]) == 31
    assert {d["date"]: d["total"] for d in october["daily"] if d["total"] != "0.00"} == {
        "2026-10-01": "50.01",
        "2026-10-31": "99.99",
    }
    # Budgets are monthly: the same budgets apply to every month.
    assert [(c["category"], c["total"], c["budget_used_pct"]) for c in october["by_category"]] == [
        ("groceries", "99.99", 100.0),
        ("fun", "50.01", None),
        ("dining", "0.00", 0.0),
        ("travel", "0.00", 0.0),
    ]
    december = cli("summary", "--month", "2026-12", "--json").json
    assert (december["expenses"], december["previous_period_expenses"]) == ("500.00", "1305.50")
    assert december["previous_period"] == {"start": "2026-11-01", "end": "2026-11-30"}
    assert december["savings_rate_pct"] is None
    assert december["top_merchants"] == []


def test_other_users_see_only_their_own_figures(cli, backend):
    seed(cli)
    bob = cli("--user", "bob", "summary", "--json").json
    assert (bob["user"], bob["expenses"], bob["income"]) == ("bob", "777.77", "5000.00")
    assert bob["by_category"] == [
        {"category": "groceries", "total": "777.77", "count": 1, "budget": None, "budget_used_pct": None},
        {"category": "rent", "total": "0.00", "count": 0, "budget": "1.00", "budget_used_pct": 0.0},
    ]
    assert bob["top_merchants"] == [{"merchant": "Corner Shop", "total": "777.77", "count": 1}]
    assert bob["previous_period_expenses"] == "0.00"


def test_a_user_who_never_wrote_gets_zeros_and_no_user_row(cli, backend, db_url):
    import sqlalchemy as sa

    seed(cli)
    data = cli("--user", "carol", "summary", "--json").json
    assert (data["expenses"], data["income"], data["net"], data["savings_rate_pct"]) == ("0.00", "0.00", "0.00", None)
    assert data["by_category"] == data["top_merchants"] == []
    assert len(data["daily"]) == 30 and {d["total"] for d in data["daily"]} == {"0.00"}
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        names = set(conn.execute(sa.text("SELECT name FROM users")).scalars())
    engine.dispose()
    assert names == {"alice", "bob"}


def test_cache_hit_shows_the_older_as_of(cli, backend, monkeypatch):
    seed(cli)
    first = cli("summary", "--json").json
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:10:00+00:00")
    second = cli("summary", "--json").json
    assert second["cached"] is True
    assert second["as_of"] == first["as_of"] == "2026-11-25T12:00:00+00:00"
    assert _without_daily({**second, "cached": False}) == _without_daily(first)
    assert second["daily"] == first["daily"]


def test_a_write_makes_the_next_summary_fresh(cli, backend, monkeypatch):
    seed(cli)
    cli("summary", "--json")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:05:00+00:00")
    assert cli("summary", "--json").json["cached"] is True
    assert cli("add", "0.01", "groceries").exit_code == 0
    after = cli("summary", "--json").json
    assert after["cached"] is False
    assert after["expenses"] == "1305.51"
    assert after["as_of"] == "2026-11-25T12:05:00+00:00"


def test_fresh_bypasses_the_cache_and_refreshes_it(cli, backend, monkeypatch):
    seed(cli)
    cli("summary", "--json")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:20:00+00:00")
    fresh = cli("summary", "--fresh", "--json").json
    assert (fresh["cached"], fresh["as_of"]) == (False, "2026-11-25T12:20:00+00:00")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:30:00+00:00")
    again = cli("summary", "--json").json
    assert (again["cached"], again["as_of"]) == (True, "2026-11-25T12:20:00+00:00")


def test_summary_ttl_expires_by_the_clock(cli, monkeypatch):
    seed(cli)
    cli("summary", "--json")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:29:59+00:00")
    assert cli("summary", "--json").json["cached"] is True
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:30:00+00:00")
    expired = cli("summary", "--json").json
    assert (expired["cached"], expired["as_of"]) == (False, "2026-11-25T12:30:00+00:00")


def test_summary_ttl_zero_disables_caching(cli, monkeypatch):
    seed(cli)
    monkeypatch.setenv("FINBUDDY_CACHE_SUMMARY_TTL", "0")
    cli("summary", "--json")
    assert cli("summary", "--json").json["cached"] is False


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "11-2026", "november", "2026-00", "1899-12", ""])
def test_bad_month_is_exit_2(cli, month):
    result = cli("summary", "--month", month, "--json")
    assert result.exit_code == 2
    assert result.json["error"]["type"] == "validation_error"
    assert "YYYY-MM" in result.stderr


def test_default_month_follows_the_users_time_zone(cli, monkeypatch):
    # 2026-11-30T23:30 UTC is already December 1st in Tokyo.
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-30T23:30:00+00:00")
    monkeypatch.setenv("FINBUDDY_USER_TIMEZONE", "Asia/Tokyo")
    cli("add", "5", "coffee")
    data = cli("summary", "--json").json
    assert data["period"] == {"start": "2026-12-01", "end": "2026-12-31"}
    assert data["expenses"] == "5.00"
    assert data["as_of"] == "2026-12-01T08:30:00+09:00"


def test_library_interface(cli):
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.summary import CategoryTotal, DailyTotal, MerchantTotal, Summary, monthly_summary

    seed(cli)
    ctx = Context(settings=load_settings())
    try:
        summary = monthly_summary(ctx, dt.date(2026, 11, 17))  # any day of the month
        assert isinstance(summary, Summary)
        assert (summary.start, summary.end) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
        assert (summary.expenses_cents, summary.income_cents, summary.net_cents) == (130550, 300000, 169450)
        assert summary.previous_period_expenses_cents == 5001  # 1-25 Oct: today is 25 Nov
        assert summary.by_category[1] == CategoryTotal("groceries", 7575, 2, 10000, 75.8)
        assert summary.daily[0] == DailyTotal(dt.date(2026, 11, 1), 120000)
        assert summary.top_merchants[0] == MerchantTotal("Landlord", 120000, 1)
        assert summary.as_of == dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC) and summary.as_of.tzinfo is not None
        assert summary.cached is False
    finally:
        ctx.close()


def test_library_summary_is_frozen_and_round_trips_through_json(cli):
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.summary import Summary, monthly_summary

    seed(cli)
    ctx = Context(settings=load_settings())
    try:
        first = monthly_summary(ctx)
        second = monthly_summary(ctx)
        fresh = monthly_summary(ctx, fresh=True)
    finally:
        ctx.close()
    assert (first.cached, second.cached, fresh.cached) == (False, True, False)
    assert dataclasses.replace(second, cached=False) == first
    assert Summary.from_json(first.to_json(), cached=False) == first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.expenses_cents = 0  # type: ignore[misc]


# --- rendering ------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 120])
def test_dashboard_shows_the_key_figures(cli, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    seed(cli)
    result = cli("summary")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out  # NO_COLOR and not a terminal: plain text
    for figure in ("November 2026", "alice", "USD", "1,305.50", "3,000.00", "+1,694.50", "56.5 %"):
        assert figure in out
    # like with like: 1-25 Nov (1,295.75) against 1-25 Oct (50.01): (1295.75 - 50.01) / 50.01 = 2491 %
    assert "▲" in out and "2491% more than 1–25 Oct (50.01)" in out
    assert "1–25 Nov: 1,295.75" in out  # the 9.75 of 30 Nov is not compared yet
    for line in ("rent", "groceries", "dining", "travel"):
        assert line in out
    assert "76%" in out and "119%" in out and "over 4.75" in out and "no budget" in out
    assert "Landlord" in out and "Corner Shop" in out
    assert MARKUP_MERCHANT in out  # user text is shown verbatim, never as Rich markup
    assert "Daily spending" in out and "busiest: 1 Nov (1,200.00)" in out
    assert "as of 12:00" in out and "(cached)" not in out
    assert max(len(line) for line in out.splitlines()) <= columns
    again = cli("summary")
    assert "as of 12:00 (cached)" in again.stdout


def test_dashboard_for_an_empty_month(cli):
    result = cli("summary", "--month", "2026-02")
    assert result.exit_code == 0
    assert "February 2026" in result.stdout and "No spending in February 2026" in result.stdout
    assert "—" in result.stdout  # no savings rate without income


def test_json_mode_does_not_import_rich():
    import os
    import subprocess
    import sys

    code = (
        "import sys; from finbuddy.cli import main; code = main(['summary', '--json']); "
        "print('rich' in sys.modules, file=sys.stderr); sys.exit(code)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "False"


# --- comparing with last month ---------------------------------------------------------------


def seed_october_and_november(cli):
    """October: 30 on the 2nd, 50 on the 6th, 200 on the 7th, 120 on the 20th (all: 400; 1-6: 80).
    November: 20 on the 1st, 40 on the 6th (60)."""
    for amount, day in (("30", "2026-10-02"), ("50", "2026-10-06"), ("200", "2026-10-07"), ("120", "2026-10-20")):
        assert cli("add", amount, "groceries", "--date", day).exit_code == 0
    for amount, day in (("20", "2026-11-01"), ("40", "2026-11-06")):
        assert cli("add", amount, "groceries", "--date", day).exit_code == 0


def test_month_to_date_is_compared_with_the_same_days_of_last_month(cli, backend, monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-06T18:00:00+00:00")
    seed_october_and_november(cli)
    data = cli("summary", "--json").json
    assert data["expenses"] == "60.00"
    assert data["previous_period_expenses"] == "80.00"  # 30 + 50, not all of October's 400
    assert data["previous_period"] == {"start": "2026-10-01", "end": "2026-10-06"}
    assert data["compared_period"] == {"start": "2026-11-01", "end": "2026-11-06"}
    assert data["compared_expenses"] == "60.00"
    out = cli("summary").stdout
    # (60 - 80) / 80 = -25 %
    assert "▼ 25% less than 1–6 Oct (80.00)" in out
    assert "than Oct" not in out


def test_a_complete_month_is_compared_with_the_whole_previous_month(cli, backend, monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-12-03T09:00:00+00:00")
    seed_october_and_november(cli)
    data = cli("summary", "--month", "2026-11", "--json").json
    assert (data["expenses"], data["previous_period_expenses"]) == ("60.00", "400.00")
    assert data["previous_period"] == {"start": "2026-10-01", "end": "2026-10-31"}
    # (60 - 400) / 400 = -85 %
    assert "▼ 85% less than Oct (400.00)" in cli("summary", "--month", "2026-11").stdout


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        # the same days of last month...
        ("2026-11-06", ("2026-11-01", "2026-11-06", "2026-10-01", "2026-10-06")),
        ("2026-11-01", ("2026-11-01", "2026-11-01", "2026-10-01", "2026-10-01")),
        ("2026-11-30", ("2026-11-01", "2026-11-30", "2026-10-01", "2026-10-30")),
        # ...as far as last month has them: 29-31 Mar against all of February
        ("2026-03-28", ("2026-03-01", "2026-03-28", "2026-02-01", "2026-02-28")),
        ("2026-03-31", ("2026-03-01", "2026-03-31", "2026-02-01", "2026-02-28")),
        ("2024-03-30", ("2024-03-01", "2024-03-30", "2024-02-01", "2024-02-29")),
        ("2027-01-15", ("2027-01-01", "2027-01-15", "2026-12-01", "2026-12-15")),
    ],
)
def test_compared_periods_handle_month_lengths(today, expected):
    from finbuddy.dates import month_bounds
    from finbuddy.ledger.summary import comparison_periods

    day = dt.date.fromisoformat(today)
    start, end = month_bounds(day.replace(day=1))
    assert comparison_periods(start, end, day) == tuple(dt.date.fromisoformat(d) for d in expected)


def test_compared_periods_of_past_and_future_months_are_whole_months():
    from finbuddy.ledger.summary import comparison_periods

    today = dt.date(2026, 11, 6)
    assert comparison_periods(dt.date(2026, 3, 1), dt.date(2026, 3, 31), today) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 31),
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 28),
    )
    assert comparison_periods(dt.date(2026, 12, 1), dt.date(2026, 12, 31), today)[2:] == (
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 30),
    )


def test_31_march_is_compared_with_all_of_february(cli, backend, monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-03-31T12:00:00+00:00")
    for amount, day in (("10", "2026-02-01"), ("18", "2026-02-28"), ("35", "2026-03-31")):
        assert cli("add", amount, "x", "--date", day).exit_code == 0
    data = cli("summary", "--json").json
    assert data["previous_period"] == {"start": "2026-02-01", "end": "2026-02-28"}
    assert data["previous_period_expenses"] == "28.00"
    # (35 - 28) / 28 = +25 %; all of March so far against all of February
    assert "▲ 25% more than Feb (28.00)" in cli("summary").stdout


def test_a_cached_dashboard_is_not_compared_with_yesterdays_days(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-06T23:50:00+00:00")
    seed_october_and_november(cli)
    assert cli("summary", "--json").json["previous_period_expenses"] == "80.00"
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-07T00:10:00+00:00")  # within the 30 min TTL
    data = cli("summary", "--json").json
    # 1-7 Oct: 30 + 50 + 200
    assert (data["previous_period"]["end"], data["previous_period_expenses"]) == ("2026-10-07", "280.00")


def test_fastest_growing_category_uses_the_same_like_for_like_basis(cli, backend, monkeypatch):
    """groceries: 60 on 1-6 Nov against 10 on 1-6 Oct (+50), but 310 in all of October;
    dining: 35 against 10 (+25). Like with like, groceries grew most."""
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-06T18:00:00+00:00")
    for amount, category, day in (
        ("10", "groceries", "2026-10-02"),
        ("300", "groceries", "2026-10-20"),
        ("10", "dining", "2026-10-03"),
        ("60", "groceries", "2026-11-02"),
        ("35", "dining", "2026-11-04"),
    ):
        assert cli("add", amount, category, "--date", day).exit_code == 0
    answer = cli("ask", "How am I doing?", "--json").json["answer"]
    assert "Fastest-growing category: groceries, 60.00 USD in 1–6 Nov against 10.00 USD in 1–6 Oct." in answer
    summary = cli("summary", "--json").json
    assert summary["compared_by_category"][:2] == [
        {"category": "groceries", "total": "60.00", "previous_total": "10.00"},
        {"category": "dining", "total": "35.00", "previous_total": "10.00"},
    ]
