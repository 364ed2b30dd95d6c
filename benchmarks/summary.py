"""Benchmarks for `summary` and `import`: library vs raw driver, cached CLI vs the import floor, import throughput.

    python benchmarks/summary.py            # 1,000,000 + 10,000 x 100 records, SQLite and PostgreSQL (when reachable)
    python benchmarks/summary.py --quick    # tiny sizes: checks that every section runs (tests/test_bench_summary.py)
    python benchmarks/summary.py --json     # the figures as one JSON document

Not a timed test: it prints figures beside their targets and always exits 0 unless something breaks.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

FAKE_NOW = "2026-11-25T12:00:00+00:00"
MONTH = dt.date(2026, 11, 1)
BIG_USER = "big"
CATEGORIES = [
    "groceries",
    "dining",
    "rent",
    "transport",
    "utilities",
    "fun",
    "health",
    "travel",
    "gifts",
    "education",
    "clothes",
    "pets",
]
MERCHANTS = [f"Merchant {i:02d}" for i in range(60)]
PG_ADMIN_URL = os.environ.get("FINBUDDY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CHUNK = 50_000


def _env(home: Path, url: str | None, user: str = BIG_USER) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINBUDDY_", "OPENAI_"))}
    env.update(
        FINBUDDY_HOME=str(home),
        FINBUDDY_USER=user,
        FINBUDDY_USER_TIMEZONE="UTC",
        FINBUDDY_FAKE_NOW=FAKE_NOW,
        NO_COLOR="1",
    )
    if url:
        env["FINBUDDY_DATABASE_URL"] = url
    return env


def _days_back(months: int) -> list[dt.date]:
    """Every day of the `months` months that end with MONTH."""
    index = MONTH.year * 12 + MONTH.month - 1 - (months - 1)
    start = dt.date(index // 12, index % 12 + 1, 1)
    end = dt.date(2026, 11, 30)
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _record_rows(user_id: int, count: int, rng: random.Random, days: list[dt.date], now: dt.datetime):
    for i in range(1, count + 1):
        income = rng.random() < 0.08
        yield {
            "user_id": user_id,
            "id": i,
            "kind": "income" if income else "expense",
            "amount_cents": rng.randint(100_000, 500_000) if income else rng.randint(150, 25_000),
            "expense_date": rng.choice(days),
            "category": "salary" if income else rng.choice(CATEGORIES),
            "merchant": None if income or rng.random() < 0.2 else rng.choice(MERCHANTS),
            "note": None,
            "fingerprint": None,
            "created_at": now,
            "updated_at": now,
        }


def build_database(url: str, big: int, users: int, per_user: int, log) -> None:
    """Migrate `url` and fill it with SQLAlchemy Core executemany inserts."""
    import sqlalchemy as sa

    from finbuddy.db import Database
    from finbuddy.db.migrate import upgrade
    from finbuddy.db.tables import budgets, records
    from finbuddy.db.tables import users as users_t

    db = Database(url)
    upgrade(db)
    now = dt.datetime.fromisoformat(FAKE_NOW)
    rng = random.Random(2026)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        names = [BIG_USER] + [f"user{n:05d}" for n in range(1, users + 1)]
        conn.execute(
            sa.insert(users_t),
            [
                {
                    "name": name,
                    "next_record_id": (big if name == BIG_USER else per_user) + 1,
                    "data_version": 1,
                    "created_at": now,
                }
                for name in names
            ],
        )
        ids = dict(conn.execute(sa.select(users_t.c.name, users_t.c.id)).all())
        conn.execute(
            sa.insert(budgets),
            [
                {"user_id": ids[BIG_USER], "category": c, "amount_cents": 5_000_000, "updated_at": now}
                for c in CATEGORIES[:8]
            ],
        )

    def insert(rows_iter) -> None:
        chunk: list[dict] = []
        with db.engine.begin() as conn:
            for row in rows_iter:
                chunk.append(row)
                if len(chunk) >= CHUNK:
                    conn.execute(sa.insert(records), chunk)
                    chunk.clear()
            if chunk:
                conn.execute(sa.insert(records), chunk)

    insert(_record_rows(ids[BIG_USER], big, rng, _days_back(36), now))
    year = _days_back(12)

    def small_users():
        for name in names[1:]:
            yield from _record_rows(ids[name], per_user, rng, year, now)

    insert(small_users())
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    db.dispose()
    log(f"  built {big + users * per_user:,} records in {time.perf_counter() - started:.1f} s")


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm up (connections, statement caches)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def summary_latency(home: Path, url: str, repeat: int) -> dict:
    """monthly_summary(fresh=True) against the same statements run through the raw driver."""
    from zoneinfo import ZoneInfo

    from finbuddy.clock import Clock
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.dates import month_bounds
    from finbuddy.db import summary as q
    from finbuddy.db.alerts import alerts_stmt
    from finbuddy.db.recurring import recurring_candidates_stmt
    from finbuddy.db.tables import users
    from finbuddy.ledger.recurring import LOOKBACK_DAYS
    from finbuddy.ledger.summary import monthly_summary

    settings = load_settings(env=_env(home, url))
    clock = Clock(dt.datetime.fromisoformat(FAKE_NOW))
    results = {}
    for who in (BIG_USER, "user00001"):
        ctx = Context(settings=settings, clock=clock, user=who)
        library_ms = _median_ms(lambda ctx=ctx: monthly_summary(ctx, MONTH, fresh=True), repeat)
        summary = monthly_summary(ctx, MONTH, fresh=True)
        ctx.close()

        import sqlalchemy as sa

        dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            user_id = conn.execute(sa.select(users.c.id).where(users.c.name == who)).scalar_one()
        engine.dispose()
        start, end = month_bounds(MONTH)
        compared = summary.comparison
        recurring_since = clock.today(ZoneInfo("UTC")) - dt.timedelta(days=LOOKBACK_DAYS)
        statements = [
            f"SELECT id, data_version, portfolio_version FROM users WHERE name = '{who}'",
            q.compiled_sql(q.category_totals_stmt(user_id, start, end), dialect),
            q.compiled_sql(q.daily_totals_stmt(user_id, start, end), dialect),
            q.compiled_sql(q.top_merchants_stmt(user_id, start, end), dialect),
            q.compiled_sql(
                q.compared_expenses_stmt(
                    user_id, compared.start, compared.end, compared.previous_start, compared.previous_end
                ),
                dialect,
            ),
            q.compiled_sql(q.budgets_stmt(user_id), dialect),
            # the forecast's recurring charges (month in progress) and the month's budget alerts
            q.compiled_sql(recurring_candidates_stmt(user_id, recurring_since), dialect),
            q.compiled_sql(alerts_stmt(user_id, [start]), dialect),
        ]
        if dialect == "sqlite":
            raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)

            def run_raw(raw=raw, statements=statements):
                raw.execute("BEGIN")
                for sql in statements:
                    raw.execute(sql).fetchall()
                raw.execute("COMMIT")
        else:
            import psycopg

            raw = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

            def run_raw(raw=raw, statements=statements):
                with raw.transaction():
                    for sql in statements:
                        raw.execute(sql).fetchall()

        raw_ms = _median_ms(run_raw, repeat)
        raw.close()
        results[who] = {
            "records_in_month": sum(c.count for c in summary.by_category),
            "library_ms": round(library_ms, 2),
            "raw_sql_ms": round(raw_ms, 2),
            "ratio": round(library_ms / raw_ms, 2),
            "target_ratio": 1.5,
        }
    return results


def _wall_ms(args: list[str], env: dict[str, str], repeat: int) -> float:
    def run():
        proc = subprocess.run(args, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")

    return _median_ms(run, repeat)


def cli_latency(home: Path, url: str | None, repeat: int) -> dict:
    env = _env(home, url)
    floor = _wall_ms([sys.executable, "-c", "import sqlalchemy, typer"], env, repeat)
    summary = [sys.executable, "-m", "finbuddy", "summary", "--json"]
    fresh = _wall_ms([*summary, "--fresh"], env, repeat)
    subprocess.run(summary, env=env, capture_output=True, check=True)  # fill the cache
    check = json.loads(subprocess.run(summary, env=env, capture_output=True, text=True, check=True).stdout)
    if not check["cached"]:
        raise RuntimeError("the cached run was not served from the cache")
    cached = _wall_ms(summary, env, repeat)
    return {
        "import_floor_ms": round(floor, 1),
        "cached_summary_ms": round(cached, 1),
        "cached_ratio_to_floor": round(cached / floor, 2),
        "target_ratio": 1.3,
        "fresh_summary_ms": round(fresh, 1),
        "cache_saves_ms": round(fresh - cached, 1),
    }


def _import_available(env: dict[str, str]) -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "finbuddy", "import", "--help"], env=env, capture_output=True, text=True
    )
    return proc.returncode == 0


def write_csv(path: Path, rows: int) -> list[tuple]:
    rng = random.Random(99)
    days = _days_back(12)
    data = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "amount", "category", "merchant", "note"])
        for i in range(rows):
            cents = rng.randint(150, 25_000)
            row = (
                rng.choice(days).isoformat(),
                f"{cents // 100}.{cents % 100:02d}",
                rng.choice(CATEGORIES),
                rng.choice(MERCHANTS),
                f"row {i}",
            )
            writer.writerow(row)
            data.append(row)
    return data


def _fingerprint(index: int, day: str, amount: str) -> str:
    return hashlib.sha256(f"raw|{index}|{day}|{amount}".encode()).hexdigest()


# `python -m finbuddy ARGS...` that writes its own peak RSS (VmHWM, KiB) to the file named first. The child's
# rusage (os.wait4, RUSAGE_CHILDREN) would not do: Linux counts the parent's resident pages, which the child
# shares between fork and exec, in the child's maxrss, so the import would be charged the benchmark's heap.
_MEASURED_CHILD = """
import runpy, sys
peak_file = sys.argv.pop(1)
sys.argv[0] = "finbuddy"
try:
    runpy.run_module("finbuddy", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as status:
        peak_kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(peak_file, "w") as out:
        out.write(peak_kib)
"""


def import_throughput(work: Path, rows: int) -> dict:
    """`finbuddy import FILE.csv --json` (a fresh SQLite home) against a raw sqlite3 executemany of the same rows."""
    from finbuddy.db import Database
    from finbuddy.db.migrate import upgrade

    home = work / "import-home"
    env = _env(home, None, user="importer")
    if not _import_available(env):
        return {"skipped": "`finbuddy import` is not available in this tree yet"}
    csv_file = work / "bank.csv"
    data = write_csv(csv_file, rows)

    # the raw floor: same schema (indexes included), one transaction, executemany, and fingerprints of
    # the same kind as the import's (random 64-hex-digit SHA-256, not sequential: they scatter over the
    # unique index exactly as the imported rows' do)
    raw_db = work / "raw.db"
    upgrade(Database(f"sqlite:///{raw_db}"))
    conn = sqlite3.connect(raw_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("INSERT INTO users (name, created_at) VALUES ('raw', '2026-11-25 12:00:00')")
    now = "2026-11-25 12:00:00.000000"
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO records (user_id, id, kind, amount_cents, expense_date, category, merchant, note, "
        "fingerprint, created_at, updated_at) VALUES (1, ?, 'expense', ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (i + 1, int(amount.replace(".", "")), day, category, merchant, note, _fingerprint(i, day, amount), now, now)
            for i, (day, amount, category, merchant, note) in enumerate(data)
        ),
    )
    conn.execute("COMMIT")
    raw_s = time.perf_counter() - started
    conn.close()

    # migrate the import home first so the import measures importing, not the schema set-up
    subprocess.run([sys.executable, "-m", "finbuddy", "summary", "--json"], env=env, capture_output=True, check=True)
    peak_file = work / "import-peak-kib"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED_CHILD, str(peak_file), "import", str(csv_file), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    import_s = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"finbuddy import failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    return {
        "rows": rows,
        "imported": report.get("imported"),
        "import_rows_per_s": round(rows / import_s),
        "raw_executemany_rows_per_s": round(rows / raw_s),
        "ratio": round(raw_s / import_s, 2),
        "target_ratio": 0.4,
        "peak_rss_mib": round(int(peak_file.read_text()) / 1024, 1),
    }


def _pg_url() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
            return PG_ADMIN_URL
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the benchmark runs")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.quick:
        big, users, per_user, csv_rows, repeat = 3_000, 20, 10, 500, 3
    else:
        big, users, per_user, csv_rows, repeat = 1_000_000, 10_000, 100, 100_000, 15

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    work = Path(tempfile.mkdtemp(prefix="finbuddy-bench-"))
    figures: dict = {
        "sizes": {"big_user_records": big, "users": users, "records_per_user": per_user, "csv_rows": csv_rows},
        "backends": {},
    }
    backends = [("sqlite", None)]
    pg = None if args.no_postgres else _pg_url()
    if pg:
        backends.append(("postgresql", pg))
    else:
        figures["backends"]["postgresql"] = {"skipped": "not reachable" if not args.no_postgres else "--no-postgres"}
    try:
        for name, admin_url in backends:
            home = work / f"home-{name}"
            pg_name = None
            if name == "sqlite":
                (home / "data").mkdir(parents=True)
                url = f"sqlite:///{home / 'data' / 'finbuddy.db'}"
            else:
                import sqlalchemy as sa

                pg_name = f"finbuddy_bench_{uuid.uuid4().hex[:10]}"
                admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{pg_name}"')
                admin.dispose()
                url = admin_url.rsplit("/", 1)[0] + f"/{pg_name}"
            try:
                log(f"{name}: building {big:,} records for one user and {per_user} for each of {users:,} users")
                build_database(url, big, users, per_user, log)
                result = {"summary": summary_latency(home, url, repeat), "cli": cli_latency(home, url, repeat)}
                figures["backends"][name] = result
                _print_backend(name, result, log)
            finally:
                if pg_name:
                    import sqlalchemy as sa

                    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
                    admin.dispose()
        log(f"import: {csv_rows:,}-row CSV")
        figures["import"] = import_throughput(work, csv_rows)
        _print_import(figures["import"], log)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


def _print_backend(name: str, result: dict, log) -> None:
    for who, s in result["summary"].items():
        log(
            f"  uncached summary, {who} ({s['records_in_month']:,} records in the month): "
            f"{s['library_ms']:.2f} ms vs raw SQL {s['raw_sql_ms']:.2f} ms = {s['ratio']:.2f}x (target <= 1.5x)"
        )
    c = result["cli"]
    log(
        f"  cached `finbuddy summary --json`: {c['cached_summary_ms']:.0f} ms vs `import sqlalchemy, typer` "
        f"{c['import_floor_ms']:.0f} ms = {c['cached_ratio_to_floor']:.2f}x (target <= 1.3x)"
    )
    log(f"  --fresh: {c['fresh_summary_ms']:.0f} ms; the cache saves {c['cache_saves_ms']:.0f} ms per call")


def _print_import(result: dict, log) -> None:
    if "skipped" in result:
        log(f"  skipped: {result['skipped']}")
        return
    log(
        f"  finbuddy import: {result['import_rows_per_s']:,} rows/s vs raw executemany "
        f"{result['raw_executemany_rows_per_s']:,} rows/s = {result['ratio']:.2f}x (target >= 0.4x); "
        f"peak RSS {result['peak_rss_mib']} MiB"
    )


if __name__ == "__main__":
    sys.exit(main())
