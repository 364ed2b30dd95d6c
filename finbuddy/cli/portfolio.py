"""`portfolio add|rm|price|show|sync`: holdings, prices and their value."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, printable, say
from finbuddy.money import format_cents_grouped as _money

portfolio_app = typer.Typer(help="Holdings, prices and their value.", no_args_is_help=True)


def _plain(value) -> str:
    """A quantity or unit price for people: thousands grouped, never an exponent."""
    return "" if value is None else format(value, ",f")


@portfolio_app.command("add")
def add(
    ticker: Annotated[str, typer.Argument(help="Ticker symbol, e.g. AAPL, BRK.B, ^GSPC (case-insensitive).")],
    quantity: Annotated[str, typer.Argument(metavar="QTY", help="Quantity bought, up to 8 decimals, e.g. 10 or 0.5.")],
    cost: Annotated[
        str | None, typer.Option("--cost", help="Price paid per unit, up to 6 decimals (averaged with earlier buys).")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Add to a holding (creating it); the cost per unit becomes the weighted average."""
    from finbuddy.ledger.portfolio import add_holding, normalize_ticker, parse_quantity, parse_unit_price

    symbol = normalize_ticker(ticker)
    qty = parse_quantity(quantity)
    unit_cost = parse_unit_price(cost, "cost") if cost is not None else None
    holding = add_holding(state.current().context, symbol, qty, unit_cost)
    cost_text = "unknown" if holding.cost is None else _plain(holding.cost)
    emit(
        holding.to_json(),
        json_,
        lambda: say(f"{holding.ticker}: {_plain(holding.quantity)} held, average cost {cost_text} per unit"),
    )


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
    date: Annotated[str | None, typer.Option("--date", help="Day of the price (YYYY-MM-DD, today, yesterday).")] = None,
    json_: JsonOption = False,
) -> None:
    """Set a ticker's price by hand (source "manual")."""
    from finbuddy.dates import parse_date
    from finbuddy.ledger.portfolio import normalize_ticker, parse_unit_price, set_price

    ctx = state.current().context
    symbol = normalize_ticker(ticker)
    value = parse_unit_price(unit_price)
    day = parse_date(date, ctx.today()) if date is not None else None
    result = set_price(ctx, symbol, value, day)
    emit(result.to_json(), json_, lambda: say(f"{result.ticker}: {_plain(result.price)} on {result.date.isoformat()}"))


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


def _render(portfolio, ctx) -> None:
    if not portfolio.holdings:
        say("No holdings yet. Add one with: finbuddy portfolio add AAPL 10 --cost 150")
        return
    from rich.table import Table
    from rich.text import Text

    from finbuddy.cli.output import console

    def gain_text(cents: int | None) -> Text:
        if cents is None:
            return Text("")
        style = "green" if cents > 0 else "red" if cents < 0 else ""
        return Text(("+" if cents > 0 else "") + _money(cents), style=style)

    from rich import box

    stale = any(h.price_as_of is not None and h.price_as_of != ctx.today() for h in portfolio.holdings)
    table = Table(
        title=f"Portfolio of {printable(portfolio.user)} ({portfolio.currency})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("ticker", no_wrap=True)
    table.add_column("quantity", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("price", justify="right", no_wrap=True)
    if stale:  # only worth a column when some price is not from today
        table.add_column("as of", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("gain", justify="right", no_wrap=True)
    table.add_column("weight", justify="right", no_wrap=True)
    for h in portfolio.holdings:
        cells = [
            h.ticker,
            _plain(h.quantity),
            _plain(h.cost) or Text("?", style="dim"),
            _plain(h.price) or Text("no price", style="yellow"),
        ]
        if stale:
            cells.append("" if h.price_as_of is None else h.price_as_of.isoformat())
        cells += [
            _money(h.value_cents),
            gain_text(h.gain_cents),
            "" if h.weight_pct is None else f"{h.weight_pct:.1f}%",
        ]
        table.add_row(*cells)
    table.add_section()
    totals: list[Text | str] = [Text("total", style="bold"), "", "", ""]
    totals += [""] if stale else []
    totals += [Text(_money(portfolio.total_value_cents), style="bold"), gain_text(portfolio.total_gain_cents), ""]
    table.add_row(*totals)
    out = console()
    out.print(table)
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

    def render() -> None:
        if source is None:
            say("No price source given (use --prices FILE.csv); the cached portfolio was refreshed.")
        else:
            say(f"Updated {len(result.updated)} price{'s' if len(result.updated) != 1 else ''} from {prices}.")
        if result.unpriced:
            say(f"Still without a price: {', '.join(result.unpriced)}")

    emit(result.to_json(), json_, render)


def register(app: typer.Typer) -> None:
    app.add_typer(portfolio_app, name="portfolio")
