"""The dashboard's forecast (`summary --json`'s "forecast"): projection and safe-to-spend, worked out by hand.

The rules are ledger/forecast.py's docstring (and the README's "Forecast" paragraph).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from finbuddy.config import load_settings
from finbuddy.context import Context

D = dt.date


@pytest.fixture
def ledger():
    """Record expenses and income through the library (faster than one CLI run per row)."""
    contexts: list[Context] = []

    def add(amount: str, category: str, day: str, merchant: str | None = None, kind: str = "expense"):
        from finbuddy.ledger.records import record_entry

        if not contexts:
            contexts.append(Context(settings=load_settings()))
        record_entry(contexts[0], Decimal(amount), category, date=D.fromisoformat(day), merchant=merchant, kind=kind)

    yield add
    for ctx in contexts:
        ctx.close()


def seed_november(ledger, cli) -> None:
    # Recurring: Netflix on the 15th (already charged in November), the gym every Monday (due 30 Nov),
    # rent at each month's end (due 30 Nov).
    for month in range(6, 12):
        ledger("15.49", "streaming", f"2026-{month:02d}-15", "Netflix")
    for day in ("2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"):
        ledger("10", "health", day, "Gym")
    for day in ("2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31"):
        ledger("1000", "rent", day, "Landlord")
    # Not recurring
    ledger("45.50", "groceries", "2026-11-03", "Corner Shop")
    ledger("30.25", "groceries", "2026-11-10")
    ledger("20", "dining", "2026-11-20")
    ledger("9.75", "dining", "2026-11-28")  # dated ahead
    ledger("3000", "salary", "2026-11-01", kind="income")
    for category, amount in (("groceries", "100"), ("dining", "50"), ("rent", "1000")):
        assert cli("budget", "set", category, amount).exit_code == 0


def forecast(cli, *args) -> dict:
    result = cli("summary", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json["forecast"]


GYM_DUE = {"merchant": "Gym", "category": "health", "date": "2026-11-30", "amount": "10.00", "cadence": "weekly"}
RENT_DUE = {"merchant": "Landlord", "category": "rent", "date": "2026-11-30", "amount": "1000.00", "cadence": "monthly"}


def test_projection_and_safe_to_spend_match_hand_computation(cli, backend, ledger):
    seed_november(ledger, cli)
    assert forecast(cli) == {
        "today": "2026-11-25",
        "days_in_month": 30,
        "days_elapsed": 25,
        "days_after_today": 5,
        # 1-25 Nov: Netflix 15.49 + gym 4 x 10 + groceries 45.50 + 30.25 + dining 20
        "spent_to_date": "151.24",
        "recurring_to_date": "55.49",  # Netflix 15.49 + gym 40
        "daily_pace": "3.83",  # (151.24 - 55.49) / 25 = 95.75 / 25
        "pace_rest_of_month": "19.15",  # 95.75 x 5 / 25
        "recurring_due": [GYM_DUE, RENT_DUE],
        "recurring_due_total": "1010.00",
        "scheduled": "9.75",  # dining dated 28 Nov
        "projected": "1190.14",  # 151.24 + 19.15 + 1010.00 + 9.75
        "safe_to_spend": {
            "per_day": "7.41",  # 44.50 / 6 = 7.4166..., rounded down
            "days": 6,  # 25 to 30 Nov
            "basis": "budgets and income",
            "available": "44.50",  # the smaller of the two below
            "budget_left": "44.50",  # 1150 - 105.50 - 1000 (rent still due is budgeted; the gym is not)
            "income_left": "1829.01",  # 3000 - 160.99 - 1010
            "budgets": "1150.00",  # 100 + 50 + 1000
            "budgeted_categories": ["dining", "groceries", "rent"],
            "budgeted_spent": "105.50",  # groceries 75.75 + dining 29.75 (the whole month) + rent 0
            "budgeted_due": "1000.00",
            "income": "3000.00",
            "expenses": "160.99",  # 151.24 + 9.75
        },
    }


def test_last_day_of_the_month(cli, backend, ledger, monkeypatch):
    seed_november(ledger, cli)
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-30T20:00:00+00:00")
    f = forecast(cli)
    assert (f["days_elapsed"], f["days_after_today"]) == (30, 0)
    assert (f["spent_to_date"], f["scheduled"]) == ("160.99", "0.00")  # 28 Nov is past now
    assert f["daily_pace"] == "3.52"  # (160.99 - 55.49) / 30 = 3.5166...
    assert f["pace_rest_of_month"] == "0.00"
    assert f["recurring_due"] == [GYM_DUE, RENT_DUE]  # due today, not recorded yet
    assert f["projected"] == "1170.99"  # 160.99 + 0 + 1010 + 0
    safe = f["safe_to_spend"]
    assert (safe["per_day"], safe["days"], safe["available"]) == ("44.50", 1, "44.50")


def test_first_day_of_the_month(cli, backend, ledger, monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-12-01T09:00:00+00:00")
    for day in ("2026-08-31", "2026-09-30", "2026-10-31", "2026-11-30"):
        ledger("1000", "rent", day, "Landlord")
    ledger("31", "groceries", "2026-12-01")
    assert cli("budget", "set", "groceries", "310").exit_code == 0
    f = forecast(cli)
    assert (f["days_in_month"], f["days_elapsed"], f["days_after_today"]) == (31, 1, 30)
    assert (f["spent_to_date"], f["recurring_to_date"], f["daily_pace"]) == ("31.00", "0.00", "31.00")
    assert f["pace_rest_of_month"] == "930.00"  # 31 x 30 / 1
    assert [(c["merchant"], c["date"]) for c in f["recurring_due"]] == [("Landlord", "2026-12-31")]
    assert f["projected"] == "1961.00"  # 31 + 930 + 1000
    safe = f["safe_to_spend"]
    # budgets only (no income this month): 310 - 31 = 279 (rent has no budget), over 31 days: 9.00
    assert (safe["basis"], safe["budget_left"], safe["income_left"]) == ("budgets", "279.00", None)
    assert (safe["per_day"], safe["days"]) == ("9.00", 31)


def test_income_alone_sets_safe_to_spend(cli, backend, ledger):
    ledger("2000", "salary", "2026-11-01", kind="income")
    ledger("500", "rent", "2026-11-02")
    f = forecast(cli)["safe_to_spend"]
    # 2000 - 500 = 1500 over 25..30 Nov (6 days) = 250.00
    assert (f["basis"], f["income_left"], f["per_day"]) == ("income", "1500.00", "250.00")


def test_without_budgets_or_income_there_is_no_safe_amount(cli, backend, ledger):
    ledger("12", "coffee", "2026-11-05")
    f = forecast(cli)
    assert f["safe_to_spend"]["per_day"] is None and f["safe_to_spend"]["basis"] is None
    assert f["projected"] == "14.40"  # 12 + 12 / 25 x 5
    assert "set a budget or record this month's income" in cli("summary").stdout


def test_overspent_budgets_leave_zero_a_day(cli, backend, ledger):
    ledger("130", "dining", "2026-11-05")
    assert cli("budget", "set", "dining", "100").exit_code == 0
    f = forecast(cli)["safe_to_spend"]
    assert (f["available"], f["per_day"]) == ("-30.00", "0.00")


def test_a_recurring_charge_a_few_days_late_is_still_due(cli, backend, ledger):
    for month in (8, 9, 10):
        ledger("25", "phone", f"2026-{month:02d}-21", "Phone Co")
    f = forecast(cli)  # 21 Nov is 4 days ago, not recorded: late, not missed
    assert [(c["merchant"], c["date"], c["amount"]) for c in f["recurring_due"]] == [
        ("Phone Co", "2026-11-21", "25.00")
    ]
    assert f["projected"] == "25.00"


def test_weekly_charges_count_every_occurrence_left_in_the_month(cli, backend, ledger, monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-10T12:00:00+00:00")
    for day in ("2026-10-13", "2026-10-20", "2026-10-27", "2026-11-03", "2026-11-10"):
        ledger("8", "fun", day, "Club")
    f = forecast(cli)
    assert [c["date"] for c in f["recurring_due"]] == ["2026-11-17", "2026-11-24"]
    assert f["recurring_due_total"] == "16.00"
    # spent 16 to date, all recurring: the pace is 0; 16 + 0 + 16
    assert (f["daily_pace"], f["projected"]) == ("0.00", "32.00")


def test_only_the_month_in_progress_has_a_forecast(cli, backend, ledger):
    ledger("10", "fun", "2026-10-05")
    assert forecast(cli, "--month", "2026-10") is None
    assert forecast(cli, "--month", "2026-12") is None
    assert forecast(cli)["projected"] == "0.00"


def test_a_user_who_never_wrote_gets_a_zero_forecast(cli, backend):
    f = forecast(cli)
    assert (f["projected"], f["recurring_due"], f["safe_to_spend"]["per_day"]) == ("0.00", [], None)


def test_the_forecast_is_cached_with_the_summary_and_refreshed_by_a_write(cli, ledger):
    seed_november(ledger, cli)
    first = cli("summary", "--json").json
    again = cli("summary", "--json").json
    assert again["cached"] is True and again["forecast"] == first["forecast"]
    ledger("10", "health", "2026-11-30", "Gym")  # the gym charge comes in
    fresh = cli("summary", "--json").json
    assert fresh["cached"] is False
    assert [c["merchant"] for c in fresh["forecast"]["recurring_due"]] == ["Landlord"]


def test_dashboard_shows_the_forecast_within_80_columns(cli, ledger, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    seed_november(ledger, cli)
    out = cli("summary").stdout
    assert "month-end ≈ 1,190.14 at this pace" in out
    assert "151.24 spent + 5 days × 3.83 + 1,010.00 recurring due + 9.75 dated later" in out
    assert "still due: Gym 10.00 (30 Nov) · Landlord 1,000.00 (30 Nov)" in out
    assert "safe to spend: 7.41 a day for the 6 days left" in out
    assert "budgets 44.50 · income 1,829.01" in out
    assert max(len(line) for line in out.splitlines()) <= 80
