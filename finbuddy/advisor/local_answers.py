"""Answers computed from the user's own records for the questions the router understood: no model, no quota."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from finbuddy.advisor.router import (
    AFFORD,
    BIGGEST_CATEGORY,
    BUDGET_LEFT,
    INCOME,
    RECURRING_DUE,
    SAVINGS_RATE,
    SPEND,
    Period,
    Understanding,
    recurring_charges,
)
from finbuddy.context import Context
from finbuddy.money import format_cents, format_cents_grouped

if TYPE_CHECKING:
    from finbuddy.db import Connection

LOCAL_NOTICE = "Answered from your own records: no AI call, no quota used."


@dataclass(frozen=True)
class LocalAnswer:
    text: str
    figures: list[dict[str, Any]]  # what the answer used: name, value, unit, period, inputs


@dataclass(frozen=True)
class _Totals:
    """One period's expenses and income by category, in cents."""

    expenses: dict[str, tuple[int, int]]  # category -> (total, count)
    income: dict[str, tuple[int, int]]

    @property
    def expenses_cents(self) -> int:
        return sum(t for t, _ in self.expenses.values())

    @property
    def income_cents(self) -> int:
        return sum(t for t, _ in self.income.values())


def _money(cents: int) -> str:
    return format_cents_grouped(cents)


def _pct(part: int, whole: int) -> Decimal:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


class _Figures:
    """The figures an answer uses, in the order it uses them."""

    def __init__(self, currency: str) -> None:
        self.items: list[dict[str, Any]] = []
        self.currency = currency

    def money(self, name: str, cents: int, period: Period | None, **inputs: Any) -> None:
        self._add(name, format_cents(cents), self.currency, period, inputs)

    def number(self, name: str, value: Any, unit: str, period: Period | None, **inputs: Any) -> None:
        self._add(name, value, unit, period, inputs)

    def _add(self, name: str, value: Any, unit: str, period: Period | None, inputs: dict[str, Any]) -> None:
        self.items.append(
            {
                "name": name,
                "value": value,
                "unit": unit,
                "period": None if period is None else period.to_json(),
                "inputs": {name: value for name, value in inputs.items() if value is not None},
            }
        )


def answer_locally(ctx: Context, understanding: Understanding) -> LocalAnswer:
    """The answer to a question the router understood, from ctx.user's records (read-only)."""
    figures = _Figures(ctx.settings.currency)
    intent = understanding.intent
    if intent == RECURRING_DUE:
        text = _recurring_due(ctx, understanding, figures)
    else:
        period = understanding.period
        assert period is not None
        with ctx.db.read() as conn:
            text = _ANSWERS[intent](ctx, conn, understanding, period, figures)
    return LocalAnswer(text=f"{text}\n\n{LOCAL_NOTICE}", figures=figures.items)


# --- the reads --------------------------------------------------------------------------------------


def _user_id(ctx: Context, conn: Connection) -> int | None:
    from finbuddy.db.users import find_user_id

    return find_user_id(conn, ctx.user)


def _totals(ctx: Context, conn: Connection, start: dt.date, end: dt.date) -> _Totals:
    from finbuddy.db.figures import totals_by_category

    user_id = _user_id(ctx, conn)
    expenses: dict[str, tuple[int, int]] = {}
    income: dict[str, tuple[int, int]] = {}
    if user_id is not None:
        for kind, category, total, count in totals_by_category(conn, user_id, start, end):
            (income if kind == "income" else expenses)[category] = (total, count)
    return _Totals(expenses, income)


def _budgets(ctx: Context, conn: Connection) -> dict[str, int]:
    from finbuddy.db.budgets import list_budgets

    user_id = _user_id(ctx, conn)
    return {} if user_id is None else dict(list_budgets(conn, user_id))


def _tense(period: Period, ctx: Context) -> str:
    return "was" if period.end < ctx.today() else "is"


def _records(count: int) -> str:
    return f"{count} record{'s' if count != 1 else ''}"


# --- the answers ------------------------------------------------------------------------------------


def _spend(ctx: Context, conn: Connection, u: Understanding, period: Period, figures: _Figures) -> str:
    currency = ctx.settings.currency
    if u.merchant is not None:
        from finbuddy.db.figures import merchant_expenses

        user_id = _user_id(ctx, conn)
        total, count = (
            (0, 0)
            if user_id is None
            else merchant_expenses(conn, user_id, list(u.merchant_spellings), period.start, period.end)
        )
        figures.money("spent", total, period, merchant=u.merchant)
        figures.number("records", count, "records", period, merchant=u.merchant)
        return f"You spent {_money(total)} {currency} at {u.merchant} {period.when} ({_records(count)})."
    totals = _totals(ctx, conn, period.start, period.end)
    if u.category is not None:
        total, count = totals.expenses.get(u.category, (0, 0))
        figures.money("spent", total, period, category=u.category)
        figures.number("records", count, "records", period, category=u.category)
        return f"You spent {_money(total)} {currency} on {u.category} {period.when} ({_records(count)})."
    total = totals.expenses_cents
    count = sum(n for _, n in totals.expenses.values())
    figures.money("expenses", total, period)
    figures.number("records", count, "records", period)
    lines = [f"You spent {_money(total)} {currency} {period.when} ({_records(count)})."]
    top = sorted(totals.expenses.items(), key=lambda item: (-item[1][0], item[0]))[:3]
    if len(top) > 1:
        for category, (cents, _) in top:
            figures.money("spent", cents, period, category=category)
        lines.append("Largest: " + ", ".join(f"{c} {_money(t)}" for c, (t, _) in top) + ".")
    return "\n".join(lines)


def _income(ctx: Context, conn: Connection, u: Understanding, period: Period, figures: _Figures) -> str:
    currency = ctx.settings.currency
    totals = _totals(ctx, conn, period.start, period.end)
    total = totals.income_cents
    figures.money("income", total, period)
    if not totals.income:
        return f"You recorded no income {period.when} (0.00 {currency})."
    parts = sorted(totals.income.items(), key=lambda item: (-item[1][0], item[0]))
    text = f"Your income {period.when} {_tense(period, ctx)} {_money(total)} {currency}"
    if len(parts) > 1:
        for category, (cents, _) in parts:
            figures.money("income", cents, period, category=category)
        text += ": " + ", ".join(f"{c} {_money(t)}" for c, (t, _) in parts)
    else:
        text += f" ({parts[0][0]}, {_records(parts[0][1][1])})"
    return text + "."


def _savings_rate(ctx: Context, conn: Connection, u: Understanding, period: Period, figures: _Figures) -> str:
    currency = ctx.settings.currency
    totals = _totals(ctx, conn, period.start, period.end)
    income, expenses = totals.income_cents, totals.expenses_cents
    net = income - expenses
    figures.money("income", income, period)
    figures.money("expenses", expenses, period)
    figures.money("net", net, period)
    if income == 0:
        return (
            f"You recorded no income {period.when}, so there is no savings rate to compute "
            f"(expenses: {_money(expenses)} {currency})."
        )
    rate = _pct(net, income)
    figures.number("savings_rate_pct", str(rate), "%", period)
    outcome = "saved" if net >= 0 else f"(you spent {_money(-net)} more than you earned)"
    return (
        f"Your savings rate {period.when} {_tense(period, ctx)} {rate}%: "
        f"income {_money(income)} − expenses {_money(expenses)} "
        f"= {_money(net)} {currency} {outcome}; {_money(net)} / {_money(income)} = {rate}%."
    )


def _budget_left(ctx: Context, conn: Connection, u: Understanding, period: Period, figures: _Figures) -> str:
    currency = ctx.settings.currency
    budgets = _budgets(ctx, conn)
    totals = _totals(ctx, conn, period.start, period.end)
    days_left = (period.end - ctx.today()).days
    when = f"{period.when}, {days_left} day{'s' if days_left != 1 else ''} to go"
    if u.category is not None:
        budget = budgets.get(u.category)
        spent = totals.expenses.get(u.category, (0, 0))[0]
        figures.money("spent", spent, period, category=u.category)
        if budget is None:
            return (
                f"You have no budget for {u.category} (set one with: finbuddy budget set {u.category} AMOUNT); "
                f"you have spent {_money(spent)} {currency} on it {when}."
            )
        figures.money("budget", budget, period, category=u.category)
        left = budget - spent
        figures.money("budget_left", left, period, category=u.category)
        figures.number("budget_used_pct", str(_pct(spent, budget)), "%", period, category=u.category)
        if left >= 0:
            return (
                f"{_money(left)} {currency} left in your {u.category} budget {when}: "
                f"budget {_money(budget)} − spent {_money(spent)} = {_money(left)} ({_pct(spent, budget)}% used)."
            )
        return (
            f"You are over your {u.category} budget by {_money(-left)} {currency} {when}: "
            f"budget {_money(budget)} − spent {_money(spent)} = {_money(left)} ({_pct(spent, budget)}% used)."
        )
    if not budgets:
        return "You have not set any budgets (finbuddy budget set CATEGORY AMOUNT), so there is no budget left to show."
    total_budget = sum(budgets.values())
    spent_budgeted = sum(totals.expenses.get(c, (0, 0))[0] for c in budgets)
    left = total_budget - spent_budgeted
    figures.money("budget", total_budget, period)
    figures.money("spent_in_budgets", spent_budgeted, period)
    figures.money("budget_left", left, period)
    over = [c for c in sorted(budgets) if totals.expenses.get(c, (0, 0))[0] > budgets[c]]
    verdict = "Over budget in " + ", ".join(over) + "." if over else "No budget is over."
    lines = [
        f"{verdict} {_money(left)} {currency} left across your budgets {when}: "
        f"budgets {_money(total_budget)} − spent in budgeted categories {_money(spent_budgeted)} = {_money(left)}."
    ]
    for category in sorted(budgets):
        spent = totals.expenses.get(category, (0, 0))[0]
        remaining = budgets[category] - spent
        figures.money("budget_left", remaining, period, category=category)
        state = f"{_money(remaining)} left" if remaining >= 0 else f"over by {_money(-remaining)}"
        lines.append(f"- {category}: {_money(budgets[category])} − {_money(spent)} = {state}")
    unbudgeted = totals.expenses_cents - spent_budgeted
    if unbudgeted:
        figures.money("spent_unbudgeted", unbudgeted, period)
        lines.append(f"Spending outside any budget this month: {_money(unbudgeted)} {currency}.")
    return "\n".join(lines)


def _biggest_category(ctx: Context, conn: Connection, u: Understanding, period: Period, figures: _Figures) -> str:
    currency = ctx.settings.currency
    totals = _totals(ctx, conn, period.start, period.end)
    if not totals.expenses:
        figures.money("expenses", 0, period)
        return f"You recorded no spending {period.when}."
    ranked = sorted(totals.expenses.items(), key=lambda item: (-item[1][0], item[0]))
    top_total = ranked[0][1][0]
    tied = [c for c, (t, _) in ranked if t == top_total]
    whole = totals.expenses_cents
    figures.money("expenses", whole, period)
    for category in tied:
        figures.money("spent", top_total, period, category=category)
    share = _pct(top_total, whole)
    figures.number("share_pct", str(share), "%", period)
    names = " and ".join(tied)
    text = (
        f"Your biggest spending {'categories' if len(tied) > 1 else 'category'} {period.when}: {names}, "
        f"{_money(top_total)} {currency}{' each' if len(tied) > 1 else ''} of {_money(whole)} in total ({share}%)."
    )
    rest = [(c, t) for c, (t, _) in ranked if c not in tied][:2]
    if rest:
        for category, cents in rest:
            figures.money("spent", cents, period, category=category)
        text += " Next: " + ", ".join(f"{c} {_money(t)}" for c, t in rest) + "."
    return text


def _afford(ctx: Context, conn: Connection, u: Understanding, period: Period, figures: _Figures) -> str:
    """A cost against this month: income − spent = surplus; less what the budgets still allow = free; less the cost.
    A cost in a budgeted category uses that budget's room first (it was planned for)."""
    from finbuddy.money import to_cents

    currency = ctx.settings.currency
    assert u.amount is not None
    cost = to_cents(u.amount)
    totals = _totals(ctx, conn, period.start, period.end)
    budgets = _budgets(ctx, conn)
    income, expenses = totals.income_cents, totals.expenses_cents
    surplus = income - expenses
    room = {c: max(b - totals.expenses.get(c, (0, 0))[0], 0) for c, b in budgets.items()}
    still_budgeted = sum(room.values())
    free = surplus - still_budgeted
    planned = min(cost, room.get(u.category, 0)) if u.category else 0
    unplanned = cost - planned
    after = free - unplanned
    figures.money("cost", cost, None, item=u.item, category=u.category, merchant=u.merchant)
    figures.money("income", income, period)
    figures.money("expenses", expenses, period)
    figures.money("surplus", surplus, period)
    figures.money("budgets_left", still_budgeted, period)
    figures.money("free_after_budgets", free, period)
    figures.money("left_after_cost", after, period, cost=format_cents(cost), category=u.category)
    what = f"the {u.item}" if u.item else "spending"
    if u.category:
        what += f" on {u.category}"
    elif u.merchant:
        what += f" at {u.merchant}"
    what += f" ({_money(cost)} {currency})"
    if after >= 0:
        verdict = f"Yes: {what} fits this month's figures."
    elif cost <= surplus:
        verdict = (
            f"Only just: {what} fits this month's surplus so far, but not what your budgets still allow you to spend; "
            "you would have to spend less than budgeted elsewhere."
        )
    else:
        verdict = f"No: {what} is more than this month's surplus so far."
    lines = [
        verdict,
        f"- {period.label}: income {_money(income)} − spent {_money(expenses)} = surplus {_money(surplus)} {currency}.",
    ]
    if budgets:
        shown = ", ".join(f"{c} {_money(r)}" for c, r in sorted(room.items()) if r) or "none"
        lines.append(f"- Still to spend under your budgets: {_money(still_budgeted)} ({shown}).")
        lines.append(f"- Free after budgets: {_money(surplus)} − {_money(still_budgeted)} = {_money(free)}.")
    else:
        lines.append("- You have no budgets, so nothing is set aside for the rest of the month.")
    if planned:
        lines.append(
            f"- {_money(planned)} of the cost is within your {u.category} budget's room; "
            f"the other {_money(unplanned)} comes out of the free money."
        )
    lines.append(f"- After this cost: {_money(free)} − {_money(unplanned)} = {_money(after)} {currency}.")
    lines.append("This weighs the cost against this month's money only, not your savings or portfolio.")
    return "\n".join(lines)


def _recurring_due(ctx: Context, u: Understanding, figures: _Figures) -> str:
    currency = ctx.settings.currency
    charge = next((c for c in recurring_charges(ctx) if c.merchant == u.merchant), None)
    if charge is None:  # gone since the router looked (a record deleted in between)
        return f"finbuddy no longer finds a recurring charge at {u.merchant}."
    today = ctx.today()
    next_date: dt.date = charge.next_date
    amount = Decimal(charge.typical_amount)
    cents = int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))
    figures.money("typical_amount", cents, None, merchant=charge.merchant)
    figures.number("next_date", next_date.isoformat(), "date", None, merchant=charge.merchant)
    figures.number("last_date", charge.last_date.isoformat(), "date", None, merchant=charge.merchant)
    days = (next_date - today).days
    if days > 0:
        when = f"in {days} day{'s' if days != 1 else ''}"
    elif days == 0:
        when = "today"
    else:
        since = charge.last_date.isoformat()
        when = (
            f"{-days} day{'s' if days != -1 else ''} overdue: nothing was recorded at {charge.merchant} since {since}"
        )
    return (
        f"{charge.merchant} ({charge.cadence}) is next due on {next_date.isoformat()}, {when}: "
        f"typically {_money(cents)} {currency}, last charged {charge.last_date.isoformat()}."
    )


_ANSWERS = {
    SPEND: _spend,
    INCOME: _income,
    SAVINGS_RATE: _savings_rate,
    BUDGET_LEFT: _budget_left,
    BIGGEST_CATEGORY: _biggest_category,
    AFFORD: _afford,
}
