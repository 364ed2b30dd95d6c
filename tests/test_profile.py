"""Per-user time zone and currency (`profile set|show`): every per-day rule and every amount follows the user's own.

The clock is pinned near midnight UTC, where the users' days differ (hand-computed):

| zone                          | 2026-11-25T23:30Z  | 2026-11-30T23:30Z  |
| ----------------------------- | ------------------ | ------------------ |
| Pacific/Auckland (UTC+13)     | 2026-11-26 12:30   | 2026-12-01 12:30   |
| America/Los_Angeles (UTC-8)   | 2026-11-25 15:30   | 2026-11-30 15:30   |
| UTC (the install's, in tests) | 2026-11-25 23:30   | 2026-11-30 23:30   |
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from finbuddy.clock import Clock
from finbuddy.config import load_settings
from finbuddy.context import Context
from finbuddy.db import Database
from finbuddy.db.migrate import upgrade
from finbuddy.db.revision import HEAD_REVISION
from finbuddy.errors import ValidationError
from tests.fakes_daemon import insight_rows, start_fake
from tests.helpers_ledger import one_line_error, query
from tests.test_migrations import BACKENDS, empty_url, schema_diff  # noqa: F401 - empty_url is a fixture

NEAR_MIDNIGHT = "2026-11-25T23:30:00+00:00"
AUCKLAND = "Pacific/Auckland"
LOS_ANGELES = "America/Los_Angeles"


@pytest.fixture
def near_midnight(monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", NEAR_MIDNIGHT)


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result


def profile_row(url: str, user: str) -> list[dict]:
    return query(url, "SELECT timezone, currency FROM users WHERE name = :user", user=user)


def two_zones(cli) -> None:
    """alice in Auckland, bob in Los Angeles; carol keeps the install's zone (UTC here)."""
    ok(cli("--user", "alice", "profile", "set", "--timezone", AUCKLAND))
    ok(cli("--user", "bob", "profile", "set", "--timezone", LOS_ANGELES))


# --- profile show / set -------------------------------------------------------------------


def test_profile_show_says_where_each_value_comes_from_and_never_creates_the_user(cli, backend, db_url):
    shown = ok(cli("profile", "show", "--json")).json
    assert shown == {
        "user": "alice",
        "timezone": "UTC",
        "currency": "USD",
        "timezone_source": "settings",
        "currency_source": "settings",
    }
    assert query(db_url, "SELECT name FROM users") == []  # reading creates no user

    ok(cli("profile", "set", "--timezone", "Asia/Tokyo"))
    shown = ok(cli("profile", "show", "--json")).json
    assert (shown["timezone"], shown["timezone_source"]) == ("Asia/Tokyo", "profile")
    assert (shown["currency"], shown["currency_source"]) == ("USD", "settings")
    human = ok(cli("profile", "show")).stdout
    assert "Asia/Tokyo (your own; now 2026-11-25 21:00 +0900)" in human  # 12:00 UTC is 21:00 in Tokyo
    assert "USD (the install's user.currency)" in human


def test_profile_set_creates_the_user_stores_both_values_and_prints_the_profile(cli, backend, db_url):
    data = ok(cli("profile", "set", "--timezone", "pacific/auckland", "--currency", "nzd", "--json")).json
    # The zone as the tz database spells it, the code upper case.
    assert data == {
        "user": "alice",
        "timezone": AUCKLAND,
        "currency": "NZD",
        "timezone_source": "profile",
        "currency_source": "profile",
    }
    assert profile_row(db_url, "alice") == [{"timezone": AUCKLAND, "currency": "NZD"}]
    # One option leaves the other as it is.
    ok(cli("profile", "set", "--currency", "EUR"))
    assert profile_row(db_url, "alice") == [{"timezone": AUCKLAND, "currency": "EUR"}]


def test_an_empty_value_returns_to_the_installs_setting(cli, backend, db_url, monkeypatch):
    monkeypatch.setenv("FINBUDDY_USER_CURRENCY", "GBP")
    ok(cli("profile", "set", "--timezone", AUCKLAND, "--currency", "NZD"))
    data = ok(cli("profile", "set", "--timezone", "", "--json")).json
    assert (data["timezone"], data["timezone_source"]) == ("UTC", "settings")
    assert (data["currency"], data["currency_source"]) == ("NZD", "profile")
    assert profile_row(db_url, "alice") == [{"timezone": None, "currency": "NZD"}]
    data = ok(cli("profile", "set", "--currency", "", "--json")).json
    assert (data["currency"], data["currency_source"]) == ("GBP", "settings")
    assert profile_row(db_url, "alice") == [{"timezone": None, "currency": None}]
    # Back on the settings, the settings' changes apply to the user again.
    monkeypatch.setenv("FINBUDDY_USER_TIMEZONE", LOS_ANGELES)
    assert ok(cli("profile", "show", "--json")).json["timezone"] == LOS_ANGELES


@pytest.mark.parametrize(
    ("args", "named", "expected"),
    [
        (("--timezone", "Mars/Olympus"), "'Mars/Olympus'", "IANA time zone"),
        (("--timezone", "localtime"), "'localtime'", "IANA time zone"),  # this machine's, whatever it is
        (("--timezone", "../../etc/passwd"), "'../../etc/passwd'", "IANA time zone"),
        (("--timezone", "Europe"), "'Europe'", "IANA time zone"),  # a directory of zones, not a zone
        (("--currency", "ABC"), "'ABC'", "ISO 4217"),  # three letters, but no currency
        (("--currency", "EURO"), "'EURO'", "ISO 4217"),
        (("--currency", "HRK"), "'HRK'", "ISO 4217"),  # withdrawn in 2023 (Croatia uses EUR)
        # One bad value and one good: nothing is stored, not even the good one.
        (("--timezone", AUCKLAND, "--currency", "XYZ"), "'XYZ'", "ISO 4217"),
        (("--timezone", "Nowhere/Town", "--currency", "EUR"), "'Nowhere/Town'", "IANA time zone"),
    ],
)
def test_an_unknown_zone_or_currency_is_exit_2_naming_it_and_changes_nothing(
    cli, backend, db_url, args, named, expected
):
    result = cli("profile", "set", *args)
    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert named in line and expected in line
    assert result.stdout == ""
    assert query(db_url, "SELECT name FROM users") == []  # not even the user was created

    ok(cli("profile", "set", "--timezone", LOS_ANGELES, "--currency", "CAD"))
    again = cli("profile", "set", *args, "--json")
    assert again.exit_code == 2
    assert again.json["error"]["type"] == "validation_error" and named in again.json["error"]["message"]
    assert profile_row(db_url, "alice") == [{"timezone": LOS_ANGELES, "currency": "CAD"}]


def test_profile_set_without_an_option_is_exit_2(cli, backend, db_url):
    result = cli("profile", "set")
    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert "--timezone" in line and "--currency" in line
    assert query(db_url, "SELECT name FROM users") == []


def test_currency_codes_come_from_the_iso_4217_list():
    from finbuddy.money import ISO_4217_CODES, parse_currency

    assert len(ISO_4217_CODES) == 178  # List One as of 2025
    assert {"USD", "EUR", "JPY", "NZD", "CHF", "XCG", "ZWG", "XAU"} <= ISO_4217_CODES
    assert not {"ANG", "HRK", "ZWL", "SLL", "ABC", "EUD"} & ISO_4217_CODES
    assert parse_currency(" eur ") == "EUR"
    with pytest.raises(ValidationError, match="'QQQ' is not a known currency: expected an ISO 4217"):
        parse_currency("QQQ")


def test_the_settings_currency_is_checked_against_the_same_list(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_USER_CURRENCY", "ABC")
    result = cli("profile", "show")
    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert "FINBUDDY_USER_CURRENCY='ABC'" in line and "ISO 4217" in line


# --- "today", the quota day and resets_at ------------------------------------------------------


def test_two_users_in_two_zones_get_their_own_quota_day_and_resets_at(
    cli, backend, db_url, openai_server, near_midnight, monkeypatch
):
    two_zones(cli)
    for user in ("alice", "bob", "carol"):
        ok(cli("--user", user, "ask", "Can I afford it?", "--json"))
    resets = {u: ok(cli("--user", u, "quota", "--json")).json["resets_at"] for u in ("alice", "bob", "carol")}
    assert resets == {
        "alice": "2026-11-27T00:00:00+13:00",  # Auckland's next midnight
        "bob": "2026-11-26T00:00:00-08:00",  # Los Angeles'
        "carol": "2026-11-26T00:00:00+00:00",  # the install's zone
    }
    days = query(
        db_url,
        "SELECT u.name, q.day, q.used FROM ai_quota q JOIN users u ON u.id = q.user_id ORDER BY u.name",
    )
    assert [(r["name"], str(r["day"])[:10], r["used"]) for r in days] == [
        ("alice", "2026-11-26", 1),
        ("bob", "2026-11-25", 1),
        ("carol", "2026-11-25", 1),
    ]
    # 08:30 UTC next day: a new day in Los Angeles (00:30) and in UTC, still the same one in Auckland (21:30).
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-26T08:30:00+00:00")
    used = {u: ok(cli("--user", u, "quota", "--json")).json["used"] for u in ("alice", "bob", "carol")}
    assert used == {"alice": 1, "bob": 0, "carol": 0}
    # The human line shows the reset with its offset, too.
    assert "resets at 2026-11-27T00:00+13:00" in ok(cli("--user", "alice", "quota")).stdout


def test_add_without_a_date_and_this_month_use_the_users_local_day(cli, backend, monkeypatch):
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-30T23:30:00+00:00")  # already December in Auckland
    two_zones(cli)
    assert ok(cli("--user", "alice", "add", "10", "food", "--json")).json["date"] == "2026-12-01"
    assert ok(cli("--user", "bob", "add", "10", "food", "--json")).json["date"] == "2026-11-30"
    assert ok(cli("--user", "carol", "add", "10", "food", "--json")).json["date"] == "2026-11-30"
    assert ok(cli("--user", "alice", "add", "3", "food", "--date", "yesterday", "--json")).json["date"] == "2026-11-30"
    ok(cli("--user", "alice", "add", "4", "food", "--date", "2026-11-01"))

    alice = ok(cli("--user", "alice", "summary", "--json")).json
    assert alice["period"] == {"start": "2026-12-01", "end": "2026-12-31"}
    # Like for like: 1 December against 1 November (the 3.00 of 30 November is not in it).
    assert (alice["expenses"], alice["previous_period_expenses"]) == ("10.00", "4.00")
    assert alice["as_of"] == "2026-12-01T12:30:00+13:00"
    bob = ok(cli("--user", "bob", "summary", "--json")).json
    assert bob["period"] == {"start": "2026-11-01", "end": "2026-11-30"}
    assert bob["as_of"] == "2026-11-30T15:30:00-08:00"
    # "today" in a filter is the user's day too.
    today = ok(cli("--user", "alice", "list", "--from", "today", "--json")).json
    assert [(r["date"], r["amount"]) for r in today] == [("2026-12-01", "10.00")]


# --- the currency shown ---------------------------------------------------------------------


def test_summary_list_portfolio_and_export_show_the_users_currency(cli, backend):
    ok(cli("add", "12.50", "food"))
    assert ok(cli("summary", "--json")).json["currency"] == "USD"  # computed and cached in the install's currency
    ok(cli("portfolio", "add", "VWCE", "2", "--cost", "100"))
    ok(cli("portfolio", "price", "VWCE", "110"))
    assert ok(cli("portfolio", "show", "--json")).json["currency"] == "USD"

    ok(cli("profile", "set", "--currency", "EUR"))
    summary = ok(cli("summary", "--json")).json
    assert (summary["currency"], summary["expenses"], summary["cached"]) == ("EUR", "12.50", False)
    assert "EUR" in ok(cli("summary")).stdout
    assert "amount (EUR)" in ok(cli("list")).stdout
    ok(cli("budget", "set", "food", "400"))
    assert "amount (EUR)" in ok(cli("budget", "list")).stdout
    portfolio = ok(cli("portfolio", "show", "--json")).json
    assert (portfolio["currency"], portfolio["total_value"]) == ("EUR", "220.00")
    assert "(EUR)" in ok(cli("portfolio", "show")).stdout
    assert json.loads(ok(cli("export", "--format", "json")).stdout)["currency"] == "EUR"
    # Another user still sees the install's currency.
    ok(cli("--user", "bob", "add", "1", "food"))
    assert ok(cli("--user", "bob", "summary", "--json")).json["currency"] == "USD"
    assert "amount (USD)" in ok(cli("--user", "bob", "list")).stdout


def test_the_ask_context_carries_the_users_currency_and_day(cli, backend, openai_server, near_midnight):
    ok(cli("profile", "set", "--timezone", AUCKLAND, "--currency", "NZD"))
    ok(cli("add", "20", "food"))
    assert ok(cli("ask", "How am I doing?", "--json")).json["cached"] is False
    (prompt,) = openai_server.prompts()
    assert '"currency":"NZD"' in prompt and '"today":"2026-11-26"' in prompt
    assert ok(cli("ask", "How am I doing?", "--json")).json["cached"] is True
    # An answer given in NZD is not served once the user counts in AUD: the change invalidates it.
    ok(cli("profile", "set", "--currency", "AUD"))
    assert ok(cli("ask", "How am I doing?", "--json")).json["cached"] is False
    assert openai_server.count == 2 and '"currency":"AUD"' in openai_server.prompts()[1]


def test_a_new_zone_is_not_hidden_by_a_dashboard_cached_before_it(cli, backend):
    ok(cli("add", "5", "food"))
    first = ok(cli("summary", "--json")).json
    assert (first["as_of"], first["cached"]) == ("2026-11-25T12:00:00+00:00", False)
    assert ok(cli("summary", "--json")).json["cached"] is True
    ok(cli("profile", "set", "--timezone", "Asia/Tokyo"))  # still 25 November there (21:00): same month, same days
    again = ok(cli("summary", "--json")).json
    assert (again["as_of"], again["cached"]) == ("2026-11-25T21:00:00+09:00", False)


# --- the daily insight batch ------------------------------------------------------------------


def test_the_batch_writes_each_users_insight_for_their_local_day(cli, backend, tmp_path, monkeypatch, near_midnight):
    server = start_fake(monkeypatch, tmp_path)
    try:
        two_zones(cli)
        ok(cli("--user", "alice", "profile", "set", "--currency", "NZD"))
        for user in ("alice", "bob", "carol"):
            ok(cli("--user", user, "add", "10", "food"))
        result = ok(cli("daemon", "run-once", "--json"))
        item = next(i for i in result.json["ran"] if i["job"] == "daily-insights")
        assert item["status"] == "ok"
        assert item["result"]["day"] == "2026-11-25"  # the job's day: the install's
        assert (item["result"]["done"], item["result"]["calls"]) == (3, 3)
        rows = {r["user"]: (str(r["day"])[:10], r["status"]) for r in insight_rows()}
        assert rows == {
            "alice": ("2026-11-26", "done"),
            "bob": ("2026-11-25", "done"),
            "carol": ("2026-11-25", "done"),
        }
        # Each prompt was built in its user's own context: no zone or currency leaks between them.
        prompts = {p.split('"today":"')[1][:10]: p for p in server.prompts()}
        assert '"currency":"NZD"' in prompts["2026-11-26"]
        assert sorted(prompts) == ["2026-11-25", "2026-11-26"]
        assert sum('"currency":"NZD"' in p for p in server.prompts()) == 1
        assert ok(cli("--user", "alice", "insights", "--json")).json["date"] == "2026-11-26"

        # One hour later it is 26 November in UTC and Los Angeles is still on the 25th: a new day for carol only.
        from finbuddy.daemon.insights import run_insight_batch

        ctx = Context(settings=load_settings(), clock=Clock(dt.datetime(2026, 11, 26, 0, 30, tzinfo=dt.UTC)))
        try:
            ctx.db.ensure_schema()
            statements: list[str] = []
            sa.event.listen(ctx.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
            summary = run_insight_batch(ctx)
        finally:
            ctx.close()
        assert (summary.done, summary.skipped) == (1, 2)
        # The users' zones came with the batch's own reads: no query for a profile on its own.
        assert [q for q in statements if "users.timezone" in q and "insights" not in q] == []
        assert server.count == 4
        carol = [str(r["day"])[:10] for r in insight_rows() if r["user"] == "carol"]
        assert carol == ["2026-11-25", "2026-11-26"]
    finally:
        server.stop()


def test_the_batch_reads_every_users_zone_in_its_one_selection_query(cli, backend, near_midnight):
    from finbuddy.daemon.insights import InsightBatch

    two_zones(cli)
    for user in ("alice", "bob", "carol"):
        ok(cli("--user", user, "add", "10", "food"))
    ctx = Context(settings=load_settings())
    try:
        ctx.db.ensure_schema()
        statements: list[str] = []
        sa.event.listen(ctx.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        batch = InsightBatch(ctx)
        todo = batch.select()
    finally:
        ctx.close()
    assert [(s.user, s.day, s.timezone) for s in todo] == [
        ("alice", dt.date(2026, 11, 26), AUCKLAND),
        ("bob", dt.date(2026, 11, 25), LOS_ANGELES),
        ("carol", dt.date(2026, 11, 25), None),
    ]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, statements


def test_the_daemon_schedule_stays_on_the_installs_zone_whatever_its_users_zone(cli, backend):
    ok(cli("profile", "set", "--timezone", AUCKLAND))  # alice is the install's default user
    jobs = ok(cli("daemon", "status", "--json")).json["jobs"]
    daily = next(j for j in jobs if j["job"] == "daily-insights")
    assert daily["schedule"] == "daily at 07:00 UTC"


# --- one query per command, and no leak between users -----------------------------------------


def test_the_profile_is_read_once_per_context_and_never_leaks_to_a_copy_for_another_user(cli, backend):
    import copy

    two_zones(cli)
    ctx = Context(settings=load_settings(), clock=Clock(dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC)))
    try:
        ctx.db.ensure_schema()
        statements: list[str] = []
        sa.event.listen(ctx.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        for _ in range(3):
            assert (ctx.today(), ctx.zone.key, ctx.currency) == (dt.date(2026, 11, 26), AUCKLAND, "USD")
        queries = [s for s in statements if s != "BEGIN"]
        assert len(queries) == 1 and "FROM users" in queries[0]

        other = copy.copy(ctx)  # as the advisor's guard makes a context for another user
        other.user = "bob"
        assert (other.today(), other.zone.key) == (dt.date(2026, 11, 25), LOS_ANGELES)
        stranger = ctx.for_user("carol")
        assert (stranger.today(), stranger.zone.key) == (dt.date(2026, 11, 25), "UTC")
        assert ctx.zone.key == AUCKLAND  # the original keeps its own
        # A profile the caller read already (the batch's selection) costs no query.
        before = len(statements)
        known = ctx.for_user("dora", ctx.profile_of("dora", "Asia/Tokyo", "JPY"))
        assert (known.today(), known.currency) == (dt.date(2026, 11, 26), "JPY")
        assert statements[before:] == []
    finally:
        ctx.close()


def test_a_stored_zone_unknown_to_this_machine_falls_back_to_the_settings_with_a_warning(cli, backend, db_url):
    ok(cli("profile", "set", "--timezone", AUCKLAND))
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET timezone = 'Atlantis/Capital' WHERE name = 'alice'"))
    engine.dispose()
    result = ok(cli("profile", "show", "--json"))
    assert (result.json["timezone"], result.json["timezone_source"]) == ("UTC", "settings")
    assert "Atlantis/Capital" in result.stderr and "warning" in result.stderr


# --- the migration -----------------------------------------------------------------------------


@BACKENDS
def test_upgrade_to_user_profile_keeps_the_users_on_the_installs_settings(empty_url, cli, monkeypatch):  # noqa: F811
    """0007_user_profile: existing users get NULL zone and currency (the settings); nothing else changes."""
    before = "0006_database_identity"
    db = Database(empty_url, auto_migrate=False)
    try:
        assert upgrade(db, before) == (None, before)
        with db.raw_write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (name, next_record_id, data_version, portfolio_version, created_at) "
                "VALUES ('alice', 2, 4, 1, '2026-11-01 09:00:00+00:00')"
            )
            uid = conn.exec_driver_sql("SELECT id FROM users WHERE name = 'alice'").scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO records (user_id, id, kind, amount_cents, expense_date, category, created_at, "
                    "updated_at) VALUES (:u, 1, 'expense', 1250, :d, 'food', :t, :t)"
                ),
                {"u": uid, "d": dt.date(2026, 11, 20), "t": dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)},
            )
            conn.execute(
                sa.text("INSERT INTO ai_quota (user_id, day, used) VALUES (:u, :d, 2)"),
                {"u": uid, "d": dt.date(2026, 11, 25)},
            )
        assert upgrade(db) == (before, HEAD_REVISION)
    finally:
        db.dispose()
    assert query(
        empty_url, "SELECT name, next_record_id, data_version, portfolio_version, timezone, currency FROM users"
    ) == [
        {
            "name": "alice",
            "next_record_id": 2,
            "data_version": 4,
            "portfolio_version": 1,
            "timezone": None,
            "currency": None,
        }
    ]
    assert schema_diff(empty_url) == []
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", empty_url)
    assert ok(cli("profile", "show", "--json")).json["timezone_source"] == "settings"
    assert ok(cli("quota", "--json")).json["used"] == 2  # the quota row of the install's day still counts
    ok(cli("profile", "set", "--timezone", AUCKLAND, "--currency", "NZD"))
    assert ok(cli("quota", "--json")).json["used"] == 0  # 12:00 UTC is 26 November in Auckland: a new day
    listed = ok(cli("list", "--json")).json
    assert [(r["id"], r["amount"], r["date"]) for r in listed] == [(1, "12.50", "2026-11-20")]
    assert ok(cli("summary", "--json")).json["currency"] == "NZD"
