"""Phase-2 benchmarks (SPEC.md "Scale-out"), one independent section each.

    python benchmarks/phase2.py                  # every section
    python benchmarks/phase2.py --quick          # tiny sizes: every section runs (tests/test_bench_phase2*.py)
    python benchmarks/phase2.py --only cache     # one section
    python benchmarks/phase2.py --json           # the figures as one JSON document

Sections:
  batch   the daily insights in batch mode (ai.insights_mode = batch) for 50,000 users (--quick: 300) against the
          loopback fake's Batch API, in-process: the submission (building every user's request line from their
          figures, recording the intent, uploading the JSONL files and creating the batches) and, once the fake has
          answered every line, the ingestion (reading the results and writing every insight and ledger row).
          FINBUDDY_BENCH_DATABASE_URL runs it on PostgreSQL (default: a SQLite file in a temporary home).
  queue-batch  the daily batch for 2,000 users written by `finbuddy worker` with 1, 2 and 4 processes on
          RabbitMQ against the loopback fake capped at 600/min: calls/min against the cap, 429s (must be 0).
  planning  planning the day for 100,000 users onto the queue: messages/s and users/s.
          (Both from benchmarks/phase2_queue.py, which runs them alone with every knob.)
  cache   a cached-summary lookup on Redis vs diskcache, in-process, medians: the cache's own get of a
          real summary entry, and the library's whole cached `monthly_summary` (which also reads the
          user's data generation from SQLite); plus what a Redis outage costs a lookup.

A section is `name: function(quick: bool, log) -> dict` in SECTIONS; it sets up and removes what it
needs, and reports {"skipped": reason} when a service it needs is missing. Not a timed test: it
prints figures and always exits 0 unless something breaks.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAKE_NOW = "2026-11-25T12:00:00+00:00"
REDIS_URL = os.environ.get("FINBUDDY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

Log = Callable[[str], None]


def _timed_us(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Median and 95th percentile of `repeat` calls, in microseconds (after a few warm-up calls)."""
    for _ in range(min(20, repeat)):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_problem(url: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "the redis client is not installed (pip install 'finbuddy[scale]')"
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
        return None
    except Exception as exc:
        return f"Redis not reachable at {url}: {exc}"
    finally:
        client.close()


# --- section: cache --------------------------------------------------------------------------------


def _fill_home(home: Path, records: int) -> None:
    """A SQLite install with `records` expenses this month, through the real CLI entry point."""
    from finbuddy.cli import main

    categories = ["groceries", "dining", "rent", "transport", "utilities", "fun", "health", "travel"]
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(records):
            day = 1 + i % 25
            code = main(
                ["add", f"{3 + i % 50}.{i % 100:02d}", categories[i % len(categories)], "--date", f"2026-11-{day:02d}"]
                + ["--merchant", f"Merchant {i % 12}"]
            )
            assert code == 0
        for category in categories[:5]:
            assert main(["budget", "set", category, "300"]) == 0


def _context(env: dict[str, str]):
    from finbuddy.config import load_settings
    from finbuddy.context import Context

    return Context(settings=load_settings(env=env))


def _lookups(ctx, repeat: int) -> dict[str, Any]:
    """Timings of one store: the cache's own get of a summary entry, and the library's cached summary."""
    from finbuddy.ledger.summary import monthly_summary

    first = monthly_summary(ctx)  # computes and stores the entry
    assert not first.cached
    assert monthly_summary(ctx).cached, "the second summary was not served from the cache"
    # The same value under a key of the benchmark's own, read through the same Cache.get.
    value = first.to_json()
    ctx.cache.put("summary", ctx.user, [0, 0], "bench", value=value)
    assert ctx.cache.get("summary", ctx.user, [0, 0], "bench").value == value
    return {
        "entry_bytes": len(json.dumps(value)),
        "cache_get": _timed_us(lambda: ctx.cache.get("summary", ctx.user, [0, 0], "bench"), repeat),
        "cached_monthly_summary": _timed_us(lambda: monthly_summary(ctx), repeat),
    }


def _outage(redis_env: dict[str, str], url: str, repeat: int) -> dict[str, Any]:
    """What a lookup costs while Redis is away: the call that finds out, then each call while the breaker is open."""
    from finbuddy.cache import open_cache
    from finbuddy.clock import Clock
    from finbuddy.config import load_settings

    env = dict(redis_env, FINBUDDY_CACHE_URL=url)
    warnings: list[str] = []
    cache = open_cache(load_settings(env=env), Clock.from_env(), lambda: "bench", warn=warnings.append)
    started = time.perf_counter()
    assert cache.get("summary", "alice", [1, 1], "x") is None
    first_ms = (time.perf_counter() - started) * 1000
    assert cache.breaker_open and len(warnings) == 1
    open_lookup = _timed_us(lambda: cache.get("summary", "alice", [1, 1], "x"), repeat)
    assert cache.breaker_trips == 1
    cache.close()
    return {"first_lookup_ms": round(first_ms, 2), "lookup_while_breaker_open": open_lookup}


def bench_cache(quick: bool, log: Log) -> dict[str, Any]:
    repeat = 200 if quick else 5000
    records = 30 if quick else 400
    work = Path(tempfile.mkdtemp(prefix="finbuddy-bench-phase2-"))
    saved_env = dict(os.environ)
    prefix = f"fbbench-{uuid.uuid4().hex[:10]}"
    figures: dict[str, Any] = {"repeat": repeat, "records": records}
    try:
        for name in [n for n in os.environ if n.startswith(("FINBUDDY_", "OPENAI_"))]:
            del os.environ[name]
        base_env = {
            "FINBUDDY_HOME": str(work / "home"),
            "FINBUDDY_USER": "alice",
            "FINBUDDY_USER_TIMEZONE": "UTC",
            "FINBUDDY_FAKE_NOW": FAKE_NOW,
            "FINBUDDY_AI_PROVIDER": "offline",
        }
        os.environ.update(base_env)
        log(f"cache: {records} records, {repeat} lookups per figure")
        _fill_home(work / "home", records)

        ctx = _context(base_env)
        try:
            figures["diskcache"] = _lookups(ctx, repeat)
        finally:
            ctx.close()

        problem = _redis_problem(REDIS_URL)
        if problem:
            figures["redis"] = {"skipped": problem}
        else:
            redis_env = dict(base_env, FINBUDDY_CACHE_URL=REDIS_URL, FINBUDDY_CACHE_PREFIX=prefix)
            ctx = _context(redis_env)
            try:
                figures["redis"] = _lookups(ctx, repeat)
            finally:
                ctx.close()
            figures["redis"]["closed_port"] = _outage(redis_env, f"redis://127.0.0.1:{_free_port()}/0", repeat)
            figures["redis"]["hung"] = _hung(redis_env, work, repeat)
            disk, red = figures["diskcache"], figures["redis"]
            figures["redis_over_disk"] = {
                k: round(red[k]["median_us"] / disk[k]["median_us"], 2) for k in ("cache_get", "cached_monthly_summary")
            }
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        if "redis" in figures and "skipped" not in figures["redis"]:
            import redis

            client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.delete(*keys)
            client.close()
        shutil.rmtree(work, ignore_errors=True)
    _print_cache(figures, log)
    return figures


def _hung(redis_env: dict[str, str], work: Path, repeat: int) -> dict[str, Any]:
    """The outage figures against a private redis-server hung with SIGSTOP (never the shared one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        return {"skipped": "redis-server is not installed"}
    port = _free_port()
    (work / "redis").mkdir()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(work / "redis"), "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        give_up = time.monotonic() + 10
        while _redis_problem(url):
            if proc.poll() is not None or time.monotonic() > give_up:
                return {"skipped": "the private redis-server did not start"}
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGSTOP)
        return _outage(redis_env, url, repeat)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)


def _print_cache(figures: dict[str, Any], log: Log) -> None:
    for store in ("diskcache", "redis"):
        data = figures.get(store, {})
        if "skipped" in data:
            log(f"  {store}: skipped ({data['skipped']})")
            continue
        log(
            f"  {store:9}  cache get {data['cache_get']['median_us']:8.1f} µs median"
            f" (p95 {data['cache_get']['p95_us']:.1f})   cached monthly_summary"
            f" {data['cached_monthly_summary']['median_us']:8.1f} µs median"
            f" (p95 {data['cached_monthly_summary']['p95_us']:.1f})   entry {data['entry_bytes']} B"
        )
    red = figures.get("redis", {})
    for case in ("closed_port", "hung"):
        data = red.get(case)
        if not data or "skipped" in data:
            continue
        log(
            f"  redis {case:11}  first lookup {data['first_lookup_ms']:.1f} ms (finds out, opens the breaker),"
            f" then {data['lookup_while_breaker_open']['median_us']:.1f} µs per lookup while open"
        )
    if "redis_over_disk" in figures:
        ratios = figures["redis_over_disk"]
        log(
            f"  Redis / diskcache: cache get x{ratios['cache_get']}, cached summary x{ratios['cached_monthly_summary']}"
        )


# --- section: batch --------------------------------------------------------------------------------


def _seed(ctx, count: int) -> None:
    """`count` users with four records each (two months) and a budget, by Core bulk inserts (not measured)."""
    import sqlalchemy as sa

    from finbuddy.db.tables import budgets, records, users

    now, today = ctx.now(), ctx.today()
    ctx.db.ensure_schema()
    names = [f"user{i:06d}" for i in range(count)]
    with ctx.db.write() as conn:
        for start in range(0, count, 5000):
            part = names[start : start + 5000]
            conn.execute(sa.insert(users), [{"name": n, "created_at": now, "next_record_id": 5} for n in part])
        ids = dict(conn.execute(sa.select(users.c.name, users.c.id)).all())
        rows, limits = [], []
        for i, name in enumerate(names):
            user_id = ids[name]
            spent = (("groceries", 4200 + i % 900, 0), ("rent", 90000, 3), ("fun", 1500 + i % 70, 9), ("fun", 2100, 33))
            for n, (category, cents, ago) in enumerate(spent):
                rows.append(
                    {
                        "user_id": user_id,
                        "id": n + 1,
                        "kind": "expense",
                        "amount_cents": cents,
                        "expense_date": today - dt.timedelta(days=ago),
                        "category": category,
                        "merchant": f"Shop {i % 40}",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            limits.append({"user_id": user_id, "category": "groceries", "amount_cents": 40000, "updated_at": now})
            if len(rows) >= 20000:
                conn.execute(sa.insert(records), rows)
                rows = []
        if rows:
            conn.execute(sa.insert(records), rows)
        conn.execute(sa.insert(budgets), limits)


class _Timeline:
    """The run's progress as it reports it: when line building started and when the last line was built."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.last_line: float | None = None
        self.lines = 0

    def start(self, total: int) -> None:
        self.started = time.monotonic()

    def advance(self, outcome: str, count: int = 1) -> None:
        if outcome == "prepared":
            self.lines += count
            self.last_line = time.monotonic()


def bench_batch(quick: bool, log: Log) -> dict[str, Any]:
    from tests.fakes.openai_server import TEST_API_KEY, FakeOpenAI

    users = 300 if quick else 50_000
    work = Path(tempfile.mkdtemp(prefix="finbuddy-bench-phase2-"))
    saved_env = dict(os.environ)
    server = FakeOpenAI().start()
    figures: dict[str, Any] = {"users": users}
    try:
        for name in [n for n in os.environ if n.startswith(("FINBUDDY_", "OPENAI_"))]:
            if name != "FINBUDDY_BENCH_DATABASE_URL":
                del os.environ[name]
        os.environ.update(
            {
                "FINBUDDY_HOME": str(work / "home"),
                "FINBUDDY_USER_TIMEZONE": "UTC",
                "FINBUDDY_FAKE_NOW": FAKE_NOW,
                "FINBUDDY_AI_PROVIDER": "openai",
                "FINBUDDY_AI_INSIGHTS_MODE": "batch",
                "FINBUDDY_AI_GLOBAL_DAILY_LIMIT": str(users * 2),
                "FINBUDDY_AI_TIMEOUT": "120",
                "OPENAI_API_KEY": TEST_API_KEY,
                "OPENAI_BASE_URL": server.base_url,
            }
        )
        database = os.environ.get("FINBUDDY_BENCH_DATABASE_URL")
        if database:
            os.environ["FINBUDDY_DATABASE_URL"] = database
        figures["database"] = "postgresql" if database else "sqlite"
        figures.update(_batch_round_trip(server, users, log))
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        shutil.rmtree(work, ignore_errors=True)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    _print_batch(figures, log)
    return figures


def _batch_round_trip(server, users: int, log: Log) -> dict[str, Any]:
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.daemon.batch_insights import BatchInsightRun

    ctx = Context(settings=load_settings())
    try:
        if ctx.db.dialect == "postgresql":
            _empty_postgresql(ctx)
        log(f"batch: seeding {users:,} users ({ctx.db.dialect})")
        _seed(ctx, users)
        log("batch: submitting (building every request line, recording, uploading, creating)")
        timeline = _Timeline()
        started, cpu = time.monotonic(), time.process_time()
        submitted = BatchInsightRun(ctx, progress=timeline).run()
        submit_s, submit_cpu = time.monotonic() - started, time.process_time() - cpu
        assert submitted.submitted == users, submitted.to_json()
        api = server.batch_api
        file_bytes = sum(len(f["data"]) for f in api.files.values() if f["purpose"] == "batch")
        build_s = (timeline.last_line or started) - (timeline.started or started)

        log("batch: the fake answers every line (not measured)")
        api.complete()
        log("batch: ingesting (reading the results, writing every insight and ledger row)")
        started, cpu = time.monotonic(), time.process_time()
        ingested = BatchInsightRun(ctx).run()
        ingest_s, ingest_cpu = time.monotonic() - started, time.process_time() - cpu
        assert ingested.done == users and ingested.complete, ingested.to_json()
        return {
            "files": len(api.batches),
            "file_mb": round(file_bytes / 1e6, 1),
            "bytes_per_line": round(file_bytes / users),
            "submit": {
                "total_s": round(submit_s, 2),
                "cpu_s": round(submit_cpu, 2),
                "lines_per_s": round(users / submit_s, 1),
                "building_lines_s": round(build_s, 2),
                "record_upload_create_s": round(submit_s - build_s, 2),
            },
            "ingest": {
                "total_s": round(ingest_s, 2),
                "cpu_s": round(ingest_cpu, 2),
                "lines_per_s": round(users / ingest_s, 1),
                "done": ingested.done,
                "cost_usd": round(ingested.cost_micro_usd / 1e6, 4),
                "tokens": ingested.tokens_in + ingested.tokens_out,
            },
        }
    finally:
        ctx.close()


def _empty_postgresql(ctx) -> None:
    """The benchmark's tables emptied (a PostgreSQL database given by URL is used as it is)."""
    import sqlalchemy as sa

    from finbuddy.db.tables import metadata

    ctx.db.ensure_schema()
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name != "database_identity")
    with ctx.db.write() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def _print_batch(figures: dict[str, Any], log: Log) -> None:
    if "skipped" in figures:
        log(f"  skipped ({figures['skipped']})")
        return
    submit, ingest = figures["submit"], figures["ingest"]
    log(
        f"  {figures['users']:,} users on {figures['database']}: {figures['files']} file(s), {figures['file_mb']} MB "
        f"({figures['bytes_per_line']} B a line)"
    )
    log(
        f"  submission {submit['total_s']} s, {submit['cpu_s']} s CPU ({submit['lines_per_s']} lines/s): "
        f"building the lines {submit['building_lines_s']} s, "
        f"recording + uploading + creating {submit['record_upload_create_s']} s"
    )
    log(
        f"  ingestion  {ingest['total_s']} s, {ingest['cpu_s']} s CPU ({ingest['lines_per_s']} lines/s): "
        f"{ingest['done']:,} insights, "
        f"{ingest['tokens']:,} tokens, ${ingest['cost_usd']} at batch prices"
    )
    log(f"  peak RSS {figures['peak_rss_mb']} MB (CPU times include the in-process fake's)")


# --- the sections, and running them ---------------------------------------------------------------

SECTIONS: dict[str, Callable[[bool, Log], dict[str, Any]]] = {
    "cache": bench_cache,
    "batch": bench_batch,
    "queue-batch": lambda quick, log: _queue("queue-batch", quick),
    "planning": lambda quick, log: _queue("planning", quick),
}


def _queue(name: str, quick: bool) -> dict[str, Any]:
    """The RabbitMQ workers' sections, from benchmarks/phase2_queue.py (which also runs them with every knob)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import phase2_queue

    return phase2_queue.run_section(name, quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check every section runs")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only this section")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    figures: dict[str, Any] = {"quick": args.quick}
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        log(f"== {name}")
        figures[name] = section(args.quick, log)
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
