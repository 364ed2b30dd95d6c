"""`finbuddy trend`: the category x month table, worked out by hand. Today is 2026-11-25."""

from __future__ import annotations

import pytest

from tests.helpers_ledger import one_line_error


def seed(cli) -> None:
    rows = [
        ("100", "groceries", "2026-06-01"),  # the window's first day
        ("50", "groceries", "2026-06-30"),
        ("20", "Groceries", "2026-07-01"),
        ("80", "groceries", "2026-09-15"),
        ("60", "groceries", "2026-11-25"),
        ("10", "groceries", "2026-11-30"),  # dated later this month: in November's column
        ("40", "dining", "2026-08-31"),
        ("20", "dining", "2026-11-01"),
        ("999", "groceries", "2026-05-31"),  # the day before the window
        ("500", "groceries", "2026-12-01"),  # after it
    ]
    for amount, category, day in rows:
        assert cli("add", amount, category, "--date", day).exit_code == 0
    assert cli("add", "3000", "salary", "--income", "--date", "2026-10-01").exit_code == 0  # income: not spending
    assert cli("--user", "bob", "add", "777", "groceries", "--date", "2026-08-10").exit_code == 0


def trend_json(cli, *args) -> dict:
    result = cli("trend", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json


def test_trend_table_matches_hand_computed_totals_averages_and_sparklines(cli, backend):
    seed(cli)
    assert trend_json(cli) == {
        "user": "alice",
        "currency": "USD",
        "months": ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"],
        "category": None,
        "rows": [
            {
                "category": "groceries",
                "totals": ["150.00", "20.00", "0.00", "80.00", "0.00", "70.00"],
                "total": "320.00",
                "average": "53.33",  # 320 / 6 = 53.333...
                # x 7 / 150 rounded: 7, 0.93 -> 1, 0, 3.73 -> 4, 0, 3.27 -> 3
                "sparkline": "█▂▁▅▁▄",
            },
            {
                "category": "dining",
                "totals": ["0.00", "0.00", "40.00", "0.00", "0.00", "20.00"],
                "total": "60.00",
                "average": "10.00",
                "sparkline": "▁▁█▁▁▅",  # 20 x 7 / 40 = 3.5, halves up: 4
            },
        ],
        "total": {
            "totals": ["150.00", "20.00", "40.00", "80.00", "0.00", "90.00"],
            "total": "380.00",
            "average": "63.33",
            "sparkline": "█▂▃▅▁▅",  # 40 -> 1.87 -> 2, 90 -> 4.2 -> 4
        },
        "through": "2026-11-25",
    }


def test_category_filter_shows_one_row(cli, backend):
    seed(cli)
    data = trend_json(cli, "--category", " Dining ")
    assert data["category"] == "dining"
    assert [(r["category"], r["totals"], r["average"]) for r in data["rows"]] == [
        ("dining", ["0.00", "0.00", "40.00", "0.00", "0.00", "20.00"], "10.00")
    ]
    assert data["total"]["total"] == "60.00"


def test_a_category_without_spending_is_a_row_of_zeros(cli, backend):
    seed(cli)
    data = trend_json(cli, "--category", "travel", "--months", "3")
    assert data["rows"] == [
        {
            "category": "travel",
            "totals": ["0.00", "0.00", "0.00"],
            "total": "0.00",
            "average": "0.00",
            "sparkline": "▁▁▁",
        }
    ]
    out = cli("trend", "--category", "travel", "--months", "3").stdout
    assert "travel" in out and "Sep–Nov 2026" in out


def test_months_option_moves_the_window_across_month_and_year_boundaries(cli, backend):
    seed(cli)
    assert cli("add", "7", "groceries", "--date", "2025-12-31").exit_code == 0
    assert cli("add", "8", "groceries", "--date", "2025-11-30").exit_code == 0  # one day before 12 months
    one = trend_json(cli, "--months", "1")
    assert one["months"] == ["2026-11"]
    assert [(r["category"], r["totals"]) for r in one["rows"]] == [("groceries", ["70.00"]), ("dining", ["20.00"])]
    seven = trend_json(cli, "--months", "7")
    assert seven["months"][0] == "2026-05"
    assert seven["rows"][0]["totals"][0] == "999.00"  # 31 May is in May
    year = trend_json(cli, "--months", "12")
    assert year["months"][:2] == ["2025-12", "2026-01"]
    groceries = year["rows"][0]
    assert groceries["totals"][0] == "7.00" and groceries["total"] == "1326.00"  # 7 + 999 + 320
    assert groceries["average"] == "110.50"  # 1326 / 12


def test_a_user_without_spending_gets_an_empty_table(cli, backend, db_url):
    from tests.helpers_ledger import count_rows

    data = trend_json(cli)
    assert (data["rows"], data["total"]["totals"]) == ([], ["0.00"] * 6)
    assert "No spending in Jun–Nov 2026" in cli("trend").stdout
    assert count_rows(db_url, "users") == 0


@pytest.mark.parametrize("bad", ["0", "121", "abc", "-3", "1.5"])
def test_bad_months_is_exit_2_with_one_line(cli, bad):
    result = cli("trend", "--months", bad)
    assert result.exit_code == 2
    assert "--months" in one_line_error(result.stderr) and "1 to 120" in result.stderr


def test_bad_category_is_exit_2(cli):
    result = cli("trend", "--category", "  ", "--json")
    assert result.exit_code == 2
    assert result.json["error"]["type"] == "validation_error"


def test_human_table_shows_averages_and_sparklines(cli):
    seed(cli)
    out = cli("trend").stdout.splitlines()
    assert out[0] == "Spending by category, Jun–Nov 2026 (USD)"
    header = next(line for line in out if line.startswith("category"))
    assert header.split() == ["category", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "avg", "trend"]
    groceries = next(line for line in out if line.startswith("groceries"))
    assert groceries.split() == ["groceries", "150.00", "20.00", "0.00", "80.00", "0.00", "70.00", "53.33", "█▂▁▅▁▄"]
    total = next(line for line in out if line.startswith("total"))
    assert total.split()[-2:] == ["63.33", "█▂▃▅▁▅"]


@pytest.mark.parametrize("months", [6, 13])
def test_the_table_fits_80_columns(cli, monkeypatch, months):
    monkeypatch.setenv("COLUMNS", "80")
    names = ["groceries", "a category with a rather long name", "日本料理のレストラン", "[b]mk[/b]"]
    for i in range(months):
        month = (11 - i - 1) % 12 + 1
        year = 2026 - (i >= 11)
        for n, name in enumerate(names):
            assert cli("add", f"{12345.67 + i + n:.2f}", name, "--date", f"{year}-{month:02d}-10").exit_code == 0
    result = cli("trend", "--months", str(months))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    from rich.cells import cell_len

    assert max(cell_len(line) for line in lines) <= 80
    assert any(line.startswith("[b]mk[/b]") for line in lines)  # verbatim, not markup
    spark = next(line for line in lines if line.startswith("groceries")).split()[-1]
    assert len(spark) == months  # the sparkline covers every month, shown as a column or not
    if months > 6:
        assert f"of {months} months shown" in result.stdout


def test_sparkline_scales_from_zero_to_the_peak():
    from finbuddy.ledger.trend import sparkline

    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "███"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([100, 7]) == "█▁"  # 7 x 7 / 100 = 0.49: the lowest bar
    assert sparkline([100, 8]) == "█▂"  # 0.56 -> 1


def test_trend_is_one_group_by_query(cli, backend):
    """The table comes from the database grouped: one statement on records, whatever the months and rows."""
    import sqlalchemy as sa

    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.trend import spending_trend

    seed(cli)
    ctx = Context(settings=load_settings())
    statements: list[str] = []
    try:
        ctx.db.ensure_schema()
        sa.event.listen(ctx.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        trend = spending_trend(ctx, 12)
    finally:
        ctx.close()
    on_records = [s for s in statements if "FROM records" in s]
    assert len(on_records) == 1 and "GROUP BY" in on_records[0]
    assert [r.category for r in trend.rows] == ["groceries", "dining"]
