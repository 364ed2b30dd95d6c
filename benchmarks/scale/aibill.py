"""The AI bill, measured by replay: a day of asks and insights through the real advisor guard, in four modes.

    python benchmarks/scale/aibill.py                 # 2,000 sampled users; writes results/aibill.json
    python benchmarks/scale/aibill.py --quick         # 100 users, seconds; writes nothing unless --results-dir
    python benchmarks/scale/aibill.py --users 5000 --results-dir /tmp/lab

A sample population (params.POPULATION: skewed records per user, log-normal amounts, budgets, holdings) is
written once into a SQLite file in a temporary home, then each mode replays the same day (params.DAY) on its own
copy, with its own empty answer cache, against the loopback fake OpenAI server (tests/fakes_daemon.py, real HTTP,
real `openai` SDK; in a process of its own, so its work is not counted as the product's):

  no-cache             cache.ai_ttl = 0 (the product's own switch: a TTL of 0 reads and writes no AI answer),
                       no per-user quota (ai.daily_quota = 2147483647, the largest the setting takes)
  cache                the answer cache as shipped (cache.ai_ttl = 86400), no per-user quota
  cache+quota          the product's defaults: the cache and ai.daily_quota = 5
  cache+quota+batch    the defaults plus ai.insights_mode = batch (the Batch API, its prices)

The day: params.DAY.active_share of the users are active; askers_share of those ask; each asker asks a geometric
number of questions (mean asks_per_asker, at least one); each ask repeats one of the user's earlier questions (data
unchanged) with probability repeated_question_share, else asks a new one. A repeat that is the user's first ask
today repeats a question asked yesterday evening (replayed at 20:00 the day before, not billed: the cache keeps it
ai_ttl = 24 h). Questions are advice questions (the router sends them to the model; questions about the user's own
figures are answered from the database for free and are not modelled). Then the daily insight for every user
(insights_share), by the daemon's in-process batch (sync modes) or the Batch API (batch mode).

Counted from the product's own usage ledger (the ai_calls table, as `finbuddy usage --all` sums it): calls,
cache hits, prompt and completion tokens and dollars at the product's ai.prices; the fake's request count is
checked against it. Token counts are the fake's: the real prompt's characters / 4, and a scripted ~180-token
answer (ANSWER below). The fake answers at once: counts do not depend on latency, and the product's own work per
insight is what the duration model needs. Not a timed test: figures are printed (and saved), never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scale import params, results  # noqa: E402

FAKE_NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # mid-month: yesterday's answers are this month's
YESTERDAY_EVENING = dt.datetime(2026, 11, 24, 20, 0, tzinfo=dt.UTC)
SAMPLE_USERS = 2_000
QUICK_SAMPLE_USERS = 100
NO_QUOTA = 2_147_483_647
# A realistic answer: ~720 characters, ~180 completion tokens by the fake's count (characters / 4).
ANSWER = (
    "Looking at this month so far, groceries and eating out are running ahead of last month's pace, while "
    "transport is below it. If the current pace holds you will end the month about 12% above your grocery "
    "budget. Three things would help: plan two or three meals a week ahead and shop once for them; set a "
    "weekly cap for eating out and check it on Sundays; and review the recurring charges at the top of your "
    "merchant list, since one of them has risen since last quarter. Your savings rate is positive, so moving "
    "a fixed amount to savings on payday, before spending, would lock in part of it. Your portfolio is "
    "concentrated in a few positions; consider whether that matches the risk you want to carry this year."
)
QUESTIONS = (
    "How can I save more money each month?",
    "Should I pay off debt or invest first?",
    "Is my grocery spending reasonable for one person?",
    "How do I build an emergency fund?",
    "Should I cancel some subscriptions?",
    "Give me three ideas to cut my spending.",
    "Is it a good idea to buy a car now?",
    "How should I plan for a holiday next year?",
    "What should I do with my savings?",
    "How can I spend less on eating out?",
    "Am I saving enough for retirement?",
    "Should I rebalance my portfolio?",
    "How much should I keep in my current account?",
    "What is a sensible budget for transport?",
    "How can I make my grocery budget last the month?",
    "Should I switch my phone plan to save money?",
    "What would you change about my spending first?",
    "How do I stop overspending at the end of the month?",
    "Is my rent too high compared to my income?",
    "How should I split my salary between needs and wants?",
)

MODES: dict[str, dict[str, str]] = {
    "no-cache": {"FINBUDDY_CACHE_AI_TTL": "0", "FINBUDDY_AI_DAILY_QUOTA": str(NO_QUOTA)},
    "cache": {"FINBUDDY_AI_DAILY_QUOTA": str(NO_QUOTA)},
    "cache+quota": {},
    "cache+quota+batch": {"FINBUDDY_AI_INSIGHTS_MODE": "batch"},
}

Log = Callable[[str], None]


# --- the sample population and the day -----------------------------------------------------------


def _records_for(rng: random.Random) -> int:
    pop = params.POPULATION
    drawn = round(rng.lognormvariate(math.log(pop.records_median), pop.records_sigma))
    return max(pop.records_min, min(pop.records_max, drawn))


def seed_population(ctx: Any, users: int, rng: random.Random) -> int:
    """`users` users drawn from params.POPULATION, written by Core bulk inserts. Returns the records written."""
    import sqlalchemy as sa

    from finbuddy.db.tables import budgets, holdings, prices, records
    from finbuddy.db.tables import users as users_table

    pop = params.POPULATION
    now, today = ctx.now(), ctx.today()
    categories = pop.categories
    weights = [c.share for c in categories]
    names = [f"lab{i:07d}" for i in range(users)]
    ctx.db.ensure_schema()
    written = 0
    with ctx.db.write() as conn:
        conn.execute(sa.insert(users_table), [{"name": n, "created_at": now, "next_record_id": 1} for n in names])
        ids = dict(conn.execute(sa.select(users_table.c.name, users_table.c.id)).all())
        rows: list[dict[str, Any]] = []
        limits: list[dict[str, Any]] = []
        owned: list[dict[str, Any]] = []
        quotes: list[dict[str, Any]] = []
        next_ids: list[dict[str, Any]] = []
        for name in names:
            user_id = ids[name]
            count = _records_for(rng)
            recurring = rng.sample(pop.merchants, rng.randint(1, 4)) if rng.random() < pop.recurring_share else []
            for n in range(count):
                day = today - dt.timedelta(days=int(rng.random() * pop.history_days))
                if rng.random() < pop.income_share:
                    kind, category, merchant = "income", "salary", "Employer"
                    cents = round(rng.lognormvariate(math.log(pop.income_median_eur), 0.3) * 100)
                elif recurring and n < len(recurring) * 12:
                    kind, category, merchant = "expense", "bills", recurring[n % len(recurring)]
                    day = today - dt.timedelta(days=30 * (n // len(recurring)) + 3)
                    cents = 1500 + 700 * (n % len(recurring))
                else:
                    picked = rng.choices(categories, weights)[0]
                    kind, category, merchant = "expense", picked.name, f"{picked.name.title()} {rng.randint(1, 30)}"
                    cents = round(rng.lognormvariate(math.log(picked.median_eur), picked.sigma) * 100)
                rows.append(
                    {
                        "user_id": user_id,
                        "id": n + 1,
                        "kind": kind,
                        "amount_cents": max(1, cents),
                        "expense_date": day,
                        "category": category,
                        "merchant": merchant,
                        "created_at": now,
                        "updated_at": now,
                        "category_source": "user",
                    }
                )
            next_ids.append({"b_id": user_id, "b_next": count + 1})
            if rng.random() < pop.budget_share:
                for picked in rng.sample(categories[:6], rng.randint(1, 4)):
                    amount = round(picked.median_eur * 100 * rng.uniform(4, 12))
                    limits.append(
                        {"user_id": user_id, "category": picked.name, "amount_cents": amount, "updated_at": now}
                    )
            if rng.random() < pop.holdings_share:
                for ticker in rng.sample(pop.tickers, rng.randint(1, 5)):
                    quantity, cost = rng.randint(1, 50) * 10**8, rng.randint(20, 400) * 10**6
                    owned.append(
                        {
                            "user_id": user_id,
                            "ticker": ticker,
                            "quantity_e8": quantity,
                            "cost_micros": cost,
                            "cost_quantity_e8": quantity,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    quotes.append(
                        {
                            "user_id": user_id,
                            "ticker": ticker,
                            "price_micros": round(cost * rng.uniform(0.7, 1.6)),
                            "price_date": today - dt.timedelta(days=1),
                            "source": "manual",
                            "updated_at": now,
                        }
                    )
            if len(rows) >= 20_000:
                conn.execute(sa.insert(records), rows)
                written += len(rows)
                rows = []
        if rows:
            conn.execute(sa.insert(records), rows)
            written += len(rows)
        for table, batch in ((budgets, limits), (holdings, owned), (prices, quotes)):
            if batch:
                conn.execute(sa.insert(table), batch)
        conn.execute(
            sa.update(users_table)
            .where(users_table.c.id == sa.bindparam("b_id"))
            .values(next_record_id=sa.bindparam("b_next")),
            next_ids,
        )
    return written


def plan_day(users: int, rng: random.Random) -> list[tuple[str, list[tuple[str, bool]]]]:
    """Who asks what today: [(user, [(question, asked_yesterday_first)])], from params.DAY. A question marked
    True is the user's first ask and a repeat: it was asked yesterday evening (replayed before the day)."""
    day = params.DAY
    p_stop = 1 / day.asks_per_asker  # geometric on 1, 2, ...: mean asks_per_asker
    plan = []
    for i in range(users):
        if rng.random() >= day.active_share or rng.random() >= day.askers_share:
            continue
        count = 1
        while rng.random() >= p_stop:
            count += 1
        fresh = list(QUESTIONS)
        rng.shuffle(fresh)
        asked: list[str] = []
        asks: list[tuple[str, bool]] = []
        for n in range(count):
            if rng.random() < day.repeated_question_share:
                question = rng.choice(asked) if asked else fresh.pop()
                asks.append((question, n == 0))
            else:
                question = fresh.pop()
                asks.append((question, False))
            if question not in asked:
                asked.append(question)
        plan.append((f"lab{i:07d}", asks))
    return plan


def lab_fake() -> Any:
    """The loopback fake (tests/fakes_daemon.py), answering chat and Batch API lines with ANSWER."""
    from tests.fakes.openai_server import FakeBatchAPI, Reply
    from tests.fakes_daemon import DaemonFakeOpenAI

    class LabBatchAPI(FakeBatchAPI):
        def _answer(self, item: dict[str, Any]) -> dict[str, Any]:
            answer = super()._answer(item)
            answer["choices"][0]["message"]["content"] = ANSWER
            usage = answer["usage"]
            usage["completion_tokens"] = len(ANSWER) // 4
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            return answer

    class LabFake(DaemonFakeOpenAI):
        def batch_lines(self) -> int:
            return sum(batch["request_counts"]["completed"] for batch in self.batch_api.batches.values())

    server = LabFake()
    server.default = Reply(200, text=ANSWER)
    server.batch_api = LabBatchAPI()
    return server


def _serve_fake(conn: Any) -> None:
    """The fake's own process (its HTTP work is not the product's): answers commands until "stop"."""
    server = lab_fake().start()
    conn.send(server.base_url)
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(server.count)
        elif command == "batch_lines":
            conn.send(server.batch_lines())
        elif command == "complete":
            server.batch_api.complete()
            conn.send(None)
        else:
            server.stop()
            conn.send(None)
            return


class FakeProcess:
    """lab_fake() in a process of its own, so its CPU is not counted in the product's work per insight."""

    def __init__(self) -> None:
        import multiprocessing as mp

        context = mp.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve_fake, args=(child,), daemon=True)
        self.process.start()
        self.base_url: str = self.conn.recv()

    def _ask(self, command: str) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    @property
    def count(self) -> int:
        return int(self._ask("count"))

    def batch_lines(self) -> int:
        return int(self._ask("batch_lines"))

    def complete(self) -> None:
        self._ask("complete")

    def stop(self) -> None:
        try:
            self._ask("stop")
        finally:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()


# --- one mode's day ------------------------------------------------------------------------------


def _ledger(ctx: Any) -> dict[str, Any]:
    """Today's ledger by kind and status (the ai_calls table), and the product's own `usage --all` total."""
    import sqlalchemy as sa

    from finbuddy.advisor.usage import usage_report
    from finbuddy.db.tables import ai_calls

    with ctx.db.read() as conn:
        rows = conn.execute(
            sa.select(
                ai_calls.c.kind,
                ai_calls.c.status,
                sa.func.count(),
                sa.func.sum(ai_calls.c.tokens_in),
                sa.func.sum(ai_calls.c.tokens_out),
                sa.func.sum(ai_calls.c.cost_micro_usd),
            )
            .where(ai_calls.c.global_day == FAKE_NOW.date())
            .group_by(ai_calls.c.kind, ai_calls.c.status)
        ).all()
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, count, tokens_in, tokens_out, cost in rows:
        entry = by_kind.setdefault(
            kind, {"calls": 0, "cache_hits": 0, "tokens_in": 0, "tokens_out": 0, "cost_micro_usd": 0}
        )
        if status == "succeeded":
            entry["calls"] += count
            entry["tokens_in"] += int(tokens_in or 0)
            entry["tokens_out"] += int(tokens_out or 0)
            entry["cost_micro_usd"] += int(cost or 0)
        elif status == "cache_hit":
            entry["cache_hits"] += count
        else:
            entry[status] = entry.get(status, 0) + count
    total = usage_report(ctx, days=1, all_users=True).total
    return {
        "by_kind": by_kind,
        "usage_all": {
            "calls": total.calls,
            "failed": total.failed,
            "in_flight": total.in_flight,
            "cache_hits": total.cache_hits,
            "tokens_in": total.tokens_in,
            "tokens_out": total.tokens_out,
            "cost_micro_usd": total.cost_micro_usd,
        },
    }


def _settings_env(mode: str, home: Path, base_url: str) -> dict[str, str]:
    from tests.fakes.openai_server import TEST_API_KEY

    return {
        "FINBUDDY_HOME": str(home),
        "FINBUDDY_USER_TIMEZONE": "UTC",
        "FINBUDDY_AI_PROVIDER": "openai",
        "FINBUDDY_AI_TIMEOUT": "60",
        "FINBUDDY_AI_MAX_RETRIES": "2",
        # Sized as docs/SCALING.md says, so the global limit never binds the replay (its refusals are counted).
        "FINBUDDY_AI_GLOBAL_DAILY_LIMIT": "10000000",
        # The bill is not paced: the duration model below uses the provider tiers instead.
        "FINBUDDY_AI_REQUESTS_PER_MINUTE": "1000000",
        "OPENAI_API_KEY": TEST_API_KEY,
        "OPENAI_BASE_URL": base_url,
        **MODES[mode],
    }


def replay_mode(mode: str, template: Path, work: Path, plan: list[Any], log: Log) -> dict[str, Any]:
    """One mode's day on a fresh copy of the population and an empty cache."""
    from finbuddy.clock import Clock
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.daemon.batch_insights import BatchInsightRun, batch_mode
    from finbuddy.daemon.insights import InsightBatch
    from finbuddy.errors import QuotaExceeded

    home = work / mode
    home.mkdir()
    database = home / "finbuddy.db"
    shutil.copyfile(template, database)
    server = FakeProcess()
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith(("FINBUDDY_", "OPENAI_"))]:
            del os.environ[name]
        os.environ.update(_settings_env(mode, home, server.base_url))
        os.environ["FINBUDDY_DATABASE_URL"] = f"sqlite:///{database}"
        settings = load_settings()
        today = Context(settings=settings, clock=Clock(FAKE_NOW))
        yesterday = Context(settings=settings, clock=Clock(YESTERDAY_EVENING))
        try:
            figures = _replay(
                today, yesterday, server, plan, batch_mode(settings), InsightBatch, BatchInsightRun, QuotaExceeded
            )
            figures["ledger"] = _ledger(today)
        finally:
            today.close()
            yesterday.close()
        figures["fake_requests"] = {
            "chat": server.count - figures.pop("warmup_requests"),
            "batch_lines": server.batch_lines(),
        }
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)
    _check(mode, figures)
    log(_mode_line(mode, figures))
    return figures


def _timed(work: Any) -> tuple[Any, float, float]:
    """work()'s result, its wall time and this process's CPU time over it (the machine is shared: wall time
    also measures the other work on it; CPU time is the product's own)."""
    started, cpu = time.monotonic(), time.process_time()
    result = work()
    return result, time.monotonic() - started, time.process_time() - cpu


def _replay(today, yesterday, server, plan, batch, insight_batch, batch_run, quota_exceeded) -> dict[str, Any]:
    from finbuddy.advisor import ask

    # Yesterday evening: the questions today's first asks repeat (not billed: another day in the ledger).
    for user, asks in plan:
        if asks[0][1]:
            ask(yesterday.for_user(user), asks[0][0])
    warmup = server.count
    refused = {"quota": 0}
    asks_made = cached = 0
    started = time.monotonic()
    for user, asks in plan:
        ctx = today.for_user(user)
        for question, _ in asks:
            asks_made += 1
            try:
                cached += ask(ctx, question).cached
            except quota_exceeded:
                refused["quota"] += 1
    asks_s = time.monotonic() - started
    figures: dict[str, Any] = {
        "asks": asks_made,
        "askers": len(plan),
        "asks_served_from_cache": cached,
        "asks_refused": refused["quota"],
        "asks_s": round(asks_s, 2),
        "warmup_requests": warmup,
    }
    if not batch:
        summary, elapsed, cpu = _timed(insight_batch(today).run)
        figures["insights"] = {
            "mode": "sync (the daemon's in-process batch, daemon.workers threads)",
            "done": summary.done,
            "failed": summary.failed,
            "workers": today.settings.daemon.workers,
            "elapsed_s": round(elapsed, 2),
            "cpu_s": round(cpu, 2),
            "wall_s_per_insight": round(elapsed / max(1, summary.done), 5),
            # The machine is shared: wall time also measures the other work on it; CPU time is the product's own.
            "cpu_s_per_insight": round(cpu / max(1, summary.done), 5),
            "load_average": [round(x, 1) for x in os.getloadavg()],
        }
        return figures
    submitted, submit_s, submit_cpu = _timed(batch_run(today).run)
    server.complete()  # the provider's side of the 24 h window: not the product's work
    ingested, ingest_s, ingest_cpu = _timed(batch_run(today).run)
    figures["insights"] = {
        "mode": "batch (the Batch API: submit, the provider answers, ingest)",
        "submitted": submitted.submitted,
        "done": ingested.done,
        "submit_s": round(submit_s, 2),
        "ingest_s": round(ingest_s, 2),
        "submit_cpu_s": round(submit_cpu, 2),
        "ingest_cpu_s": round(ingest_cpu, 2),
        "submit_lines_per_s": round(submitted.submitted / submit_s, 1) if submit_s else None,
        "ingest_lines_per_s": round(ingested.done / ingest_s, 1) if ingest_s else None,
    }
    return figures


def _check(mode: str, figures: dict[str, Any]) -> None:
    """The ledger and the fake agree: every call the product paid for reached the provider, once."""
    usage = figures["ledger"]["usage_all"]
    sent = figures["fake_requests"]["chat"] + figures["fake_requests"]["batch_lines"]
    if usage["calls"] != sent or usage["in_flight"] or usage["failed"]:
        raise SystemExit(f"{mode}: the ledger says {usage} but the fake answered {sent} requests")


def _mode_line(mode: str, figures: dict[str, Any]) -> str:
    usage = figures["ledger"]["usage_all"]
    return (
        f"  {mode:<18} {usage['calls']:>7,} calls  {usage['cache_hits']:>5,} cache hits  "
        f"{figures['asks_refused']:>4,} asks refused  "
        f"{usage['tokens_in']:>10,} in / {usage['tokens_out']:>9,} out tokens  "
        f"${usage['cost_micro_usd'] / 1e6:,.4f}"
    )


# --- scaling and the batch's duration -------------------------------------------------------------


def scaled(modes: dict[str, dict[str, Any]], sample: int) -> dict[str, Any]:
    """Per-user rates of the sample, times each size in params.SIZES."""
    out: dict[str, Any] = {
        "formula": f"figure(N) = figure(sample) / {sample} × N (per-user rates of the {sample:,}-user replay)",
        "sizes": {},
    }
    for size in params.SIZES:
        out["sizes"][str(size)] = {
            mode: {
                "calls": round(f["ledger"]["usage_all"]["calls"] / sample * size),
                "tokens_in": round(f["ledger"]["usage_all"]["tokens_in"] / sample * size),
                "tokens_out": round(f["ledger"]["usage_all"]["tokens_out"] / sample * size),
                "cost_usd": round(f["ledger"]["usage_all"]["cost_micro_usd"] / 1e6 / sample * size, 2),
            }
            for mode, f in modes.items()
        }
    return out


def durations(modes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How long the daily insights take at each provider tier, from the measured product work per insight."""
    sync = modes["cache+quota"]["insights"]
    batch = modes["cache+quota+batch"]["insights"]
    latency = params.DAY.provider_latency_s
    s_per_insight = sync["cpu_s_per_insight"]
    out: dict[str, Any] = {
        "sync_formula": (
            "duration = max(N / rpm, N × s_per_insight / P): s_per_insight = the measured CPU time of the product's "
            f"own work per insight in one process (the in-process batch, {sync['workers']} threads, the fake answering "
            "at once from its own process, SQLite), P = worker processes; assumes threads ≥ rpm × latency / 60 "
            f"(docs/SCALING.md Sizing; latency {latency} s from params.DAY), else the threads bound it"
        ),
        "batch_formula": (
            "duration = N / submit_lines_per_s + the provider's window (up to 24 h, not ours) "
            "+ N / ingest_lines_per_s, the rates per CPU second of the product's process; "
            "the requests-per-minute tier does not apply to the Batch API"
        ),
        "s_per_insight": s_per_insight,
        "latency_s": latency,
        # Per CPU second, as s_per_insight: on the shared machine the wall rates (in the mode's figures) mostly
        # measure the other work's share of the cores.
        "submit_lines_per_s": round(batch["submitted"] / batch["submit_cpu_s"], 1),
        "ingest_lines_per_s": round(batch["done"] / batch["ingest_cpu_s"], 1),
        "tiers": {},
    }
    for rpm in params.DAY.provider_tiers_rpm:
        threads = math.ceil(rpm * latency / 60)
        tier: dict[str, Any] = {"threads_needed": threads, "sizes": {}}
        for size in params.SIZES:
            for processes in (1, 2):
                rate_s, product_s = size / rpm * 60, size * s_per_insight / processes
                tier["sizes"].setdefault(str(size), {})[str(processes)] = {
                    "hours": round(max(rate_s, product_s) / 3600, 2),
                    "bound_by": "provider rate" if rate_s >= product_s else "our work",
                }
        out["tiers"][str(rpm)] = tier
    out["batch"] = {
        str(size): {
            "our_work_hours": round((size / out["submit_lines_per_s"] + size / out["ingest_lines_per_s"]) / 3600, 2),
            "plus": "the provider's window, up to 24 h",
        }
        for size in params.SIZES
    }
    return out


# --- running it ----------------------------------------------------------------------------------


def run(users: int, log: Log) -> dict[str, Any]:
    from finbuddy.clock import Clock
    from finbuddy.config import load_settings
    from finbuddy.context import Context

    rng = random.Random(params.SEED)
    work = Path(tempfile.mkdtemp(prefix="finbuddy-lab-aibill-"))
    saved = dict(os.environ)
    try:
        template = work / "population.db"
        for name in [n for n in os.environ if n.startswith(("FINBUDDY_", "OPENAI_"))]:
            del os.environ[name]
        os.environ.update({"FINBUDDY_HOME": str(work / "seed"), "FINBUDDY_DATABASE_URL": f"sqlite:///{template}"})
        ctx = Context(settings=load_settings(), clock=Clock(FAKE_NOW))
        try:
            started = time.monotonic()
            records = seed_population(ctx, users, rng)
            log(f"aibill: {users:,} sampled users, {records:,} records written in {time.monotonic() - started:.1f} s")
        finally:
            ctx.close()
        os.environ.clear()
        os.environ.update(saved)
        plan = plan_day(users, rng)
        asks = sum(len(a) for _, a in plan)
        log(f"aibill: the day: {len(plan)} askers, {asks} asks, {users:,} insights; replaying each mode")
        modes = {mode: replay_mode(mode, template, work, plan, log) for mode in MODES}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work, ignore_errors=True)
    settings_prices = _default_prices()
    figures = {
        "sample_users": users,
        "day": {"askers": len(plan), "asks": asks, "insights": users},
        "fake": "tests/fakes_daemon.py DaemonFakeOpenAI (answers at once); tokens = characters / 4",
        "answer_chars": len(ANSWER),
        "prices_usd_per_million_tokens": settings_prices,
        "modes_explained": {
            "no-cache": "cache.ai_ttl = 0 (no AI answer read or written), ai.daily_quota unlimited",
            "cache": "cache.ai_ttl = 86400 (the default), ai.daily_quota unlimited",
            "cache+quota": "the defaults: cache.ai_ttl = 86400, ai.daily_quota = 5",
            "cache+quota+batch": "the defaults and ai.insights_mode = batch (Batch API prices)",
        },
        "modes": modes,
        "scaled": scaled(modes, users),
        "batch_duration": durations(modes),
    }
    _print_scaled(figures, log)
    return figures


def _default_prices() -> dict[str, Any]:
    from finbuddy.config import DEFAULT_PRICES

    return {model: dict(entry) for model, entry in DEFAULT_PRICES.items()}


def _print_scaled(figures: dict[str, Any], log: Log) -> None:
    log(figures["scaled"]["formula"])
    for size, modes in figures["scaled"]["sizes"].items():
        shown = ", ".join(f"{mode} ${m['cost_usd']:,.2f}" for mode, m in modes.items())
        log(f"  {int(size):>9,} users a day: {shown}")
    durations_ = figures["batch_duration"]
    log(durations_["sync_formula"])
    for rpm, tier in durations_["tiers"].items():
        shown = ", ".join(
            f"{int(size):,}: {rows['1']['hours']} h ({rows['1']['bound_by']}) / {rows['2']['hours']} h with 2"
            for size, rows in tier["sizes"].items()
        )
        log(f"  {int(rpm):>6,}/min ({tier['threads_needed']} threads): {shown}")
    log(durations_["batch_formula"])
    shown = ", ".join(f"{int(size):,}: {row['our_work_hours']} h" for size, row in durations_["batch"].items())
    log(f"  batch mode, our work: {shown} (+ the window)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SAMPLE_USERS} users; saves only with --results-dir"
    )
    parser.add_argument("--users", type=int, help=f"sample size (default {SAMPLE_USERS:,})")
    parser.add_argument("--results-dir", type=Path, help="where aibill.json goes (default benchmarks/scale/results)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args(argv)
    users = args.users or (QUICK_SAMPLE_USERS if args.quick else SAMPLE_USERS)

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    figures = run(users, log)
    if args.results_dir is not None or not args.quick:
        path = results.save("aibill", figures, args.results_dir or results.RESULTS)
        log(f"aibill: saved {path}")
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
