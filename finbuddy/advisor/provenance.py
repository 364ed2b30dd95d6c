"""Provenance: the figures an answer used, and the numbers in a model's answer that the figures do not contain.

The rule for "unverified" numbers (README, "Where the numbers come from"):
- Every number in the answer is read with its sign, currency symbol, thousands separators and "%":
  "1,234.50", "$1234.5", "12%", "-40.00". ISO dates (2026-11-25) and clock times (07:00) are not numbers here,
  nor is a number glued to letters ("25th", "401k", "gpt-4o").
- A number is checked unless it is a count or an ordinal, or a year: a whole number written without decimals,
  separators, currency symbol or "%" from 0 to 31 ("3 months", "top 5", "day 25"), or from 1900 to 2100.
- A checked number is verified when its value (sign ignored) equals a number anywhere in the context sent to the
  model (the figures and the question), exactly (1,234.50 = 1234.5) or as that number rounded to the places the
  answer shows (1,485 for 1484.56; 50% or 51% for 50.5). Anything else is unverified: a figure the model made
  up, or worked out itself (a sum or a difference), which the user should check.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from finbuddy.advisor.prompt import table_records

_DATE_OR_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[+-]\d{2}:\d{2}|Z)?)?\b|\b\d{1,2}:\d{2}\b"
)
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<sign>[-−])?(?P<symbol>[$€£¥])?\s?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<pct>\s?%)?(?![\w%]|[.,]\d)"
)
MAX_COUNT = 31
YEARS = (1900, 2100)


def _numbers(text: str) -> list[tuple[str, Decimal, bool]]:
    """(as written, value, plain whole number) of every number in `text`."""
    found = []
    for match in _NUMBER.finditer(_DATE_OR_TIME.sub(" ", text)):
        digits = match.group("digits")
        try:
            value = Decimal(digits.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimal literals
            continue
        plain = not (match.group("symbol") or match.group("pct") or "," in digits or "." in digits)
        found.append((match.group(0).strip(), abs(value), plain))
    return found


def _is_count_or_year(value: Decimal, plain: bool) -> bool:
    return plain and (value <= MAX_COUNT or YEARS[0] <= value <= YEARS[1])


def _places(written: str) -> int:
    digits = written.rstrip("% ").split(".")
    return len(digits[1]) if len(digits) == 2 else 0


def _matches(value: Decimal, places: int, known: set[Decimal]) -> bool:
    if value in known:
        return True
    quantum = Decimal(1).scaleb(-places)
    for number in known:
        for rounding in (ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_DOWN):
            if number.quantize(quantum, rounding=rounding) == value:
                return True
    return False


def context_numbers(*texts: str) -> set[Decimal]:
    """Every number's value (sign ignored) in the texts sent to the model."""
    return {value for text in texts for _, value, _ in _numbers(text)}


def unverified_numbers(answer: str, figures: dict[str, Any] | None, question: str | None) -> list[str]:
    """The numbers of `answer`, as written, that appear nowhere in the context (see the module's rule)."""
    context = json.dumps(figures or {}, ensure_ascii=False, default=str)
    known = context_numbers(context, question or "")
    flagged: list[str] = []
    for written, value, plain in _numbers(answer):
        if _is_count_or_year(value, plain):
            continue
        if not _matches(value, _places(written.lstrip("-−$€£¥ ")), known) and written not in flagged:
            flagged.append(written)
    return flagged


# --- the figures in the context sent -----------------------------------------------------------------


def _period(start: dt.date, end: dt.date, label: str) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat(), "label": label}


def context_figures(picture: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The figures of the financial picture (prompt.financial_picture) as a flat list: name, value, unit,
    period, inputs. The list the model was given, in the shape of a local answer's figures."""
    from finbuddy.dates import month_bounds, previous_month

    if not picture:
        return []
    currency = picture.get("currency", "")
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, unit: str, period: dict[str, str] | None, **inputs: Any) -> None:
        if value is None:
            return
        out.append({"name": name, "value": value, "unit": unit, "period": period, "inputs": inputs})

    try:
        today = dt.date.fromisoformat(picture["today"])
    except (KeyError, TypeError, ValueError):
        today = None
    this = picture.get("this_month") or {}
    last = picture.get("last_month") or {}
    this_period = last_period = None
    if today is not None:
        first = today.replace(day=1)
        this_period = _period(*month_bounds(first), f"{this.get('month', first.strftime('%Y-%m'))} (so far)")
        last_first = previous_month(first)
        last_period = _period(*month_bounds(last_first), str(last.get("month", last_first.strftime("%Y-%m"))))
    for month, period in ((this, this_period), (last, last_period)):
        for name in ("expenses", "income", "net"):
            add(name, month.get(name), currency, period)
        add("savings_rate_pct", month.get("savings_rate_pct"), "%", period)
        for row in table_records(month.get("by_category")):
            add("spent", row.get("spent"), currency, period, category=row.get("category"))
            add("budget", row.get("budget"), currency, period, category=row.get("category"))
            add("budget_used_pct", row.get("budget_used_pct"), "%", period, category=row.get("category"))
        other = month.get("other_categories")
        if other:
            add("spent", other.get("spent"), currency, period, category=f"{other.get('count')} other categories")
        for row in table_records(month.get("top_merchants")):
            add("spent", row.get("spent"), currency, period, merchant=row.get("merchant"))
    compared = this.get("compared") or {}
    if compared and today is not None:
        first = today.replace(day=1)
        previous_first = previous_month(first)
        previous_end = min(previous_first + (today - first), month_bounds(previous_first)[1])
        now = _period(first, today, str(compared.get("period")))
        before = _period(previous_first, previous_end, str(compared.get("previous_period")))
        add("expenses", compared.get("expenses"), currency, now)
        add("expenses", compared.get("previous_expenses"), currency, before)
        for row in table_records(compared.get("by_category")):
            add("spent", row.get("spent"), currency, now, category=row.get("category"))
            add("spent", row.get("previous"), currency, before, category=row.get("category"))
    portfolio = picture.get("portfolio") or {}
    add("portfolio_value", portfolio.get("total_value"), currency, None)
    add("portfolio_cost", portfolio.get("total_cost"), currency, None)
    for row in table_records(portfolio.get("holdings")):
        add("holding_value", row.get("value"), currency, None, ticker=row.get("ticker"))
        add("holding_gain", row.get("gain"), currency, None, ticker=row.get("ticker"))
        add("weight_pct", row.get("weight_pct"), "%", None, ticker=row.get("ticker"))
    return out
