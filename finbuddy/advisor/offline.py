"""The offline advisor: deterministic rules over the user's figures, for when no LLM is configured."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from finbuddy.advisor.prompt import table_records

OFFLINE_MODEL = "offline-rules"
NO_LLM_NOTICE = "No LLM was used: this answer comes from finbuddy's built-in rules applied to your own figures."

CONCENTRATED_PCT = 25.0
LOW_SAVINGS_PCT = 10.0
EMERGENCY_MONTHS = 3


def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _fmt(value: Decimal) -> str:
    return f"{value:,.2f}"


def _growth(this: dict[str, Any]) -> tuple[str, Decimal, Decimal, str, str] | None:
    """The fastest-growing category as the ledger's like-for-like comparison found it (this month to
    date against the same days of last month): (category, spent, previous, period, previous period)."""
    compared = this.get("compared") or {}
    name = compared.get("fastest_growing")
    for c in table_records(compared.get("by_category")):
        if name is not None and c["category"] == name:
            return name, _d(c["spent"]), _d(c["previous"]), compared["period"], compared["previous_period"]
    return None


def offline_answer(figures: dict[str, Any], question: str | None) -> str:
    """A plain, reproducible answer: the same figures and question always give the same text."""
    currency = figures.get("currency", "")
    this = figures.get("this_month") or {}
    last = figures.get("last_month") or {}
    portfolio = figures.get("portfolio")
    lines: list[str] = [NO_LLM_NOTICE, ""]

    expenses, income = _d(this.get("expenses")), _d(this.get("income"))
    rate = this.get("savings_rate_pct")
    month_line = (
        f"- This month so far ({this.get('month', '?')}, day {this.get('days_elapsed', '?')} of "
        f"{this.get('days_in_month', '?')}): spent {_fmt(expenses)} {currency}, earned {_fmt(income)} {currency}"
    )
    month_line += f", savings rate {rate:.1f}%." if rate is not None else " (no income recorded, so no savings rate)."
    lines.append(month_line)
    last_expenses = _d(last.get("expenses"))
    if last_expenses:
        lines.append(f"- Last month ({last.get('month', '?')}): spent {_fmt(last_expenses)} {currency}.")

    categories = table_records(this.get("by_category"))
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

    growth = _growth(this)
    if growth is not None:
        category, now, previous, period, previous_period = growth
        lines.append(
            f"- Fastest-growing category: {category}, {_fmt(now)} {currency} in {period} "
            f"against {_fmt(previous)} {currency} in {previous_period}."
        )

    monthly_spend = max(expenses, last_expenses)
    value = _d(portfolio.get("total_value")) if portfolio else Decimal(0)
    months = (value / monthly_spend) if monthly_spend else None
    if portfolio:
        holdings = table_records(portfolio.get("holdings"))
        top = holdings[0] if holdings else None
        if months is not None:
            lines.append(
                f"- Your portfolio ({_fmt(value)} {currency}) equals about {months:.1f} months of spending "
                f"at {_fmt(monthly_spend)} {currency} a month."
            )
        if top and top.get("weight_pct") is not None:
            weight = float(top["weight_pct"])
            judgement = (
                "concentrated; spreading it out lowers risk" if weight > CONCENTRATED_PCT else "not concentrated"
            )
            lines.append(f"- Largest holding: {top['ticker']} at {weight:.1f}% of your portfolio ({judgement}).")

    lines.append("")
    lines.append(_suggestion(question, rate, over, months))
    if question is not None:
        lines.append(
            "For an answer written for your exact question, configure an AI provider (see `finbuddy config show`). "
            "finbuddy is not a licensed financial adviser."
        )
    return "\n".join(lines)


def _suggestion(question: str | None, rate: Any, over: list[dict[str, Any]], months: Decimal | None) -> str:
    words = set((question or "").casefold().replace("?", " ").split())
    investing = bool(words & {"invest", "investing", "stock", "stocks", "etf", "shares", "crypto", "bitcoin", "fund"})
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
    if investing and (months is None or months < EMERGENCY_MONTHS):
        return f"Suggestion: keep at least {EMERGENCY_MONTHS} months of spending in cash savings before investing more."
    if rate is None:
        return "Suggestion: record your income too (finbuddy add AMOUNT salary --income) so savings can be measured."
    return f"Suggestion: you are saving {float(rate):.1f}% of income and within budget; keep the same pace."


class OfflineProvider:
    """Deterministic answers from the user's figures: no network, no quota, and it says so."""

    name = "offline"
    model = OFFLINE_MODEL

    def answer(self, figures: dict[str, Any], question: str | None) -> str:
        return offline_answer(figures, question)
