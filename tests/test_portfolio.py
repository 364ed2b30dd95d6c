"""Portfolio: holdings, weighted average cost, prices, sync from CSV, valuation figures and the 1-hour cache."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

pytestmark = pytest.mark.usefixtures("backend")


def holdings_by_ticker(data):
    return {h["ticker"]: h for h in data["holdings"]}


def show(cli, *args, user=None):
    prefix = ["--user", user] if user else []
    r = cli(*prefix, "portfolio", "show", "--json", *args)
    assert r.exit_code == 0, r.stderr
    return r.json


def test_add_twice_averages_the_cost_by_quantity(cli):
    assert cli("portfolio", "add", "aapl", "10", "--cost", "150").exit_code == 0
    r = cli("portfolio", "add", " AAPL ", "5", "--cost", "180", "--json")
    assert r.exit_code == 0, r.stderr
    # (10 x 150 + 5 x 180) / 15 = 2400 / 15 = 160
    assert r.json == {"ticker": "AAPL", "quantity": "15", "cost": "160.00"}


def test_average_cost_rounds_to_micro_units(cli):
    cli("portfolio", "add", "X", "1", "--cost", "1")
    r = cli("portfolio", "add", "X", "2", "--cost", "2", "--json")
    # (1 + 4) / 3 = 1.6666666... -> 1.666667 (half up at 6 decimals)
    assert r.json["cost"] == "1.666667"


def test_adding_without_cost_makes_the_average_unknown(cli):
    cli("portfolio", "add", "VTI", "2", "--cost", "200")
    r = cli("portfolio", "add", "VTI", "1", "--json")
    assert r.json == {"ticker": "VTI", "quantity": "3", "cost": None}


def test_show_figures_gains_and_weights(cli):
    cli("portfolio", "add", "AAPL", "10", "--cost", "150")
    cli("portfolio", "add", "BTC-USD", "0.5", "--cost", "30000")
    cli("portfolio", "add", "VTI", "3")  # no cost
    cli("portfolio", "add", "NEW", "1", "--cost", "5")  # no price
    cli("portfolio", "price", "AAPL", "200")
    cli("portfolio", "price", "btc-usd", "40000.123456", "--date", "2026-11-20")
    cli("portfolio", "price", "VTI", "250.5")
    data = show(cli)
    h = holdings_by_ticker(data)
    assert list(h) == ["AAPL", "BTC-USD", "NEW", "VTI"]
    # AAPL: 10 x 200 = 2000.00, cost 1500.00, gain 500.00
    assert h["AAPL"] == {
        "ticker": "AAPL",
        "quantity": "10",
        "cost": "150.00",
        "price": "200.00",
        "value": "2000.00",
        "gain": "500.00",
        "weight_pct": 8.79,
        "price_as_of": "2026-11-25",
    }
    # BTC: 0.5 x 40000.123456 = 20000.061728 -> 20000.06; cost 15000.00; gain 5000.06
    assert h["BTC-USD"]["value"] == "20000.06"
    assert h["BTC-USD"]["gain"] == "5000.06"
    assert h["BTC-USD"]["price"] == "40000.123456"
    assert h["BTC-USD"]["price_as_of"] == "2026-11-20"
    # VTI: 3 x 250.50 = 751.50, no cost -> no gain
    assert h["VTI"]["value"] == "751.50"
    assert h["VTI"]["gain"] is None and h["VTI"]["cost"] is None
    # NEW: no price -> no value, gain or weight
    assert h["NEW"]["value"] is None and h["NEW"]["weight_pct"] is None and h["NEW"]["price_as_of"] is None
    # total value 2000.00 + 20000.06 + 751.50 = 22751.56
    assert data["total_value"] == "22751.56"
    # total cost 1500.00 + 15000.00 + 5.00 (VTI unknown)
    assert data["total_cost"] == "16505.00"
    # weights: 2000/22751.56 = 8.79%, 20000.06/22751.56 = 87.91%, 751.50/22751.56 = 3.30%
    assert [h[t]["weight_pct"] for t in ("AAPL", "BTC-USD", "VTI")] == [8.79, 87.91, 3.3]
    assert data["user"] == "alice" and data["currency"] == "USD"
    assert data["as_of"] == "2026-11-25T12:00:00+00:00"
    assert data["cached"] is False


def test_rm_removes_a_holding_and_unknown_is_not_found(cli):
    cli("portfolio", "add", "AAPL", "1")
    cli("portfolio", "add", "MSFT", "2")
    r = cli("portfolio", "rm", "aapl", "--json")
    assert r.exit_code == 0
    assert r.json["removed"]["ticker"] == "AAPL"
    assert [h["ticker"] for h in show(cli)["holdings"]] == ["MSFT"]
    r = cli("portfolio", "rm", "AAPL")
    assert r.exit_code == 1
    assert "AAPL" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("portfolio", "add", "bad ticker", "1"),
        ("portfolio", "add", "", "1"),
        ("portfolio", "add", "A" * 17, "1"),
        ("portfolio", "add", "AAPL", "0"),
        ("portfolio", "add", "AAPL", "-1"),
        ("portfolio", "add", "AAPL", "1.123456789"),
        ("portfolio", "add", "AAPL", "abc"),
        ("portfolio", "add", "AAPL", "NaN"),
        ("portfolio", "add", "AAPL", "1", "--cost", "1.1234567"),
        ("portfolio", "add", "AAPL", "1", "--cost", "0"),
        ("portfolio", "price", "AAPL", "1e3"),
        ("portfolio", "price", "AAPL;DROP", "1"),
    ],
)
def test_bad_ticker_quantity_or_price_exits_2_and_changes_nothing(cli, args):
    r = cli(*args)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert r.stderr.startswith("finbuddy: ")
    assert show(cli)["holdings"] == []


def test_tickers_accept_the_documented_characters(cli):
    for ticker in ("BRK.B", "^GSPC", "EURUSD=X", "BTC-USD", "7203.T"):
        assert cli("portfolio", "add", ticker, "1").exit_code == 0, ticker
    assert len(show(cli)["holdings"]) == 5


def test_quantity_may_not_grow_beyond_the_maximum(cli):
    assert cli("portfolio", "add", "X", "1000000000").exit_code == 0
    r = cli("portfolio", "add", "X", "0.00000001")
    assert r.exit_code == 2
    assert show(cli)["holdings"][0]["quantity"] == "1000000000"


def test_sync_reads_prices_from_csv(cli, tmp_path):
    cli("portfolio", "add", "AAPL", "2", "--cost", "100")
    cli("portfolio", "add", "MSFT", "1", "--cost", "300")
    prices = tmp_path / "prices.csv"
    prices.write_text("Ticker,Price,Date\naapl,190.5,2026-11-24\nMSFT,410,\nAAPL,180,2026-11-01\n", encoding="utf-8")
    r = cli("portfolio", "sync", "--prices", prices, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["updated"] == 2
    h = holdings_by_ticker(show(cli))
    # the later-dated AAPL row wins; MSFT without a date is dated today
    assert (h["AAPL"]["price"], h["AAPL"]["price_as_of"]) == ("190.50", "2026-11-24")
    assert (h["MSFT"]["price"], h["MSFT"]["price_as_of"]) == ("410.00", "2026-11-25")
    assert h["AAPL"]["value"] == "381.00" and h["AAPL"]["gain"] == "181.00"


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("ticker,price\nAAPL,10\nMSFT,abc\n", 3),
        ("ticker,price\nAAPL,10\nbad ticker,1\n", 3),
        ("ticker,price,date\nAAPL,10,2026-11-01\nMSFT,5,2026-02-30\n", 3),
        ("ticker,price\nAAPL,10\n\nMSFT,-5\n", 4),
        ("ticker,price\nAAPL,10,extra\n", 2),
        ("symbol,price\nAAPL,10\n", 1),
    ],
)
def test_sync_with_a_bad_row_exits_2_naming_the_line_and_changes_nothing(cli, tmp_path, content, line):
    cli("portfolio", "add", "AAPL", "1")
    cli("portfolio", "price", "AAPL", "50")
    before = show(cli)
    prices = tmp_path / "prices.csv"
    prices.write_text(content, encoding="utf-8")
    r = cli("portfolio", "sync", "--prices", prices)
    assert r.exit_code == 2
    assert f"line {line}" in r.stderr
    after = show(cli)
    assert after["holdings"] == before["holdings"]
    assert after["cached"] is True  # nothing was written, not even the version bump


def test_sync_of_a_missing_file_exits_2(cli, tmp_path):
    r = cli("portfolio", "sync", "--prices", tmp_path / "nope.csv")
    assert r.exit_code == 2


def test_show_is_cached_until_holdings_change(cli, monkeypatch):
    cli("portfolio", "add", "AAPL", "10", "--cost", "150")
    cli("portfolio", "price", "AAPL", "200")
    first = show(cli)
    assert first["cached"] is False
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:30:00+00:00")
    second = show(cli)
    assert second["cached"] is True
    assert second["as_of"] == first["as_of"] == "2026-11-25T12:00:00+00:00"
    assert second["holdings"] == first["holdings"]
    cli("portfolio", "add", "AAPL", "1", "--cost", "200")
    third = show(cli)
    assert third["cached"] is False
    assert third["holdings"][0]["quantity"] == "11"
    assert third["as_of"] == "2026-11-25T12:30:00+00:00"


@pytest.mark.parametrize("change", ["price", "rm", "sync-file", "sync-bare"])
def test_every_portfolio_change_invalidates_the_cache(cli, tmp_path, change):
    cli("portfolio", "add", "AAPL", "10")
    cli("portfolio", "add", "MSFT", "1")
    show(cli)
    assert show(cli)["cached"] is True
    if change == "price":
        cli("portfolio", "price", "AAPL", "10")
    elif change == "rm":
        cli("portfolio", "rm", "MSFT")
    elif change == "sync-file":
        prices = tmp_path / "p.csv"
        prices.write_text("ticker,price\nAAPL,12\n", encoding="utf-8")
        assert cli("portfolio", "sync", "--prices", prices).exit_code == 0
    else:
        assert cli("portfolio", "sync").exit_code == 0
    assert show(cli)["cached"] is False


def test_cache_expires_after_an_hour(cli, monkeypatch):
    cli("portfolio", "add", "AAPL", "1")
    show(cli)
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:59:00+00:00")
    assert show(cli)["cached"] is True
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T13:00:01+00:00")
    assert show(cli)["cached"] is False


def test_fresh_bypasses_the_cache(cli):
    cli("portfolio", "add", "AAPL", "1")
    show(cli)
    assert show(cli, "--fresh")["cached"] is False


def test_users_are_isolated(cli):
    cli("portfolio", "add", "AAPL", "10", "--cost", "1")
    cli("portfolio", "price", "AAPL", "2")
    show(cli)  # cache alice's portfolio
    bob = show(cli, user="bob")
    assert bob["holdings"] == [] and bob["user"] == "bob" and bob["cached"] is False
    cli("--user", "bob", "portfolio", "add", "AAPL", "1")
    bob = show(cli, user="bob")
    # bob's AAPL has no price: prices are per user
    assert bob["holdings"][0]["price"] is None
    assert show(cli)["holdings"][0]["quantity"] == "10"


def test_reading_an_empty_portfolio_creates_no_user(cli, db_url):
    import sqlalchemy as sa

    data = show(cli, user="nobody")
    assert data["holdings"] == [] and data["total_value"] == "0.00"
    assert cli("--user", "nobody", "export", "--format", "json").exit_code == 0
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users WHERE name = 'nobody'")).scalar() == 0
    engine.dispose()


def test_show_renders_a_table_for_people(cli):
    cli("portfolio", "add", "AAPL", "10", "--cost", "150")
    cli("portfolio", "price", "AAPL", "200")
    cli("portfolio", "add", "ZZZ", "1")
    r = cli("portfolio", "show")
    assert r.exit_code == 0
    assert "AAPL" in r.stdout and "2,000.00" in r.stdout and "+500.00" in r.stdout
    assert "no price for ZZZ" in r.stdout
    empty = cli("--user", "bob", "portfolio", "show")
    assert "No holdings yet" in empty.stdout


def test_library_valuation_returns_decimals_and_dates():
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.portfolio import add_holding, portfolio_valuation, set_price

    ctx = Context(settings=load_settings())
    try:
        add_holding(ctx, "aapl", Decimal("1.5"), Decimal("100"))
        set_price(ctx, "AAPL", Decimal("120.25"), dt.date(2026, 11, 24))
        fresh = portfolio_valuation(ctx)
        cached = portfolio_valuation(ctx)
    finally:
        ctx.close()
    for p in (fresh, cached):
        (h,) = p.holdings
        assert h.quantity == Decimal("1.5") and h.cost == Decimal("100") and h.price == Decimal("120.25")
        assert h.value_cents == 18038  # 180.375 -> 180.38
        assert h.gain_cents == 3038
        assert h.weight_pct == 100.0
        assert h.price_as_of == dt.date(2026, 11, 24)
        assert p.total_value_cents == 18038 and p.total_cost_cents == 15000
    assert (fresh.cached, cached.cached) == (False, True)
    assert cached.to_json() | {"cached": False} == fresh.to_json()
