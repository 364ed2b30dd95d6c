"""`add`, `list`, `edit`, `delete` on SQLite and PostgreSQL: outputs, exit codes and the rows left behind."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers_ledger import count_rows, one_line_error, stored_records

pytestmark = pytest.mark.usefixtures("backend")

RECORD_KEYS = {"id", "user", "kind", "amount", "category", "date", "note", "merchant"}
TRICKY_NOTE = "[bold]x[/] 🍕 \x1b[31m red? ' \" \\ {json} <b>"


def add(cli, *args):
    r = cli("add", *args, "--json")
    assert r.exit_code == 0, r.stderr
    return r.json


# --- add ---------------------------------------------------------------------------


def test_add_prints_the_record_as_json_and_stores_cents(cli, db_url):
    r = cli("add", "12.50", "Food", "lunch", "--merchant", "Cafe", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    assert r.json == {
        "id": 1,
        "user": "alice",
        "kind": "expense",
        "amount": "12.50",
        "category": "food",
        "date": "2026-11-25",
        "note": "lunch",
        "merchant": "Cafe",
    }
    [row] = stored_records(db_url)
    assert row["amount_cents"] == 1250
    assert row["expense_date"] in (dt.date(2026, 11, 25), "2026-11-25")
    assert row["category"] == "food"


def test_add_income_with_date_and_grouped_amount(cli, db_url):
    record = add(cli, "1,234.5", "salary", "--income", "--date", "2026-11-01")
    assert record["kind"] == "income"
    assert record["amount"] == "1234.50"
    assert record["date"] == "2026-11-01"
    assert record["note"] is None and record["merchant"] is None
    assert stored_records(db_url)[0]["kind"] == "income"


@pytest.mark.parametrize(("word", "day"), [("today", "2026-11-25"), ("yesterday", "2026-11-24")])
def test_add_relative_dates_come_from_the_clock(cli, word, day):
    assert add(cli, "3", "coffee", "--date", word)["date"] == day


def test_today_follows_the_user_timezone(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T23:30:00+00:00")
    monkeypatch.setenv("FINBUDDY_USER_TIMEZONE", "Asia/Tokyo")
    assert add(cli, "3", "coffee")["date"] == "2026-11-26"


def test_add_for_people_prints_one_line(cli):
    r = cli("add", "12.50", "food", "lunch")
    assert r.exit_code == 0
    assert r.stdout.startswith("Added #1 expense 12.50 food")
    assert "lunch" in r.stdout


def test_categories_are_trimmed_and_lower_cased(cli):
    assert add(cli, "1", "  GroCeries ")["category"] == "groceries"


def test_record_ids_are_per_user_and_increase(cli):
    assert [add(cli, "1", "a")["id"] for _ in range(3)] == [1, 2, 3]
    r = cli("--user", "bob", "add", "1", "a", "--json")
    assert r.json["id"] == 1 and r.json["user"] == "bob"
    assert add(cli, "1", "a")["id"] == 4


def test_unicode_and_markup_are_stored_verbatim(cli, db_url):
    record = add(cli, "9.99", "Café ☕", TRICKY_NOTE, "--merchant", "[red]Müller[/red]")
    assert record["note"] == TRICKY_NOTE
    assert record["merchant"] == "[red]Müller[/red]"
    assert record["category"] == "café ☕"
    [row] = stored_records(db_url)
    assert row["note"] == TRICKY_NOTE
    assert row["merchant"] == "[red]Müller[/red]"
    listed = cli("list", "--json").json
    assert listed[0]["note"] == TRICKY_NOTE


def test_control_characters_are_escaped_for_people_never_interpreted(cli):
    add(cli, "9.99", "food", TRICKY_NOTE)
    for args in (("list",), ("edit", "1", "--amount", "1")):
        r = cli(*args)
        assert r.exit_code == 0
        assert "\x1b" not in r.stdout
        assert "[bold]x[/]" in r.stdout.replace("\n", "") or "[bold]x[/" in r.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("0", "food"), "'0'"),
        (("-5", "food"), "-5"),
        (("12.345", "food"), "'12.345'"),
        (("NaN", "food"), "'NaN'"),
        (("inf", "food"), "'inf'"),
        (("1e3", "food"), "'1e3'"),
        (("1000000000.01", "food"), "1000000000.01"),
        (("abc", "food"), "'abc'"),
        (("5", "   "), "category"),
        (("5", "x" * 65), "64"),
        (("5", "food", "n" * 1001), "1000"),
        (("5", "food", "--date", "2026-02-30"), "2026-02-30"),
        (("5", "food", "--date", "tomorrow"), "tomorrow"),
        (("5", "food", "--merchant", "m" * 201), "200"),
    ],
)
def test_rejected_add_exits_2_names_the_value_and_adds_nothing(cli, db_url, args, named):
    r = cli("add", *args)
    assert r.exit_code == 2
    assert named in one_line_error(r.stderr)
    assert r.stdout == ""
    assert count_rows(db_url, "records") == 0


def test_rejected_add_with_json_prints_error_document(cli, db_url):
    r = cli("add", "12.345", "food", "--json")
    assert r.exit_code == 2
    assert r.json == {"error": {"type": "validation_error", "message": r.json["error"]["message"]}}
    assert "12.345" in r.json["error"]["message"]
    one_line_error(r.stderr)
    assert count_rows(db_url, "records") == 0


def test_amount_at_the_limit_is_accepted(cli):
    assert add(cli, "1,000,000,000", "house")["amount"] == "1000000000.00"


def test_note_of_1000_characters_is_accepted(cli):
    assert add(cli, "1", "x", "n" * 1000)["note"] == "n" * 1000


# --- list --------------------------------------------------------------------------


@pytest.fixture
def november(cli):
    """Five records across October and November, added out of date order."""
    add(cli, "10", "food", "a", "--date", "2026-11-03")
    add(cli, "20", "rent", "b", "--date", "2026-10-31")
    add(cli, "30", "food", "c", "--date", "2026-11-20")
    add(cli, "40", "salary", "d", "--date", "2026-11-01", "--income")
    add(cli, "50", "food", "e", "--date", "2026-11-03")
    return cli


def test_list_is_newest_first_with_ties_by_id(november):
    r = november("list", "--json")
    assert r.exit_code == 0
    assert [x["note"] for x in r.json] == ["c", "e", "a", "d", "b"]
    assert all(set(x) == RECORD_KEYS for x in r.json)


def test_list_month(november):
    r = november("list", "--month", "2026-11", "--json")
    assert [x["note"] for x in r.json] == ["c", "e", "a", "d"]
    assert november("list", "--month", "2026-10", "--json").json[0]["note"] == "b"
    assert november("list", "--month", "2026-09", "--json").json == []


def test_list_from_to_is_inclusive(november):
    r = november("list", "--from", "2026-11-01", "--to", "2026-11-03", "--json")
    assert [x["note"] for x in r.json] == ["e", "a", "d"]
    assert [x["note"] for x in november("list", "--from", "2026-11-04", "--json").json] == ["c"]
    assert [x["note"] for x in november("list", "--to", "2026-10-31", "--json").json] == ["b"]


def test_list_category_is_case_insensitive(november):
    r = november("list", "--category", " FOOD ", "--json")
    assert [x["note"] for x in r.json] == ["c", "e", "a"]


def test_list_limit(november):
    assert [x["note"] for x in november("list", "--limit", "2", "--json").json] == ["c", "e"]
    assert [x["note"] for x in november("list", "-n", "1", "--category", "food", "--json").json] == ["c"]


def test_list_december_9999_is_an_empty_month_not_a_crash(cli):
    r = cli("list", "--month", "9999-12", "--json")
    assert r.exit_code == 0
    assert r.json == []


def test_list_for_people_shows_a_table(november):
    r = november("list")
    assert r.exit_code == 0
    assert "5 records" in r.stdout
    assert "+40.00" in r.stdout  # income is marked
    assert "\x1b[" not in r.stdout  # NO_COLOR and not a terminal


def test_list_with_no_records_says_how_to_add(cli):
    r = cli("list")
    assert r.exit_code == 0
    assert "finbuddy add" in r.stdout
    assert cli("list", "--json").json == []


def test_list_shows_only_the_users_own_records(november):
    r = november("--user", "bob", "list", "--json")
    assert r.exit_code == 0
    assert r.json == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--month", "2026-13"), "2026-13"),
        (("--month", "nov"), "nov"),
        (("--from", "2026-02-30"), "2026-02-30"),
        (("--to", "someday"), "someday"),
        (("--month", "2026-11", "--from", "2026-11-01"), "--month"),
        (("--month", "2026-11", "--to", "2026-11-01"), "--month"),
        (("--from", "2026-11-05", "--to", "2026-11-01"), "--from"),
        (("--category", " "), "category"),
        (("--limit", "0"), "limit"),
        (("--limit", "-3"), "limit"),
        (("--limit", "abc"), "abc"),
    ],
)
def test_list_rejects_bad_filters_with_exit_2(cli, args, named):
    r = cli("list", *args)
    assert r.exit_code == 2
    assert named in one_line_error(r.stderr)
    assert r.stdout == ""
    rj = cli("list", *args, "--json")
    assert rj.exit_code == 2
    assert set(rj.json["error"]) == {"type", "message"}


# --- edit --------------------------------------------------------------------------


def test_edit_changes_only_the_given_fields(cli, db_url):
    add(cli, "12.50", "food", "lunch", "--merchant", "Cafe", "--date", "2026-11-02")
    r = cli("edit", "1", "--amount", "13.20", "--category", "Eating Out", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["amount"] == "13.20"
    assert r.json["category"] == "eating out"
    assert r.json["note"] == "lunch" and r.json["merchant"] == "Cafe" and r.json["date"] == "2026-11-02"
    [row] = stored_records(db_url)
    assert row["amount_cents"] == 1320


def test_edit_date_note_and_merchant_and_clear_them(cli, db_url):
    add(cli, "1", "x", "old", "--merchant", "M")
    r = cli("edit", "1", "--date", "yesterday", "--note", "new 🍕", "--merchant", "N", "--json")
    assert (r.json["date"], r.json["note"], r.json["merchant"]) == ("2026-11-24", "new 🍕", "N")
    r = cli("edit", "1", "--note", "", "--merchant", "", "--json")
    assert r.json["note"] is None and r.json["merchant"] is None
    [row] = stored_records(db_url)
    assert row["note"] is None and row["merchant"] is None


def test_edit_for_people(cli):
    add(cli, "1", "x")
    r = cli("edit", "1", "--amount", "2")
    assert r.exit_code == 0
    assert r.stdout.startswith("Updated #1")


def test_edit_with_nothing_to_change_is_exit_2(cli, db_url):
    add(cli, "1", "x")
    r = cli("edit", "1")
    assert r.exit_code == 2
    assert "nothing to change" in one_line_error(r.stderr)


@pytest.mark.parametrize(
    "args",
    [("--amount", "0"), ("--amount", "1.001"), ("--date", "2026-02-30"), ("--category", ""), ("--note", "x" * 1001)],
)
def test_rejected_edit_changes_nothing(cli, db_url, args):
    add(cli, "1", "x", "keep")
    before = stored_records(db_url)
    r = cli("edit", "1", *args)
    assert r.exit_code == 2
    one_line_error(r.stderr)
    assert stored_records(db_url) == before


def test_edit_unknown_record_is_exit_1(cli, db_url):
    add(cli, "1", "x")
    r = cli("edit", "99", "--amount", "5")
    assert r.exit_code == 1
    assert "99" in one_line_error(r.stderr)
    r = cli("edit", "99", "--amount", "5", "--json")
    assert r.json["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    "command",
    [
        ("edit", "abc", "--amount", "5"),
        ("delete", "abc", "--yes"),
        ("edit", "0", "--note", "x"),
        ("delete", "1.5", "--yes"),
    ],
)
def test_non_numeric_record_id_is_exit_2_naming_it(cli, db_url, command):
    add(cli, "1", "x")
    r = cli(*command)
    assert r.exit_code == 2
    assert repr(command[1]) in one_line_error(r.stderr)
    assert count_rows(db_url, "records") == 1


def test_a_user_cannot_edit_or_delete_another_users_record(cli, db_url):
    add(cli, "1", "x", "alice's")
    before = stored_records(db_url)
    r = cli("--user", "bob", "edit", "1", "--amount", "999")
    assert r.exit_code == 1
    assert "not found" in one_line_error(r.stderr)
    r = cli("-u", "bob", "delete", "1", "--yes")
    assert r.exit_code == 1
    one_line_error(r.stderr)
    # bob exists now but still cannot touch alice's record #1
    cli("--user", "bob", "add", "5", "y")
    assert cli("--user", "bob", "delete", "1", "--yes").exit_code == 0
    assert stored_records(db_url) == before
    assert stored_records(db_url, "bob") == []


# --- delete ------------------------------------------------------------------------


def test_delete_with_yes_removes_the_row(cli, db_url):
    add(cli, "1", "x")
    add(cli, "2", "y")
    r = cli("delete", "1", "--yes", "--json")
    assert r.exit_code == 0
    assert r.json["deleted"]["id"] == 1
    assert set(r.json["deleted"]) == RECORD_KEYS
    assert [row["id"] for row in stored_records(db_url)] == [2]


def test_delete_asks_and_y_confirms(cli, db_url):
    add(cli, "1", "x")
    r = cli("delete", "1", input="y\n")
    assert r.exit_code == 0
    assert "Delete #1" in r.stderr  # the question is talk, on stderr
    assert r.stdout.startswith("Deleted #1")
    assert count_rows(db_url, "records") == 0


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_delete_keeps_the_record_unless_confirmed(cli, db_url, answer):
    add(cli, "1", "x")
    r = cli("delete", "1", input=answer)
    assert r.exit_code == 1
    assert "not deleted" in r.stderr
    assert "Deleted" not in r.stdout
    assert count_rows(db_url, "records") == 1


def test_delete_json_without_yes_does_not_prompt_and_keeps_the_record(cli, db_url):
    add(cli, "1", "x")
    r = cli("delete", "1", "--json")
    assert r.exit_code == 1
    assert "--yes" in r.json["error"]["message"]
    assert count_rows(db_url, "records") == 1


def test_delete_unknown_record_is_exit_1_before_asking(cli, db_url):
    add(cli, "1", "x")
    r = cli("delete", "7", input="y\n")
    assert r.exit_code == 1
    assert "record 7 not found" in one_line_error(r.stderr)
    assert count_rows(db_url, "records") == 1
    r = cli("delete", "7", "--yes", "--json")
    assert r.exit_code == 1
    assert r.json["error"]["type"] == "not_found"


# --- global behaviour ----------------------------------------------------------------


def test_unknown_option_is_one_line_exit_2(cli):
    r = cli("add", "1", "x", "--bogus")
    assert r.exit_code == 2
    assert "--bogus" in one_line_error(r.stderr)
    assert r.stdout == ""


def test_unknown_option_with_json_prints_error_document(cli):
    r = cli("list", "--bogus", "--json")
    assert r.exit_code == 2
    assert r.json["error"]["type"] == "usage_error"
    assert "--bogus" in r.json["error"]["message"]


def test_unknown_command_and_missing_argument_are_exit_2(cli, db_url):
    r = cli("frobnicate")
    assert r.exit_code == 2
    one_line_error(r.stderr)
    r = cli("add", "12")
    assert r.exit_code == 2
    one_line_error(r.stderr)
    assert count_rows(db_url, "records") == 0


def test_version_and_help(cli):
    from finbuddy import __version__

    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"finbuddy {__version__}"
    r = cli("--help")
    assert r.exit_code == 0 and "add" in r.stdout and "list" in r.stdout


def test_json_output_is_exactly_one_document(cli):
    import json

    add(cli, "1", "x")
    for args in (("list", "--json"), ("add", "2", "y", "--json"), ("edit", "1", "--note", "z", "--json")):
        r = cli(*args)
        json.loads(r.stdout)  # raises on any extra output
        assert r.stderr == ""


# --- list never cuts silently ----------------------------------------------------------


@pytest.fixture
def fifty_five(cli, tmp_path):
    """55 expenses imported in one go: 30 food in November (1st..30th), 25 rent in October (1st..25th)."""
    lines = ["date,kind,amount,category,note"]
    lines += [f"2026-11-{day:02d},expense,{day}.00,food,n{day}" for day in range(1, 31)]
    lines += [f"2026-10-{day:02d},expense,{day}.00,rent,o{day}" for day in range(1, 26)]
    path = tmp_path / "fifty_five.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = cli("import", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["imported"] == 55
    return cli


def table_rows(stdout: str) -> list[str]:
    """The data rows of a plain (NO_COLOR, not a terminal) Rich table: lines starting with a record number."""
    return [line for line in stdout.splitlines() if line.startswith("│") and line.strip("│ ")[:1].isdigit()]


def test_list_json_returns_every_matching_record_unless_limited(fifty_five):
    r = fifty_five("list", "--json")
    assert r.exit_code == 0
    assert len(r.json) == 55
    assert r.json[0]["date"] == "2026-11-30" and r.json[-1]["date"] == "2026-10-01"
    assert len(fifty_five("list", "--limit", "10", "--json").json) == 10
    assert len(fifty_five("list", "--month", "2026-11", "--json").json) == 30


def test_list_table_that_is_cut_says_how_many_of_how_many(fifty_five):
    r = fifty_five("list")
    assert r.exit_code == 0
    assert "50 of 55 records" in r.stdout
    assert "50 records" not in r.stdout.replace("50 of 55 records", "")
    assert len(table_rows(r.stdout)) == 50
    r = fifty_five("list", "--limit", "55")
    assert "55 records" in r.stdout and " of " not in r.stdout.splitlines()[0]
    assert len(table_rows(r.stdout)) == 55


@pytest.mark.parametrize(
    ("args", "title"),
    [
        (("--month", "2026-11", "--limit", "10"), "10 of 30 records"),
        (("--category", "Rent", "--limit", "5"), "5 of 25 records"),
        (("--from", "2026-10-20", "--to", "2026-11-05", "-n", "3"), "3 of 11 records"),
        (("--month", "2026-10"), "25 records"),
    ],
)
def test_list_counts_what_the_filters_match(fifty_five, args, title):
    r = fifty_five("list", *args)
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].strip() == title or r.stdout.splitlines()[0].startswith(title)


# --- near-miss categories ----------------------------------------------------------------


def test_near_miss_category_is_kept_with_a_did_you_mean_on_stderr(cli, db_url):
    add(cli, "40", "groceries")
    r = cli("add", "12", "Grocery", "--json")
    assert r.exit_code == 0
    assert r.json["category"] == "grocery"  # accepted as typed: the record is unchanged
    assert set(r.json) == RECORD_KEYS
    assert "new category 'grocery' — did you mean 'groceries'?" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert [row["category"] for row in stored_records(db_url)] == ["groceries", "grocery"]
    # only the first time: 'grocery' is not new any more
    assert cli("add", "3", "grocery", "--json").stderr == ""


def test_near_miss_category_for_people_is_talk_on_stderr(cli):
    add(cli, "40", "restaurants")
    r = cli("add", "12", "restaurant")
    assert r.exit_code == 0
    assert r.stdout.startswith("Added #2 expense 12.00 restaurant")
    assert "did you mean 'restaurants'?" in r.stderr
    assert "did you mean" not in r.stdout


@pytest.mark.parametrize(
    ("existing", "typed", "suggested"),
    [
        ("groceries", "grocerys", "groceries"),
        ("coffee", "cofee", "coffee"),
        ("subscriptions", "subscription", "subscriptions"),
        ("car", "cars", "car"),
        ("dining", "Dinning", "dining"),
    ],
)
def test_near_misses_that_get_a_hint(cli, existing, typed, suggested):
    add(cli, "1", existing)
    r = cli("add", "1", typed, "--json")
    assert r.exit_code == 0
    assert f"did you mean '{suggested}'?" in r.stderr


@pytest.mark.parametrize(("existing", "typed"), [("groceries", "rent"), ("tax", "taxi"), ("food", "fun")])
def test_distinct_new_categories_get_no_hint(cli, existing, typed):
    add(cli, "1", existing)
    assert cli("add", "1", typed, "--json").stderr == ""


def test_another_users_categories_give_no_hint(cli):
    assert cli("--user", "bob", "add", "1", "groceries").exit_code == 0
    assert cli("add", "1", "grocery", "--json").stderr == ""


def test_editing_to_a_near_miss_category_gets_the_hint(cli):
    add(cli, "1", "groceries")
    add(cli, "2", "rent")
    r = cli("edit", "2", "--category", "grocery", "--json")
    assert r.exit_code == 0 and r.json["category"] == "grocery"
    assert "did you mean 'groceries'?" in r.stderr


# --- future dates --------------------------------------------------------------------------


def test_future_date_says_which_month_it_shows_in(cli, db_url):
    r = cli("add", "30", "gift", "--date", "2027-01-05", "--json")
    assert r.exit_code == 0
    assert r.json["date"] == "2027-01-05"
    assert set(r.json) == RECORD_KEYS
    assert one_line_note(r.stderr) == (
        "dated 2027-01-05, in the future: it shows in January 2027's summary, not this month's"
    )
    assert stored_records(db_url)[0]["expense_date"] in (dt.date(2027, 1, 5), "2027-01-05")
    r = cli("edit", "1", "--date", "2026-12-24")
    assert r.exit_code == 0
    assert "December 2026's summary" in r.stderr


def test_future_date_this_month_says_it_counts_already(cli):
    r = cli("add", "30", "gift", "--date", "2026-11-28")
    assert r.exit_code == 0
    assert "dated 2026-11-28, in the future (today is 2026-11-25)" in one_line_note(r.stderr)
    assert "this month's summary" in r.stderr


@pytest.mark.parametrize("day", ["today", "yesterday", "2026-11-25", "2020-01-01"])
def test_past_and_today_dates_are_silent(cli, day):
    assert cli("add", "1", "x", "--date", day, "--json").stderr == ""


def one_line_note(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("finbuddy: ")
    return lines[0].split(": ", 1)[1].removeprefix("warning: ").removeprefix("note: ")


# --- negative amounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("-12", "food"),
        ("-12.50", "food"),
        ("--", "-12", "food"),
        ("-1,234.50", "food", "note"),
        ("-12", "food", "--json"),
        ("--merchant", "Aldi", "-12", "food", "--date", "yesterday"),
    ],
)
def test_negative_amount_says_amounts_are_positive_and_income_is_a_flag(cli, db_url, args):
    r = cli("add", *args)
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "-12" in line or "-1,234.50" in line
    assert "positive" in line and "--income" in line
    assert "No such option" not in line
    assert count_rows(db_url, "records") == 0


def test_negative_amount_with_json_prints_the_error_document(cli):
    r = cli("add", "-12", "food", "--json")
    assert r.json["error"]["type"] == "validation_error"
    assert "--income" in r.json["error"]["message"]


def test_a_dash_number_after_the_amount_is_a_note_not_an_option(cli):
    r = cli("add", "12", "food", "-5", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["note"] == "-5"
    r = cli("add", "12", "food", "--bogus")
    assert r.exit_code == 2 and "--bogus" in one_line_error(r.stderr)


def test_negative_amount_alone_names_the_amount_not_the_missing_category(cli, db_url):
    r = cli("add", "-12")
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "'-12' is negative" in line and "--income" in line
    assert count_rows(db_url, "records") == 0


def test_list_with_filters_that_match_nothing_does_not_say_there_are_no_records(november):
    for args in (("--category", "travel"), ("--month", "2026-09"), ("--from", "2026-12-01")):
        r = november("list", *args)
        assert r.exit_code == 0
        assert "No records match" in r.stdout
        assert "No records yet" not in r.stdout
