"""Benchmark the daily insight batch against a rate-limited loopback OpenAI server.

    python benchmarks/insights.py            # 2,000 users, 200 ms answers, 600 requests/minute enforced (~3.5 min)
    python benchmarks/insights.py --quick    # 80 users against 60 requests per 6 s (the same rate), ~10 s

The server answers after --latency seconds and rejects (429) any request beyond --limit in a sliding window;
finbuddy runs with ai.requests_per_minute = --rpm. Reported: achieved calls/minute (target >= 90 % of the
limit), wall time, 429s the server sent (the SDK retries them; target: none surfaced as failures), peak memory,
and what the pacer decided (slots handed out, their smallest spacing, the rate they amount to): those do not
depend on how busy the machine is, so the quick test asserts them instead of the measured rate.

The loopback OpenAI fake lives with the tests (tests/fakes/) and needs only the standard library, so a plain
install runs this. The temporary home is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def seed(ctx, count: int) -> None:
    """`count` users with a few records each, by Core bulk inserts (seeding is not what is measured)."""
    import sqlalchemy as sa

    from finbuddy.db.tables import records, users

    now = ctx.now()
    today = ctx.today()
    ctx.db.ensure_schema()
    with ctx.db.write() as conn:
        conn.execute(
            sa.insert(users),
            [{"name": f"user{i:05d}", "created_at": now, "next_record_id": 4} for i in range(count)],
        )
        ids = dict(conn.execute(sa.select(users.c.name, users.c.id)).all())
        rows = []
        for i in range(count):
            user_id = ids[f"user{i:05d}"]
            for n, (category, cents) in enumerate((("groceries", 4200 + i), ("rent", 90000), ("fun", 1500 + i % 70))):
                rows.append(
                    {
                        "user_id": user_id,
                        "id": n + 1,
                        "kind": "expense",
                        "amount_cents": cents,
                        "expense_date": today - dt.timedelta(days=n * 9),
                        "category": category,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        conn.execute(sa.insert(records), rows)


def run_batch(home: str, base_url: str, users: int, args: argparse.Namespace):
    """Seed `users` in a fresh home and time one batch against the fake at `base_url`."""
    env = {
        "FINBUDDY_HOME": home,
        "FINBUDDY_USER_TIMEZONE": "UTC",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "FINBUDDY_AI_PROVIDER": "openai",
        "FINBUDDY_AI_REQUESTS_PER_MINUTE": str(args.rpm),
        "FINBUDDY_AI_GLOBAL_DAILY_LIMIT": str(users * 2),
        "FINBUDDY_DAEMON_WORKERS": str(args.workers),
        "FINBUDDY_AI_TIMEOUT": "10",
        "FINBUDDY_AI_MAX_RETRIES": "2",
    }
    for name in list(os.environ):
        if name.startswith(("FINBUDDY_", "OPENAI_")):
            del os.environ[name]
    os.environ.update(env)
    if args.database_url:
        os.environ["FINBUDDY_DATABASE_URL"] = args.database_url

    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.daemon.insights import InsightBatch

    ctx = Context(settings=load_settings())
    try:
        seed(ctx, users)
        batch = InsightBatch(ctx)
        started = time.monotonic()
        summary = batch.run()
        return summary, batch, time.monotonic() - started
    finally:
        ctx.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="80 users, 60 requests per 6 s window")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument("--limit", type=int, default=None, help="requests the server allows per window")
    parser.add_argument("--window", type=float, default=None, help="the server's window in seconds")
    parser.add_argument("--rpm", type=int, default=600, help="ai.requests_per_minute")
    parser.add_argument("--workers", type=int, default=4, help="daemon.workers")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary home")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args(argv)
    users = args.users or (80 if args.quick else 2000)
    window = args.window or (6.0 if args.quick else 60.0)
    limit = args.limit or (60 if args.quick else 600)

    from tests.fakes_daemon import DaemonFakeOpenAI

    with tempfile.TemporaryDirectory(prefix="finbuddy-bench-") as home:
        server = DaemonFakeOpenAI(latency=args.latency, per_minute=limit, window_seconds=window).start()
        try:
            summary, batch, wall = run_batch(home, server.base_url, users, args)
        finally:
            server.stop()
    pacer = batch.pacer
    assert pacer is not None  # a real (fake) provider is paced
    decided = pacer.decided_per_minute()
    per_minute_limit = limit * 60.0 / window
    achieved = summary.calls / wall * 60.0 if wall else 0.0
    figures = {
        "users": users,
        "server": {
            "latency_s": args.latency,
            "limit": limit,
            "window_s": window,
            "per_minute_limit": per_minute_limit,
            "requests": server.count,
        },
        "requests_per_minute_setting": args.rpm,
        "workers": args.workers,
        "done": summary.done,
        "failed": summary.failed,
        "calls": summary.calls,
        "wall_s": round(wall, 2),
        "calls_per_minute": round(achieved, 1),
        "pct_of_limit": round(100.0 * achieved / per_minute_limit, 1),
        "server_429s": server.rejected_429,
        "pacer": {
            "slots": pacer.slots,
            "interval_s": round(pacer.interval, 6),
            "min_spacing_s": round(pacer.min_spacing, 6) if pacer.min_spacing is not None else None,
            "decided_per_minute": round(decided, 1) if decided is not None else None,
        },
        "failures_surfaced": summary.failed,
        "tokens": summary.tokens,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "errors": summary.errors[:5],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{users} users: {summary.done} done, {summary.failed} failed in {wall:.1f}s; "
            f"{achieved:.0f} calls/min = {figures['pct_of_limit']}% of the {per_minute_limit:.0f}/min limit "
            f"(target >= 90%; the pacer decided {figures['pacer']['decided_per_minute']}/min); "
            f"server 429s {server.rejected_429} (surfaced as failures: {summary.failed}); "
            f"peak RSS {figures['peak_rss_mb']} MB (benchmark process, fake server included)"
        )
    return 0 if summary.failed == 0 and summary.done == users else 1


if __name__ == "__main__":
    sys.exit(main())
