"""Phase-2 benchmarks (SPEC.md "Scale-out"), one independent section each.

    python benchmarks/phase2.py                  # every section
    python benchmarks/phase2.py --quick          # tiny sizes: every section runs (tests/test_bench_phase2*.py)
    python benchmarks/phase2.py --only batch     # one section
    python benchmarks/phase2.py --json           # the figures as one JSON document

Sections:
  batch   the daily insights in batch mode (ai.insights_mode = batch) for 50,000 users (--quick: 300) against the
          loopback fake's Batch API, in-process: the submission (building every user's request line from their
          figures, recording the intent, uploading the JSONL files and creating the batches) and, once the fake has
          answered every line, the ingestion (reading the results and writing every insight and ledger row).
          FINBUDDY_BENCH_DATABASE_URL runs it on PostgreSQL (default: a SQLite file in a temporary home).

A section is `name: function(quick: bool, log) -> dict` in SECTIONS; it sets up and removes what it needs, and
reports {"skipped": reason} when a service it needs is missing. Not a timed test: it prints figures and always exits
0 unless something breaks. The loopback OpenAI fake lives with the tests (tests/fakes/): install the `bench` extra.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAKE_NOW = "2026-11-25T12:00:00+00:00"

Log = Callable[[str], None]


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
    users = 300 if quick else 50_000
    try:
        from tests.fakes.openai_server import TEST_API_KEY, FakeOpenAI
    except ImportError as exc:
        return {"skipped": f"{exc}: install the bench extra (pip install -e '.[bench]')"}
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
    "batch": bench_batch,
}


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
