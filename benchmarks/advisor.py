"""Advisor benchmarks: prompt size against record count, the guard's own overhead, and calls avoided by the cache.

    python benchmarks/advisor.py            # the full run (100,000 records, 1,000 users × 7 days)
    python benchmarks/advisor.py --quick    # a small run for the test suite
    python benchmarks/advisor.py --json     # one JSON document on stdout

Everything runs in a temporary FINBUDDY_HOME on SQLite, against a loopback OpenAI-compatible server
(tests/fakes/openai_server.py) that answers at once, so the times are finbuddy's own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from finbuddy.clock import Clock  # noqa: E402
from finbuddy.config import load_settings  # noqa: E402
from finbuddy.context import Context  # noqa: E402
from tests.fakes.openai_server import TEST_API_KEY, FakeOpenAI  # noqa: E402
from tests.fakes.synthetic_ledger import seed_records  # noqa: E402

START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)

QUESTIONS = [
    "Can I afford a new laptop this month?",
    "Where does most of my money go?",
    "Am I on track with my budgets?",
    "How much should I save each month?",
    "Should I invest more in index funds?",
    "Is my portfolio too concentrated?",
    "Can I afford a holiday in December?",
    "How can I cut my grocery spending?",
    "What is my savings rate?",
    "Should I pay off debt or invest?",
    "How much do I spend on dining out?",
    "Do I have enough of an emergency fund?",
    "Which budget am I most likely to break?",
    "How did this month compare to last month?",
    "Can I afford to buy a car?",
    "Should I cancel some subscriptions?",
    "How much can I spend per day for the rest of the month?",
    "Is it a good time to rebalance my portfolio?",
    "What is one thing I should change this week?",
    "Am I spending more than I earn?",
]


def _ctx(home: Path, env: dict[str, str] | None = None, now: dt.datetime = START, user: str = "bench") -> Context:
    settings = load_settings(
        env={
            "FINBUDDY_HOME": str(home),
            "FINBUDDY_USER": user,
            "FINBUDDY_USER_TIMEZONE": "UTC",
            **(env or {}),
        }
    )
    return Context(settings=settings, clock=Clock(now), user=user)


def _with_budgets_and_portfolio(ctx: Context) -> None:
    from finbuddy.ledger.budgets import set_budget
    from finbuddy.ledger.portfolio import add_holding, set_price

    for category, amount in (("groceries", "400"), ("dining", "150"), ("rent", "1200"), ("fun", "100")):
        set_budget(ctx, category, Decimal(amount))
    for ticker, quantity, price in (("VTI", "30", "250"), ("AAPL", "10", "190"), ("BND", "40", "72")):
        add_holding(ctx, ticker, Decimal(quantity), Decimal(price))
        set_price(ctx, ticker, Decimal(price))


# --- 1. prompt size ----------------------------------------------------------------------


def prompt_sizes(counts: list[int]) -> dict[str, object]:
    from finbuddy.advisor.prompt import build_messages, estimated_tokens, financial_picture

    sizes: dict[str, int] = {}
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = _ctx(Path(tmp))
            try:
                seed_records(ctx, count, days_back=60, note_chars=60)
                _with_budgets_and_portfolio(ctx)
                messages = build_messages(financial_picture(ctx), QUESTIONS[0])
                sizes[str(count)] = estimated_tokens(messages)
            finally:
                ctx.close()
    values = list(sizes.values())
    return {"tokens_by_records": sizes, "max_over_min": round(max(values) / min(values), 3)}


# --- 2. the guard's overhead ---------------------------------------------------------------


def guard_overhead(asks: int) -> dict[str, object]:
    import openai

    from finbuddy.advisor import ask
    from finbuddy.advisor.prompt import build_messages, financial_picture
    from finbuddy.advisor.router import route_question

    server = FakeOpenAI().start()
    env = {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": TEST_API_KEY,
        "FINBUDDY_AI_PROVIDER": "openai",
        "FINBUDDY_AI_DAILY_QUOTA": "1000000",
        "FINBUDDY_AI_GLOBAL_DAILY_LIMIT": "1000000",
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = _ctx(Path(tmp), env)
            try:
                seed_records(ctx, 1000)
                _with_budgets_and_portfolio(ctx)
                ask(ctx, "warm up", fresh=True)
                # The guard's overhead: the questions the router sends to a model (not those it answers locally).
                questions = [q for q in QUESTIONS if not route_question(ctx, q).local]
                fresh_ms, hit_ms, bare_ms = [], [], []
                for index in range(asks):
                    started = time.perf_counter()
                    ask(ctx, questions[index % len(questions)], fresh=True)
                    fresh_ms.append((time.perf_counter() - started) * 1000)
                for index in range(asks):
                    started = time.perf_counter()
                    answer = ask(ctx, questions[index % len(questions)])
                    hit_ms.append((time.perf_counter() - started) * 1000)
                    assert answer.cached
                client = openai.OpenAI(api_key=TEST_API_KEY, base_url=server.base_url, max_retries=0)
                messages = build_messages(financial_picture(ctx), QUESTIONS[0])
                for _ in range(asks):
                    started = time.perf_counter()
                    client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=700)
                    bare_ms.append((time.perf_counter() - started) * 1000)
            finally:
                ctx.close()
    finally:
        server.stop()
    fresh, hit, bare = statistics.median(fresh_ms), statistics.median(hit_ms), statistics.median(bare_ms)
    return {
        "asks": asks,
        "median_ms_ask_fresh": round(fresh, 2),
        "median_ms_bare_sdk_call": round(bare, 2),
        "median_ms_guard_overhead": round(fresh - bare, 2),
        "median_ms_ask_cache_hit": round(hit, 2),
    }


# --- 3. calls avoided by the cache ----------------------------------------------------------


def cache_replay(users: int, days: int, seed: int = 7) -> dict[str, object]:
    """Each simulated day every user asks 0-3 questions from a pool of 20 (popular ones more often,
    phrased a little differently), and about 60% of users record something between days."""
    from finbuddy.advisor import ask
    from finbuddy.errors import QuotaExceeded
    from finbuddy.ledger.records import record_entry

    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(QUESTIONS))]  # Zipf-like popularity
    server = FakeOpenAI().start()
    env = {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": TEST_API_KEY,
        "FINBUDDY_AI_PROVIDER": "openai",
        "FINBUDDY_AI_GLOBAL_DAILY_LIMIT": "1000000",
    }
    asked = hits = calls = refused = writes = local = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            base = _ctx(home, env)
            db, cache = base.db, base.cache
            names = [f"user{n:05d}" for n in range(users)]
            for name in names:
                ctx = _ctx(home, env, user=name)
                ctx.__dict__.update(db=db, cache=cache)
                record_entry(ctx, Decimal(rng.randint(5, 200)), rng.choice(["groceries", "dining", "rent", "fun"]))
            for day in range(days):
                for name in names:
                    when = START + dt.timedelta(days=day, minutes=rng.randrange(12 * 60))
                    ctx = _ctx(home, env, now=when, user=name)
                    ctx.__dict__.update(db=db, cache=cache)
                    cache.clock = ctx.clock  # one shared cache; its TTLs follow the simulated time
                    for _ in range(rng.choice([0, 1, 1, 2, 3])):
                        question = rng.choices(QUESTIONS, weights)[0]
                        if rng.random() < 0.3:
                            question = question.lower().rstrip("?")
                        asked += 1
                        try:
                            answer = ask(ctx, question)
                        except QuotaExceeded:
                            refused += 1
                            continue
                        if answer.source == "local":  # answered from the figures by the router: no guard
                            local += 1
                        elif answer.cached:
                            hits += 1
                        else:
                            calls += 1
                    if rng.random() < 0.6:
                        amount = Decimal(rng.randint(5, 200))
                        record_entry(ctx, amount, rng.choice(["groceries", "dining", "rent", "fun"]))
                        writes += 1
            base.close()
    finally:
        server.stop()
    answered = hits + calls
    return {
        "users": users,
        "days": days,
        "questions_asked": asked,
        "answered_from_cache": hits,
        "answered_locally": local,
        "ai_calls": calls,
        "refused_by_quota": refused,
        "data_writes": writes,
        "server_requests": server.count,
        "fraction_avoided_by_cache": round(hits / answered, 4) if answered else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for the test suite")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    counts = [10, 1000, 10_000] if args.quick else [10, 1000, 100_000]
    started = time.perf_counter()
    report = {
        "prompt_size": prompt_sizes(counts),
        "guard_overhead": guard_overhead(20 if args.quick else 200),
        "cache_replay": cache_replay(30 if args.quick else 1000, 3 if args.quick else 7),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        size = report["prompt_size"]
        print("prompt size (tokens ≈ chars/4):", size["tokens_by_records"], f"max/min {size['max_over_min']}")
        print("guard overhead:", report["guard_overhead"])
        print("cache replay:", report["cache_replay"])
        print(f"({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
