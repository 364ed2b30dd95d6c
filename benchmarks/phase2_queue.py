"""Phase-2 queue benchmarks on the real services: the daily batch on RabbitMQ workers, and planning it.

`benchmarks/phase2.py` runs these two sections with the others; this module also runs them alone, with
every knob:

    python benchmarks/phase2_queue.py                 # both sections at full size (~12 minutes)
    python benchmarks/phase2_queue.py --quick         # small sizes, ~30 s
    python benchmarks/phase2_queue.py --section queue-batch --processes 1 2 4 --json

Sections (each independent; pick with --section, repeatable):

- `queue-batch`: the daily batch for --users users (2,000) planned onto RabbitMQ and written by `finbuddy worker`
  with 1, 2 and 4 processes (8 threads each), against the loopback fake capped at --cap requests per minute
  (600: a 429 beyond, like a provider) with ai.requests_per_minute = --cap. Reported per run: achieved calls/minute
  at the server (first to last request) against the cap, the 429s the server sent, failures surfaced (users not
  written), the slots the global rate handed out (from its Redis counter: what the limiter decided), wall time.
- `planning`: planning the day for --plan-users users (100,000): marking them queued in the database and publishing
  the chunks, as messages/s and users/s.

Needs RabbitMQ (127.0.0.1:5672 guest/guest, or FINBUDDY_TEST_AMQP_URL) and Redis (127.0.0.1:6379, or
FINBUDDY_TEST_REDIS_URL). The database is a temporary PostgreSQL database on 127.0.0.1:5432 when one is
reachable (as phase 2 deploys), else a SQLite file; --database picks another. Everything made is removed
at the end: the temporary home, the database, the queues and the Redis keys. The loopback fake lives with the
tests (tests/fakes/) and needs only the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AMQP_URL = os.environ.get("FINBUDDY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
REDIS_URL = os.environ.get("FINBUDDY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_ADMIN_URL = os.environ.get("FINBUDDY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FAKE_NOW = "2026-11-25T12:00:00+00:00"


def log(message: str) -> None:
    sys.stderr.write(f"phase2: {message}\n")
    sys.stderr.flush()


# --- the places a run lives in: a home, a database, a queue name ------------------------------------


@contextlib.contextmanager
def database(choice: str, home: Path) -> Iterator[str]:
    """A database URL for one run, removed afterwards: `sqlite` (a file in the home), a URL as given, or `auto`: a
    temporary PostgreSQL database when the server answers, else SQLite."""
    sqlite = f"sqlite:///{home / 'data' / 'finbuddy.db'}"
    if choice != "auto":
        yield sqlite if choice == "sqlite" else choice
        return
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"finbuddy_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception:
        admin.dispose()
        yield sqlite
        return
    try:
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        from finbuddy.db import Database
        from finbuddy.db.migrate import upgrade

        db = Database(url)
        try:
            upgrade(db)  # `finbuddy db upgrade`: PostgreSQL is never migrated behind anyone's back
        finally:
            db.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def clean_queue(name: str) -> None:
    """Delete the run's queues and Redis keys."""
    import pika
    import redis

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for suffix in ("", ".DQ", ".XQ"):
        channel.queue_delete(queue=f"{name}.insights{suffix}")
    connection.close()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}*", count=1000):
        client.delete(key)
    client.close()


@contextlib.contextmanager
def environment(home: Path, database_url: str, queue_name: str, extra: dict[str, str]) -> Iterator[None]:
    """finbuddy's settings for one run, in this process and the workers it starts."""
    saved = {name: value for name, value in os.environ.items() if name.startswith(("FINBUDDY_", "OPENAI_"))}
    for name in saved:
        del os.environ[name]
    os.environ.update(
        {
            "FINBUDDY_HOME": str(home),
            "FINBUDDY_USER_TIMEZONE": "UTC",
            "FINBUDDY_FAKE_NOW": FAKE_NOW,
            "FINBUDDY_DATABASE_URL": database_url,
            "FINBUDDY_QUEUE_URL": AMQP_URL,
            "FINBUDDY_QUEUE_NAME": queue_name,
            "FINBUDDY_CACHE_URL": REDIS_URL,
            "FINBUDDY_CACHE_PREFIX": queue_name,
            **extra,
        }
    )
    try:
        yield
    finally:
        for name in [n for n in os.environ if n.startswith(("FINBUDDY_", "OPENAI_"))]:
            del os.environ[name]
        os.environ.update(saved)


def seed(ctx, count: int) -> None:
    """`count` users with one record each, by Core bulk inserts (seeding is not what is measured)."""
    import sqlalchemy as sa

    from finbuddy.db.tables import records, users

    now = ctx.now()
    today = ctx.today()
    ctx.db.ensure_schema()
    with ctx.db.write() as conn:
        for start in range(0, count, 10_000):
            names = range(start, min(count, start + 10_000))
            conn.execute(
                sa.insert(users), [{"name": f"user{i:07d}", "created_at": now, "next_record_id": 2} for i in names]
            )
        ids = conn.execute(sa.select(users.c.id)).scalars().all()
        for start in range(0, len(ids), 10_000):
            conn.execute(
                sa.insert(records),
                [
                    {
                        "user_id": user_id,
                        "id": 1,
                        "kind": "expense",
                        "amount_cents": 4200 + user_id % 500,
                        "expense_date": today,
                        "category": "groceries",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for user_id in ids[start : start + 10_000]
                ],
            )


def count_done(ctx) -> int:
    import sqlalchemy as sa

    from finbuddy.db.tables import insights

    with ctx.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).where(insights.c.status == "done")).scalar_one()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


# --- sections ----------------------------------------------------------------------------------------


def queue_batch(args: argparse.Namespace, fake_class) -> dict[str, Any]:
    """The daily batch planned on RabbitMQ and written by 1, 2, 4 worker processes under the global rate."""

    class TimedFake(fake_class):  # type: ignore[misc, valid-type]
        """The rate-limited fake, noting when each request arrived."""

        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            self.arrivals: list[float] = []

        def _record(self, path, headers, body):
            with self._window_lock:
                self.arrivals.append(time.monotonic())
            return super()._record(path, headers, body)

    runs = []
    for processes in args.processes:
        with tempfile.TemporaryDirectory(prefix="finbuddy-phase2-") as tmp:
            home = Path(tmp) / "home"
            queue_name = f"fbbench_{uuid.uuid4().hex[:10]}"
            server = TimedFake(latency=args.latency, per_minute=args.cap).start()
            extra = {
                "OPENAI_BASE_URL": server.base_url,
                "OPENAI_API_KEY": "sk-bench-not-a-real-key",
                "FINBUDDY_AI_PROVIDER": "openai",
                "FINBUDDY_AI_REQUESTS_PER_MINUTE": str(args.cap),
                "FINBUDDY_AI_GLOBAL_DAILY_LIMIT": str(args.users * 2),
                "FINBUDDY_AI_TIMEOUT": "10",
            }
            try:
                with database(args.database, home) as url, environment(home, url, queue_name, extra):
                    runs.append(_one_batch(args, processes, server, queue_name, url))
            finally:
                server.stop()
                clean_queue(queue_name)
    return {
        "users": args.users,
        "cap_per_minute": args.cap,
        "latency_s": args.latency,
        "threads": args.threads,
        "runs": runs,
    }


def _one_batch(args: argparse.Namespace, processes: int, server, queue_name: str, url: str) -> dict[str, Any]:
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.worker.broker import queue_depth
    from finbuddy.worker.planner import plan_insights
    from finbuddy.worker.rate import GlobalRate

    ctx = Context(settings=load_settings())
    try:
        seed(ctx, args.users)
        env = dict(os.environ)
        worker = subprocess.Popen(
            [sys.executable, "-m", "finbuddy", "worker", "--processes", str(processes), "--threads", str(args.threads)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        stderr: list[str] = []
        reader = threading.Thread(target=lambda: stderr.extend(worker.stderr or []), daemon=True)
        reader.start()
        # Every process attached before the plan, as workers wait for the daily job (RabbitMQ deals the chunks
        # out in turn to the consumers it has).
        wait_until(lambda: (queue_depth(ctx.settings).consumers or 0) >= processes, 60)
        started = time.monotonic()
        plan = plan_insights(ctx)
        finished = wait_until(lambda: count_done(ctx) >= args.users or worker.poll() is not None, args.timeout)
        wall = time.monotonic() - started
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            code = worker.wait(10)
        reader.join(5)
        done = count_done(ctx)
        rate = GlobalRate(REDIS_URL, f"{queue_name}:ai-rate", args.cap)
        granted = rate.granted_total()
        rate.close()
    finally:
        ctx.close()
    arrivals = server.arrivals
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    achieved = (len(arrivals) - 1) * 60.0 / span if span > 0 else 0.0
    in_any_60s = 0
    j = 0
    for i, moment in enumerate(arrivals):
        while arrivals[j] <= moment - 60.0:
            j += 1
        in_any_60s = max(in_any_60s, i - j + 1)
    figures = {
        "processes": processes,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "planned": plan.planned,
        "messages": plan.messages,
        "done": done,
        "failures_surfaced": args.users - done,
        "requests": server.count,
        "server_429s": server.rejected_429,
        "slots_granted": granted,
        "calls_per_minute": round(achieved, 1),
        "pct_of_cap": round(100.0 * achieved / args.cap, 1),
        "max_requests_in_any_60s": in_any_60s,
        "wall_s": round(wall, 1),
        "finished": finished,
        "worker_exit": code,
    }
    log(
        f"queue-batch, {processes} process(es): {done}/{args.users} written in {wall:.1f}s, "
        f"{achieved:.0f} calls/min = {figures['pct_of_cap']}% of the {args.cap}/min cap, "
        f"429s {server.rejected_429}, slots {granted}, worker exit {code}"
    )
    if code != 0 or not finished:
        log("worker stderr:\n" + "".join(stderr[-40:]))
    return figures


def planning(args: argparse.Namespace, fake_class) -> dict[str, Any]:
    """Planning the day for many users: marking them queued and publishing the chunks."""
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.worker.planner import plan_insights

    with tempfile.TemporaryDirectory(prefix="finbuddy-phase2-") as tmp:
        home = Path(tmp) / "home"
        queue_name = f"fbbench_{uuid.uuid4().hex[:10]}"
        try:
            with (
                database(args.database, home) as url,
                environment(home, url, queue_name, {"FINBUDDY_AI_PROVIDER": "offline"}),
            ):
                ctx = Context(settings=load_settings())
                try:
                    seeded = time.monotonic()
                    seed(ctx, args.plan_users)
                    seed_s = time.monotonic() - seeded
                    plan = plan_insights(ctx)
                    again = plan_insights(ctx)
                finally:
                    ctx.close()
        finally:
            clean_queue(queue_name)
    figures = {
        "users": args.plan_users,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "planned": plan.planned,
        "messages": plan.messages,
        "chunk": plan.chunk,
        "plan_s": round(plan.elapsed_s, 2),
        "messages_per_s": round(plan.messages / plan.elapsed_s, 1) if plan.elapsed_s else None,
        "users_per_s": round(plan.planned / plan.elapsed_s) if plan.elapsed_s else None,
        "plan_again_s": round(again.elapsed_s, 2),
        "planned_again": again.planned,
        "seed_s": round(seed_s, 1),
    }
    log(
        f"planning: {plan.planned} users in {plan.messages} messages of {plan.chunk} in {plan.elapsed_s:.2f}s "
        f"({figures['messages_per_s']} messages/s, {figures['users_per_s']} users/s); planning again "
        f"{again.elapsed_s:.2f}s, {again.planned} enqueued"
    )
    return figures


SECTIONS: dict[str, Callable[[argparse.Namespace, Any], dict[str, Any]]] = {
    "queue-batch": queue_batch,
    "planning": planning,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a test: 40 users, 1 and 2 processes")
    parser.add_argument("--section", action="append", choices=sorted(SECTIONS), help="default: every section")
    parser.add_argument("--users", type=int, default=None, help="users of the queue batch (2,000)")
    parser.add_argument("--processes", type=int, nargs="+", default=None, help="worker processes per run (1 2 4)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--cap", type=int, default=600, help="the fake's requests per minute, and the setting")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per answer")
    parser.add_argument("--plan-users", type=int, default=None, help="users to plan (100,000)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a batch may take")
    parser.add_argument(
        "--database",
        default=None,
        help="auto (a temporary PostgreSQL database, else SQLite; the default), sqlite (the default with --quick) "
        "or a database URL",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args(argv)
    args.users = args.users or (40 if args.quick else 2000)
    args.processes = args.processes or ([1, 2] if args.quick else [1, 2, 4])
    args.plan_users = args.plan_users or (2_000 if args.quick else 100_000)
    args.database = args.database or ("sqlite" if args.quick else "auto")
    return args


def run_section(name: str, quick: bool) -> dict[str, Any]:
    """One section with its default sizes (benchmarks/phase2.py's entry)."""
    from tests.fakes_daemon import DaemonFakeOpenAI

    return SECTIONS[name](parse_args(["--quick"] if quick else []), DaemonFakeOpenAI)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tests.fakes_daemon import DaemonFakeOpenAI

    figures = {}
    for name in args.section or list(SECTIONS):
        figures[name] = SECTIONS[name](args, DaemonFakeOpenAI)
    if args.json:
        print(json.dumps(figures, indent=2))
    ok = all(
        run["failures_surfaced"] == 0 and run["server_429s"] == 0 and run["worker_exit"] == 0
        for run in figures.get("queue-batch", {}).get("runs", [])
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
