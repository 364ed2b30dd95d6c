"""`portfolio add|rm|price|show|sync`: holdings, prices and their value."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, printable, say
from finbuddy.money import format_cents_grouped as _money

if TYPE_CHECKING:
    import datetime as dt
    from decimal import Decimal

    from rich.table import Table
    from rich.text import Text

    from finbuddy.context import Context
    from finbuddy.ledger.portfolio import Holding, HoldingValue, Portfolio, Price

portfolio_app = typer.Typer(help="Holdings, prices and their value.", no_args_is_help=True)


def _plain(value: Decimal | None) -> str:
    """A quantity or unit price for people: thousands grouped, never an exponent."""
    return "" if value is None else format(value, ",f")


def _holding_line(holding: Holding) -> str:
    """What `add` reports: the quantity, and what is known of its cost."""
    quantity = _plain(holding.quantity)
    if holding.cost is None:
        return f"{holding.ticker}: {quantity} held, cost unknown (buys recorded with --cost track their gain)"
    if holding.cost_quantity == holding.quantity:
        return f"{holding.ticker}: {quantity} held, average cost {_plain(holding.cost)} per unit"
    return (
        f"{holding.ticker}: {quantity} held; cost known for {_plain(holding.cost_quantity)} of {quantity}, "
        f"average {_plain(holding.cost)} per unit"
    )


def _warn_not_held(tickers: list[str], one: bool) -> None:
    from finbuddy.cli.output import warn

    if not tickers:
        return
    shown = ", ".join(tickers[:10]) + (f" and {len(tickers) - 10} more" if len(tickers) > 10 else "")
    if one:
        warn(f"you hold no {shown}: the price is stored and will value {shown} once you add it")
    elif len(tickers) == 1:
        warn(f"you hold no {shown}: its price is stored for when you add it")
    else:
        warn(f"you hold no {shown}: their prices are stored for when you add them")


def _older_note(p: Price) -> str:
    assert p.latest_date is not None  # set on every price that is not the latest, the only ones noted
    return (
        f"{p.ticker}: {_plain(p.price)} of {p.date.isoformat()} is older than {_plain(p.latest_price)} of "
        f"{p.latest_date.isoformat()}, which stays in use (the older price is kept as history)"
    )


@portfolio_app.command("add")
def add(
    ticker: Annotated[str, typer.Argument(help="Ticker symbol, e.g. AAPL, BRK.B, ^GSPC (case-insensitive).")],
    quantity: Annotated[str, typer.Argument(metavar="QTY", help="Quantity bought, up to 8 decimals, e.g. 10 or 0.5.")],
    cost: Annotated[
        str | None,
        typer.Option(
            "--cost",
            help="Price paid per unit, up to 6 decimals (averaged with earlier buys). Without it the "
            "quantity counts, but not towards the gain.",
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Add to a holding (creating it); the cost per unit becomes the weighted average of the buys with a cost."""
    from finbuddy.ledger.portfolio import add_holding, normalize_ticker, parse_quantity, parse_unit_price

    symbol = normalize_ticker(ticker)
    qty = parse_quantity(quantity)
    unit_cost = parse_unit_price(cost, "cost") if cost is not None else None
    holding = add_holding(state.current().context, symbol, qty, unit_cost)
    emit(holding.to_json(), json_, lambda: say(_holding_line(holding)))


@portfolio_app.command("rm")
def rm(
    ticker: Annotated[str, typer.Argument(help="Ticker of the holding to remove.")],
    json_: JsonOption = False,
) -> None:
    """Remove a holding entirely."""
    from finbuddy.ledger.portfolio import remove_holding

    holding = remove_holding(state.current().context, ticker)
    emit(
        {"removed": holding.to_json()},
        json_,
        lambda: say(f"Removed {holding.ticker} ({_plain(holding.quantity)} held)"),
    )


@portfolio_app.command("price")
def price(
    ticker: Annotated[str, typer.Argument(help="Ticker symbol.")],
    unit_price: Annotated[str, typer.Argument(metavar="PRICE", help="Price per unit, up to 6 decimals.")],
    date: Annotated[
        str | None,
        typer.Option("--date", help="Day of the price (YYYY-MM-DD, today, yesterday; not in the future)."),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Set a ticker's price by hand (source "manual"); holdings are valued at their latest-dated price."""
    from finbuddy.dates import parse_date
    from finbuddy.ledger.portfolio import normalize_ticker, parse_unit_price, set_price

    ctx = state.current().context
    symbol = normalize_ticker(ticker)
    value = parse_unit_price(unit_price)
    day = parse_date(date, ctx.today()) if date is not None else None
    result = set_price(ctx, symbol, value, day)
    _warn_not_held([] if result.held else [result.ticker], one=True)

    def render() -> None:
        if result.latest:
            say(f"{result.ticker}: {_plain(result.price)} on {result.date.isoformat()}")
        else:
            say(_older_note(result))

    emit(result.to_json(), json_, render)


@portfolio_app.command("show")
def show(
    fresh: Annotated[bool, typer.Option("--fresh", help="Recompute instead of using the 1-hour cache.")] = False,
    json_: JsonOption = False,
) -> None:
    """Show holdings, value, gain and weights (cached for an hour; any change refreshes it)."""
    from finbuddy.ledger.portfolio import portfolio_valuation

    ctx = state.current().context
    portfolio = portfolio_valuation(ctx, fresh=fresh)
    emit(portfolio.to_json(), json_, lambda: _render(portfolio, ctx))


# --- rendering --------------------------------------------------------------------
# Figures are never cut or folded: the widest layout that fits the terminal is used. A table with
# an "as of" column; then the same table with earlier-day prices marked and dated below it; then,
# when even that is too wide (long tickers, 6-decimal prices, huge values), one block per holding.

_PARTIAL = "*"  # a cost (and its gain) known for part of the quantity only
_EARLIER = "†"  # a price of an earlier day (compact table)


def _gain_text(cents: int | None, mark: str = "") -> Text:
    from rich.text import Text

    if cents is None:
        return Text("")
    style = "green" if cents > 0 else "red" if cents < 0 else ""
    return Text(("+" if cents > 0 else "") + _money(cents) + mark, style=style)


def _cost_text(h: HoldingValue) -> Text:
    from rich.text import Text

    if h.cost is None:
        return Text("?", style="dim")
    return Text(_plain(h.cost) + ("" if h.cost_complete else _PARTIAL))


def _weight(h: HoldingValue) -> str:
    return "" if h.weight_pct is None else f"{h.weight_pct:.1f}%"


def _day(day: dt.date, today: dt.date, short: bool) -> str:
    return f"{day.day} {day:%b}" if short else day.isoformat()


def _table(portfolio: Portfolio, today: dt.date, dates: str) -> tuple[Table, list[Text]]:
    """dates: "iso" or "short" (an "as of" column: 2026-11-20 or 20 Nov), or "marked" (a † and a note)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    stale = [h for h in portfolio.holdings if h.price_as_of is not None and h.price_as_of != today]
    dated_column = dates != "marked"
    partial = any(not h.cost_complete and h.cost is not None for h in portfolio.holdings)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("ticker", no_wrap=True)
    table.add_column("quantity", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("price", justify="right", no_wrap=True)
    if stale and dated_column:  # only worth a column when some price is not from today
        table.add_column("as of", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("gain", justify="right", no_wrap=True)
    table.add_column("weight", justify="right", no_wrap=True)
    for h in portfolio.holdings:
        if h.price is None:
            price_cell = Text("no price", style="yellow")
        else:
            earlier = h in stale and not dated_column
            price_cell = Text(_plain(h.price) + (_EARLIER if earlier else ""))
        cells = [Text(h.ticker), Text(_plain(h.quantity)), _cost_text(h), price_cell]
        if stale and dated_column:
            cells.append(Text("" if h.price_as_of is None else _day(h.price_as_of, today, dates == "short")))
        mark = _PARTIAL if h.cost is not None and not h.cost_complete else ""
        cells += [Text(_money(h.value_cents)), _gain_text(h.gain_cents, mark), Text(_weight(h))]
        table.add_row(*cells)
    table.add_section()
    totals = [Text("total", style="bold"), Text(""), Text(""), Text("")]
    totals += [Text("")] if stale and dated_column else []
    totals += [
        Text(_money(portfolio.total_value_cents), style="bold"),
        _gain_text(portfolio.total_gain_cents, _PARTIAL if partial else ""),
        Text(""),
    ]
    table.add_row(*totals)
    notes = []
    if stale and not dated_column:
        dates = ", ".join(f"{h.ticker} {h.price_as_of.isoformat()}" for h in stale if h.price_as_of is not None)
        notes.append(Text(f"{_EARLIER} price of an earlier day: {dates}", style="dim"))
    return table, notes


def _blocks(portfolio: Portfolio, today: dt.date) -> list[Text]:
    """One block per holding, one figure per line: fits any terminal of 40 columns or more."""
    from rich.text import Text

    lines = []
    for h in portfolio.holdings:
        lines.append(Text(h.ticker, style="bold"))
        rows = [("quantity", _plain(h.quantity))]
        if h.cost is None:
            rows.append(("cost", "unknown"))
        else:
            part = "" if h.cost_complete else f" for {_plain(h.cost_quantity)} of {_plain(h.quantity)}"
            rows.append(("cost", f"{_plain(h.cost)} per unit{part}"))
        if h.price is None:
            rows.append(("price", "no price"))
        else:
            dated = "" if h.price_as_of == today or h.price_as_of is None else f" on {h.price_as_of.isoformat()}"
            rows.append(("price", _plain(h.price) + dated))
            rows.append(("value", _money(h.value_cents) + (f" ({_weight(h)})" if _weight(h) else "")))
        for label, value in rows:
            lines.append(Text(f"  {label:<10}{value}"))
        if h.gain_cents is not None:
            line = Text(f"  {'gain':<10}")
            line.append_text(_gain_text(h.gain_cents, "" if h.cost_complete else _PARTIAL))
            lines.append(line)
    lines.append(Text(""))
    total = Text(f"total value {_money(portfolio.total_value_cents)}", style="bold")
    lines.append(total)
    gain = Text("total gain ")
    partial = any(not h.cost_complete and h.cost is not None for h in portfolio.holdings)
    gain.append_text(_gain_text(portfolio.total_gain_cents, _PARTIAL if partial else ""))
    lines.append(gain)
    return lines


def _render(portfolio: Portfolio, ctx: Context) -> None:
    if not portfolio.holdings:
        say("No holdings yet. Add one with: finbuddy portfolio add AAPL 10 --cost 150")
        return
    from rich.measure import Measurement
    from rich.text import Text

    from finbuddy.cli.output import console, printable

    out = console()
    today = ctx.today()
    # User names are user text: a Text, never markup.
    out.print(Text.assemble("Portfolio of ", printable(portfolio.user), f" ({portfolio.currency})"), overflow="fold")
    body: list = []
    this_year = all(h.price_as_of is None or h.price_as_of.year == today.year for h in portfolio.holdings)
    for dates in ("iso", "short", "marked") if this_year else ("iso", "marked"):
        table, notes = _table(portfolio, today, dates)
        natural = Measurement.get(out, out.options.update_width(10_000), table).maximum
        if natural <= out.width:
            body = [table, *notes]
            break
    else:
        body = _blocks(portfolio, today)
    for part in body:
        out.print(part)
    for h in portfolio.holdings:
        if h.cost is None:
            out.print(Text(f"{h.ticker}: cost unknown, so no gain (record buys with --cost)", style="dim"))
        elif not h.cost_complete:
            known = _plain(h.cost_quantity)
            note = (
                f"{_PARTIAL} {h.ticker}: cost known for {known} of {_plain(h.quantity)}; the gain covers those {known}"
            )
            out.print(Text(note, style="dim"))
    local = portfolio.as_of.astimezone(ctx.zone)
    footer = f"as of {local:%Y-%m-%d %H:%M}" + (" (cached)" if portfolio.cached else "")
    if portfolio.unpriced:
        footer += f" · no price for {', '.join(portfolio.unpriced)}: finbuddy portfolio price TICKER PRICE"
    out.print(Text(footer, style="dim"))


@portfolio_app.command("sync")
def sync(
    prices: Annotated[
        Path | None,
        typer.Option("--prices", metavar="FILE.csv", help="CSV with columns ticker,price[,date] (date: YYYY-MM-DD)."),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Refresh prices (from --prices FILE.csv) and invalidate the cached portfolio."""
    from finbuddy.ledger.portfolio import CsvPriceSource, sync_prices

    source = CsvPriceSource(prices) if prices is not None else None
    result = sync_prices(state.current().context, source)
    _warn_not_held(result.not_held, one=False)

    def render() -> None:
        if source is None:
            say("No price source given (use --prices FILE.csv); the cached portfolio was refreshed.")
        else:
            count = len(result.updated)
            say(f"Updated {count} price{'s' if count != 1 else ''} from {printable(str(prices))}.")
        for p in result.updated:
            if not p.latest:
                say(_older_note(p))
        if result.unpriced:
            say(f"Still without a price: {', '.join(result.unpriced)}")

    emit(result.to_json(), json_, render)


def register(app: typer.Typer) -> None:
    app.add_typer(portfolio_app, name="portfolio")
