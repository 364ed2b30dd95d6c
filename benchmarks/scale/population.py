"""The population generator: N users with seeded, realistic ledgers, written at the database's bulk speed.

    python benchmarks/scale/population.py --url postgresql+psycopg://postgres@127.0.0.1/lab_pop_10000 --users 10000
    python benchmarks/scale/population.py --url sqlite:////work/labdata/sqlite-10000.db --users 10000
    python benchmarks/scale/population.py --quick             # params.QUICK_USERS users into a temporary SQLite file
    python benchmarks/scale/population.py --quick --url URL   # the same few users into URL (the test's PostgreSQL)
    ... --json          the figures as one JSON document on stdout (progress and talk go to stderr)
    ... --no-indexes    leave the records table's non-unique secondary indexes off ("phase 1 without the indexes")
    ... --replace       drop the database (or delete the file) first; otherwise it must be new or empty

What it writes follows params.POPULATION (records per user log-normal and clipped, amounts log-normal per category,
salary-like income, monthly charges at merchants, budgets, holdings with a dated price), every record dated in the
`history_days` before params.DAY.replay_day. The schema is the product's own: the Alembic migrations create it (and
the database_identity row), then the rows are loaded with COPY (PostgreSQL) or executemany in large transactions
(SQLite), the records' secondary indexes dropped during the load and re-created from finbuddy/db/tables.py after.

Generation (numpy, one seeded generator per chunk of users: the same seed and --chunk-users give the same rows) and
formatting run in a producer process while the main process loads the previous chunk, so the two
cores work at once. The rows are valid for the product: per-user record ids 1..n with users.next_record_id = n + 1,
data_version = the user's writes (records + budgets), portfolio_version = holdings + prices, amounts in cents > 0,
category_source 'user'. Each build ends with the product reading a generated user's month through
`finbuddy.open_context` and checking its totals against a direct SUM over that user's rows.

Not a timed test: it prints figures; results.save(f"population-{backend}-{users}") keeps them (not in --quick).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scale import params, results  # noqa: E402

MODEL = params.POPULATION
REPLAY_DAY = dt.date.fromisoformat(params.DAY.replay_day)
# Records are dated in [HISTORY_START, REPLAY_DAY - 1]; day index d is HISTORY_START + d days.
HISTORY_START = REPLAY_DAY - dt.timedelta(days=MODEL.history_days)
PRICE_DAY = REPLAY_DAY - dt.timedelta(days=1)
# Users, budgets and holdings were created before the history starts (written at noon UTC).
CREATED_AT = dt.datetime.combine(HISTORY_START - dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
# About 280k records per chunk at the model's mean of ~28 records per user.
CHUNK_USERS = 10_000
PG_ADMIN_DB = "postgres"
TABLES = ("users", "records", "budgets", "holdings", "prices")


def user_name(user_id: int) -> str:
    """The generated user's name (users are numbered 1..N): user000001, ..."""
    return f"user{user_id:06d}"


def log(message: str) -> None:
    print(f"[population] {message}", file=sys.stderr, flush=True)


# --- generation ----------------------------------------------------------------------------------------------------

# A record's "code" says its kind, category and merchant: 0..C-1 the expense categories (no merchant), C income,
# C+1+j the monthly charge at merchants[j] (the recurring category).
N_CATEGORIES = len(MODEL.categories)
INCOME_CODE = N_CATEGORIES
RECURRING_CODE = N_CATEGORIES + 1


def _code_fields() -> list[tuple[str, str, str | None]]:
    """(kind, category, merchant) of every record code."""
    fields: list[tuple[str, str, str | None]] = [("expense", c.name, None) for c in MODEL.categories]
    fields.append(("income", MODEL.income_category, None))
    fields.extend(("expense", MODEL.recurring_category, merchant) for merchant in MODEL.merchants)
    return fields


def _category_law(name: str) -> tuple[float, float]:
    for category in MODEL.categories:
        if category.name == name:
            return math.log(category.median_eur), category.sigma
    return math.log(MODEL.categories[0].median_eur), MODEL.categories[0].sigma


def _ticker_prices_eur(seed: int) -> list[float]:
    """Each ticker's price on PRICE_DAY (one per ticker for everybody, like a market), seeded."""
    import numpy as np

    rng = np.random.default_rng([seed, 0xB0B])
    return [float(x) for x in np.exp(rng.normal(math.log(150.0), 1.2, len(MODEL.tickers)))]


@dataclass
class Chunk:
    """The generated rows of users first..first+count-1, column by column (numpy arrays)."""

    first: int
    count: int
    records_per_user: Any  # int64 [count]
    users: dict[str, Any]
    records: dict[str, Any]
    budgets: dict[str, Any]
    holdings: dict[str, Any]
    prices: dict[str, Any]

    def rows(self) -> dict[str, int]:
        return {
            "users": self.count,
            "records": len(self.records["user_id"]),
            "budgets": len(self.budgets["user_id"]),
            "holdings": len(self.holdings["user_id"]),
            "prices": len(self.prices["user_id"]),
        }


def _pick_distinct(rng, wanted, choices: int):
    """For each user i, `wanted[i]` distinct choices among range(choices): (owner index, choice) pairs."""
    import numpy as np

    order = np.argsort(rng.random((len(wanted), choices)), axis=1)
    taken = np.arange(choices)[None, :] < wanted[:, None]
    owner, rank = np.nonzero(taken)
    return owner, order[owner, rank]


def _lognormal_cents(rng, mu, sigma, size=None):
    import numpy as np

    return np.maximum(1, np.rint(np.exp(rng.normal(mu, sigma, size)) * 100)).astype(np.int64)


# The day index of the k-th latest monthly charge (k = 0: the latest before REPLAY_DAY) on day-of-month dom.
def _monthly_day_table(months: int) -> list[list[int]]:
    table = []
    for dom in range(1, 29):
        latest = REPLAY_DAY.replace(day=dom)
        if latest >= REPLAY_DAY:
            latest = _add_months(latest, -1)
        table.append([(_add_months(latest, -k) - HISTORY_START).days for k in range(months)])
    return table


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1)


MONTHS_MAX = max(3, min(12, (MODEL.history_days - 31) // 31 + 1))


def generate_chunk(first: int, count: int, seed: int) -> Chunk:
    """The rows of users first..first+count-1 from their own seeded generator (independent of other chunks)."""
    import numpy as np

    rng = np.random.default_rng([seed, first])
    user_ids = np.arange(first, first + count, dtype=np.int64)
    n = np.rint(rng.lognormal(math.log(MODEL.records_median), MODEL.records_sigma, count)).astype(np.int64)
    n = np.clip(n, MODEL.records_min, MODEL.records_max)

    # Monthly charges: k merchants, m months each, k * m <= n (they are part of the user's n records). A user with
    # fewer than 3 records has none (3 charges is the least a monthly series is recognised from).
    recurring = (rng.random(count) < MODEL.recurring_share) & (n >= 3)
    k = np.minimum(rng.integers(1, MODEL.recurring_max + 1, count), np.minimum(n // 3, len(MODEL.merchants)))
    k = np.where(recurring, k, 0)
    m = np.where(k > 0, np.clip((n // 2) // np.maximum(k, 1), 3, MONTHS_MAX), 0)
    s_owner, s_merchant = _pick_distinct(rng, k, len(MODEL.merchants))
    s_months = m[s_owner]
    s_dom = rng.integers(0, 28, len(s_owner))
    mu, sigma = _category_law(MODEL.recurring_category)
    s_amount = _lognormal_cents(rng, mu, sigma, len(s_owner))
    r_owner = np.repeat(s_owner, s_months)
    r_series = np.repeat(np.arange(len(s_owner)), s_months)
    starts = np.cumsum(s_months) - s_months
    r_back = np.arange(len(r_owner)) - np.repeat(starts, s_months)
    table = np.asarray(_monthly_day_table(MONTHS_MAX), dtype=np.int64)
    r_day = table[s_dom[r_series], r_back]
    r_code = RECURRING_CODE + s_merchant[r_series]
    r_amount = s_amount[r_series]

    # The other records: income with its share, else an expense in a category drawn by the categories' shares.
    ordinary = n - (k * m)
    o_owner = np.repeat(np.arange(count), ordinary)
    total = len(o_owner)
    shares = np.array([c.share for c in MODEL.categories])
    o_code = rng.choice(N_CATEGORIES, size=total, p=shares / shares.sum())
    income = rng.random(total) < MODEL.income_share
    o_code[income] = INCOME_CODE
    mus = np.array([math.log(c.median_eur) for c in MODEL.categories] + [math.log(MODEL.income_median_eur)])
    sigmas = np.array([c.sigma for c in MODEL.categories] + [MODEL.income_sigma])
    o_amount = np.maximum(1, np.rint(np.exp(rng.normal(mus[o_code], sigmas[o_code])) * 100)).astype(np.int64)
    o_day = rng.integers(0, MODEL.history_days, total)

    owner = np.concatenate([o_owner, r_owner])
    day = np.concatenate([o_day, r_day])
    code = np.concatenate([o_code, r_code])
    amount = np.concatenate([o_amount, r_amount])
    # Each user's records numbered 1..n in date order, as they were added day by day.
    order = np.lexsort((rng.random(len(owner)), day, owner))
    owner, day, code, amount = owner[order], day[order], code[order], amount[order]
    first_of_user = np.cumsum(n) - n
    record_id = np.arange(len(owner)) - first_of_user[owner] + 1

    # Budgets: distinct categories, a round monthly amount.
    wanted = np.where(rng.random(count) < MODEL.budget_share, rng.integers(1, MODEL.budgets_max + 1, count), 0)
    b_owner, b_category = _pick_distinct(rng, np.minimum(wanted, N_CATEGORIES), N_CATEGORIES)
    b_eur = np.exp(rng.normal(math.log(MODEL.budget_median_eur), MODEL.budget_sigma, len(b_owner)))
    b_amount = (np.maximum(1, np.rint(b_eur / 10)) * 1000).astype(np.int64)

    # Holdings: distinct tickers, a quantity, a cost basis for most; one price per holding on PRICE_DAY.
    wanted = np.where(rng.random(count) < MODEL.holdings_share, rng.integers(1, MODEL.holdings_max + 1, count), 0)
    h_owner, h_ticker = _pick_distinct(rng, np.minimum(wanted, len(MODEL.tickers)), len(MODEL.tickers))
    price_eur = np.asarray(_ticker_prices_eur(seed))[h_ticker]
    h_quantity = np.maximum(1, np.rint(np.exp(rng.normal(math.log(8.0), 1.3, len(h_owner))) * 1e8)).astype(np.int64)
    known = rng.random(len(h_owner)) < 0.8
    cost = np.maximum(1, np.rint(price_eur * np.exp(rng.normal(-0.1, 0.25, len(h_owner))) * 1e6)).astype(np.int64)
    h_cost = np.where(known, cost, 0)  # 0: NULL
    h_cost_quantity = np.where(known, h_quantity, 0)
    p_price = np.maximum(1, np.rint(price_eur * np.exp(rng.normal(0, 0.01, len(h_owner))) * 1e6)).astype(np.int64)

    budgets_per_user = np.bincount(b_owner, minlength=count)
    holdings_per_user = np.bincount(h_owner, minlength=count)
    return Chunk(
        first=first,
        count=count,
        records_per_user=n,
        users={
            "id": user_ids,
            "next_record_id": n + 1,
            # every add and every `budget set` bumped it once; every holding and price write bumped the other
            "data_version": n + budgets_per_user,
            "portfolio_version": 2 * holdings_per_user,
            "recurring": k,
        },
        records={
            "user_id": user_ids[owner],
            "id": record_id,
            "amount_cents": amount,
            "day": day,
            "code": code,
        },
        budgets={"user_id": user_ids[b_owner], "category": b_category, "amount_cents": b_amount},
        holdings={
            "user_id": user_ids[h_owner],
            "ticker": h_ticker,
            "quantity_e8": h_quantity,
            "cost_micros": h_cost,
            "cost_quantity_e8": h_cost_quantity,
        },
        prices={"user_id": user_ids[h_owner], "ticker": h_ticker, "price_micros": p_price},
    )


# --- formats: the same chunk as PostgreSQL COPY text or SQLite parameter rows -----------------------------------

# COPY column lists: the per-code and per-day parts are pre-formatted strings, so a row costs one str.format.
PG_COLUMNS = {
    "users": "(id, name, next_record_id, data_version, portfolio_version, created_at)",
    "records": (
        "(user_id, id, amount_cents, expense_date, created_at, updated_at, kind, category, merchant, category_source)"
    ),
    "budgets": "(user_id, category, amount_cents, updated_at)",
    "holdings": "(user_id, ticker, quantity_e8, cost_micros, cost_quantity_e8, created_at, updated_at)",
    "prices": "(user_id, ticker, price_micros, price_date, source, updated_at)",
}


def _day(d: int) -> dt.date:
    return HISTORY_START + dt.timedelta(days=d)


def _pg_ts(day: dt.date) -> str:
    return f"{day.isoformat()} 12:00:00+00"


# COPY's binary format: a signature, flags and header extension, then per row its field count and each field as a
# length (-1: NULL) and the value in network order; dates count days and timestamps microseconds from 2000-01-01.
PG_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
PG_BINARY_TRAILER = b"\xff\xff"
_PG_EPOCH = dt.date(2000, 1, 1)
_RECORD_FIXED = [
    ("fields", ">i2"),
    ("user_id_len", ">i4"),
    ("user_id", ">i4"),
    ("id_len", ">i4"),
    ("id", ">i4"),
    ("amount_len", ">i4"),
    ("amount_cents", ">i8"),
    ("date_len", ">i4"),
    ("expense_date", ">i4"),
    ("created_len", ">i4"),
    ("created_at", ">i8"),
    ("updated_len", ">i4"),
    ("updated_at", ">i8"),
]


def _binary_field(value: str | None) -> bytes:
    if value is None:
        return (-1).to_bytes(4, "big", signed=True)
    data = value.encode()
    return len(data).to_bytes(4, "big") + data


def format_pg_records(r: dict[str, Any]) -> bytes:
    """The records as one binary COPY (PG_COLUMNS order), built by numpy without a Python step per row.

    Rows of one code (kind, category, merchant: the variable-length fields) share a row layout: each code's rows are
    one packed big-endian array, its text fields a constant tail, so the payload is a few array dumps. The rows go
    in code order within the chunk (a user's rows sit in up to ~16 runs, as a real table's rows are spread by the
    day they were added). Binary also spares the server parsing three dates per row (text COPY was CPU-bound there).
    """
    import numpy as np

    count = len(r["user_id"])
    if not count:
        return b""
    code = r["code"]
    order = np.argsort(code, kind="stable")
    tails = [
        b"".join(_binary_field(v) for v in (kind, category, merchant, "user"))
        for kind, category, merchant in _code_fields()
    ]
    bounds = np.searchsorted(code[order], np.arange(len(tails) + 1))
    first_day = (HISTORY_START - _PG_EPOCH).days
    parts = [PG_BINARY_HEADER]
    for which, tail in enumerate(tails):
        rows_of = order[bounds[which] : bounds[which + 1]]
        if not len(rows_of):
            continue
        rows = np.empty(len(rows_of), np.dtype([*_RECORD_FIXED, ("tail", f"V{len(tail)}")]))
        rows["fields"] = 10
        for name, size in (("user_id", 4), ("id", 4), ("amount", 8), ("date", 4), ("created", 8), ("updated", 8)):
            rows[f"{name}_len"] = size
        rows["user_id"] = r["user_id"][rows_of]
        rows["id"] = r["id"][rows_of]
        rows["amount_cents"] = r["amount_cents"][rows_of]
        days = r["day"][rows_of] + first_day
        rows["expense_date"] = days
        rows["created_at"] = days * 86_400_000_000 + 12 * 3_600_000_000  # noon UTC
        rows["updated_at"] = rows["created_at"]
        rows["tail"] = np.void(tail)
        parts.append(rows.tobytes())
    parts.append(PG_BINARY_TRAILER)
    return b"".join(parts)


def format_pg(chunk: Chunk) -> dict[str, bytes]:
    """The chunk as COPY payloads: the records in binary (format_pg_records), the other tables as text."""
    created = CREATED_AT.strftime("%Y-%m-%d %H:%M:%S+00")
    u, r, b, h, p = chunk.users, chunk.records, chunk.budgets, chunk.holdings, chunk.prices
    users = "".join(
        f"{i}\t{user_name(i)}\t{nxt}\t{dv}\t{pv}\t{created}\n"
        for i, nxt, dv, pv in zip(
            u["id"].tolist(),
            u["next_record_id"].tolist(),
            u["data_version"].tolist(),
            u["portfolio_version"].tolist(),
            strict=True,
        )
    )
    names = [c.name for c in MODEL.categories]
    budgets = "".join(
        f"{i}\t{names[c]}\t{a}\t{created}\n"
        for i, c, a in zip(b["user_id"].tolist(), b["category"].tolist(), b["amount_cents"].tolist(), strict=True)
    )
    holdings = "".join(
        f"{i}\t{MODEL.tickers[t]}\t{q}\t{c if c else chr(92) + 'N'}\t{cq}\t{created}\t{created}\n"
        for i, t, q, c, cq in zip(
            h["user_id"].tolist(),
            h["ticker"].tolist(),
            h["quantity_e8"].tolist(),
            h["cost_micros"].tolist(),
            h["cost_quantity_e8"].tolist(),
            strict=True,
        )
    )
    price_day = PRICE_DAY.isoformat()
    prices = "".join(
        f"{i}\t{MODEL.tickers[t]}\t{v}\t{price_day}\tmanual\t{_pg_ts(PRICE_DAY)}\n"
        for i, t, v in zip(p["user_id"].tolist(), p["ticker"].tolist(), p["price_micros"].tolist(), strict=True)
    )
    return {
        "users": users.encode(),
        "records": format_pg_records(r),
        "budgets": budgets.encode(),
        "holdings": holdings.encode(),
        "prices": prices.encode(),
    }


# SQLAlchemy's storage formats on SQLite (what the product writes and reads back).
def _sqlite_ts(day: dt.date) -> str:
    return f"{day.isoformat()} 12:00:00.000000"


SQLITE_INSERTS = {
    "users": "INSERT INTO users (id, name, next_record_id, data_version, portfolio_version, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)",
    "records": "INSERT INTO records (user_id, id, amount_cents, expense_date, created_at, updated_at, kind, category, "
    "merchant, category_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "budgets": "INSERT INTO budgets (user_id, category, amount_cents, updated_at) VALUES (?, ?, ?, ?)",
    "holdings": "INSERT INTO holdings (user_id, ticker, quantity_e8, cost_micros, cost_quantity_e8, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "prices": "INSERT INTO prices (user_id, ticker, price_micros, price_date, source, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?)",
}


def format_sqlite(chunk: Chunk) -> dict[str, Iterable[tuple]]:
    """The chunk as parameter tuples for SQLITE_INSERTS (the records lazily: executemany pulls them from zip)."""
    created = CREATED_AT.strftime("%Y-%m-%d %H:%M:%S.000000")
    dates = [_day(d).isoformat() for d in range(MODEL.history_days)]
    stamps = [_sqlite_ts(_day(d)) for d in range(MODEL.history_days)]
    fields = _code_fields()
    kinds = [f[0] for f in fields]
    categories = [f[1] for f in fields]
    merchants = [f[2] for f in fields]
    u, r, b, h, p = chunk.users, chunk.records, chunk.budgets, chunk.holdings, chunk.prices
    day_list, code_list = r["day"].tolist(), r["code"].tolist()
    record_stamps = [stamps[d] for d in day_list]
    names = [c.name for c in MODEL.categories]
    return {
        "users": list(
            zip(
                u["id"].tolist(),
                map(user_name, u["id"].tolist()),
                u["next_record_id"].tolist(),
                u["data_version"].tolist(),
                u["portfolio_version"].tolist(),
                repeat(created),
            )
        ),
        "records": (
            zip(
                r["user_id"].tolist(),
                r["id"].tolist(),
                r["amount_cents"].tolist(),
                map(dates.__getitem__, day_list),
                record_stamps,
                record_stamps,
                map(kinds.__getitem__, code_list),
                map(categories.__getitem__, code_list),
                map(merchants.__getitem__, code_list),
                repeat("user"),
            )
        ),
        "budgets": [
            (i, names[c], a, created)
            for i, c, a in zip(b["user_id"].tolist(), b["category"].tolist(), b["amount_cents"].tolist(), strict=True)
        ],
        "holdings": [
            (i, MODEL.tickers[t], q, c or None, cq, created, created)
            for i, t, q, c, cq in zip(
                h["user_id"].tolist(),
                h["ticker"].tolist(),
                h["quantity_e8"].tolist(),
                h["cost_micros"].tolist(),
                h["cost_quantity_e8"].tolist(),
                strict=True,
            )
        ],
        "prices": [
            (i, MODEL.tickers[t], v, PRICE_DAY.isoformat(), "manual", _sqlite_ts(PRICE_DAY))
            for i, t, v in zip(p["user_id"].tolist(), p["ticker"].tolist(), p["price_micros"].tolist(), strict=True)
        ],
    }


# --- the producer process ----------------------------------------------------------------------------------------


def _chunks(users: int, chunk_users: int) -> list[tuple[int, int]]:
    return [(first, min(chunk_users, users - first + 1)) for first in range(1, users + 1, chunk_users)]


def _produce(queue, chunks: list[tuple[int, int]], seed: int, backend: str) -> None:
    """Generate and format every chunk in order; ("chunk", payload, stats) each, then ("end", ...)."""
    # SQLite's rows are Python tuples: cheaper made by the loader from the chunk's arrays (executemany iterates
    # them in C) than pickled through the queue.
    fmt: Callable[[Chunk], Any] = format_pg if backend == "postgresql" else (lambda chunk: chunk)
    try:
        for first, count in chunks:
            started = time.process_time()
            chunk = generate_chunk(first, count, seed)
            payload = fmt(chunk)
            stats = {
                "rows": chunk.rows(),
                "records_per_user": chunk.records_per_user,
                "recurring_users": int((chunk.users["recurring"] > 0).sum()),
                "budget_users": len(set(chunk.budgets["user_id"].tolist())),
                "holdings_users": len(set(chunk.holdings["user_id"].tolist())),
                "cpu_s": time.process_time() - started,
            }
            queue.put(("chunk", payload, stats))
        queue.put(("end", None, None))
    except BaseException:
        queue.put(("error", traceback.format_exc(), None))


def _produced(chunks: list[tuple[int, int]], seed: int, backend: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The formatted chunks, made by a producer process two chunks ahead of the loader."""
    context = mp.get_context("fork")
    queue = context.Queue(maxsize=2)
    producer = context.Process(target=_produce, args=(queue, chunks, seed, backend), daemon=True)
    producer.start()
    try:
        while True:
            what, payload, stats = queue.get()
            if what == "end":
                break
            if what == "error":
                raise RuntimeError(f"the producer failed:\n{payload}")
            yield payload, stats
    finally:
        if producer.is_alive():
            producer.terminate()
        producer.join()


# --- backends ----------------------------------------------------------------------------------------------------


def _records_indexes(unique_only: bool = False) -> list[Any]:
    """The records table's secondary indexes as the product declares them (finbuddy/db/tables.py)."""
    from finbuddy.db.tables import records

    indexes = sorted(records.indexes, key=lambda ix: ix.name)
    return [ix for ix in indexes if ix.unique] if unique_only else indexes


def _index_ddl(dialect_name: str, create: bool, unique_only: bool = False) -> list[tuple[str, str]]:
    import sqlalchemy as sa

    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql as dialect_module
    else:
        from sqlalchemy.dialects import sqlite as dialect_module
    dialect = dialect_module.dialect()
    statements = []
    for ix in _records_indexes(unique_only):
        ddl = sa.schema.CreateIndex(ix) if create else sa.schema.DropIndex(ix, if_exists=True)
        statements.append((str(ix.name), str(ddl.compile(dialect=dialect))))
    return statements


class Loader:
    backend: str

    def prepare(self) -> None: ...
    def load(self, payload: Any) -> None: ...
    def finish_load(self) -> None: ...
    def create_indexes(self, unique_only: bool) -> list[dict[str, Any]]: ...
    def analyze(self) -> None: ...
    def counts(self) -> dict[str, int]: ...
    def size_bytes(self) -> int: ...
    def close(self) -> None: ...


def _pg_conninfo(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


class PostgresLoader(Loader):
    """COPY into tables truncated in the same transaction (FREEZE: no later hint-bit rewrite or freeze vacuum)."""

    backend = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(_pg_conninfo(url))
        self.conn.execute("SET synchronous_commit = off")
        self.conn.execute("SET maintenance_work_mem = '1GB'")

    def prepare(self) -> None:
        # The rows are the generator's own (user ids 1..N by construction): the per-row foreign-key triggers
        # are skipped for the load (the constraints stay declared; `check` verifies the ranges after).
        self.conn.execute("SET session_replication_role = replica")
        for _name, ddl in _index_ddl("postgresql", create=False):
            self.conn.execute(ddl)
        self.conn.execute("TRUNCATE users CASCADE")

    def load(self, payload: dict[str, bytes]) -> None:
        with self.conn.cursor() as cursor:
            for table in TABLES:
                data = payload[table]
                if not data:
                    continue
                binary = ", FORMAT binary" if table == "records" else ""
                with cursor.copy(f"COPY {table} {PG_COLUMNS[table]} FROM STDIN WITH (FREEZE{binary})") as copy:
                    copy.write(data)

    def finish_load(self) -> None:
        # The product's own inserts of new users continue after the generated ids.
        self.conn.execute(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT coalesce(max(id), 1) FROM users))"
        )
        self.conn.commit()
        self.conn.execute("SET session_replication_role = DEFAULT")
        self.conn.commit()

    def create_indexes(self, unique_only: bool) -> list[dict[str, Any]]:
        done = []
        for name, ddl in _index_ddl("postgresql", create=True, unique_only=unique_only):
            started = time.perf_counter()
            self.conn.execute(ddl)
            self.conn.commit()
            done.append({"index": name, "s": round(time.perf_counter() - started, 2)})
        return done

    def analyze(self) -> None:
        self.conn.execute("ANALYZE")
        self.conn.commit()

    def counts(self) -> dict[str, int]:
        out = {}
        for table in TABLES:
            row = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            out[table] = int(row[0])
        self.conn.commit()
        return out

    def user_id_range(self, table: str) -> tuple[int | None, int | None]:
        row = self.conn.execute(f"SELECT min(user_id), max(user_id) FROM {table}").fetchone()
        self.conn.commit()
        assert row is not None
        return row[0], row[1]

    def size_bytes(self) -> int:
        row = self.conn.execute("SELECT pg_database_size(current_database())").fetchone()
        self.conn.commit()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


class SqliteLoader(Loader):
    """executemany in one transaction per chunk, journal off and no syncs during the build (restored after)."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)

    def prepare(self) -> None:
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("PRAGMA cache_size = -1000000")  # KiB: 1 GiB
        self.conn.execute("PRAGMA temp_store = MEMORY")
        for _name, ddl in _index_ddl("sqlite", create=False):
            self.conn.execute(ddl)

    def load(self, payload: Chunk) -> None:
        counts = payload.rows()
        rows = format_sqlite(payload)
        self.conn.execute("BEGIN")
        for table in TABLES:
            if counts[table]:
                self.conn.executemany(SQLITE_INSERTS[table], rows[table])
        self.conn.execute("COMMIT")

    def finish_load(self) -> None:
        pass

    def create_indexes(self, unique_only: bool) -> list[dict[str, Any]]:
        done = []
        for name, ddl in _index_ddl("sqlite", create=True, unique_only=unique_only):
            started = time.perf_counter()
            self.conn.execute(ddl)
            done.append({"index": name, "s": round(time.perf_counter() - started, 2)})
        return done

    def analyze(self) -> None:
        self.conn.execute("ANALYZE")
        # Back to what the product runs with (WAL is persistent; synchronous is per connection).
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA journal_mode = WAL")

    def counts(self) -> dict[str, int]:
        return {table: int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in TABLES}

    def user_id_range(self, table: str) -> tuple[int | None, int | None]:
        row = self.conn.execute(f"SELECT min(user_id), max(user_id) FROM {table}").fetchone()
        return row[0], row[1]

    def size_bytes(self) -> int:
        return sum(
            Path(f"{self.path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{self.path}{suffix}").exists()
        )

    def close(self) -> None:
        self.conn.close()


# --- the schema, as the product makes it -------------------------------------------------------------------------


def _backend_of(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).get_backend_name()


def _fresh_database(url: str, replace: bool) -> None:
    """Make sure the database exists and holds no users (drop it first with `replace`)."""
    from finbuddy.db.engine import sqlite_path

    if _backend_of(url) == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise SystemExit("population: a SQLite URL needs a file (sqlite:///path)")
        if replace:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if not name:
        raise SystemExit("population: the PostgreSQL URL names no database")
    with psycopg.connect(_pg_conninfo(url, PG_ADMIN_DB), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and replace:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(f'DROP DATABASE "{name}"')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')


def migrate(url: str) -> None:
    """The product's schema through its own migrations (which also write the database_identity row)."""
    from finbuddy.db import Database
    from finbuddy.db.migrate import upgrade

    db = Database(url, auto_migrate=True)
    try:
        upgrade(db)
        with db.read() as conn:
            import sqlalchemy as sa

            from finbuddy.db.tables import database_identity, users

            if conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one():
                raise SystemExit(f"population: {url} already holds users: pass --replace to rebuild it")
            if not conn.execute(sa.select(sa.func.count()).select_from(database_identity)).scalar_one():
                raise SystemExit("population: the migrations wrote no database_identity row")
    finally:
        db.dispose()


# --- the product reads what was written ----------------------------------------------------------------------------


def product_check(url: str, user_id: int) -> dict[str, Any]:
    """The product's monthly summary of a generated user (library, fresh) against a direct SUM over their rows."""
    import sqlalchemy as sa

    import finbuddy
    from finbuddy.dates import month_bounds
    from finbuddy.db.tables import budgets, records, users

    name = user_name(user_id)
    start, end = month_bounds(REPLAY_DAY.replace(day=1))
    with tempfile.TemporaryDirectory(prefix="population-check-") as home:
        env = {
            "FINBUDDY_HOME": home,
            "FINBUDDY_DATABASE_URL": url,
            "FINBUDDY_USER_TIMEZONE": "UTC",
            "FINBUDDY_FAKE_NOW": f"{REPLAY_DAY.isoformat()}T12:00:00+00:00",
        }
        with finbuddy.open_context(name, env=env) as ctx:
            summary = finbuddy.monthly_summary(ctx, fresh=True)
            with ctx.db.read() as conn:
                month = sa.and_(
                    records.c.user_id == user_id, records.c.expense_date >= start, records.c.expense_date <= end
                )

                def total(kind: str) -> int:
                    stmt = sa.select(sa.func.coalesce(sa.func.sum(records.c.amount_cents), 0)).where(
                        month, records.c.kind == kind
                    )
                    return int(conn.execute(stmt).scalar_one())

                direct = {"expenses_cents": total("expense"), "income_cents": total("income")}
                user = conn.execute(
                    sa.select(users.c.next_record_id, sa.func.count(records.c.id))
                    .select_from(users.outerjoin(records, records.c.user_id == users.c.id))
                    .where(users.c.id == user_id)
                    .group_by(users.c.next_record_id)
                ).one()
                budget_rows = dict(
                    conn.execute(
                        sa.select(budgets.c.category, budgets.c.amount_cents).where(budgets.c.user_id == user_id)
                    ).all()
                )
    product = {"expenses_cents": summary.expenses_cents, "income_cents": summary.income_cents}
    shown_budgets = {c.category: c.budget_cents for c in summary.by_category if c.budget_cents is not None}
    ok = product == direct and user[0] == user[1] + 1 and shown_budgets == budget_rows
    return {
        "user": name,
        "month": start.isoformat(),
        "product": product,
        "direct_sum": direct,
        "records": int(user[1]),
        "next_record_id": int(user[0]),
        "ok": ok,
    }


# --- the build ---------------------------------------------------------------------------------------------------


def _distribution(values) -> dict[str, float]:
    import numpy as np

    return {
        "min": int(values.min()),
        "median": float(np.median(values)),
        "mean": round(float(values.mean()), 2),
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
        "max": int(values.max()),
    }


def build(
    url: str,
    users: int,
    *,
    seed: int = params.SEED,
    progress: bool = True,
    indexes: bool = True,
    replace: bool = False,
    chunk_users: int = CHUNK_USERS,
) -> dict[str, Any]:
    """Create the product's schema at `url` and write `users` generated users; returns the figures."""
    import numpy as np

    from finbuddy.config import mask_url
    from finbuddy.db.engine import sqlite_path

    say = log if progress else (lambda _message: None)
    backend = _backend_of(url)
    if backend not in ("sqlite", "postgresql"):
        raise SystemExit(f"population: {mask_url(url)} is neither sqlite:/// nor postgresql")
    elapsed: dict[str, float] = {}
    started_all = time.perf_counter()

    started = time.perf_counter()
    _fresh_database(url, replace)
    migrate(url)
    elapsed["schema"] = time.perf_counter() - started
    say(f"{backend}: schema migrated ({elapsed['schema']:.1f} s); writing {users:,} users")

    chunks = _chunks(users, chunk_users)
    rows = dict.fromkeys(TABLES, 0)
    per_user = []
    shares = {"recurring_users": 0, "budget_users": 0, "holdings_users": 0}
    generate_cpu = 0.0
    waited = 0.0
    done_users = 0
    # The machine is shared: the 1-minute load average per chunk says how much of it the build had.
    load_samples = [os.getloadavg()[0]]
    # The producer is forked before any connection is opened (a forked child must not share one).
    source = _produced(chunks, seed, backend)
    loader: Loader
    if backend == "postgresql":
        loader = PostgresLoader(url)
    else:
        path = sqlite_path(url)
        assert path is not None
        loader = SqliteLoader(path)
    try:
        started = time.perf_counter()
        loader.prepare()
        while True:
            wait_started = time.perf_counter()
            item = next(source, None)
            waited += time.perf_counter() - wait_started
            if item is None:
                break
            payload, stats = item
            loader.load(payload)
            for table, count in stats["rows"].items():
                rows[table] += count
            per_user.append(stats["records_per_user"])
            for key in shares:
                shares[key] += stats[key]
            generate_cpu += stats["cpu_s"]
            done_users += stats["rows"]["users"]
            load_samples.append(os.getloadavg()[0])
            spent = time.perf_counter() - started
            total_rows = sum(rows.values())
            say(
                f"{done_users:,}/{users:,} users, {total_rows:,} rows, {total_rows / spent:,.0f} rows/s "
                f"({rows['records'] / spent:,.0f} records/s), {spent:.0f} s"
            )
        loader.finish_load()
        elapsed["load"] = time.perf_counter() - started

        started = time.perf_counter()
        index_times = loader.create_indexes(unique_only=not indexes)
        elapsed["index"] = time.perf_counter() - started
        say(f"indexes {'re-created' if indexes else '(unique only) re-created'} in {elapsed['index']:.1f} s")

        started = time.perf_counter()
        loader.analyze()
        elapsed["analyze"] = time.perf_counter() - started
        elapsed["total"] = time.perf_counter() - started_all

        started = time.perf_counter()
        counted = loader.counts()
        ranges = {table: loader.user_id_range(table) for table in TABLES if table != "users"}
        size = loader.size_bytes()
    finally:
        loader.close()
    if counted != rows:
        raise RuntimeError(f"population: the database holds {counted}, the generator wrote {rows}")
    for table, (low, high) in ranges.items():
        if low is not None and (low < 1 or high is None or high > users):
            raise RuntimeError(f"population: {table} has user ids {low}..{high} outside 1..{users}")

    records_per_user = np.concatenate(per_user)
    heaviest = int(np.argmax(records_per_user)) + 1
    typical = int(np.argmin(np.abs(records_per_user - np.median(records_per_user)))) + 1
    checks = [product_check(url, heaviest), product_check(url, typical)]
    elapsed["check"] = time.perf_counter() - started
    if not all(check["ok"] for check in checks):
        raise RuntimeError(f"population: the product reads other totals than the rows hold: {checks}")
    say(f"{mask_url(url)}: {sum(rows.values()):,} rows in {elapsed['total']:.1f} s, {size / 2**20:,.0f} MiB")

    total_rows = sum(rows.values())
    return {
        "backend": backend,
        "users": users,
        "seed": seed,
        "indexes": "all" if indexes else "unique only (non-unique secondary indexes of records left off)",
        "chunk_users": chunk_users,
        "rows": rows,
        "rows_total": total_rows,
        "rows_per_s": round(total_rows / elapsed["total"]),
        "records_load_rows_per_s": round(rows["records"] / elapsed["load"]),
        "load_rows_per_s": round(total_rows / elapsed["load"]),
        "elapsed_s": {key: round(value, 2) for key, value in elapsed.items()},
        # The producer generates and formats while the loader writes: its CPU time overlaps the load.
        "generate_cpu_s": round(generate_cpu, 2),
        "load_waited_for_producer_s": round(waited, 2),
        "indexes_created": index_times,
        "load_average_1m": {
            "mean": round(sum(load_samples) / len(load_samples), 2),
            "max": round(max(load_samples), 2),
        },
        "database_bytes": size,
        "database_mib": round(size / 2**20, 1),
        "bytes_per_record": round(size / max(1, rows["records"]), 1),
        "records_per_user": _distribution(records_per_user),
        "shares": {key: round(value / users, 4) for key, value in shares.items()},
        "history": {"first_day": HISTORY_START.isoformat(), "last_day": PRICE_DAY.isoformat()},
        "replay_day": REPLAY_DAY.isoformat(),
        "product_check": checks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="database URL (sqlite:///path or postgresql+psycopg://...)")
    parser.add_argument("--users", type=int, help="how many users (default with --quick: params.QUICK_USERS)")
    parser.add_argument("--quick", action="store_true", help="a few hundred users in seconds; results not saved")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    parser.add_argument("--no-indexes", action="store_true", help="leave the records' non-unique indexes off")
    parser.add_argument("--replace", action="store_true", help="drop the database (delete the file) first")
    parser.add_argument("--seed", type=int, default=params.SEED)
    parser.add_argument("--chunk-users", type=int, default=CHUNK_USERS)
    args = parser.parse_args(argv)
    users = args.users or (params.QUICK_USERS if args.quick else None)
    if users is None or users < 1:
        parser.error("--users N is needed (or --quick)")
    with tempfile.TemporaryDirectory(prefix="population-") as tmp:
        url = args.url or (f"sqlite:///{tmp}/population.db" if args.quick else None)
        if url is None:
            parser.error("--url is needed (or --quick)")
        figures = build(
            url,
            users,
            seed=args.seed,
            indexes=not args.no_indexes,
            replace=args.replace,
            chunk_users=args.chunk_users,
        )
    if not args.quick:
        suffix = "" if not args.no_indexes else "-noindex"
        saved = results.save(f"population-{figures['backend']}-{users}{suffix}", figures)
        log(f"saved {saved}")
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{figures['backend']} {users:,} users: {figures['rows_total']:,} rows "
            f"in {figures['elapsed_s']['total']} s "
            f"({figures['rows_per_s']:,} rows/s; records load {figures['records_load_rows_per_s']:,} rows/s), "
            f"{figures['database_mib']:,} MiB; records per user {figures['records_per_user']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
