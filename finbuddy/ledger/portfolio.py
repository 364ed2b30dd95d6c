"""The investment portfolio: holdings, prices (manual or from a price source), and its cached valuation."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from finbuddy.context import Context
from finbuddy.errors import NotFound, ValidationError
from finbuddy.money import cents_from_text, format_cents, parse_decimal

MAX_QUANTITY = Decimal("1000000000")
MAX_UNIT_PRICE = Decimal("1000000000")
QUANTITY_PLACES = 8
PRICE_PLACES = 6
_E8 = 10**8
_MICROS = 10**6
# quantity_e8 * price_micros is in 1e-14 currency units; a cent is 1e-2.
_E8_MICROS_PER_CENT = 10**12

_TICKER_RE = re.compile(r"[A-Z0-9.\-^=]{1,16}")
TICKER_EXPECTED = "1-16 characters of A-Z, 0-9 and . - ^ =, e.g. AAPL, BRK.B, ^GSPC, EURUSD=X"


# --- parsing --------------------------------------------------------------------


def normalize_ticker(text: str) -> str:
    """Trimmed and upper-cased; 1-16 of A-Z 0-9 . - ^ =."""
    value = text.strip().upper()
    if not _TICKER_RE.fullmatch(value):
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise ValidationError(f"ticker {shown!r} is not valid: expected {TICKER_EXPECTED}")
    return value


def parse_quantity(text: str, what: str = "quantity") -> Decimal:
    return parse_decimal(text, what, QUANTITY_PLACES, MAX_QUANTITY)


def parse_unit_price(text: str, what: str = "price") -> Decimal:
    return parse_decimal(text, what, PRICE_PLACES, MAX_UNIT_PRICE)


def _scaled(value: Decimal, scale: int, places: int, maximum: Decimal, what: str) -> int:
    if not value.is_finite() or value <= 0:
        raise ValidationError(f"{what} {value} is not valid: expected a positive number")
    if value > maximum:
        raise ValidationError(f"{what} {value} is too large: at most {maximum:,}")
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise ValidationError(f"{what} {value} has more than {places} decimals")
    return int(scaled)


def _quantity_e8(quantity: Decimal) -> int:
    return _scaled(quantity, _E8, QUANTITY_PLACES, MAX_QUANTITY, "quantity")


def _micros(price: Decimal, what: str) -> int:
    return _scaled(price, _MICROS, PRICE_PLACES, MAX_UNIT_PRICE, what)


def _round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def quantity_from_e8(quantity_e8: int) -> Decimal:
    return Decimal(quantity_e8).scaleb(-8).normalize()


def unit_from_micros(micros: int) -> Decimal:
    value = Decimal(micros).scaleb(-6).normalize()
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # a Decimal made from an int is finite: never 'n', 'N' or 'F'
    return value.quantize(Decimal("0.01")) if exponent > -2 else value


def format_decimal(value: Decimal) -> str:
    """Plain notation, never exponents ("10", "0.5", "150.25")."""
    return format(value, "f")


# --- results --------------------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    ticker: str
    quantity: Decimal
    cost: Decimal | None

    def to_json(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "quantity": format_decimal(self.quantity),
            "cost": None if self.cost is None else format_decimal(self.cost),
        }


@dataclass(frozen=True)
class Price:
    ticker: str
    price: Decimal
    date: dt.date
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "price": format_decimal(self.price),
            "date": self.date.isoformat(),
            "source": self.source,
        }


@dataclass(frozen=True)
class HoldingValue:
    ticker: str
    quantity: Decimal
    cost: Decimal | None  # per unit (weighted average of the purchases)
    price: Decimal | None  # per unit, the latest known
    value_cents: int | None  # quantity x price, rounded to cents; None without a price
    gain_cents: int | None  # value - quantity x cost; None without a price or a cost
    weight_pct: float | None  # share of total_value_cents, 2 decimals; None without a price
    price_as_of: dt.date | None

    def to_json(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "quantity": format_decimal(self.quantity),
            "cost": None if self.cost is None else format_decimal(self.cost),
            "price": None if self.price is None else format_decimal(self.price),
            "value": None if self.value_cents is None else format_cents(self.value_cents),
            "gain": None if self.gain_cents is None else format_cents(self.gain_cents),
            "weight_pct": self.weight_pct,
            "price_as_of": None if self.price_as_of is None else self.price_as_of.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HoldingValue:
        def dec(key: str) -> Decimal | None:
            return None if data[key] is None else Decimal(data[key])

        def cents(key: str) -> int | None:
            return None if data[key] is None else cents_from_text(data[key])

        return cls(
            ticker=data["ticker"],
            quantity=Decimal(data["quantity"]),
            cost=dec("cost"),
            price=dec("price"),
            value_cents=cents("value"),
            gain_cents=cents("gain"),
            weight_pct=data["weight_pct"],
            price_as_of=None if data["price_as_of"] is None else dt.date.fromisoformat(data["price_as_of"]),
        )


@dataclass(frozen=True)
class Portfolio:
    """A valuation of one user's holdings.

    total_value_cents sums the holdings that have a price; total_cost_cents sums the holdings
    that have a cost; total_gain_cents sums the gains of holdings that have both.
    """

    user: str
    currency: str
    holdings: list[HoldingValue]
    total_value_cents: int
    total_cost_cents: int
    as_of: dt.datetime
    cached: bool = False
    total_gain_cents: int = 0
    unpriced: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "currency": self.currency,
            "holdings": [h.to_json() for h in self.holdings],
            "total_value": format_cents(self.total_value_cents),
            "total_cost": format_cents(self.total_cost_cents),
            "total_gain": format_cents(self.total_gain_cents),
            "as_of": self.as_of.isoformat(),
            "cached": self.cached,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], cached: bool) -> Portfolio:
        holdings = [HoldingValue.from_json(h) for h in data["holdings"]]
        return cls(
            user=data["user"],
            currency=data["currency"],
            holdings=holdings,
            total_value_cents=int(Decimal(data["total_value"]) * 100),
            total_cost_cents=int(Decimal(data["total_cost"]) * 100),
            total_gain_cents=int(Decimal(data["total_gain"]) * 100),
            as_of=dt.datetime.fromisoformat(data["as_of"]),
            cached=cached,
            unpriced=[h.ticker for h in holdings if h.price is None],
        )


# --- price sources ----------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    ticker: str
    price: Decimal
    date: dt.date


class PriceSource(Protocol):
    """Where `portfolio sync` gets prices. A CSV file now; an online quote service can implement this later."""

    name: str  # stored as prices.source (at most 16 characters)

    def quotes(self, tickers: Sequence[str], today: dt.date) -> list[Quote]:
        """Prices for (at least) `tickers`; raises ValidationError (nothing is stored) if any input is bad."""
        ...


class CsvPriceSource:
    """A CSV file with a header row and columns ticker,price[,date] (any order, case-insensitive).

    Every row is validated before anything is stored. A row without a date is dated today. A
    ticker listed more than once takes the row with the latest date (the later row on a tie).
    """

    name = "csv"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def quotes(self, tickers: Sequence[str], today: dt.date) -> list[Quote]:
        from finbuddy.dates import parse_iso_date

        label = self.path.name
        try:
            handle = open(self.path, encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise ValidationError(f"cannot read price file {self.path}: {exc.strerror or exc}") from None
        found: dict[str, Quote] = {}
        with handle:
            reader = csv.reader(handle)
            line = 0
            try:
                header = None
                for cells in reader:
                    line_start, line = line + 1, reader.line_num
                    if not any(c.strip() for c in cells):
                        continue
                    if header is None:
                        header = [c.strip().lower() for c in cells]
                        if "ticker" not in header or "price" not in header:
                            raise ValidationError(
                                f"{label} line {line_start}: header {','.join(cells)!r} is not valid: "
                                "expected columns ticker,price[,date]"
                            )
                        unknown = [h for h in header if h not in ("ticker", "price", "date")]
                        if unknown:
                            raise ValidationError(
                                f"{label} line {line_start}: unknown column {unknown[0]!r}: "
                                "expected columns ticker,price[,date]"
                            )
                        positions = {name: header.index(name) for name in header}
                        continue
                    if len(cells) != len(header):
                        raise ValidationError(
                            f"{label} line {line_start}: {len(cells)} cells, expected {len(header)} as in the header"
                        )
                    try:
                        ticker = normalize_ticker(cells[positions["ticker"]])
                        price = parse_unit_price(cells[positions["price"]])
                        raw_date = cells[positions["date"]].strip() if "date" in positions else ""
                        day = parse_iso_date(raw_date) if raw_date else today
                    except ValidationError as exc:
                        raise ValidationError(f"{label} line {line_start}: {exc.message}") from None
                    previous = found.get(ticker)
                    if previous is None or day >= previous.date:
                        found[ticker] = Quote(ticker, price, day)
            except UnicodeDecodeError:
                raise ValidationError(f"{label} line {line + 1}: not UTF-8 text") from None
            except csv.Error as exc:
                raise ValidationError(f"{label} line {reader.line_num}: malformed CSV ({exc})") from None
        if header is None:
            raise ValidationError(f"{label} is empty: expected a header row ticker,price[,date]")
        return list(found.values())


# --- commands -----------------------------------------------------------------------


def add_holding(ctx: Context, ticker: str, quantity: Decimal, cost: Decimal | None = None) -> Holding:
    """Buy `quantity` more of `ticker`; the unit cost becomes the weighted average of the purchases.

    If the existing holding or the new purchase has no cost, the average is unknown (None).
    """
    from finbuddy.db.portfolio import get_holding, upsert_holding
    from finbuddy.db.users import bump_portfolio_version, ensure_user

    symbol = normalize_ticker(ticker)
    added_e8 = _quantity_e8(quantity)
    added_cost = None if cost is None else _micros(cost, "cost")
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        existing = get_holding(conn, user_id, symbol)
        if existing is None:
            total_e8, cost_micros = added_e8, added_cost
        else:
            held_e8, held_cost = existing
            total_e8 = held_e8 + added_e8
            if total_e8 > MAX_QUANTITY * _E8:
                raise ValidationError(
                    f"quantity {quantity_from_e8(total_e8)} of {symbol} would be too large: at most {MAX_QUANTITY:,}"
                )
            if held_cost is None or added_cost is None:
                cost_micros = None
            else:
                cost_micros = _round_div(held_e8 * held_cost + added_e8 * added_cost, total_e8)
        upsert_holding(conn, user_id, symbol, total_e8, cost_micros, now)
        bump_portfolio_version(conn, user_id)
    return Holding(symbol, quantity_from_e8(total_e8), None if cost_micros is None else unit_from_micros(cost_micros))


def remove_holding(ctx: Context, ticker: str) -> Holding:
    """Remove a holding entirely (its last price is kept); returns what was removed."""
    from finbuddy.db.portfolio import delete_holding, get_holding
    from finbuddy.db.users import bump_portfolio_version, find_user_id

    symbol = normalize_ticker(ticker)
    with ctx.db.write() as conn:
        user_id = find_user_id(conn, ctx.user)
        existing = None if user_id is None else get_holding(conn, user_id, symbol)
        if user_id is None or existing is None:
            raise NotFound(f"no holding {symbol!r} for user {ctx.user!r}")
        delete_holding(conn, user_id, symbol)
        bump_portfolio_version(conn, user_id)
    held_e8, cost_micros = existing
    return Holding(symbol, quantity_from_e8(held_e8), None if cost_micros is None else unit_from_micros(cost_micros))


def set_price(ctx: Context, ticker: str, price: Decimal, date: dt.date | None = None) -> Price:
    """Record a manual unit price for a ticker (held or not), dated today unless given."""
    from finbuddy.db.portfolio import upsert_prices
    from finbuddy.db.users import bump_portfolio_version, ensure_user

    symbol = normalize_ticker(ticker)
    micros = _micros(price, "price")
    day = date or ctx.today()
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        upsert_prices(conn, user_id, [(symbol, micros, day)], "manual", now)
        bump_portfolio_version(conn, user_id)
    return Price(symbol, unit_from_micros(micros), day, "manual")


@dataclass(frozen=True)
class SyncResult:
    source: str | None
    updated: list[Price]
    unpriced: list[str]  # held tickers that still have no price

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "updated": len(self.updated),
            "prices": [p.to_json() for p in self.updated],
            "unpriced": self.unpriced,
        }


def sync_prices(ctx: Context, source: PriceSource | None = None) -> SyncResult:
    """Refresh prices from `source` (if any) and invalidate the cached portfolio in the same transaction.

    The source is asked (and every row validated) before the write transaction begins, so a bad
    input changes nothing.
    """
    from finbuddy.db.portfolio import holdings_with_prices, list_holdings, upsert_prices
    from finbuddy.db.users import bump_portfolio_version, ensure_user, find_user_id

    with ctx.db.read() as conn:
        user_id = find_user_id(conn, ctx.user)
        held = [] if user_id is None else [t for t, _q, _c in list_holdings(conn, user_id)]
    quotes = [] if source is None else source.quotes(held, ctx.today())
    if user_id is None and not quotes:
        return SyncResult(None if source is None else source.name, [], [])
    rows = [(q.ticker, _micros(q.price, "price"), q.date) for q in quotes]
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        if source is not None:
            upsert_prices(conn, user_id, rows, source.name, now)
        bump_portfolio_version(conn, user_id)
        unpriced = [row[0] for row in holdings_with_prices(conn, user_id) if row[3] is None]
    updated = [Price(t, unit_from_micros(p), d, source.name) for t, p, d in rows] if source is not None else []
    return SyncResult(None if source is None else source.name, updated, unpriced)


def _valuation(ctx: Context, rows, as_of: dt.datetime) -> Portfolio:
    priced: list[tuple[Any, int | None, int | None]] = []
    total_value = total_cost = total_gain = 0
    for ticker, quantity_e8, cost_micros, price_micros, price_date in rows:
        value = None if price_micros is None else _round_div(quantity_e8 * price_micros, _E8_MICROS_PER_CENT)
        cost_total = None if cost_micros is None else _round_div(quantity_e8 * cost_micros, _E8_MICROS_PER_CENT)
        gain = None if value is None or cost_total is None else value - cost_total
        total_value += value or 0
        total_cost += cost_total or 0
        total_gain += gain or 0
        priced.append(((ticker, quantity_e8, cost_micros, price_micros, price_date), value, gain))
    holdings = []
    for (ticker, quantity_e8, cost_micros, price_micros, price_date), value, gain in priced:
        weight = None
        if value is not None and total_value > 0:
            weight = float(round(Decimal(value) * 100 / Decimal(total_value), 2))
        holdings.append(
            HoldingValue(
                ticker=ticker,
                quantity=quantity_from_e8(quantity_e8),
                cost=None if cost_micros is None else unit_from_micros(cost_micros),
                price=None if price_micros is None else unit_from_micros(price_micros),
                value_cents=value,
                gain_cents=gain,
                weight_pct=weight,
                price_as_of=price_date,
            )
        )
    return Portfolio(
        user=ctx.user,
        currency=ctx.settings.currency,
        holdings=holdings,
        total_value_cents=total_value,
        total_cost_cents=total_cost,
        total_gain_cents=total_gain,
        as_of=as_of,
        cached=False,
        unpriced=[h.ticker for h in holdings if h.price is None],
    )


def portfolio_valuation(ctx: Context, fresh: bool = False) -> Portfolio:
    """ctx.user's holdings valued at their latest prices; served from the cache (1 h) unless `fresh`.

    The cache key carries users.portfolio_version, which every holdings/prices change and every
    `sync` bump in their own transaction, so a change is never hidden by the cache. Reading
    never creates the user.
    """
    from finbuddy.db.portfolio import holdings_with_prices
    from finbuddy.db.users import versions

    with ctx.db.read() as conn:
        # The version is read before the holdings: a write racing with us can only make the
        # entry we store newer than its key says, never older.
        found = versions(conn, ctx.user)
        if found is None:
            return _valuation(ctx, [], ctx.now())
        user_id, _data_version, portfolio_version = found
        if not fresh:
            hit = ctx.cache.get("portfolio", ctx.user, portfolio_version, ctx.settings.currency)
            if hit is not None:
                try:
                    return Portfolio.from_json(hit.value, cached=True)
                except (KeyError, TypeError, ValueError, ArithmeticError):
                    pass  # an entry of an older shape is a miss
        rows = holdings_with_prices(conn, user_id)
    portfolio = _valuation(ctx, rows, ctx.now())
    ctx.cache.put("portfolio", ctx.user, portfolio_version, ctx.settings.currency, value=portfolio.to_json())
    return portfolio
