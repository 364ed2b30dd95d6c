"""`budget set|list|rm` on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpers_ledger import count_rows, one_line_error, query

pytestmark = pytest.mark.usefixtures("backend")


def stored_budgets(url: str, user: str = "alice") -> dict[str, int]:
    rows = query(
        url,
        "SELECT b.category, b.amount_cents FROM budgets b JOIN users u ON u.id = b.user_id WHERE u.name = :user",
        user=user,
    )
    return {row["category"]: row["amount_cents"] for row in rows}


def test_budget_set_prints_json_and_stores_cents(cli, db_url):
    r = cli("budget", "set", " Groceries ", "1,250.5", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json == {"category": "groceries", "amount": "1250.50"}
    assert stored_budgets(db_url) == {"groceries": 125050}


def test_budget_set_creates_the_user_on_first_write(cli, db_url):
    assert count_rows(db_url, "users") == 0
    assert cli("budget", "set", "food", "400").exit_code == 0
    assert [row["name"] for row in query(db_url, "SELECT name FROM users")] == ["alice"]


def test_budget_set_again_replaces_the_amount(cli, db_url):
    cli("budget", "set", "food", "400")
    r = cli("budget", "set", "FOOD", "450")
    assert r.exit_code == 0
    assert "450.00" in r.stdout
    assert stored_budgets(db_url) == {"food": 45000}


def test_budget_list_sorted_by_category(cli):
    cli("budget", "set", "rent", "1,200")
    cli("budget", "set", "food", "400")
    r = cli("budget", "list", "--json")
    assert r.exit_code == 0
    assert r.json == [{"category": "food", "amount": "400.00"}, {"category": "rent", "amount": "1200.00"}]
    people = cli("budget", "list")
    assert people.exit_code == 0
    assert "1,200.00" in people.stdout and "food" in people.stdout


def test_budget_list_empty(cli):
    assert cli("budget", "list", "--json").json == []
    r = cli("budget", "list")
    assert r.exit_code == 0 and "budget set" in r.stdout


def test_budgets_are_per_user(cli, db_url):
    cli("budget", "set", "food", "400")
    cli("--user", "bob", "budget", "set", "food", "100")
    assert cli("budget", "list", "--json").json == [{"category": "food", "amount": "400.00"}]
    assert cli("-u", "bob", "budget", "list", "--json").json == [{"category": "food", "amount": "100.00"}]
    assert cli("-u", "carol", "budget", "list", "--json").json == []
    r = cli("-u", "carol", "budget", "rm", "food")
    assert r.exit_code == 1
    assert stored_budgets(db_url) == {"food": 40000}
    assert stored_budgets(db_url, "bob") == {"food": 10000}


def test_budget_rm_removes_only_that_category(cli, db_url):
    cli("budget", "set", "food", "400")
    cli("budget", "set", "rent", "900")
    r = cli("budget", "rm", "Food", "--json")
    assert r.exit_code == 0
    assert r.json == {"removed": {"category": "food", "amount": "400.00"}}
    assert stored_budgets(db_url) == {"rent": 90000}
    r = cli("budget", "rm", "rent")
    assert r.exit_code == 0 and "rent" in r.stdout


def test_budget_rm_unknown_category_is_exit_1(cli, db_url):
    cli("budget", "set", "food", "400")
    r = cli("budget", "rm", "travel")
    assert r.exit_code == 1
    assert "travel" in one_line_error(r.stderr)
    r = cli("budget", "rm", "travel", "--json")
    assert r.json["error"]["type"] == "not_found"
    assert stored_budgets(db_url) == {"food": 40000}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("food", "0"), "'0'"),
        (("food", "-1"), "-1"),
        (("food", "12.345"), "12.345"),
        (("food", "NaN"), "NaN"),
        (("food", "1000000001"), "1000000001"),
        (("  ", "10"), "category"),
        (("c" * 65, "10"), "64"),
    ],
)
def test_rejected_budget_set_is_exit_2_and_stores_nothing(cli, db_url, args, named):
    cli("budget", "set", "food", "400")
    r = cli("budget", "set", *args)
    assert r.exit_code == 2
    assert named in one_line_error(r.stderr)
    assert stored_budgets(db_url) == {"food": 40000}
    rj = cli("budget", "set", *args, "--json")
    assert rj.exit_code == 2 and rj.json["error"]["type"] in ("validation_error", "usage_error")


def test_budget_without_subcommand_shows_help(cli):
    r = cli("budget")
    assert r.exit_code in (0, 2)
    assert "set" in r.stdout + r.stderr


def test_budget_unknown_subcommand_is_exit_2(cli):
    r = cli("budget", "frobnicate")
    assert r.exit_code == 2
    one_line_error(r.stderr)


def test_budget_for_a_near_miss_category_is_kept_with_a_did_you_mean(cli, db_url):
    assert cli("add", "40", "groceries").exit_code == 0
    r = cli("budget", "set", "grocerys", "400", "--json")
    assert r.exit_code == 0
    assert r.json == {"category": "grocerys", "amount": "400.00"}  # accepted, the document unchanged
    [line] = r.stderr.splitlines()
    assert line.startswith("finbuddy: warning: new category 'grocerys' — did you mean 'groceries'? ")
    assert "budget rm grocerys" in line
    assert stored_budgets(db_url) == {"grocerys": 40000}
    # changing that budget again is not a new category any more
    assert cli("budget", "set", "grocerys", "450", "--json").stderr == ""


def test_budget_near_miss_of_another_budget_gets_the_hint(cli):
    cli("budget", "set", "restaurants", "200")
    r = cli("budget", "set", "Restaurant", "100")
    assert r.exit_code == 0
    assert "Budget for restaurant" in r.stdout
    assert "did you mean 'restaurants'?" in r.stderr and "did you mean" not in r.stdout


def test_budget_for_a_distinct_or_known_category_gets_no_hint(cli):
    cli("add", "40", "groceries")
    assert cli("budget", "set", "rent", "900", "--json").stderr == ""
    assert cli("budget", "set", "Groceries", "400", "--json").stderr == ""


@pytest.mark.parametrize(
    ("args", "amount"),
    [
        (("food", "-400"), "-400"),
        (("food", "-12.50", "--json"), "-12.50"),
        (("-400",), "-400"),
        (("--", "food", "-5"), "-5"),
    ],
)
def test_negative_budget_says_amounts_are_positive(cli, db_url, args, amount):
    r = cli("budget", "set", *args)
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert amount in line and "positive" in line
    assert "No such option" not in line
    assert stored_budgets(db_url) == {}
