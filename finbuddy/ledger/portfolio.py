"""The investment portfolio: holdings, prices (manual or from a price source), and its cached valuation."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from finbuddy.context import Context
from finbuddy.errors import NotFound, ValidationError
from finbuddy.money import cents_from_text, format_cents, parse_decimal

if TYPE_CHECKING:
    from finbuddy.db import Connection

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
    """A holding as stored: `cost` is the average unit cost of the `cost_quantity` units bought with
    a known cost (None when there are none); the rest of `quantity` has no known cost."""

    ticker: str
    quantity: Decimal
    cost: Decimal | None
    cost_quantity: Decimal

    @classmethod
    def from_row(cls, ticker: str, quantity_e8: int, cost_micros: int | None, cost_quantity_e8: int) -> Holding:
        return cls(
            ticker,
            quantity_from_e8(quantity_e8),
            None if cost_micros is None else unit_from_micros(cost_micros),
            quantity_from_e8(cost_quantity_e8),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "quantity": format_decimal(self.quantity),
            "cost": None if self.cost is None else format_decimal(self.cost),
            "cost_quantity": format_decimal(self.cost_quantity),
        }


@dataclass(frozen=True)
class Price:
    """A dated price as stored. `latest`: no newer price of the ticker exists, so valuations use this
    one (an older price is kept as history only). `held`: the user holds the ticker."""

    ticker: str
    price: Decimal
    date: dt.date
    source: str
    latest: bool = True
    held: bool = True
    latest_price: Decimal | None = None  # the price in use when this one is not the latest
    latest_date: dt.date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "price": format_decimal(self.price),
            "date": self.date.isoformat(),
            "source": self.source,
            "latest": self.latest,
            "held": self.held,
        }


@dataclass(frozen=True)
class HoldingValue:
    ticker: str
    quantity: Decimal
    cost: Decimal | None  # per unit: weighted average of the purchases with a known cost
    price: Decimal | None  # per unit, the latest dated price
    value_cents: int | None  # quantity x price, rounded to cents; None without a price
    # value of the cost_quantity units - cost_quantity x cost; None without a price or a cost
    gain_cents: int | None
    weight_pct: float | None  # share of total_value_cents, 2 decimals; None without a price
    price_as_of: dt.date | None
    cost_quantity: Decimal  # the part of quantity whose cost is known (cost and gain cover it)

    @property
    def cost_complete(self) -> bool:
        return self.cost_quantity == self.quantity

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
            "cost_quantity": format_decimal(self.cost_quantity),
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
            cost_quantity=Decimal(data["cost_quantity"]),
        )


@dataclass(frozen=True)
class Portfolio:
    """A valuation of one user's holdings.

    total_value_cents sums the holdings that have a price; total_cost_cents sums the known costs
    (cost_quantity x cost); total_gain_cents sums the gains on those known parts of holdings that
    have a price. `cost_incomplete` lists the holdings whose cost is known for less than all of
    their quantity (or none of it): their gain covers only the known part.
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

    @property
    def cost_incomplete(self) -> list[str]:
        return [h.ticker for h in self.holdings if not h.cost_complete]

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "currency": self.currency,
            "holdings": [h.to_json() for h in self.holdings],
            "total_value": format_cents(self.total_value_cents),
            "total_cost": format_cents(self.total_cost_cents),
            "total_gain": format_cents(self.total_gain_cents),
            "cost_incomplete": self.cost_incomplete,
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
                        check_price_date(day, today)
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


def check_price_date(day: dt.date, today: dt.date) -> None:
    """A price from the future would stay "the latest" and hide every real price until that day."""
    if day > today:
        raise ValidationError(f"price date {day.isoformat()} is in the future: expected {today.isoformat()} or earlier")


def add_holding(ctx: Context, ticker: str, quantity: Decimal, cost: Decimal | None = None) -> Holding:
    """Buy `quantity` more of `ticker`.

    With a cost, the purchase joins the holding's known cost basis (the unit cost becomes the
    weighted average of the purchases with a cost). Without one, only the quantity grows: the
    known cost of the earlier purchases is kept, and their gain stays measurable.
    """
    from finbuddy.db.portfolio import get_holding, upsert_holding
    from finbuddy.db.users import bump_portfolio_version, ensure_user

    symbol = normalize_ticker(ticker)
    added_e8 = _quantity_e8(quantity)
    added_cost = None if cost is None else _micros(cost, "cost")
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        # The version bump first: its row lock on users makes concurrent adds of one user take
        # turns (PostgreSQL), so none reads a holding that another is about to overwrite.
        bump_portfolio_version(conn, user_id)
        held_e8, held_cost, held_cost_e8 = get_holding(conn, user_id, symbol) or (0, None, 0)
        total_e8 = held_e8 + added_e8
        if total_e8 > MAX_QUANTITY * _E8:
            raise ValidationError(
                f"quantity {quantity_from_e8(total_e8)} of {symbol} would be too large: at most {MAX_QUANTITY:,}"
            )
        if added_cost is None:
            cost_e8, cost_micros = held_cost_e8, held_cost
        else:
            cost_e8 = held_cost_e8 + added_e8
            cost_micros = _round_div(held_cost_e8 * (held_cost or 0) + added_e8 * added_cost, cost_e8)
        upsert_holding(conn, user_id, symbol, total_e8, cost_micros, cost_e8, now)
    return Holding.from_row(symbol, total_e8, cost_micros, cost_e8)


def remove_holding(ctx: Context, ticker: str) -> Holding:
    """Remove a holding entirely (its prices are kept); returns what was removed."""
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
    return Holding.from_row(symbol, *existing)


def _stored_prices(conn: Connection, user_id: int, rows: list[tuple[str, int, dt.date]], source: str) -> list[Price]:
    """What the rows just written mean: is each now its ticker's latest price, is the ticker held."""
    from finbuddy.db.portfolio import latest_prices, list_holdings

    held = {row[0] for row in list_holdings(conn, user_id)}
    latest = latest_prices(conn, user_id, [t for t, _p, _d in rows])
    stored = []
    for ticker, micros, day in rows:
        newest = latest.get(ticker)
        is_latest = newest is None or newest[1] <= day
        stored.append(
            Price(
                ticker,
                unit_from_micros(micros),
                day,
                source,
                latest=is_latest,
                held=ticker in held,
                latest_price=None if is_latest or newest is None else unit_from_micros(newest[0]),
                latest_date=None if is_latest or newest is None else newest[1],
            )
        )
    return stored


def set_price(ctx: Context, ticker: str, price: Decimal, date: dt.date | None = None) -> Price:
    """Record a manual unit price for a ticker (held or not), dated today unless given.

    Prices are kept by date: one of the same day replaces the earlier one; an older one is kept as
    history and does not change the valuation (the result says so: `latest` is False).
    """
    from finbuddy.db.portfolio import upsert_prices
    from finbuddy.db.users import bump_portfolio_version, ensure_user

    symbol = normalize_ticker(ticker)
    micros = _micros(price, "price")
    today = ctx.today()
    day = date or today
    check_price_date(day, today)
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        upsert_prices(conn, user_id, [(symbol, micros, day)], "manual", now)
        bump_portfolio_version(conn, user_id)
        (stored,) = _stored_prices(conn, user_id, [(symbol, micros, day)], "manual")
    return stored


@dataclass(frozen=True)
class SyncResult:
    source: str | None
    updated: list[Price]
    unpriced: list[str]  # held tickers that still have no price

    @property
    def not_held(self) -> list[str]:
        """Tickers priced by the source that the user does not hold (their prices are stored)."""
        return sorted({p.ticker for p in self.updated if not p.held})

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "updated": len(self.updated),
            "prices": [p.to_json() for p in self.updated],
            "unpriced": self.unpriced,
            "not_held": self.not_held,
        }


def sync_prices(ctx: Context, source: PriceSource | None = None) -> SyncResult:
    """Refresh prices from `source` (if any) and invalidate the cached portfolio in the same transaction.

    The source is asked (and every row validated) before the write transaction begins, so a bad
    input changes nothing. Prices are kept by date, so a source's older price never replaces a
    newer one (it is kept as history; its Price says `latest` False).
    """
    from finbuddy.db.portfolio import holdings_with_prices, list_holdings, upsert_prices
    from finbuddy.db.users import bump_portfolio_version, ensure_user, find_user_id

    with ctx.db.read() as conn:
        user_id = find_user_id(conn, ctx.user)
        held = [] if user_id is None else [row[0] for row in list_holdings(conn, user_id)]
    quotes = [] if source is None else source.quotes(held, ctx.today())
    if user_id is None and not quotes:
        return SyncResult(None if source is None else source.name, [], [])
    rows = [(q.ticker, _micros(q.price, "price"), q.date) for q in quotes]
    now = ctx.now()
    updated: list[Price] = []
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        if source is not None:
            upsert_prices(conn, user_id, rows, source.name, now)
            updated = _stored_prices(conn, user_id, rows, source.name)
        bump_portfolio_version(conn, user_id)
        unpriced = [row[0] for row in holdings_with_prices(conn, user_id) if row[4] is None]
    return SyncResult(None if source is None else source.name, updated, unpriced)


def _cents_of(quantity_e8: int, unit_micros: int) -> int:
    return _round_div(quantity_e8 * unit_micros, _E8_MICROS_PER_CENT)


def _valuation(
    ctx: Context, rows: Sequence[tuple[str, int, int | None, int, int | None, dt.date | None]], as_of: dt.datetime
) -> Portfolio:
    priced: list[tuple[Any, int | None, int | None]] = []
    total_value = total_cost = total_gain = 0
    for row in rows:
        _ticker, quantity_e8, cost_micros, cost_e8, price_micros, _price_date = row
        value = None if price_micros is None else _cents_of(quantity_e8, price_micros)
        known_cost = None if cost_micros is None else _cents_of(cost_e8, cost_micros)
        gain = None
        if price_micros is not None and known_cost is not None:
            # The gain of the units whose cost is known; the value of all of them when all are.
            known_value = value if cost_e8 == quantity_e8 else _cents_of(cost_e8, price_micros)
            assert known_value is not None
            gain = known_value - known_cost
        total_value += value or 0
        total_cost += known_cost or 0
        total_gain += gain or 0
        priced.append((row, value, gain))
    holdings = []
    for (ticker, quantity_e8, cost_micros, cost_e8, price_micros, price_date), value, gain in priced:
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
                cost_quantity=quantity_from_e8(cost_e8),
            )
        )
    return Portfolio(
        user=ctx.user,
        currency=ctx.currency,
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
            hit = ctx.cache.get("portfolio", ctx.user, portfolio_version, ctx.currency)
            if hit is not None:
                try:
                    return Portfolio.from_json(hit.value, cached=True)
                except (KeyError, TypeError, ValueError, ArithmeticError):
                    pass  # an entry of an older shape is a miss
        rows = holdings_with_prices(conn, user_id)
    portfolio = _valuation(ctx, rows, ctx.now())
    ctx.cache.put("portfolio", ctx.user, portfolio_version, ctx.currency, value=portfolio.to_json())
    return portfolio
