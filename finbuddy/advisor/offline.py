"""The offline advisor: deterministic rules over the user's figures, for when no LLM is configured."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from finbuddy.advisor.prompt import table_records
from finbuddy.advisor.router import AFFORDABILITY, BUDGET, GENERAL, INVESTING, SAVING, Understanding

OFFLINE_MODEL = "offline-rules"
NO_LLM_NOTICE = "No LLM was used: this answer comes from finbuddy's built-in rules applied to your own figures."

CONCENTRATED_PCT = 25.0
LOW_SAVINGS_PCT = 10.0
EMERGENCY_MONTHS = 3


def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _fmt(value: Decimal) -> str:
    return f"{value:,.2f}"


def _month_line(this: dict[str, Any], currency: str) -> str:
    expenses, income = _d(this.get("expenses")), _d(this.get("income"))
    rate = this.get("savings_rate_pct")
    line = (
        f"- This month so far ({this.get('month', '?')}, day {this.get('days_elapsed', '?')} of "
        f"{this.get('days_in_month', '?')}): spent {_fmt(expenses)} {currency}, earned {_fmt(income)} {currency}"
    )
    return line + (f", savings rate {rate:.1f}%." if rate is not None else " (no income recorded, so no savings rate).")


def _budget_lines(categories: list[dict[str, Any]], every: bool = False) -> list[str]:
    lines = []
    over = [c for c in categories if c.get("budget_used_pct") is not None and c["budget_used_pct"] >= 100]
    near = [c for c in categories if c.get("budget_used_pct") is not None and 80 <= c["budget_used_pct"] < 100]
    if over:
        shown = ", ".join(f"{c['category']} {c['spent']} of {c['budget']} ({c['budget_used_pct']:.0f}%)" for c in over)
        lines.append(f"- Over budget: {shown}.")
    if near:
        shown = ", ".join(f"{c['category']} {c['budget_used_pct']:.0f}% of {c['budget']}" for c in near)
        lines.append(f"- Close to budget: {shown}.")
    if not over and not near and any(c.get("budget") for c in categories):
        lines.append("- Every budgeted category is below 80% of its budget.")
    if every:
        room = [c for c in categories if c.get("budget") and _d(c["budget"]) > _d(c.get("spent"))]
        if room:
            shown = ", ".join(f"{c['category']} {_fmt(_d(c['budget']) - _d(c['spent']))}" for c in room)
            lines.append(f"- Left in your budgets: {shown}.")
    return lines


def _over(categories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in categories if c.get("budget_used_pct") is not None and c["budget_used_pct"] >= 100]


def _portfolio_lines(
    portfolio: dict[str, Any] | None, months: Decimal | None, monthly_spend: Decimal, currency: str, detailed: bool
) -> list[str]:
    if not portfolio:
        return ["- You have no holdings recorded (finbuddy portfolio add TICKER QTY)."] if detailed else []
    lines = []
    value = _d(portfolio.get("total_value"))
    holdings = table_records(portfolio.get("holdings"))
    if months is not None:
        lines.append(
            f"- Your portfolio ({_fmt(value)} {currency}) equals about {months:.1f} months of spending "
            f"at {_fmt(monthly_spend)} {currency} a month."
        )
    if detailed and len(holdings) > 1:
        shown = ", ".join(
            f"{h['ticker']} {float(h['weight_pct']):.1f}%" for h in holdings[:5] if h.get("weight_pct") is not None
        )
        if shown:
            lines.append(f"- Weights: {shown}.")
    top = holdings[0] if holdings else None
    if top and top.get("weight_pct") is not None:
        weight = float(top["weight_pct"])
        judgement = "concentrated; spreading it out lowers risk" if weight > CONCENTRATED_PCT else "not concentrated"
        lines.append(f"- Largest holding: {top['ticker']} at {weight:.1f}% of your portfolio ({judgement}).")
    return lines


def _fastest_growing_line(this: dict[str, Any], currency: str) -> list[str]:
    """The fastest-growing category as the ledger's like-for-like comparison found it (this month to date
    against the same days of last month)."""
    compared = this.get("compared") or {}
    name = compared.get("fastest_growing")
    for c in table_records(compared.get("by_category")):
        if name is not None and c["category"] == name:
            return [
                f"- Fastest-growing category: {name}, {_fmt(_d(c['spent']))} {currency} in {compared['period']} "
                f"against {_fmt(_d(c['previous']))} {currency} in {compared['previous_period']}."
            ]
    return []


def _growth_lines(this: dict[str, Any], currency: str, limit: int) -> list[str]:
    compared = this.get("compared") or {}
    grown = []
    for c in table_records(compared.get("by_category")):
        now, before = _d(c.get("spent")), _d(c.get("previous"))
        if now > before:
            grown.append((now - before, c["category"], now, before))
    grown.sort(key=lambda g: (-g[0], g[1]))
    if not grown:
        return []
    shown = "; ".join(
        f"{name} {_fmt(now)} against {_fmt(before)} (+{_fmt(up)})" for up, name, now, before in grown[:limit]
    )
    return [
        f"- Categories that grew ({compared.get('period')} against {compared.get('previous_period')}, {currency}): "
        f"{shown}."
    ]


def _affordability_lines(
    this: dict[str, Any], categories: list[dict[str, Any]], currency: str, amount: Decimal | None
) -> list[str]:
    income, expenses = _d(this.get("income")), _d(this.get("expenses"))
    surplus = income - expenses
    room = sum(
        (max(_d(c["budget"]) - _d(c.get("spent")), Decimal(0)) for c in categories if c.get("budget")), Decimal(0)
    )
    free = surplus - room
    lines = [f"- Surplus this month so far: {_fmt(income)} − {_fmt(expenses)} = {_fmt(surplus)} {currency}."]
    if room:
        lines.append(f"- Still to spend under your budgets: {_fmt(room)}; free after budgets: {_fmt(free)} {currency}.")
    if amount is not None:
        after = free - amount
        verdict = "fits" if after >= 0 else "does not fit"
        lines.append(f"- A cost of {_fmt(amount)} {verdict}: {_fmt(free)} − {_fmt(amount)} = {_fmt(after)} {currency}.")
    return lines


def offline_answer(figures: dict[str, Any], question: str | None, understanding: Understanding | None = None) -> str:
    """A plain, reproducible answer to the question asked: the same figures and question always give the same
    text. The router's topic picks what is said: investing (portfolio weights and concentration), saving
    (savings rate and the categories that grew), affordability (this month's surplus), budget (what is left),
    otherwise the general picture."""
    currency = figures.get("currency", "")
    this = figures.get("this_month") or {}
    last = figures.get("last_month") or {}
    portfolio = figures.get("portfolio")
    topic = understanding.intent if understanding is not None else GENERAL
    categories = table_records(this.get("by_category"))
    lines: list[str] = [NO_LLM_NOTICE, ""]

    expenses = _d(this.get("expenses"))
    rate = this.get("savings_rate_pct")
    last_expenses = _d(last.get("expenses"))
    monthly_spend = max(expenses, last_expenses)
    value = _d(portfolio.get("total_value")) if portfolio else Decimal(0)
    months = (value / monthly_spend) if monthly_spend else None
    over = _over(categories)

    lines.append(_month_line(this, currency))
    if topic == INVESTING:
        lines += _portfolio_lines(portfolio, months, monthly_spend, currency, detailed=True)
    elif topic == SAVING:
        last_rate = last.get("savings_rate_pct")
        if last_rate is not None:
            lines.append(f"- Last month ({last.get('month', '?')}): savings rate {float(last_rate):.1f}%.")
        lines += _growth_lines(this, currency, limit=3)
        lines += _budget_lines(categories)
    elif topic == AFFORDABILITY:
        lines += _affordability_lines(this, categories, currency, understanding.amount if understanding else None)
        lines += _budget_lines(categories)
    elif topic == BUDGET:
        lines += _budget_lines(categories, every=True)
        lines += _fastest_growing_line(this, currency)
    else:
        if last_expenses:
            lines.append(f"- Last month ({last.get('month', '?')}): spent {_fmt(last_expenses)} {currency}.")
        lines += _budget_lines(categories)
        lines += _fastest_growing_line(this, currency)
        lines += _portfolio_lines(portfolio, months, monthly_spend, currency, detailed=False)

    lines.append("")
    lines.append(_suggestion(topic, rate, over, months))
    if question is not None:
        lines.append(
            "For an answer written for your exact question, configure an AI provider (see `finbuddy config show`). "
            "finbuddy is not a licensed financial adviser."
        )
    return "\n".join(lines)


def _suggestion(topic: str, rate: Any, over: list[dict[str, Any]], months: Decimal | None) -> str:
    if topic == INVESTING and (months is None or months < EMERGENCY_MONTHS):
        return f"Suggestion: keep at least {EMERGENCY_MONTHS} months of spending in cash savings before investing more."
    if over:
        worst = max(over, key=lambda c: c["budget_used_pct"])
        return (
            f"Suggestion: hold back on {worst['category']} for the rest of the month; it is at "
            f"{worst['budget_used_pct']:.0f}% of its {worst['budget']} budget."
        )
    if rate is not None and float(rate) < LOW_SAVINGS_PCT:
        return (
            f"Suggestion: your savings rate is {float(rate):.1f}%; aim for at least {LOW_SAVINGS_PCT:.0f}% "
            "before taking on new spending or investments."
        )
    if rate is None:
        return "Suggestion: record your income too (finbuddy add AMOUNT salary --income) so savings can be measured."
    return f"Suggestion: you are saving {float(rate):.1f}% of income and within budget; keep the same pace."


class OfflineProvider:
    """Deterministic answers from the user's figures: no network, no quota, and it says so."""

    name = "offline"
    model = OFFLINE_MODEL

    def answer(self, figures: dict[str, Any], question: str | None, understanding: Understanding | None = None) -> str:
        return offline_answer(figures, question, understanding)
