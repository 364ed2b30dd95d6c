"""Routing benchmark: how many asks finbuddy answers from the user's figures, which model gets the rest, what
that saves, and whether every local answer is right.

    python benchmarks/routing.py            # the full run (15 months of records)
    python benchmarks/routing.py --quick    # a smaller ledger, for the test suite
    python benchmarks/routing.py --json     # one JSON document on stdout

The corpus (benchmarks/data/questions.jsonl) holds realistic questions written for finbuddy, each labelled with
the route it should take: "local" (answered from the database), "small" (ai.small_model) or "main" (ai.model).
Every question is asked through the real guard (finbuddy.advisor.ask, fresh: no cache) for a user seeded with
known data, with ai.model = gpt-4o and ai.small_model = gpt-4o-mini, against a loopback OpenAI-compatible server
(tests/fakes/openai_server.py) that records every request. Reported:

- the share answered locally and the share sent to each model, and every question routed against its label;
- the estimated cost per 1,000 asks against "everything to ai.model": prompt tokens measured with the real
  prompt builder (prompt.build_messages over the seeded user's picture, tokens ≈ chars / 4), ANSWER_TOKENS out
  per call, priced by the default [ai.prices] table; once for the routed set-up (gpt-4o + gpt-4o-mini) and once
  for the default one (gpt-4o-mini only, where only the local answers save);
- every figure of every local answer checked against a direct SQL computation on the database file (sqlite3,
  not finbuddy's code), and its value found in the answer's text.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from finbuddy.clock import Clock  # noqa: E402
from finbuddy.config import load_settings  # noqa: E402
from finbuddy.context import Context  # noqa: E402
from tests.fakes.openai_server import TEST_API_KEY, FakeOpenAI  # noqa: E402

CORPUS = ROOT / "benchmarks" / "data" / "questions.jsonl"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
MAIN_MODEL, SMALL_MODEL = "gpt-4o", "gpt-4o-mini"
# An answer's length: the system prompt asks for "at most about 180 words" (≈ 240 tokens).
ANSWER_TOKENS = 250
BUDGETS = {"groceries": "400", "dining": "200", "entertainment": "100", "transport": "150", "coffee": "40"}
HOLDINGS = (("VTI", "30", "250"), ("AAPL", "10", "190"), ("BND", "40", "72"))


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if row["route"] not in ("local", "small", "main"):
            raise ValueError(f"{row['question']!r}: route {row['route']!r} is not local, small or main")
    return rows


def recurring_available() -> bool:
    try:
        import finbuddy.ledger.recurring  # noqa: F401
    except ImportError:
        return False
    return True


def expected_route(row: dict[str, Any], recurring: bool) -> str:
    """The label, except that a recurring-charge question needs finbuddy.ledger.recurring to be answered locally."""
    if row.get("requires") == "recurring" and not recurring:
        return "main"
    return row["route"]


# --- the seeded user ---------------------------------------------------------------------------------------


def _entries(rng: random.Random, start: dt.date, end: dt.date, density: float) -> list[tuple]:
    """(date, amount, category, merchant, kind): a regular life with bills, pay days and day-to-day spending."""
    rows: list[tuple] = []
    day = start
    while day <= end:
        if day.day == 1:
            rows.append((day, "1200.00", "rent", "Landlord Ltd", "expense"))
            rows.append((day, "3000.00" if day.month != 10 else "2900.00", "salary", "Acme Corp", "income"))
        if day.day == 5:
            rows.append((day, "39.00", "entertainment", "Gym Plus", "expense"))
        if day.day == 12:
            rows.append(
                (day, "17.99" if day >= dt.date(2026, 3, 1) else "15.49", "subscriptions", "Netflix", "expense")
            )
        if day.day == 15:
            rows.append((day, f"{rng.randint(80, 94)}.{rng.randint(0, 99):02d}", "utilities", "City Power", "expense"))
        if day.day == 20:
            rows.append((day, "10.99", "subscriptions", "Spotify", "expense"))
            if rng.random() < 0.4:
                rows.append((day, f"{rng.randint(300, 900)}.00", "freelance", "Client Co", "income"))
        for chance, category, merchants, low, high in (
            (0.30, "groceries", ("Lidl", "Aldi", "Whole Foods"), 12, 90),
            (0.16, "dining", ("Bistro Nord", "Pizza Hut"), 14, 65),
            (0.45, "coffee", ("Starbucks", "Blue Bottle"), 3, 6),
            (0.22, "transport", ("Uber", "Shell"), 8, 55),
            (0.05, "entertainment", ("Cinema City",), 12, 30),
            (0.07, "shopping", ("Amazon",), 10, 120),
            (0.03, "health", ("CVS",), 6, 45),
        ):
            if rng.random() < chance * density:
                cents = rng.randint(low * 100, high * 100)
                rows.append((day, f"{cents // 100}.{cents % 100:02d}", category, rng.choice(merchants), "expense"))
        day += dt.timedelta(days=1)
    return rows


def seed_user(ctx: Context, quick: bool) -> int:
    from finbuddy.ledger.budgets import set_budget
    from finbuddy.ledger.portfolio import add_holding, set_price
    from finbuddy.ledger.records import record_entry

    rng = random.Random(12)
    start = dt.date(2026, 6, 1) if quick else dt.date(2025, 9, 1)
    rows = _entries(rng, start, NOW.date(), 0.6 if quick else 1.0)
    if quick:  # a little of 2025 all the same, so "in 2025" has something to add up
        rows += [(dt.date(2025, 11, 3), "45.00", "shopping", "Amazon", "expense")]
    for day, amount, category, merchant, kind in rows:
        record_entry(ctx, Decimal(amount), category, date=day, merchant=merchant, kind=kind)
    for category, amount in BUDGETS.items():
        set_budget(ctx, category, Decimal(amount))
    for ticker, quantity, price in HOLDINGS:
        add_holding(ctx, ticker, Decimal(quantity), Decimal(price))
        set_price(ctx, ticker, Decimal(price))
    return len(rows)


# --- the SQL check of local answers --------------------------------------------------------------------


class Ledger:
    """Direct SQL over the database file, independent of finbuddy's queries."""

    def __init__(self, path: str, user: str) -> None:
        self.conn = sqlite3.connect(path)
        self.user_id = self.conn.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()[0]

    def sum(self, kind: str, period: dict[str, str], category: str | None = None, merchant: str | None = None) -> int:
        sql = "SELECT COALESCE(SUM(amount_cents), 0), COUNT(*) FROM records WHERE user_id = ? AND kind = ?"
        sql += " AND expense_date BETWEEN ? AND ?"
        params: list[Any] = [self.user_id, kind, period["start"], period["end"]]
        if category is not None:
            sql += " AND category = ?"
            params.append(category)
        if merchant is not None:
            sql += " AND lower(merchant) = lower(?)"
            params.append(merchant)
        return int(self.conn.execute(sql, params).fetchone()[0])

    def count(self, period: dict[str, str], category: str | None = None, merchant: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM records WHERE user_id = ? AND kind = 'expense' AND expense_date BETWEEN ? AND ?"
        params: list[Any] = [self.user_id, period["start"], period["end"]]
        if category is not None:
            sql += " AND category = ?"
            params.append(category)
        if merchant is not None:
            sql += " AND lower(merchant) = lower(?)"
            params.append(merchant)
        return int(self.conn.execute(sql, params).fetchone()[0])

    def charges(self, merchant: str) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            "SELECT expense_date, amount_cents FROM records WHERE user_id = ? AND kind = 'expense' "
            "AND lower(merchant) = lower(?) ORDER BY expense_date",
            (self.user_id, merchant),
        )
        return [(str(day), int(cents)) for day, cents in rows]

    def recurring_figure(self, name: str, merchant: str, shown: str) -> str | None:
        """A monthly charge's last date, next date (the same day a month later) or typical amount (one of its
        last three charges' amounts, or between them), from its charges in SQL."""
        from finbuddy.money import format_cents

        charges = self.charges(merchant)
        last = dt.date.fromisoformat(charges[-1][0])
        if name == "last_date":
            return last.isoformat()
        if name == "next_date":
            year, month = (last.year + 1, 1) if last.month == 12 else (last.year, last.month + 1)
            return last.replace(year=year, month=month).isoformat()
        recent = [cents for _, cents in charges[-3:]]
        return shown if min(recent) <= _cents(shown) <= max(recent) else format_cents(recent[-1])

    def budgets(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT category, amount_cents FROM budgets WHERE user_id = ?", (self.user_id,))
        return {category: int(cents) for category, cents in rows}

    def by_category(self, period: dict[str, str]) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT category, SUM(amount_cents) FROM records WHERE user_id = ? AND kind = 'expense' "
            "AND expense_date BETWEEN ? AND ? GROUP BY category",
            (self.user_id, period["start"], period["end"]),
        )
        return {category: int(cents) for category, cents in rows}


def _pct(part: int, whole: int) -> str:
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _cents(value: str) -> int:
    return int(Decimal(value) * 100)


def expected_figure(ledger: Ledger, figure: dict[str, Any], route: dict[str, Any]) -> str | int | None:
    """The figure's value computed in SQL, or None for a figure SQL cannot check (a date from the recurring
    detection)."""
    from finbuddy.money import format_cents

    name, inputs, period = figure["name"], figure["inputs"], figure["period"]
    category, merchant = inputs.get("category"), inputs.get("merchant")
    if name in ("last_date", "next_date", "typical_amount"):
        return ledger.recurring_figure(name, merchant, figure["value"])
    if period is None:
        return None
    money = format_cents
    if name == "cost":
        return None  # an input, not a figure
    if name == "records":
        return ledger.count(period, category, merchant)
    budgets = ledger.budgets()
    by_category = ledger.by_category(period)
    expenses, income = ledger.sum("expense", period), ledger.sum("income", period)
    budgeted_spent = sum(by_category.get(c, 0) for c in budgets)
    room = {c: max(b - by_category.get(c, 0), 0) for c, b in budgets.items()}
    if name == "spent":
        return money(ledger.sum("expense", period, category, merchant))
    if name == "spent_in_budgets":
        return money(budgeted_spent)
    if name == "expenses":
        return money(expenses)
    if name == "income":
        return money(ledger.sum("income", period, category))
    if name == "net":
        return money(income - expenses)
    if name == "savings_rate_pct":
        return _pct(income - expenses, income)
    if name == "budget":
        return money(budgets[category] if category else sum(budgets.values()))
    if name == "budget_left":
        if category:
            return money(budgets[category] - by_category.get(category, 0))
        return money(sum(budgets.values()) - budgeted_spent)
    if name == "budget_used_pct":
        return _pct(by_category.get(category, 0), budgets[category])
    if name == "spent_unbudgeted":
        return money(expenses - budgeted_spent)
    if name == "share_pct":
        return _pct(max(by_category.values()), expenses)
    surplus = income - expenses
    free = surplus - sum(room.values())
    if name == "surplus":
        return money(surplus)
    if name == "budgets_left":
        return money(sum(room.values()))
    if name == "free_after_budgets":
        return money(free)
    if name == "left_after_cost":
        cost = _cents(inputs["cost"])
        planned = min(cost, room.get(category, 0)) if category else 0
        return money(free - (cost - planned))
    return None


def shown_in_text(figure: dict[str, Any], text: str) -> bool:
    from finbuddy.money import format_cents_grouped

    value = figure["value"]
    if figure["unit"] == "%":
        return f"{value}%" in text
    if figure["unit"] == "records":
        return str(value) in text
    if figure["unit"] in ("date",):
        return str(value) in text
    return format_cents_grouped(abs(_cents(str(value)))) in text


# --- the run ---------------------------------------------------------------------------------------------


def _cost(prices: dict[str, dict[str, float]], model: str, tokens_in: int) -> float:
    from finbuddy.advisor.guard import estimate_cost_micro_usd

    return estimate_cost_micro_usd(prices, model, model, tokens_in, ANSWER_TOKENS) / 1e6


def run(quick: bool) -> dict[str, Any]:
    from finbuddy.advisor import ask
    from finbuddy.advisor.prompt import build_messages, estimated_tokens, financial_picture

    corpus = load_corpus()
    recurring = recurring_available()
    server = FakeOpenAI().start()
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            settings = load_settings(
                env={
                    "FINBUDDY_HOME": str(home),
                    "FINBUDDY_USER": "bench",
                    "FINBUDDY_USER_TIMEZONE": "UTC",
                    "FINBUDDY_AI_PROVIDER": "openai",
                    "OPENAI_BASE_URL": server.base_url,
                    "OPENAI_API_KEY": TEST_API_KEY,
                    "FINBUDDY_AI_MODEL": MAIN_MODEL,
                    "FINBUDDY_AI_SMALL_MODEL": SMALL_MODEL,
                    "FINBUDDY_AI_DAILY_QUOTA": "1000000",
                    "FINBUDDY_AI_GLOBAL_DAILY_LIMIT": "1000000",
                }
            )
            ctx = Context(settings=settings, clock=Clock(NOW), user="bench")
            try:
                records = seed_user(ctx, quick)
                picture = financial_picture(ctx)
                ledger = Ledger(settings.database_url.removeprefix("sqlite:///"), "bench")
                results = []
                for row in corpus:
                    requests_before = server.count
                    answer = ask(ctx, row["question"], fresh=True)
                    route = answer.route.to_json() if answer.route is not None else {"route": "main"}
                    sent = server.requests[requests_before:]
                    results.append(
                        {
                            **row,
                            "expected": expected_route(row, recurring),
                            "got": route["route"],
                            "intent": route.get("intent"),
                            "reason": route.get("reason", ""),
                            "source": answer.source,
                            "model_sent": [r["body"].get("model") for r in sent],
                            "prompt_tokens": estimated_tokens(build_messages(picture, row["question"])),
                            "answer": answer.text,
                            "figures": answer.figures_used,
                            "route_json": route,
                        }
                    )
                checks = check_local_answers(ledger, results)
                ledger.conn.close()
            finally:
                ctx.close()
    finally:
        server.stop()
    return summarise(results, checks, records, server.count, recurring, time.perf_counter() - started)


def check_local_answers(ledger: Ledger, results: list[dict[str, Any]]) -> dict[str, Any]:
    checked = unchecked = 0
    wrong: list[dict[str, Any]] = []
    for result in results:
        if result["source"] != "local":
            continue
        for figure in result["figures"]:
            expected = expected_figure(ledger, figure, result["route_json"])
            if expected is None:
                unchecked += 1
                continue
            checked += 1
            if str(figure["value"]) != str(expected) or not shown_in_text(figure, result["answer"]):
                wrong.append(
                    {"question": result["question"], "figure": figure["name"], "inputs": figure["inputs"],
                     "answer_value": figure["value"], "sql_value": expected,
                     "in_text": shown_in_text(figure, result["answer"])}
                )  # fmt: skip
    return {"figures_checked": checked, "figures_not_checkable": unchecked, "mismatches": wrong}


def summarise(
    results: list[dict[str, Any]], checks: dict[str, Any], records: int, requests: int, recurring: bool, seconds: float
) -> dict[str, Any]:
    from finbuddy.config import DEFAULT_PRICES

    total = len(results)
    routes = Counter(r["got"] for r in results)
    misrouted = [
        {
            "question": r["question"],
            "kind": r["kind"],
            "expected": r["expected"],
            "got": r["got"],
            "reason": r["reason"],
        }
        for r in results
        if r["got"] != r["expected"]
    ]
    models_ok = all(
        (r["got"] == "local" and r["model_sent"] == [])
        or (r["got"] == "small" and r["model_sent"] == [SMALL_MODEL])
        or (r["got"] == "main" and r["model_sent"] == [MAIN_MODEL])
        for r in results
    )
    prices = {name: dict(entry) for name, entry in DEFAULT_PRICES.items()}

    def per_thousand(cost: float) -> float:
        return round(cost / total * 1000, 4)

    all_main = sum(_cost(prices, MAIN_MODEL, r["prompt_tokens"]) for r in results)
    routed = sum(
        _cost(prices, SMALL_MODEL if r["got"] == "small" else MAIN_MODEL, r["prompt_tokens"])
        for r in results
        if r["got"] != "local"
    )
    all_mini = sum(_cost(prices, SMALL_MODEL, r["prompt_tokens"]) for r in results)
    local_only = sum(_cost(prices, SMALL_MODEL, r["prompt_tokens"]) for r in results if r["got"] != "local")
    by_kind: dict[str, Counter] = {}
    for r in results:
        by_kind.setdefault(r["kind"], Counter())[r["got"]] += 1
    return {
        "questions": total,
        "records_seeded": records,
        "recurring_intent_available": recurring,
        "share": {route: round(routes.get(route, 0) / total, 4) for route in ("local", "small", "main")},
        "counts": {route: routes.get(route, 0) for route in ("local", "small", "main")},
        "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
        "misrouted": misrouted,
        "server_requests": requests,
        "requests_match_routes": models_ok and requests == total - routes.get("local", 0),
        "mean_prompt_tokens": round(sum(r["prompt_tokens"] for r in results) / total, 1),
        "answer_tokens_assumed": ANSWER_TOKENS,
        "cost_per_1000_asks_usd": {
            f"everything to {MAIN_MODEL}": per_thousand(all_main),
            f"routed: local + {SMALL_MODEL} + {MAIN_MODEL}": per_thousand(routed),
            "saving_pct": round((1 - routed / all_main) * 100, 1) if all_main else None,
            f"default set-up, everything to {SMALL_MODEL}": per_thousand(all_mini),
            f"default set-up, local + {SMALL_MODEL}": per_thousand(local_only),
            "default_saving_pct": round((1 - local_only / all_mini) * 100, 1) if all_mini else None,
        },
        "local_answers_checked": checks,
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller ledger, for the test suite")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    report = run(args.quick)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    share, counts = report["share"], report["counts"]
    print(f"{report['questions']} questions, {report['records_seeded']} records seeded ({report['seconds']} s)")
    for route in ("local", "small", "main"):
        print(f"  {route:5}  {counts[route]:4}  {share[route]:.1%}")
    print("by kind:", json.dumps(report["by_kind"]))
    print(f"misrouted against the labels: {len(report['misrouted'])}")
    for miss in report["misrouted"]:
        print(f"  {miss['expected']} -> {miss['got']}: {miss['question']!r} ({miss['reason']})")
    print(
        f"server requests {report['server_requests']}, "
        f"matching the routes and models: {report['requests_match_routes']}"
    )
    print(
        f"mean prompt {report['mean_prompt_tokens']} tokens, {ANSWER_TOKENS} answer tokens assumed; "
        "per 1,000 asks (USD):"
    )
    for name, value in report["cost_per_1000_asks_usd"].items():
        print(f"  {name}: {value}")
    checks = report["local_answers_checked"]
    print(
        f"local answers: {checks['figures_checked']} figures checked against SQL, "
        f"{len(checks['mismatches'])} wrong, {checks['figures_not_checkable']} not checkable by SQL"
    )
    for wrong in checks["mismatches"]:
        print("  WRONG:", wrong)
    return 0


if __name__ == "__main__":
    sys.exit(main())
