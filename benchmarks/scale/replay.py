"""A day of usage, replayed against the real code paths, and the breaking points of each configuration.

    python benchmarks/scale/replay.py --quick                        # 300 users on SQLite, seconds (the test)
    python benchmarks/scale/replay.py --config sqlite --users 10000  # one run: a ramp on a clone of the population
    python benchmarks/scale/replay.py --config phase2 --users 100000 --steps 1,2,4,8 --step-seconds 20

The day (params.DAY): a share of the users is active; each active user's session opens the dashboard, adds
records and views it again (in a shuffled order), and some ask the advisor (most repeat a question they asked
with unchanged data, so the answer cache serves it). Workers are processes (multiprocessing, fork), each with
its own finbuddy context and connections, each acting for many users through the library functions the CLI
commands call: `record_entry` (`finbuddy add`), `monthly_summary` (`finbuddy summary`) and `advisor.ask`
(`finbuddy ask`). `ask` goes to the loopback fake OpenAI server (tests/fakes_daemon.py) in its own process,
answering after params.DAY.provider_latency_s. A sample of real CLI processes (`finbuddy add`, `finbuddy
summary --json`) reports what a process start adds.

The ramp: steps of 1, 2, 4, ... worker processes, each step a short closed loop (no think time) over the next
sessions of the day; a step is good while p95 of `summary` stays under params.DAY.summary_p95_limit_ms with no
error. Every summary after an add must show the added amount (the cache's invalidation rule): a stale read is a
summary whose month's spending differs from what the worker expects; it must be 0.

Configurations: sqlite (SQLite + diskcache), postgresql (PostgreSQL + diskcache), postgresql-noindex (the
records' secondary indexes dropped on the clone), phase2 (a loopback primary + streaming replica as
database.url / database.reporting_url, Redis as cache.url). Populations are clones of the shared ones
(lab_pop_<users>, /work/labdata/sqlite-<users>.db, ready when /work/labdata/<backend>-<users>.ready exists);
--quick builds its own through the library. Figures go to results/replay-<config>-<users>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scale import params, results  # noqa: E402

CONFIGS = ("sqlite", "postgresql", "postgresql-noindex", "phase2")
LABDATA = Path(os.environ.get("FINBUDDY_LAB_DATA", "/work/labdata"))
PG_ADMIN_URL = os.environ.get("FINBUDDY_LAB_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("FINBUDDY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RECIPES = Path(os.environ.get("FINBUDDY_LAB_RECIPES", "/work/shared/recipes"))
DEFAULT_STEPS = (1, 2, 4, 8, 16, 32)
# The records' secondary indexes (finbuddy/db/tables.py); the unique fingerprint index stays (imports need it).
SECONDARY_INDEXES = (
    "ix_records_user_date",
    "ix_records_user_category",
    "ix_records_user_kind_date",
    "ix_records_user_kind_merchant",
)
# Questions the router sends to the model (not answered from the ledger alone).
QUESTIONS = (
    "Should I cut back on eating out to save for a holiday next summer?",
    "How can I build an emergency fund with my spending pattern?",
    "Is my grocery spending reasonable for one person?",
    "What is one habit I could change to save more each month?",
    "Am I on track to save for a new laptop by spring?",
    "Would it be wise to invest more in index funds given my budget?",
    "How could I lower my transport costs?",
    "Which of my subscriptions look worth reconsidering?",
)

Log = Callable[[str], None]
QUOTA_ERROR = "ask: QuotaExceeded"  # how the first runs counted the quota's refusals (as errors)


def _log(message: str) -> None:
    print(f"[replay {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the day's plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    kind: str  # add | summary | ask
    amount_cents: int = 0
    category: str = ""
    question: str = ""


@dataclass(frozen=True)
class Session:
    user: str
    ops: tuple[Op, ...]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: the means here are small.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def day_plan(users: list[str], seed: int = params.SEED) -> list[Session]:
    """Each active user's session of the day, in the order the day meets them."""
    day, population = params.DAY, params.POPULATION
    rng = random.Random(seed * 1_000_003 + len(users))
    active = rng.sample(users, max(1, round(len(users) * day.active_share)))
    categories = population.categories
    weights = [c.share for c in categories]
    sessions = []
    for user in active:
        ops: list[Op] = []
        for _ in range(_poisson(rng, day.adds_per_active)):
            category = rng.choices(categories, weights)[0]
            euros = rng.lognormvariate(math.log(category.median_eur), category.sigma)
            ops.append(Op("add", max(1, min(round(euros * 100), 99_999_99)), category.name))
        # The session opens the dashboard; the other views fall among the adds.
        views = max(1, _poisson(rng, day.views_per_active))
        ops.extend(Op("summary") for _ in range(views - 1))
        rng.shuffle(ops)
        ops.insert(0, Op("summary"))
        if rng.random() < day.askers_share:
            asked: list[str] = []
            for _ in range(min(5, max(1, _poisson(rng, day.asks_per_asker)))):
                if asked and rng.random() < day.repeated_question_share:
                    question = rng.choice(asked)
                else:
                    question = rng.choice([q for q in QUESTIONS if q not in asked] or list(QUESTIONS))
                    asked.append(question)
                ops.append(Op("ask", question=question))
        sessions.append(Session(user, tuple(ops)))
    return sessions


def ops_per_user_day() -> float:
    """Requests one user makes on an average day (all users, active or not)."""
    day = params.DAY
    asks = day.askers_share * day.asks_per_asker
    return day.active_share * (day.adds_per_active + day.views_per_active + asks)


# --- a worker process -------------------------------------------------------------------------------


@dataclass
class WorkerTally:
    latencies_ms: dict[str, list[float]] = field(
        default_factory=lambda: {"add": [], "summary_cold": [], "summary_cached": [], "ask": []}
    )
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    stale_reads: int = 0
    stale_samples: list[str] = field(default_factory=list)
    checked_reads: int = 0
    ask_cached: int = 0
    quota_refusals: int = 0
    sessions: int = 0
    cpu_s: float = 0.0


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker(
    env: dict[str, str],
    users: list[str],
    counter: Any,
    ready: Any,
    start: Any,
    release: Any,
    window: Any,
    out: Any,
) -> None:
    """Take the day's next session until the window ends; send the tally; wait for the release; close."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in [n for n in os.environ if n.startswith(("FINBUDDY_", "OPENAI_"))]:
        del os.environ[name]
    os.environ.update(env)
    from finbuddy.advisor import ask
    from finbuddy.context import open_context
    from finbuddy.errors import QuotaExceeded
    from finbuddy.ledger.records import record_entry
    from finbuddy.ledger.summary import monthly_summary

    plan = day_plan(users)
    tally = WorkerTally()
    base = open_context(env=env)
    try:
        # Connections and the cache opened, and the code paths imported, before the window opens.
        import openai  # noqa: F401 - the advisor's first call would import it inside the window

        warm = base.for_user(plan[0].user)
        monthly_summary(warm)
        ready.put(os.getpid())
        start.wait()
        began, ends = window[0], window[1]
        while time.time() < began:
            time.sleep(0.001)
        cpu_before = _cpu_self()
        while time.time() < ends:
            with counter.get_lock():
                index = counter.value
                counter.value += 1
            session = plan[index % len(plan)]
            ctx = base.for_user(session.user)
            expected: int | None = None
            tally.sessions += 1
            for op in session.ops:
                if time.time() >= ends:
                    break
                started = time.perf_counter()
                try:
                    if op.kind == "add":
                        record_entry(ctx, Decimal(op.amount_cents) / 100, op.category, merchant=None)
                        key = "add"
                        if expected is not None:
                            expected += op.amount_cents
                    elif op.kind == "summary":
                        result = monthly_summary(ctx)
                        key = "summary_cached" if result.cached else "summary_cold"
                        if expected is not None:
                            tally.checked_reads += 1
                            if result.expenses_cents != expected:
                                tally.stale_reads += 1
                                if len(tally.stale_samples) < 5:
                                    tally.stale_samples.append(
                                        f"{session.user}: expected {expected}, saw {result.expenses_cents}"
                                        f" (cached={result.cached})"
                                    )
                        expected = result.expenses_cents
                    else:
                        answer = ask(ctx, op.question)
                        key = "ask"
                        tally.ask_cached += bool(answer.cached)
                except QuotaExceeded:
                    # The per-user daily quota refusing an ask is the product working (it happens when the step
                    # outruns the day's plan and replays its sessions): counted apart, never an error.
                    tally.quota_refusals += 1
                    continue
                except Exception as exc:  # every failure is a figure, not a crash
                    label = f"{op.kind}: {type(exc).__name__}"
                    tally.errors[label] = tally.errors.get(label, 0) + 1
                    if len(tally.error_samples) < 5:
                        tally.error_samples.append(f"{label}: {str(exc)[:200]}")
                    expected = None  # the add may or may not have landed
                    continue
                tally.latencies_ms[key].append((time.perf_counter() - started) * 1000)
        tally.cpu_s = _cpu_self() - cpu_before
        out.put(tally.__dict__)
        release.wait(120)
    finally:
        base.close()


# --- measuring the database and the machine ------------------------------------------------------


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _proc_cpu_s(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            parts = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class PgProbe:
    """CPU seconds of the PostgreSQL backends serving one database (from /proc, by pg_stat_activity's pids)."""

    admin_url: str  # a libpq URL to the server
    database: str

    def _pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,)
            ).fetchall()
        return [row[0] for row in rows]

    def snapshot(self) -> dict[int, float]:
        return {pid: cpu for pid in self._pids() if (cpu := _proc_cpu_s(pid)) is not None}

    def settings(self) -> dict[str, str]:
        """The server settings that move these figures (the lab's servers differ: the recipe's has fsync off)."""
        import psycopg

        names = ("fsync", "synchronous_commit", "shared_buffers", "max_connections", "work_mem", "server_version")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s)", (list(names),)
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    def size_bytes(self) -> int:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_database_size(%s)", (self.database,)).fetchone()
        return int(row[0]) if row else 0


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# --- the configurations -----------------------------------------------------------------------------


@dataclass
class Setup:
    """One configuration on one population: the environment the workers use, and how to measure and undo it."""

    config: str
    users: list[str]
    env: dict[str, str]
    probes: list[PgProbe]
    size: Callable[[], int]
    cleanup: list[Callable[[], None]]
    notes: list[str]

    def close(self) -> None:
        for undo in reversed(self.cleanup):
            try:
                undo()
            except Exception as exc:
                _log(f"cleanup failed: {exc}")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _sqla(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _pg_exec(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def _pg_clone(template: str, name: str) -> None:
    """CREATE DATABASE name TEMPLATE template, retried while someone is still connected to the template."""
    for attempt in range(60):
        try:
            _pg_exec(f"{PG_ADMIN_URL}/postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return
        except Exception as exc:
            if "being accessed by other users" not in str(exc) or attempt == 59:
                raise
            time.sleep(2)


def _pg_drop(url: str, name: str) -> None:
    _pg_exec(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _user_names_sqlite(path: Path) -> list[str]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM users ORDER BY id")]


def _user_names_pg(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM users ORDER BY id")]


def _last_day_sqlite(path: Path) -> str | None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        row = conn.execute("SELECT max(expense_date) FROM records").fetchone()
    return str(row[0]) if row and row[0] else None


def _last_day_pg(url: str) -> str | None:
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute("SELECT max(expense_date) FROM records").fetchone()
    return str(row[0]) if row and row[0] else None


def _base_env(home: Path, last_day: str | None) -> dict[str, str]:
    day = dt.date.fromisoformat(last_day[:10]) if last_day else dt.date.today()
    return {
        "FINBUDDY_HOME": str(home),
        "FINBUDDY_USER_TIMEZONE": "UTC",
        # The replayed day: the population's last recorded day, at noon (every process sees the same day).
        "FINBUDDY_FAKE_NOW": f"{day.isoformat()}T12:00:00+00:00",
        "FINBUDDY_AI_PROVIDER": "openai",
        "FINBUDDY_AI_TIMEOUT": "10",
        "FINBUDDY_AI_MAX_RETRIES": "1",
        # The per-user quota stays the product's (5); the install-wide daily cap is an operator's figure.
        "FINBUDDY_AI_GLOBAL_DAILY_LIMIT": "100000000",
    }


def _ready(backend: str, users: int) -> bool:
    return (LABDATA / f"{backend}-{users}.ready").exists()


def setup_sqlite(users: int, work: Path, quick: bool) -> Setup:
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    db = work / "replay.db"
    notes = []
    if quick:
        _quick_population(db, users)
        notes.append(f"--quick: {users} users written through record_entry")
    else:
        source = LABDATA / f"sqlite-{users}.db"
        if not _ready("sqlite", users):
            raise RuntimeError(f"{source} is not ready (no {LABDATA}/sqlite-{users}.ready)")
        shutil.copyfile(source, db)
        notes.append(f"a copy of {source}")
    env = _base_env(home, _last_day_sqlite(db))
    env["FINBUDDY_DATABASE_URL"] = f"sqlite:///{db}"
    return Setup(
        "sqlite",
        _user_names_sqlite(db),
        env,
        [],
        lambda: sum(p.stat().st_size for p in work.glob("replay.db*")),
        [],
        notes,
    )


def _quick_population(db: Path, users: int) -> None:
    """A small population through the library (as `finbuddy add` writes it): 1-6 records per user this month."""
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.records import record_entry

    env = {"FINBUDDY_HOME": str(db.parent / "home"), "FINBUDDY_DATABASE_URL": _quick_url(db)}
    rng = random.Random(params.SEED)
    base = Context(settings=load_settings(env=env))
    try:
        if not env["FINBUDDY_DATABASE_URL"].startswith("sqlite"):
            from finbuddy.db.migrate import upgrade

            upgrade(base.db)  # `finbuddy db upgrade`: PostgreSQL is never migrated implicitly
        for i in range(users):
            ctx = base.for_user(f"user{i:07d}")
            for _ in range(rng.randint(1, 6)):
                category = rng.choice(params.POPULATION.categories)
                record_entry(ctx, Decimal(rng.randint(100, 9000)) / 100, category.name)
    finally:
        base.close()


def _quick_url(db: Path) -> str:
    return os.environ.get("FINBUDDY_REPLAY_QUICK_URL") or f"sqlite:///{db}"


def _quick_postgresql(url: str, users: int, work: Path) -> str:
    """--quick: write a small population into the PostgreSQL database at `url`; the note saying so."""
    os.environ["FINBUDDY_REPLAY_QUICK_URL"] = url
    try:
        _quick_population(work / "unused.db", users)
    finally:
        del os.environ["FINBUDDY_REPLAY_QUICK_URL"]
    return f"--quick: {users} users written through record_entry"


def _require_postgresql_population(users: int) -> None:
    if not _ready("postgresql", users):
        raise RuntimeError(f"lab_pop_{users} is not ready (no {LABDATA}/postgresql-{users}.ready)")


def setup_postgresql(users: int, work: Path, quick: bool, noindex: bool) -> Setup:
    name = f"replay_{uuid.uuid4().hex[:10]}"
    url = f"{PG_ADMIN_URL}/{name}"
    cleanup: list[Callable[[], None]] = [lambda: _pg_drop(f"{PG_ADMIN_URL}/postgres", name)]
    notes = []
    if quick:
        _pg_exec(f"{PG_ADMIN_URL}/postgres", f'CREATE DATABASE "{name}"')
        notes.append(_quick_postgresql(_sqla(url), users, work))
    else:
        _require_postgresql_population(users)
        started = time.perf_counter()
        _pg_clone(f"lab_pop_{users}", name)
        notes.append(f"a clone of lab_pop_{users} ({time.perf_counter() - started:.0f} s)")
    if noindex:
        _pg_exec(url, *(f"DROP INDEX IF EXISTS {index}" for index in SECONDARY_INDEXES), "ANALYZE records")
        notes.append("dropped: " + ", ".join(SECONDARY_INDEXES))
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = _base_env(home, _last_day_pg(url))
    env["FINBUDDY_DATABASE_URL"] = _sqla(url)
    probe = PgProbe(f"{PG_ADMIN_URL}/postgres", name)
    config = "postgresql-noindex" if noindex else "postgresql"
    return Setup(config, _user_names_pg(url), env, [probe], probe.size_bytes, cleanup, notes)


def _two_free_ports() -> int:
    """A port p with p and p + 1 free (the recipe puts the standby on the primary's port + 1)."""
    import socket

    for _ in range(100):
        port = random.randint(20_000, 40_000)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no two consecutive free ports")


def setup_phase2(users: int, work: Path, quick: bool) -> Setup:
    """A loopback primary + streaming replica (the recipe), the population restored into the primary, Redis.

    FINBUDDY_REPLAY_PRIMARY_URL and FINBUDDY_REPLAY_REPLICA_URL name a pair already running (an empty database
    on the primary, read through the standby: the tests' `pg_replica`) instead of starting the recipe's."""
    cleanup: list[Callable[[], None]] = []
    notes = []
    given = os.environ.get("FINBUDDY_REPLAY_PRIMARY_URL"), os.environ.get("FINBUDDY_REPLAY_REPLICA_URL")
    if given[0] and given[1]:
        found = {"FB_PG_PRIMARY_URL": given[0], "FB_PG_REPLICA_URL": given[1]}
        port = int(given[0].rsplit(":", 1)[1].split("/")[0])
    else:
        port = _two_free_ports()
        up = subprocess.run(
            ["bash", str(RECIPES / "pg_replica_up.sh")],
            env=dict(os.environ, PRIMARY_PORT=str(port), STANDBYS="1"),
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        found = dict(
            line.split("=", 1) for line in up.stdout.splitlines() if "=" in line and not line.startswith("export")
        )
        base_dir = found["FB_PG_BASE"]
        cleanup.append(
            lambda: subprocess.run(
                ["bash", str(RECIPES / "pg_replica_down.sh"), base_dir], capture_output=True, timeout=120, check=False
            )
        )
    primary = _libpq(found["FB_PG_PRIMARY_URL"])
    replica = _libpq(found["FB_PG_REPLICA_URL"])
    prefix = f"fbreplay-{uuid.uuid4().hex[:10]}"
    cleanup.append(lambda: _redis_drop(prefix))
    try:
        if quick:
            notes.append(_quick_postgresql(_sqla(primary), users, work))
        else:
            _require_postgresql_population(users)
            started = time.perf_counter()
            dump = subprocess.Popen(
                ["pg_dump", "-Fc", "-Z0", "-d", f"{PG_ADMIN_URL}/lab_pop_{users}"], stdout=subprocess.PIPE
            )
            subprocess.run(["pg_restore", "--no-owner", "-d", primary], stdin=dump.stdout, check=True, timeout=3600)
            dump.wait(60)
            _pg_exec(primary, "ANALYZE")
            notes.append(f"lab_pop_{users} restored into the primary ({time.perf_counter() - started:.0f} s)")
        _wait_replica(primary)
        home = work / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = _base_env(home, _last_day_pg(primary))
        env.update(
            {
                "FINBUDDY_DATABASE_URL": _sqla(primary),
                "FINBUDDY_DATABASE_REPORTING_URL": _sqla(replica),
                "FINBUDDY_CACHE_URL": REDIS_URL,
                "FINBUDDY_CACHE_PREFIX": prefix,
            }
        )
        database = primary.rsplit("/", 1)[1]
        probes = [
            PgProbe(primary.rsplit("/", 1)[0] + "/postgres", database),
            PgProbe(replica.rsplit("/", 1)[0] + "/postgres", database),
        ]
        notes.append(f"primary 127.0.0.1:{port} + a streaming replica, Redis {REDIS_URL}")
        return Setup("phase2", _user_names_pg(primary), env, probes, probes[0].size_bytes, cleanup, notes)
    except BaseException:
        for undo in reversed(cleanup):
            with contextlib.suppress(Exception):
                undo()
        raise


def _wait_replica(primary: str, timeout: float = 600) -> None:
    import psycopg

    deadline = time.time() + timeout
    with psycopg.connect(primary, autocommit=True) as conn:
        while time.time() < deadline:
            row = conn.execute("SELECT pg_current_wal_lsn() <= min(replay_lsn) FROM pg_stat_replication").fetchone()
            if row and row[0]:
                return
            time.sleep(0.5)
    raise RuntimeError("the replica did not catch up")


def _redis_drop(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
    finally:
        client.close()


def redis_problem() -> str | None:
    try:
        import redis
    except ImportError:
        return "the redis client is not installed (pip install 'finbuddy[scale]')"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return None
    except Exception as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    finally:
        client.close()


def postgresql_problem() -> str | None:
    try:
        _pg_exec(f"{PG_ADMIN_URL}/postgres", "SELECT 1")
        return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"


def open_setup(config: str, users: int, work: Path, quick: bool) -> Setup:
    if config == "sqlite":
        return setup_sqlite(users, work, quick)
    if config in ("postgresql", "postgresql-noindex"):
        return setup_postgresql(users, work, quick, noindex=config == "postgresql-noindex")
    if config == "phase2":
        return setup_phase2(users, work, quick)
    raise ValueError(f"unknown configuration {config!r}: expected one of {', '.join(CONFIGS)}")


# --- the fake provider, in its own process ------------------------------------------------------------

_FAKE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from tests.fakes_daemon import DaemonFakeOpenAI
server = DaemonFakeOpenAI(record_file=Path(sys.argv[2]), latency=float(sys.argv[3])).start()
print(server.base_url, flush=True)
while True:
    time.sleep(3600)
"""


@contextlib.contextmanager
def fake_provider(work: Path, latency: float) -> Iterator[tuple[str, Path]]:
    """The loopback fake OpenAI server in its own process: (base_url, its request log)."""
    record = work / "openai-requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", _FAKE, str(ROOT), str(record), str(latency)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url:
            raise RuntimeError("the fake OpenAI server did not start")
        yield base_url, record
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _lines(path: Path) -> int:
    try:
        with open(path, "rb") as file:
            return sum(1 for _ in file)
    except OSError:
        return 0


# --- a ramp step -------------------------------------------------------------------------------------


def _percentiles(samples: list[float]) -> dict[str, float | int | None]:
    if not samples:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"count": len(ordered), "p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def run_step(setup: Setup, concurrency: int, seconds: float, counter: Any, fake_log: Path) -> dict[str, Any]:
    """`concurrency` worker processes for `seconds`; the step's figures."""
    context = mp.get_context("fork")
    ready, out = context.Queue(), context.Queue()
    start, release = context.Event(), context.Event()
    window = context.Array("d", 2)
    workers = [
        context.Process(
            target=_worker, args=(setup.env, setup.users, counter, ready, start, release, window, out), daemon=True
        )
        for _ in range(concurrency)
    ]
    for worker in workers:
        worker.start()
    tallies: list[dict[str, Any]] = []
    try:
        for _ in workers:
            ready.get(timeout=300)
        window[0] = time.time() + 0.2
        window[1] = window[0] + seconds
        db_before = [probe.snapshot() for probe in setup.probes]
        busy_before, total_before = _machine_ticks()
        calls_before = _lines(fake_log)
        start.set()
        for _ in workers:
            tallies.append(out.get(timeout=seconds + 300))
        elapsed = time.time() - window[0]
        busy_after, total_after = _machine_ticks()
        db_after = [probe.snapshot() for probe in setup.probes]
        calls = _lines(fake_log) - calls_before
        load = os.getloadavg()
    finally:
        release.set()
        for worker in workers:
            worker.join(60)
            if worker.is_alive():
                worker.kill()
                worker.join(10)
    merged: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    samples: list[str] = []
    stale_samples: list[str] = []
    for tally in tallies:
        for key, values in tally["latencies_ms"].items():
            merged.setdefault(key, []).extend(values)
        for key, count in tally["errors"].items():
            errors[key] = errors.get(key, 0) + count
        samples.extend(tally["error_samples"])
        stale_samples.extend(tally["stale_samples"])
    summary_all = merged["summary_cold"] + merged["summary_cached"]
    views = len(summary_all)
    done = sum(len(v) for v in merged.values())
    client_cpu = sum(t["cpu_s"] for t in tallies)
    db_cpu = sum(_cpu_delta(b, a) for b, a in zip(db_before, db_after, strict=True)) if setup.probes else client_cpu
    ticks = max(1, total_after - total_before)
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "ops": done,
        "ops_per_s": round(done / elapsed, 1),
        "sessions": sum(t["sessions"] for t in tallies),
        "operations": {
            "add": _percentiles(merged["add"]),
            "summary": _percentiles(summary_all),
            "summary_cold": _percentiles(merged["summary_cold"]),
            "summary_cached": _percentiles(merged["summary_cached"]),
            "ask": _percentiles(merged["ask"]),
        },
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "error_samples": samples[:5],
        "stale_reads": sum(t["stale_reads"] for t in tallies),
        "stale_samples": stale_samples[:5],
        "checked_reads": sum(t["checked_reads"] for t in tallies),
        "cache_hit_rate": round(len(merged["summary_cached"]) / views, 3) if views else None,
        "ask_cache_hits": sum(t["ask_cached"] for t in tallies),
        "quota_refusals": sum(t["quota_refusals"] for t in tallies),
        "provider_calls": calls,
        "db_cpu_s": round(db_cpu, 2),
        "db_cpu_source": "postgresql backends (/proc)" if setup.probes else "the worker processes (SQLite in-process)",
        "client_cpu_s": round(client_cpu, 2),
        "machine_cpu_busy_pct": round(100 * (busy_after - busy_before) / ticks, 1),
        "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in load],
    }


# --- the CLI sample -------------------------------------------------------------------------------


def cli_sample(setup: Setup, count: int) -> dict[str, Any]:
    """Real `finbuddy add` and `finbuddy summary --json` processes: wall time, with the process start."""
    script = Path(sys.executable).with_name("finbuddy")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "finbuddy"]
    rng = random.Random(params.SEED + 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINBUDDY_", "OPENAI_"))}
    env.update(setup.env)
    timings: dict[str, list[float]] = {"add": [], "summary": []}
    failures = 0
    for user in rng.sample(setup.users, min(count, len(setup.users))):
        for kind, args in (("add", ["add", "4.20", "groceries"]), ("summary", ["summary", "--json"])):
            started = time.perf_counter()
            done = subprocess.run(
                command + args, env=dict(env, FINBUDDY_USER=user), capture_output=True, text=True, timeout=120
            )
            timings[kind].append((time.perf_counter() - started) * 1000)
            failures += done.returncode != 0
    return {"processes": sum(len(v) for v in timings.values()), "failures": failures} | {
        kind: _percentiles(values) for kind, values in timings.items()
    }


# --- a run: the ramp and its breaking point --------------------------------------------------------


def _saturated(step: dict[str, Any], config: str) -> tuple[str, str]:
    """Which resource ran out at this step, and a sentence saying why we think so."""
    kinds = " ".join(step["errors_by_kind"]).lower() + " " + " ".join(step["error_samples"]).lower()
    if step["errors"]:
        if "locked" in kinds or "busy" in kinds:
            return "the single SQLite writer", f"{step['errors']} errors, busy/locked: {step['error_samples'][:1]}"
        if "too many clients" in kinds or "connection" in kinds or "pool" in kinds:
            return "connections", f"{step['errors']} connection errors: {step['error_samples'][:1]}"
        if "ask:" in kinds or "rate" in kinds or "quota" in kinds:
            return "the LLM rate", f"{step['errors']} advisor errors: {step['error_samples'][:1]}"
        return "errors", f"{step['errors']} errors: {step['error_samples'][:1]}"
    busy = step["machine_cpu_busy_pct"]
    p95 = step["operations"]["summary"]["p95_ms"]
    add_p95 = step["operations"]["add"]["p95_ms"] or 0.0
    if config == "sqlite" and p95 is not None and add_p95 >= 2 * p95:
        # Writes queue behind the one write lock (and a writer descheduled while it holds it stalls the queue).
        return "the single SQLite writer", (
            f"add p95 reached {add_p95} ms against summary p95 {p95} ms: writers queue on the one write lock while"
            f" the machine's {step['cpus']} cores were {busy:.0f}% busy (load average {step['load_average'][0]},"
            f" shared with other jobs; the workers got {step['client_cpu_s'] / step['seconds']:.2f} cores)"
        )
    if busy >= 85:
        if config == "sqlite":
            side = "CPU (the client processes, SQLite runs in them)"
        else:
            side = "CPU (the database)" if step["db_cpu_s"] > step["client_cpu_s"] else "CPU (the client processes)"
        client_cores = step["client_cpu_s"] / step["seconds"]
        db_cores = step["db_cpu_s"] / step["seconds"] if config != "sqlite" else 0.0
        return side, (
            f"the machine's {step['cpus']} cores were {busy:.0f}% busy (load average {step['load_average'][0]}, "
            f"the cores shared with other jobs): the workers got {client_cores:.2f} cores"
            + (f" and the database backends {db_cores:.2f}" if config != "sqlite" else "")
            + f", and summary p95 reached {p95} ms"
        )
    if config == "sqlite":
        return "the single SQLite writer", (
            f"summary p95 reached {p95} ms with the cores only {busy:.0f}% busy: workers wait on the one write lock"
            f" (add p95 {step['operations']['add']['p95_ms']} ms)"
        )
    return "database locks and waits", f"summary p95 reached {p95} ms with the cores only {busy:.0f}% busy"


def breaking_point(steps: list[dict[str, Any]], users: int, config: str) -> dict[str, Any]:
    limit = params.DAY.summary_p95_limit_ms
    good, broke = None, None
    for step in steps:
        p95 = step["operations"]["summary"]["p95_ms"]
        if step["errors"] or step["stale_reads"] or p95 is None or p95 > limit:
            broke = step
            break
        good = step
    point: dict[str, Any] = {
        "users": users if good else 0,
        "concurrency": good["concurrency"] if good else 0,
        "requests_per_s": good["ops_per_s"] if good else 0.0,
        "summary_p95_ms": good["operations"]["summary"]["p95_ms"] if good else None,
        # Users whose day this rate serves: at a flat rate, and when the busiest hour carries peak_hour_share.
        "day_capacity_users": round(good["ops_per_s"] * 86_400 / ops_per_user_day()) if good else 0,
        "peak_hour_capacity_users": round(good["ops_per_s"] * 3_600 / params.DAY.peak_hour_share / ops_per_user_day())
        if good
        else 0,
        "broken_at_concurrency": broke["concurrency"] if broke else None,
    }
    if broke is not None:
        point["saturated"], why = _saturated(broke, config)
        point["reason"] = (
            f"at {broke['concurrency']} worker processes (summary p95 {broke['operations']['summary']['p95_ms']} ms,"
            f" {broke['errors']} errors): {why}."
        )
    else:
        last = steps[-1]
        grew = len(steps) < 2 or last["ops_per_s"] > 1.1 * steps[-2]["ops_per_s"]
        if grew and last["machine_cpu_busy_pct"] < 85:
            point["saturated"] = "none reached"
            why = "throughput still grew"
        else:
            # Not broken by the rule, but the load stopped paying: name what ran out at the top.
            point["saturated"], why = _saturated(last, config)
        point["reason"] = (
            f"summary p95 stayed under {limit:.0f} ms with no error up to {last['concurrency']} worker processes (the"
            f" ramp's top), so the breaking point is above this ramp; there, {why}."
        )
    return point


def run(
    config: str,
    users: int,
    steps: tuple[int, ...],
    seconds: float,
    quick: bool = False,
    cli_count: int = 5,
    save: bool = True,
    log: Log = _log,
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"finbuddy-replay-{config}-", dir=os.environ.get("FINBUDDY_REPLAY_TMP")))
    setup: Setup | None = None
    try:
        started = time.perf_counter()
        setup = open_setup(config, users, work, quick)
        log(f"{config} {users}: set up in {time.perf_counter() - started:.0f} s ({'; '.join(setup.notes)})")
        plan = day_plan(setup.users)
        figures: dict[str, Any] = {
            "config": config,
            "users": len(setup.users),
            "quick": quick,
            "setup": setup.notes,
            "replayed_day": setup.env["FINBUDDY_FAKE_NOW"],
            "day_plan": {
                "sessions": len(plan),
                "ops": sum(len(s.ops) for s in plan),
                "ops_per_user_day": round(ops_per_user_day(), 3),
            },
            "step_seconds": seconds,
            "summary_p95_limit_ms": params.DAY.summary_p95_limit_ms,
            "provider_latency_s": params.DAY.provider_latency_s,
            "steps": [],
        }
        with fake_provider(work, params.DAY.provider_latency_s) as (base_url, fake_log):
            from tests.fakes.openai_server import TEST_API_KEY

            setup.env.update({"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": TEST_API_KEY})
            counter = mp.get_context("fork").Value("q", 0)
            for concurrency in steps:
                step = run_step(setup, concurrency, seconds, counter, fake_log)
                figures["steps"].append(step)
                ops = step["operations"]
                log(
                    f"{config} {users} x{concurrency}: {step['ops_per_s']} ops/s, summary p50/p95 "
                    f"{ops['summary']['p50_ms']}/{ops['summary']['p95_ms']} ms, add p95 {ops['add']['p95_ms']} ms, "
                    f"ask p95 {ops['ask']['p95_ms']} ms, errors {step['errors']}, stale {step['stale_reads']}, "
                    f"hit {step['cache_hit_rate']}, cpu client {step['client_cpu_s']} db {step['db_cpu_s']} "
                    f"busy {step['machine_cpu_busy_pct']}%, load {step['load_average'][0]}"
                )
                summary_p95 = ops["summary"]["p95_ms"]
                if step["errors"] or (summary_p95 is not None and summary_p95 > params.DAY.summary_p95_limit_ms):
                    break
            figures["day_coverage"] = round(counter.value / max(1, len(plan)), 3)
            figures["cli"] = cli_sample(setup, cli_count)
        one = figures["steps"][0]["operations"]
        for kind in ("add", "summary"):
            cli_p50, lib_p50 = figures["cli"][kind]["p50_ms"], one[kind]["p50_ms"]
            if cli_p50 is not None and lib_p50 is not None:
                figures["cli"][f"{kind}_startup_ms"] = round(cli_p50 - lib_p50, 1)
        figures["db_size_bytes"] = setup.size()
        if setup.probes:
            figures["postgresql_settings"] = setup.probes[0].settings()
        figures["stale_reads"] = sum(s["stale_reads"] for s in figures["steps"])
        figures["breaking_point"] = breaking_point(figures["steps"], figures["users"], config)
        log(f"{config} {users}: breaking point {json.dumps(figures['breaking_point'])}")
        if save:
            path = results.save(f"replay-{config}-{'quick' if quick else users}", figures)
            log(f"saved {path}")
        return figures
    finally:
        if setup is not None:
            setup.close()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred users on SQLite, seconds")
    parser.add_argument("--config", choices=CONFIGS, default="sqlite")
    parser.add_argument("--users", type=int, default=None, help="the population (default: 10000; --quick: 300)")
    parser.add_argument("--steps", default=None, help="worker processes per step, e.g. 1,2,4,8,16,32")
    parser.add_argument("--step-seconds", type=float, default=None)
    parser.add_argument("--cli", type=int, default=None, help="users sampled for the real CLI processes")
    parser.add_argument("--no-save", action="store_true", help="print the figures, write no results file")
    parser.add_argument("--save", action="store_true", help="--quick too writes results/replay-<config>-quick.json")
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="re-derive every saved replay's breaking point from its measured steps (no new measurement)",
    )
    args = parser.parse_args(argv)
    if args.recompute:
        for path in sorted(results.RESULTS.glob("replay-*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            run_figures = document["figures"]
            for step in run_figures["steps"]:
                refused = step["errors_by_kind"].pop(QUOTA_ERROR, 0)
                if refused:
                    step["errors"] -= refused
                    step["quota_refusals"] = step.get("quota_refusals", 0) + refused
                    step["error_samples"] = [e for e in step["error_samples"] if not e.startswith(QUOTA_ERROR)]
            run_figures["breaking_point"] = breaking_point(
                run_figures["steps"], run_figures["users"], run_figures["config"]
            )
            path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            print(f"{path.name}: {json.dumps(run_figures['breaking_point'])}")
        return 0
    users = args.users or (params.QUICK_USERS if args.quick else 10_000)
    steps = tuple(int(s) for s in args.steps.split(",")) if args.steps else ((1, 2) if args.quick else DEFAULT_STEPS)
    seconds = args.step_seconds or (3.0 if args.quick else 25.0)
    cli = args.cli if args.cli is not None else (2 if args.quick else 5)
    figures = run(
        args.config,
        users,
        steps,
        seconds,
        quick=args.quick,
        cli_count=cli,
        save=(args.save or not args.quick) and not args.no_save,
    )
    print(json.dumps(figures, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
