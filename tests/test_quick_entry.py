"""Quick entry: `finbuddy add "coffee 4.50 at Starbucks yesterday"` read locally into a record.

A corpus of good lines, each with its record checked by hand, and of missing or ambiguous ones (exit 2 naming what
was understood, nothing added). Today is Wednesday 2026-11-25 (tests/conftest.py's FIXED_NOW).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers_ledger import count_rows, one_line_error, query

TODAY = dt.date(2026, 11, 25)  # a Wednesday


@pytest.fixture
def seeded(cli, backend):
    """Categories groceries, dining, "eating out", subscriptions and salary; your rule Starbucks → dining; and
    Netflix → subscriptions learned from two records."""
    for args in (
        ("30", "groceries", "--merchant", "Aldi"),
        ("20", "dining"),
        ("25", "eating out"),
        ("15.49", "subscriptions", "--merchant", "Netflix"),
        ("15.49", "subscriptions", "--merchant", "Netflix"),
        ("3000", "salary", "--income"),
    ):
        r = cli("add", *args, "--date", "2026-10-01")
        assert r.exit_code == 0, r.stderr
    assert cli("rules", "add", "Starbucks", "dining").exit_code == 0
    return cli


# line -> (kind, amount, category, merchant, date, note, who chose the category)
GOOD = {
    "coffee 4.50 at Starbucks yesterday": ("expense", "4.50", "dining", "Starbucks", "2026-11-24", "coffee", "rule"),
    "groceries 30 at Tesco": ("expense", "30.00", "groceries", "Tesco", "2026-11-25", None, "user"),
    "grocery 12,50 @Lidl on 2026-11-03": ("expense", "12.50", "groceries", "Lidl", "2026-11-03", None, "user"),
    "$4.50 eating out friday": ("expense", "4.50", "eating out", None, "2026-11-20", None, "user"),
    "+3200 salary from ACME": ("income", "3200.00", "salary", "ACME", "2026-11-25", None, "user"),
    "salary 3200 income last wednesday": ("income", "3200.00", "salary", None, "2026-11-18", None, "user"),
    "15.49 at NETFLIX 3 days ago": ("expense", "15.49", "subscriptions", "NETFLIX", "2026-11-22", None, "rule"),
    "spent 1,234.56 on Groceries at Costco on monday": (
        "expense",
        "1234.56",
        "groceries",
        "Costco",
        "2026-11-23",
        None,
        "user",
    ),
    "taxi 23 a week ago": ("expense", "23.00", "taxi", None, "2026-11-18", None, "user"),
    "lunch 12.50 at Joe's Pizza, with Anna wednesday": (
        "expense",
        "12.50",
        "lunch",
        "Joe's Pizza",
        "2026-11-25",
        "with Anna",
        "user",
    ),
    "Dining 18€ at Chez Paul today.": ("expense", "18.00", "dining", "Chez Paul", "2026-11-25", None, "user"),
    "subscriptions 9.99 @ Spotify": ("expense", "9.99", "subscriptions", "Spotify", "2026-11-25", None, "user"),
    "books 20 from Amazon for Bob's birthday": (
        "expense",
        "20.00",
        "books",
        "Amazon",
        "2026-11-25",
        "Bob's birthday",
        "user",
    ),
    "dinner 40 on 2026-12-24": ("expense", "40.00", "dinner", None, "2026-12-24", None, "user"),
}


@pytest.mark.parametrize("line", list(GOOD))
def test_a_good_line_becomes_the_record_checked_by_hand(seeded, db_url, line):
    r = seeded("add", line, "--json")
    assert r.exit_code == 0, r.stderr
    kind, amount, category, merchant, day, note, source = GOOD[line]
    assert {k: v for k, v in r.json.items() if k not in ("id", "user")} == {
        "kind": kind,
        "amount": amount,
        "category": category,
        "merchant": merchant,
        "date": day,
        "note": note,
    }
    stored = query(db_url, "SELECT category_source FROM records WHERE id = :id", id=r.json["id"])
    assert stored == [{"category_source": source}]


def test_quick_entry_for_people_prints_the_record_and_says_where_the_category_came_from(seeded):
    r = seeded("add", "coffee 4.50 at Starbucks yesterday")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("Added #") and "expense 4.50 dining at Starbucks on 2026-11-24 (coffee)" in r.stdout
    assert "category 'dining' from your rule for Starbucks" in r.stderr
    r = seeded("add", "grocery 3 at Lidl")
    assert "'grocery' read as your category 'groceries'" in r.stderr
    r = seeded("add", "taxi 23")
    assert "new category 'taxi'" in r.stderr


def test_options_fill_what_the_line_does_not_say(seeded):
    r = seeded("add", "coffee 4.50", "--merchant", "Costa", "--date", "yesterday", "--json")
    assert r.exit_code == 0, r.stderr
    assert (r.json["merchant"], r.json["date"], r.json["category"]) == ("Costa", "2026-11-24", "coffee")
    r = seeded("add", "bonus 500", "--income", "--json")
    assert (r.json["kind"], r.json["category"]) == ("income", "bonus")


# line -> what the one line on stderr must say
AMBIGUOUS = {
    "coffee at Starbucks": ["missing: an amount", "understood: category dining, merchant Starbucks"],
    "4.50 at Shell yesterday": [
        "missing: a category",
        "understood: amount 4.50, merchant Shell, date 2026-11-24",
    ],
    "coffee 4.50 3": ["2 amounts (4.50, 3): expected one", "category coffee"],
    "coffee 4.50 yesterday on monday": ["2 dates (yesterday, on monday): expected one", "amount 4.50"],
    "coffee 4.50 at Starbucks at Costa": ["2 merchants (Starbucks, Costa): expected one"],
    "coffee 4.50 tomorrow": ["'tomorrow' is not read", "amount 4.50"],
    "coffee -4.50": ["'-4.50' is negative", "+4.50 or with the word income"],
    "coffee 4.505": ["'4.505' has more than 2 decimals"],
    "coffee 1.234,56": ["'1.234,56' is not valid"],
    "on the": ["missing: an amount", "missing: a category"],
    "coffee 4.50 at Route 66": ["2 amounts (4.50, 66)", "merchant Route"],
}


@pytest.mark.parametrize("line", list(AMBIGUOUS))
def test_a_missing_or_ambiguous_line_is_exit_2_with_what_was_understood(seeded, db_url, line):
    before = count_rows(db_url, "records")
    r = seeded("add", line)
    assert r.exit_code == 2
    error = one_line_error(r.stderr)
    for part in AMBIGUOUS[line]:
        assert part in error
    assert r.stdout == ""
    assert count_rows(db_url, "records") == before


def test_an_ambiguous_line_with_json_prints_the_error_document(seeded, db_url):
    r = seeded("add", "4.50 at Shell yesterday", "--json")
    assert r.exit_code == 2
    assert r.json["error"]["type"] == "validation_error"
    assert "missing: a category" in r.json["error"]["message"]


def test_the_line_and_an_option_saying_the_same_thing_is_ambiguous(seeded, db_url):
    before = count_rows(db_url, "records")
    r = seeded("add", "coffee 4.50 yesterday", "--date", "2026-11-01")
    assert r.exit_code == 2 and "two dates" in one_line_error(r.stderr)
    r = seeded("add", "coffee 4.50 at Costa", "--merchant", "Lidl")
    assert r.exit_code == 2 and "two merchants" in one_line_error(r.stderr)
    assert count_rows(db_url, "records") == before


def test_an_amount_alone_still_asks_for_its_category(cli, db_url, backend):
    r = cli("add", "12.50")
    assert r.exit_code == 2
    assert "missing CATEGORY after '12.50'" in one_line_error(r.stderr)
    assert count_rows(db_url, "records") == 0


def test_the_structured_form_is_unchanged(cli, backend):
    r = cli("add", "12.50", "groceries", "at Starbucks yesterday", "--json")
    assert r.exit_code == 0, r.stderr
    assert (r.json["amount"], r.json["category"], r.json["note"], r.json["merchant"], r.json["date"]) == (
        "12.50",
        "groceries",
        "at Starbucks yesterday",
        None,
        "2026-11-25",
    )


# --- the dates, read without a database ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "day"),
    [
        ("today", "2026-11-25"),
        ("yesterday", "2026-11-24"),
        ("Monday", "2026-11-23"),
        ("wednesday", "2026-11-25"),  # the most recent Wednesday is today
        ("on wednesday", "2026-11-25"),
        ("last wednesday", "2026-11-18"),
        ("thursday", "2026-11-19"),
        ("last thursday", "2026-11-19"),
        ("sunday", "2026-11-22"),
        ("0 days ago", "2026-11-25"),
        ("1 day ago", "2026-11-24"),
        ("30 days ago", "2026-10-26"),
        ("2 weeks ago", "2026-11-11"),
        ("a week ago", "2026-11-18"),
        ("2026-02-28", "2026-02-28"),
        ("on 2026-11-03", "2026-11-03"),
    ],
)
def test_date_phrases(phrase, day):
    from finbuddy.ledger.quick_entry import read_line

    reading = read_line(f"coffee 4.50 {phrase}", TODAY)
    assert reading.problems == []
    assert reading.date == dt.date.fromisoformat(day)
    assert [word for _, word in reading.words] == ["coffee"]


@pytest.mark.parametrize(
    ("token", "amount", "income"),
    [
        ("4.50", "4.50", False),
        ("$4.50", "4.50", False),
        ("4.50$", "4.50", False),
        ("£12", "12.00", False),
        ("4,50", "4.50", False),
        ("4,5", "4.50", False),
        ("1,234", "1234.00", False),
        ("1,234.56", "1234.56", False),
        ("+3200", "3200.00", True),
        ("+$3,200.00", "3200.00", True),
    ],
)
def test_amount_forms(token, amount, income):
    from decimal import Decimal

    from finbuddy.ledger.quick_entry import read_line

    reading = read_line(f"coffee {token}", TODAY)
    assert reading.problems == []
    assert (reading.amount, reading.income) == (Decimal(amount), income)
