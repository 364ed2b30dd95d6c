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
    assert r.json == {"ticker": "AAPL", "quantity": "15", "cost": "160.00", "cost_quantity": "15"}


def test_average_cost_rounds_to_micro_units(cli):
    cli("portfolio", "add", "X", "1", "--cost", "1")
    r = cli("portfolio", "add", "X", "2", "--cost", "2", "--json")
    # (1 + 4) / 3 = 1.6666666... -> 1.666667 (half up at 6 decimals)
    assert r.json["cost"] == "1.666667"


def test_adding_without_cost_keeps_the_known_cost_of_the_rest(cli):
    cli("portfolio", "add", "VTI", "2", "--cost", "200")
    r = cli("portfolio", "add", "VTI", "1", "--json")
    assert r.json == {"ticker": "VTI", "quantity": "3", "cost": "200.00", "cost_quantity": "2"}
    r = cli("portfolio", "add", "VTI", "1")
    assert r.stdout == "VTI: 4 held; cost known for 2 of 4, average 200.00 per unit\n"


def test_a_known_cost_basis_survives_an_add_without_cost(cli):
    assert cli("portfolio", "add", "VWCE", "40", "--cost", "98.50").exit_code == 0
    assert cli("portfolio", "add", "VWCE", "10").exit_code == 0
    r = cli("portfolio", "add", "VWCE", "10", "--cost", "110", "--json")
    # known: 40 x 98.50 + 10 x 110 = 3940 + 1100 = 5040 for 50 units -> 100.80 per unit
    assert r.json == {"ticker": "VWCE", "quantity": "60", "cost": "100.80", "cost_quantity": "50"}
    cli("portfolio", "price", "VWCE", "120")
    data = show(cli)
    (h,) = data["holdings"]
    # value 60 x 120 = 7200.00; the gain covers the 50 known units: 50 x 120 - 5040 = 960.00
    assert (h["quantity"], h["cost"], h["cost_quantity"]) == ("60", "100.80", "50")
    assert (h["value"], h["gain"]) == ("7200.00", "960.00")
    assert (data["total_value"], data["total_cost"], data["total_gain"]) == ("7200.00", "5040.00", "960.00")
    assert data["cost_incomplete"] == ["VWCE"]
    people = cli("portfolio", "show").stdout
    assert "cost known for 50 of 60" in people


def test_a_holding_without_any_cost_has_no_cost_and_no_gain(cli):
    cli("portfolio", "add", "VTI", "3")
    cli("portfolio", "price", "VTI", "10")
    r = cli("portfolio", "add", "VTI", "1", "--json")
    assert r.json == {"ticker": "VTI", "quantity": "4", "cost": None, "cost_quantity": "0"}
    data = show(cli)
    (h,) = data["holdings"]
    assert (h["cost"], h["gain"], h["cost_quantity"], h["value"]) == (None, None, "0", "40.00")
    assert (data["total_cost"], data["total_gain"], data["cost_incomplete"]) == ("0.00", "0.00", ["VTI"])


def test_fully_known_costs_are_not_listed_as_incomplete(cli):
    cli("portfolio", "add", "AAPL", "10", "--cost", "150")
    cli("portfolio", "add", "AAPL", "5", "--cost", "180")
    data = show(cli)
    assert data["holdings"][0]["cost_quantity"] == data["holdings"][0]["quantity"] == "15"
    assert data["cost_incomplete"] == []


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
        "cost_quantity": "10",
    }
    # BTC: 0.5 x 40000.123456 = 20000.061728 -> 20000.06; cost 15000.00; gain 5000.06
    assert h["BTC-USD"]["value"] == "20000.06"
    assert h["BTC-USD"]["gain"] == "5000.06"
    assert h["BTC-USD"]["price"] == "40000.123456"
    assert h["BTC-USD"]["price_as_of"] == "2026-11-20"
    # VTI: 3 x 250.50 = 751.50, no cost -> no gain
    assert h["VTI"]["value"] == "751.50"
    assert h["VTI"]["gain"] is None and h["VTI"]["cost"] is None and h["VTI"]["cost_quantity"] == "0"
    # NEW: no price -> no value, gain or weight
    assert h["NEW"]["value"] is None and h["NEW"]["weight_pct"] is None and h["NEW"]["price_as_of"] is None
    # total value 2000.00 + 20000.06 + 751.50 = 22751.56
    assert data["total_value"] == "22751.56"
    # total cost 1500.00 + 15000.00 + 5.00 (VTI unknown)
    assert data["total_cost"] == "16505.00"
    # gains 500.00 + 5000.06 (VTI has no cost, NEW no price)
    assert data["total_gain"] == "5500.06"
    assert data["cost_incomplete"] == ["VTI"]
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


# --- price history --------------------------------------------------------------


def stored_prices(db_url, ticker):
    from tests.helpers_ledger import query

    return [
        (r["price_micros"], str(r["price_date"])[:10])
        for r in query(
            db_url,
            "SELECT price_micros, price_date FROM prices WHERE ticker = :t ORDER BY price_date",
            t=ticker,
        )
    ]


def test_an_older_price_never_replaces_a_newer_one(cli, tmp_path, db_url):
    cli("portfolio", "add", "VWCE", "10", "--cost", "100")
    cli("portfolio", "price", "VWCE", "110")  # today, 2026-11-25
    prices = tmp_path / "prices.csv"
    prices.write_text("ticker,price,date\nVWCE,50,2025-01-02\n", encoding="utf-8")
    r = cli("portfolio", "sync", "--prices", prices, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["prices"] == [
        {"ticker": "VWCE", "price": "50.00", "date": "2025-01-02", "source": "csv", "latest": False, "held": True}
    ]
    (h,) = show(cli)["holdings"]
    # 10 x 110 = 1100.00, gain 1100 - 1000 = 100.00
    assert (h["price"], h["price_as_of"], h["value"], h["gain"]) == ("110.00", "2026-11-25", "1100.00", "100.00")
    # both kept: the older one as history
    assert stored_prices(db_url, "VWCE") == [(50_000_000, "2025-01-02"), (110_000_000, "2026-11-25")]
    people = cli("portfolio", "sync", "--prices", prices)
    assert "older than" in people.stdout and "110.00" in people.stdout


def test_an_older_manual_price_is_kept_as_history(cli, db_url):
    cli("portfolio", "add", "VWCE", "10")
    cli("portfolio", "price", "VWCE", "110", "--date", "2026-11-20")
    r = cli("portfolio", "price", "VWCE", "90", "--date", "2026-11-01", "--json")
    assert r.exit_code == 0, r.stderr
    assert (r.json["latest"], r.json["held"]) == (False, True)
    (h,) = show(cli)["holdings"]
    assert (h["price"], h["price_as_of"], h["value"]) == ("110.00", "2026-11-20", "1100.00")
    r = cli("portfolio", "price", "VWCE", "90", "--date", "2026-11-01")
    assert "older than" in r.stdout and "2026-11-20" in r.stdout


def test_a_newer_price_replaces_and_the_same_date_overwrites(cli, tmp_path, db_url):
    cli("portfolio", "add", "VWCE", "10")
    cli("portfolio", "price", "VWCE", "100", "--date", "2026-11-20")
    prices = tmp_path / "prices.csv"
    prices.write_text("ticker,price,date\nVWCE,105,2026-11-24\n", encoding="utf-8")
    assert cli("portfolio", "sync", "--prices", prices).exit_code == 0
    (h,) = show(cli)["holdings"]
    assert (h["price"], h["price_as_of"], h["value"]) == ("105.00", "2026-11-24", "1050.00")
    r = cli("portfolio", "price", "VWCE", "104.5", "--date", "2026-11-24", "--json")
    assert r.json["latest"] is True
    (h,) = show(cli)["holdings"]
    assert (h["price"], h["value"]) == ("104.50", "1045.00")
    assert stored_prices(db_url, "VWCE") == [(100_000_000, "2026-11-20"), (104_500_000, "2026-11-24")]


def test_a_price_for_a_ticker_not_held_is_stored_with_a_warning(cli, tmp_path):
    cli("portfolio", "add", "AAPL", "1")
    r = cli("portfolio", "price", "MSFT", "400", "--json")
    assert r.exit_code == 0
    assert (r.json["held"], r.json["latest"]) == (False, True)
    assert r.stderr == "finbuddy: warning: you hold no MSFT: the price is stored and will value MSFT once you add it\n"
    prices = tmp_path / "prices.csv"
    prices.write_text("ticker,price\nAAPL,10\nNVDA,1\nTSLA,2\n", encoding="utf-8")
    r = cli("portfolio", "sync", "--prices", prices, "--json")
    assert r.exit_code == 0
    assert r.json["not_held"] == ["NVDA", "TSLA"]
    assert r.stderr == "finbuddy: warning: you hold no NVDA, TSLA: their prices are stored for when you add them\n"
    cli("portfolio", "add", "MSFT", "2")
    h = holdings_by_ticker(show(cli))
    assert h["MSFT"]["value"] == "800.00"
    # a held ticker gets no warning
    assert cli("portfolio", "price", "AAPL", "11").stderr == ""


@pytest.mark.parametrize("where", ["manual", "csv"])
def test_a_price_from_the_future_is_rejected(cli, tmp_path, where):
    cli("portfolio", "add", "AAPL", "1")
    if where == "manual":
        r = cli("portfolio", "price", "AAPL", "10", "--date", "2026-11-26")
    else:
        prices = tmp_path / "prices.csv"
        prices.write_text("ticker,price,date\nAAPL,10,2026-11-25\nAAPL,11,2026-11-26\n", encoding="utf-8")
        r = cli("portfolio", "sync", "--prices", prices)
    assert r.exit_code == 2
    assert "2026-11-26" in r.stderr and "future" in r.stderr
    assert show(cli)["holdings"][0]["price"] is None


# --- the table for people -----------------------------------------------------------


def _wide_portfolio(cli):
    """Long tickers, 8-decimal quantities, 6-decimal prices, a price of an earlier day, a partial cost."""
    cli("portfolio", "add", "BTC-USD", "1.23456789", "--cost", "30123.456789")
    cli("portfolio", "add", "EURUSD=X", "1000000", "--cost", "1.0823")
    cli("portfolio", "add", "VWCE", "40", "--cost", "98.50")
    cli("portfolio", "add", "VWCE", "10")
    cli("portfolio", "price", "BTC-USD", "91234.123456")
    cli("portfolio", "price", "EURUSD=X", "1.1")
    cli("portfolio", "price", "VWCE", "110", "--date", "2026-11-20")
    # hand computed: BTC 1.23456789 x 91234.123456 = 112634.72 (cost 37189.45, gain 75445.27);
    # EURUSD 1,000,000 x 1.10 = 1,100,000.00 (cost 1,082,300.00, gain 17,700.00);
    # VWCE 50 x 110 = 5,500.00, gain on the 40 known: 4,400.00 - 3,940.00 = 460.00
    return [
        "1.23456789",
        "30,123.456789",
        "91,234.123456",
        "112,634.72",
        "+75,445.27",
        "1,000,000",
        "1,100,000.00",
        "+17,700.00",
        "5,500.00",
        "+460.00",
        "2026-11-20",
        # total 112,634.72 + 1,100,000.00 + 5,500.00; gain 75,445.27 + 17,700.00 + 460.00
        "1,218,134.72",
        "+93,605.27",
        "cost known for 40 of 50",
    ]


@pytest.mark.parametrize("columns", [80, 120])
def test_show_fits_the_terminal_without_cutting_a_figure(cli, monkeypatch, columns):
    figures = _wide_portfolio(cli)
    monkeypatch.setenv("COLUMNS", str(columns))
    out = cli("portfolio", "show").stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= columns, out
    assert "…" not in out
    for figure in figures:
        assert figure in out, (figure, out)
    if columns == 120:
        assert any(line.split()[:2] == ["ticker", "quantity"] for line in lines if line.strip()), out


def test_show_at_80_columns_keeps_a_table_for_everyday_figures(cli, monkeypatch):
    cli("portfolio", "add", "VWCE", "12", "--cost", "98.50")
    cli("portfolio", "add", "AAPL", "10", "--cost", "150.25")
    cli("portfolio", "price", "VWCE", "104.2", "--date", "2026-11-24")
    cli("portfolio", "price", "AAPL", "201.5")
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("portfolio", "show").stdout
    assert max(len(line) for line in out.splitlines()) <= 80, out
    header = next(line for line in out.splitlines() if "ticker" in line)
    assert header.split() == ["ticker", "quantity", "cost", "price", "as", "of", "value", "gain", "weight"]
    # VWCE 12 x 104.20 = 1,250.40, gain 1,250.40 - 1,182.00 = 68.40; AAPL 10 x 201.50 = 2,015.00, gain 512.50
    for figure in ("1,250.40", "+68.40", "2,015.00", "+512.50", "2026-11-24", "3,265.40", "+580.90"):
        assert figure in out


@pytest.mark.parametrize("name", ["[/x]", "[link=https://example.com]bob[/link]", "[bold]eve"])
def test_user_names_are_shown_verbatim_never_as_markup(cli, name):
    assert cli("--user", name, "portfolio", "add", "AAPL", "1").exit_code == 0
    r = cli("--user", name, "portfolio", "show")
    assert r.exit_code == 0, r.stderr
    assert f"Portfolio of {name} (USD)" in r.stdout


def test_show_marks_earlier_day_prices_when_the_date_column_does_not_fit(cli, monkeypatch):
    cli("portfolio", "add", "VWCE", "40", "--cost", "98.50")
    cli("portfolio", "add", "VWCE", "10")
    cli("portfolio", "add", "VWCE", "5", "--cost", "100")  # known: (3940 + 500) / 45 = 98.666667
    cli("portfolio", "add", "AAPL", "12", "--cost", "180.25")
    cli("portfolio", "price", "VWCE", "110", "--date", "2026-11-20")
    cli("portfolio", "price", "AAPL", "201.5")
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("portfolio", "show").stdout
    assert max(len(line) for line in out.splitlines()) <= 80, out
    # VWCE 55 x 110 = 6,050.00; gain 45 x 110 - 45 x 98.666667 = 4,950.00 - 4,440.00 = 510.00
    assert "98.666667*" in out and "110.00†" in out and "6,050.00" in out and "+510.00*" in out
    assert "† price of an earlier day: VWCE 2026-11-20" in out
    assert "* VWCE: cost known for 45 of 55; the gain covers those 45" in out


def test_show_at_80_columns_shortens_this_years_price_dates_before_dropping_the_column(cli, monkeypatch):
    cli("portfolio", "add", "VWCE", "40", "--cost", "98.50")
    cli("portfolio", "add", "VWCE", "10")
    cli("portfolio", "add", "AAPL", "10", "--cost", "150.25")
    cli("portfolio", "add", "VTI", "3", "--cost", "210")
    cli("portfolio", "price", "VWCE", "104.2", "--date", "2026-11-24")
    cli("portfolio", "price", "AAPL", "201.5")
    cli("portfolio", "price", "VTI", "250", "--date", "2026-11-20")
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("portfolio", "show").stdout
    assert max(len(line) for line in out.splitlines()) <= 80, out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    # VWCE 50 x 104.20 = 5,210.00, gain on the 40 known 4,168.00 - 3,940.00 = 228.00;
    # VTI 3 x 250 = 750.00, gain 120.00; AAPL 10 x 201.50 = 2,015.00, gain 512.50; total 7,975.00, +860.50
    assert rows["VWCE"] == ["VWCE", "50", "98.50*", "104.20", "24", "Nov", "5,210.00", "+228.00*", "65.3%"]
    assert rows["VTI"] == ["VTI", "3", "210.00", "250.00", "20", "Nov", "750.00", "+120.00", "9.4%"]
    assert rows["AAPL"] == ["AAPL", "10", "150.25", "201.50", "25", "Nov", "2,015.00", "+512.50", "25.3%"]
    assert rows["total"] == ["total", "7,975.00", "+860.50*"]


def test_concurrent_adds_to_one_holding_lose_no_quantity_or_cost(cli):
    """Eight writers add to the same holding at once; the read-then-write of each add must not race."""
    import threading

    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.portfolio import add_holding

    cli("portfolio", "add", "X", "1", "--cost", "10")  # the user and the holding exist
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def buyer(index: int) -> None:
        ctx = Context(settings=load_settings())
        try:
            barrier.wait()
            for _ in range(5):
                # even writers buy with a cost (the same, so the average is exact in any order), odd ones without
                add_holding(ctx, "X", Decimal("1"), Decimal("10") if index % 2 == 0 else None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            ctx.close()

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    (h,) = show(cli)["holdings"]
    # 1 + 8 x 5 = 41 units, of which 1 + 4 x 5 = 21 at 10
    assert (h["quantity"], h["cost_quantity"], h["cost"]) == ("41", "21", "10.00")
