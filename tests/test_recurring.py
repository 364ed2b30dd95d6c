"""`finbuddy recurring` and ledger.recurring.find_recurring: seeded series whose answers are worked out by hand.

Today is 2026-11-25 (tests/conftest.py's FIXED_NOW).
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
    """Record expenses through the library (faster than one CLI run per row) as alice, or another user."""
    contexts: dict[str, Context] = {}

    def add(amount: str, merchant: str | None, day: str, category: str = "bills", user: str = "alice"):
        from finbuddy.ledger.records import record_entry

        ctx = contexts.get(user) or contexts.setdefault(user, Context(settings=load_settings(), user=user))
        record_entry(ctx, Decimal(amount), category, date=D.fromisoformat(day), merchant=merchant)

    yield add
    for ctx in contexts.values():
        ctx.close()


def seed_netflix(add) -> None:
    """Monthly on the 15th (one day late in August, one early in October); 15.49 three times, then 17.99.
    Spelled four ways: case and spaces do not make another merchant."""
    for amount, merchant, day in (
        ("15.49", "Netflix", "2026-06-15"),
        ("15.49", "NETFLIX", "2026-07-15"),
        ("15.49", "Net flix", "2026-08-16"),
        ("17.99", "netflix", "2026-09-15"),
        ("17.99", "Netflix", "2026-10-14"),
        ("17.99", "Netflix", "2026-11-15"),
    ):
        add(amount, merchant, day, "streaming")


def seed_gym(add) -> None:
    """Weekly on Mondays, 10.00 (one week at 10.50), the week of 16 Nov missed."""
    for amount, day in (
        ("10.00", "2026-10-05"),
        ("10.00", "2026-10-12"),
        ("10.50", "2026-10-19"),
        ("10.00", "2026-10-26"),
        ("10.00", "2026-11-02"),
        ("10.00", "2026-11-09"),
        ("10.00", "2026-11-23"),
    ):
        add(amount, "Gym", day, "health")


def seed_prime(add) -> None:
    """Yearly, the same 139.00 twice (a day apart in the calendar)."""
    add("139.00", "Amazon Prime", "2024-12-20", "shopping")
    add("139.00", "Amazon Prime", "2025-12-19", "shopping")


def seed_rent(add) -> None:
    """On the last day of every month, January to October: 31, 28, 31, 30, ... days apart."""
    for month in range(1, 11):
        last = (D(2026, month + 1, 1) - dt.timedelta(days=1)).isoformat()
        add("1200", "Landlord", last, "rent")


def seed_noise(add) -> None:
    # a shop visited at random, random amounts
    for amount, day in (("12.40", "2026-10-03"), ("55.10", "2026-10-11"), ("8.99", "2026-10-29"), ("31", "2026-11-02")):
        add(amount, "Corner Shop", day, "groceries")
    # two one-offs at one merchant, and a single purchase elsewhere
    add("999", "Apple Store", "2026-03-02", "electronics")
    add("49", "Apple Store", "2026-09-10", "electronics")
    add("250", "IKEA", "2026-08-08", "home")
    # the same date every month, but irregular amounts
    for amount, day in (("40", "2026-07-05"), ("95", "2026-08-05"), ("20", "2026-09-05"), ("130", "2026-10-05")):
        add(amount, "Electric Co", day, "utilities")
    # the same amount, but irregular dates (17, 41, 5 and 54 days apart)
    for day in ("2026-07-03", "2026-07-20", "2026-08-30", "2026-09-04", "2026-10-28"):
        add("12", "Cinema", day, "fun")
    # monthly, but stopped after June: two occurrences missed since
    for month in range(1, 7):
        add("9.99", "Spotify", f"2026-{month:02d}-10", "streaming")
    # monthly at 5.00, then a jump to 25.00 not (yet) repeated: not the same charge
    for day, amount in (("2026-08-20", "5"), ("2026-09-20", "5"), ("2026-10-20", "5"), ("2026-11-20", "25")):
        add(amount, "Magazine", day, "reading")
    # weekly, but only three times
    for day in ("2026-11-04", "2026-11-11", "2026-11-18"):
        add("4.50", "Bean There", day, "coffee")
    # expenses without a merchant never form a series
    for month in range(6, 12):
        add("20", None, f"2026-{month:02d}-01", "cash")


def recurring_json(cli) -> dict:
    result = cli("recurring", "--json")
    assert result.exit_code == 0, result.stderr
    return result.json


def by_merchant(data: dict) -> dict[str, dict]:
    return {item["merchant"]: item for item in data["recurring"]}


def test_monthly_charge_with_a_price_change_is_found_with_its_new_price(cli, backend, ledger):
    seed_netflix(ledger)
    [netflix] = recurring_json(cli)["recurring"]
    assert netflix == {
        "merchant": "Netflix",  # the latest spelling
        "category": "streaming",
        "cadence": "monthly",
        "typical_amount": "17.99",  # the latest price, not the median of all six
        "last_date": "2026-11-15",
        "next_date": "2026-12-15",  # the 15th: the day of five of the six charges
        "yearly_cost": "215.88",  # 17.99 x 12
        "occurrences": 6,
        "first_date": "2026-06-15",
        "price_changes": [
            {
                "date": "2026-09-15",
                "from": "15.49",
                "to": "17.99",
                "text": "Netflix went from 15.49 to 17.99 in September 2026",
            }
        ],
    }


def test_weekly_charge_with_a_missed_week_is_found(cli, backend, ledger):
    seed_gym(ledger)
    [gym] = recurring_json(cli)["recurring"]
    assert (gym["cadence"], gym["occurrences"], gym["last_date"], gym["next_date"]) == (
        "weekly",
        7,
        "2026-11-23",
        "2026-11-30",  # 23 Nov + 7
    )
    # the last two charges are equal: 10.00; x 52 weeks = 520.00. 10.50 is within 20 %: no price change.
    assert (gym["typical_amount"], gym["yearly_cost"], gym["price_changes"]) == ("10.00", "520.00", [])


def test_yearly_charge_seen_twice_at_the_same_price_is_found(cli, backend, ledger):
    seed_prime(ledger)
    [prime] = recurring_json(cli)["recurring"]
    assert (prime["cadence"], prime["typical_amount"], prime["yearly_cost"]) == ("yearly", "139.00", "139.00")
    assert (prime["last_date"], prime["next_date"], prime["occurrences"]) == ("2025-12-19", "2026-12-19", 2)


def test_two_yearly_charges_of_different_amounts_are_not_enough(cli, backend, ledger):
    ledger("139.00", "Amazon Prime", "2024-12-20")
    ledger("119.00", "Amazon Prime", "2025-12-19")
    assert recurring_json(cli)["recurring"] == []


def test_month_end_charges_are_monthly_and_due_on_the_months_last_day(cli, backend, ledger):
    seed_rent(ledger)
    [rent] = recurring_json(cli)["recurring"]
    assert (rent["cadence"], rent["occurrences"], rent["first_date"], rent["last_date"]) == (
        "monthly",
        10,
        "2026-01-31",
        "2026-10-31",
    )
    assert rent["next_date"] == "2026-11-30"  # not 31 Nov, not 1 Dec
    assert (rent["typical_amount"], rent["yearly_cost"]) == ("1200.00", "14400.00")


def test_month_end_series_continues_past_february(ledger):
    """31 Jan, 28 Feb, 31 Mar: the next after 28 Feb is 31 Mar, and the one after 30 Apr is 31 May."""
    from finbuddy.db.recurring import MerchantDay
    from finbuddy.ledger.recurring import detect_recurring

    rows = [MerchantDay("x", D(2027, m, d), 5000, "X", "rent") for m, d in ((1, 31), (2, 28), (3, 31), (4, 30))]
    [charge] = detect_recurring(rows[:3], today=D(2027, 3, 31))
    assert charge.next_date == D(2027, 4, 30)
    [charge] = detect_recurring(rows, today=D(2027, 5, 1))
    assert charge.next_date == D(2027, 5, 31)
    assert charge.expected_dates(D(2027, 5, 1), D(2027, 8, 31)) == [
        D(2027, 5, 31),
        D(2027, 6, 30),
        D(2027, 7, 31),
        D(2027, 8, 31),
    ]


def test_noise_is_not_detected(cli, backend, ledger):
    seed_noise(ledger)
    assert recurring_json(cli)["recurring"] == []


def test_series_are_found_among_noise_and_listed_soonest_first(cli, backend, ledger):
    for seed in (seed_noise, seed_netflix, seed_gym, seed_prime, seed_rent):
        seed(ledger)
    data = recurring_json(cli)
    assert [(c["merchant"], c["next_date"]) for c in data["recurring"]] == [
        ("Gym", "2026-11-30"),  # the same day: by name
        ("Landlord", "2026-11-30"),
        ("Netflix", "2026-12-15"),
        ("Amazon Prime", "2026-12-19"),
    ]
    # 14400.00 + 520.00 + 215.88 + 139.00 = 15274.88; / 12 = 1272.906... -> 1272.91
    assert (data["yearly_total"], data["monthly_average"]) == ("15274.88", "1272.91")
    assert (data["user"], data["currency"], data["today"]) == ("alice", "USD", "2026-11-25")


def test_a_variable_bill_within_20_percent_is_recurring_at_its_median(cli, backend, ledger):
    for amount, day in (("30.10", "2026-09-03"), ("33.50", "2026-10-03"), ("29.80", "2026-11-02")):
        ledger(amount, "Water Co", day, "utilities")
    [water] = recurring_json(cli)["recurring"]
    # three different amounts, all within 20 % of the first: the median of the three, no price change
    assert (water["typical_amount"], water["yearly_cost"], water["price_changes"]) == ("30.10", "361.20", [])
    assert water["next_date"] == "2026-12-03"  # the 3rd (the more frequent day) after 2 Nov


def test_a_large_price_change_that_persists_is_the_same_charge(cli, backend, ledger):
    for amount, day in (("2.99", "2026-06-01"), ("2.99", "2026-07-01"), ("2.99", "2026-08-01")):
        ledger(amount, "Cloud Drive", day)
    for amount, day in (("9.99", "2026-09-01"), ("9.99", "2026-10-01"), ("9.99", "2026-11-01")):
        ledger(amount, "Cloud Drive", day)
    [drive] = recurring_json(cli)["recurring"]
    assert (drive["typical_amount"], drive["next_date"]) == ("9.99", "2026-12-01")
    assert [c["text"] for c in drive["price_changes"]] == ["Cloud Drive went from 2.99 to 9.99 in September 2026"]


def test_the_latest_charge_at_a_new_price_is_a_price_change_already(cli, backend, ledger):
    for amount, day in (("15.49", "2026-08-15"), ("15.49", "2026-09-15"), ("15.49", "2026-10-15")):
        ledger(amount, "Netflix", day)
    ledger("17.99", "Netflix", "2026-11-15")
    [netflix] = recurring_json(cli)["recurring"]
    assert netflix["typical_amount"] == "17.99"
    assert [c["text"] for c in netflix["price_changes"]] == ["Netflix went from 15.49 to 17.99 in November 2026"]


def test_one_missed_month_is_tolerated_two_end_the_series(cli, backend, ledger, monkeypatch):
    for day in ("2026-07-10", "2026-08-10", "2026-10-12"):  # September missed
        ledger("7.00", "News", day)
    # today 25 Nov: 10 Nov is 15 days late (more than 5): missed once; the next is 10 Dec
    [news] = recurring_json(cli)["recurring"]
    assert (news["occurrences"], news["next_date"]) == (3, "2026-12-10")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-12-16T12:00:00+00:00")  # 10 Dec missed too: over
    assert recurring_json(cli)["recurring"] == []
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-14T12:00:00+00:00")  # 10 Nov 4 days late: still expected
    [news] = recurring_json(cli)["recurring"]
    assert news["next_date"] == "2026-11-10"


def test_other_users_charges_are_never_included(cli, backend, ledger):
    seed_netflix(ledger)
    for month in range(6, 12):
        ledger("99", "Netflix", f"2026-{month:02d}-02", user="bob")
        ledger("5", "Bob's Club", f"2026-{month:02d}-02", user="bob")
    [netflix] = recurring_json(cli)["recurring"]
    assert (netflix["typical_amount"], netflix["occurrences"]) == ("17.99", 6)
    bob = cli("--user", "bob", "recurring", "--json").json["recurring"]
    assert [(c["merchant"], c["typical_amount"]) for c in bob] == [("Bob's Club", "5.00"), ("Netflix", "99.00")]


def test_a_user_with_no_history_has_no_recurring_charges(cli, backend, db_url):
    from tests.helpers_ledger import count_rows

    data = recurring_json(cli)
    assert (data["recurring"], data["yearly_total"]) == ([], "0.00")
    assert count_rows(db_url, "users") == 0
    assert "No recurring charges found" in cli("recurring").stdout


def test_find_recurring_returns_dataclasses_with_decimals(ledger):
    from finbuddy.ledger.recurring import PriceChange, RecurringCharge, find_recurring

    seed_netflix(ledger)
    ctx = Context(settings=load_settings())
    try:
        [charge] = find_recurring(ctx)
    finally:
        ctx.close()
    assert isinstance(charge, RecurringCharge)
    assert (charge.merchant, charge.category, charge.cadence) == ("Netflix", "streaming", "monthly")
    assert charge.typical_amount == Decimal("17.99") and isinstance(charge.typical_amount, Decimal)
    assert charge.yearly_cost == Decimal("215.88") and isinstance(charge.yearly_cost, Decimal)
    assert (charge.last_date, charge.next_date, charge.occurrences) == (D(2026, 11, 15), D(2026, 12, 15), 6)
    assert charge.price_changes == (PriceChange(D(2026, 9, 15), Decimal("15.49"), Decimal("17.99")),)


def test_human_output_lists_charges_and_price_changes_within_80_columns(cli, ledger, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    seed_netflix(ledger)
    seed_rent(ledger)
    sneaky = "[bold]Club[/bold]"
    for month in range(8, 12):
        ledger("25", sneaky, f"2026-{month:02d}-05", "fun")
    out = cli("recurring").stdout
    assert "Netflix" in out and "Landlord" in out and "2026-12-15" in out and "14,400.00" in out
    assert "Netflix went from 15.49 to 17.99 in September 2026" in out
    assert "[bold]Club[/bold]" in out  # shown verbatim, never as markup
    assert "3 recurring charges: 14,915.88 a year (about 1,242.99 a month)" in out  # 215.88 + 14400 + 300
    assert max(len(line) for line in out.splitlines()) <= 80
