"""Quick entry: one line of plain words ("coffee 4.50 at Starbucks yesterday") read into a record, locally.

How a line is read (the documented contract; words are compared case-insensitively):

- Amount: exactly one number: "4.50", "$4.50", "4.50€", "1,234.56", or with a decimal comma "4,50" (a comma
  followed by one or two digits; "1,234" is one thousand two hundred and thirty-four). At most two decimals,
  positive. Two numbers are ambiguous ("4.50 3"), none is missing.
- Income: the amount written "+3200", or the word "income" ("salary 3200 income"); otherwise an expense.
- Merchant: the words after "at", "@" or "from" ("at Joe's Pizza", "@Starbucks", "from ACME"), up to a comma, a
  date, a number, "with", "for", "income" or the end. Two merchants are ambiguous.
- Date (default today, in the user's zone): "today", "yesterday", "N days ago", "N weeks ago" ("a week ago"), a
  weekday name ("friday": the most recent one, today included), "last friday" (the one before today), and
  "YYYY-MM-DD", each optionally after "on". Two dates are ambiguous; "tomorrow" is refused (write the date).
- Category: the first remaining word (filler words such as "spent", "on", "for", "the" skipped) when it names one
  of the user's categories, exactly, as a near miss ("grocery" for "groceries") or with the next words
  ("eating out"); else the merchant's rule (finbuddy/ledger/rules.py); else that first word, as a new category.
  No word and no rule: the category is missing.
- Note: the other remaining words, in order (filler words at either end dropped).

Anything missing or ambiguous raises QuickEntryError (exit 2), naming the problem and what was understood.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from finbuddy.context import Context
from finbuddy.errors import ValidationError

if TYPE_CHECKING:
    from finbuddy.ledger.records import Record
    from finbuddy.ledger.rules import Rule

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MERCHANT_MARKERS = ("at", "@", "from")
MERCHANT_ENDS = ("with", "for", "income")  # "at Joe's with Anna", "at Starbucks for Bob": the merchant ends there
FILLERS = frozenset(
    "spent spend paid pay bought buy got for on the a an of in to and was".split()  # never a category word
)
_NUMBERISH = re.compile(r"[+-]?[$€£]?[0-9][0-9.,]*[$€£]?")
_AMOUNT = re.compile(r"(?P<sign>[+-]?)(?P<pre>[$€£]?)(?P<number>[0-9][0-9.,]*)(?P<post>[$€£]?)")
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]{1,2}")
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1}
MAX_AGO_DAYS = 36_600


class QuickEntryError(ValidationError):
    """A quick entry that cannot be read as one record: the message says what is wrong and what was understood."""


@dataclass
class Reading:
    """What a line says, part by part (the category is resolved against the user's data afterwards)."""

    text: str
    amount: Decimal | None = None
    amount_text: str | None = None
    income: bool = False
    merchant: str | None = None
    date: dt.date | None = None
    date_text: str | None = None
    words: list[tuple[int, str]] = field(default_factory=list)  # (position, word) not read as anything else
    problems: list[str] = field(default_factory=list)

    def understood(self, category: str | None = None) -> list[str]:
        parts = []
        if self.amount is not None:
            parts.append(f"amount {self.amount:,.2f}" + (" (income)" if self.income else ""))
        elif self.income:
            parts.append("income")
        if category is not None:
            parts.append(f"category {category}")
        if self.merchant is not None:
            parts.append(f"merchant {self.merchant}")
        if self.date is not None:
            parts.append(f"date {self.date.isoformat()}")
        return parts


def _tokens(text: str) -> tuple[list[str], set[int]]:
    """The words of a line without the punctuation that ends a word in a sentence ("Starbucks," "yesterday."), and
    the positions of the words a comma (or ; or :) followed."""
    tokens: list[str] = []
    clause_ends: set[int] = set()
    for raw in text.split():
        token = raw.rstrip(",;:!?")
        if not token:
            continue
        if raw[len(token) :].strip("!?"):
            clause_ends.add(len(tokens))
        tokens.append(token)
    if tokens and len(tokens[-1]) > 1 and tokens[-1].endswith("."):
        tokens[-1] = tokens[-1][:-1]
    return tokens, clause_ends


def _amount(token: str) -> tuple[Decimal, bool]:
    """(amount, written with a +) of a number token; ValidationError for one that is no valid amount."""
    from finbuddy.money import parse_amount

    match = _AMOUNT.fullmatch(token)
    if match is None or (match["pre"] and match["post"]):
        raise ValidationError(f"amount {token!r} is not valid: expected a number such as 4.50, $4.50 or 4,50")
    if match["sign"] == "-":
        raise ValidationError(
            f"amount {token!r} is negative: amounts are positive; income is written +{token[1:]} "
            "or with the word income"
        )
    number = match["number"]
    if _DECIMAL_COMMA.fullmatch(number):
        number = number.replace(",", ".")
    return parse_amount(number), match["sign"] == "+"


def _weekday(name: str, today: dt.date, strictly_before: bool) -> dt.date:
    back = (today.weekday() - WEEKDAYS.index(name)) % 7
    if back == 0 and strictly_before:
        back = 7
    return today - dt.timedelta(days=back)


def _date_at(tokens: list[str], i: int, today: dt.date) -> tuple[dt.date, int] | None:
    """The date phrase starting at tokens[i] and how many tokens it takes, or None. Raises for "tomorrow" and an
    impossible YYYY-MM-DD."""
    from finbuddy.dates import parse_date

    word = tokens[i].lower()
    start = i
    if word == "on" and i + 1 < len(tokens):
        i += 1
        word = tokens[i].lower()
        if word not in WEEKDAYS and not _ISO.fullmatch(word):
            return None
    if word in ("today", "yesterday"):
        return parse_date(word, today), i - start + 1
    if word == "tomorrow":
        raise ValidationError("'tomorrow' is not read: a planned payment takes its date, e.g. on 2026-12-01")
    if _ISO.fullmatch(word):
        return parse_date(word, today), i - start + 1
    if word in WEEKDAYS:
        return _weekday(word, today, strictly_before=False), i - start + 1
    if word == "last" and i + 1 < len(tokens) and tokens[i + 1].lower() in WEEKDAYS:
        return _weekday(tokens[i + 1].lower(), today, strictly_before=True), 2
    if i + 2 < len(tokens) and tokens[i + 2].lower() == "ago":
        count = _COUNT_WORDS.get(word)
        if count is None and word.isascii() and word.isdigit() and len(word) <= 5:
            count = int(word)
        unit = tokens[i + 1].lower()
        if count is not None and unit in ("day", "days", "week", "weeks"):
            days = count * (7 if unit.startswith("week") else 1)
            if days > MAX_AGO_DAYS:
                raise ValidationError(f"'{word} {unit} ago' is too long ago: expected a date after 1900")
            return today - dt.timedelta(days=days), 3
    return None


def read_line(text: str, today: dt.date) -> Reading:
    """Read the parts of a quick-entry line (see the module docstring); problems are collected, not raised."""
    tokens, clause_ends = _tokens(text)
    reading = Reading(text)
    dates: list[str] = []
    amounts: list[str] = []
    merchants: list[str] = []
    i = 0
    free: list[tuple[int, str]] = []
    while i < len(tokens):
        token = tokens[i]
        lowered = token.lower()
        try:
            found = _date_at(tokens, i, today)
        except ValidationError as exc:
            reading.problems.append(exc.message)
            i += 1
            continue
        if found is not None:
            day, length = found
            dates.append(" ".join(tokens[i : i + length]))
            reading.date = day if len(dates) == 1 else reading.date
            i += length
            continue
        if _NUMBERISH.fullmatch(token):
            amounts.append(token)
            if len(amounts) == 1:
                try:
                    reading.amount, plus = _amount(token)
                    reading.income = reading.income or plus
                    reading.amount_text = token
                except ValidationError as exc:
                    reading.problems.append(exc.message)
            i += 1
            continue
        if lowered in MERCHANT_MARKERS or (token.startswith("@") and len(token) > 1):
            words = [token[1:]] if lowered not in MERCHANT_MARKERS else []
            j = i + 1
            while j < len(tokens) and not (words and j - 1 in clause_ends):
                nxt = tokens[j]
                if (
                    _NUMBERISH.fullmatch(nxt)
                    or nxt.lower() in MERCHANT_MARKERS
                    or nxt.lower() in MERCHANT_ENDS
                    or nxt.startswith("@")
                    or _safe_date_at(tokens, j, today)
                ):
                    break
                words.append(nxt)
                j += 1
            if words:
                merchants.append(" ".join(words))
            else:
                free.append((i, token))  # "at" with nothing after it: just a word
            i = j
            continue
        if lowered == "income":
            reading.income = True
            i += 1
            continue
        free.append((i, token))
        i += 1
    if len(amounts) > 1:
        reading.problems.append(f"{len(amounts)} amounts ({', '.join(amounts)}): expected one")
    elif not amounts:
        reading.problems.append("missing: an amount")
    if len(dates) > 1:
        reading.problems.append(f"{len(dates)} dates ({', '.join(dates)}): expected one")
    if len(merchants) > 1:
        reading.problems.append(f"{len(merchants)} merchants ({', '.join(merchants)}): expected one")
    elif merchants:
        reading.merchant = merchants[0]
    reading.words = free
    return reading


def _safe_date_at(tokens: list[str], i: int, today: dt.date) -> bool:
    try:
        return _date_at(tokens, i, today) is not None
    except ValidationError:
        return True  # "tomorrow" ends a merchant too


@dataclass(frozen=True)
class CategoryChoice:
    category: str | None
    source: str  # "user" (a word the user typed) | "rule" (the merchant's rule)
    typed: str | None = None  # the word(s) it was read from
    rule_merchant: str | None = None  # the rule's merchant, when the rule chose
    new: bool = False  # a category the user has not used yet
    note_words: list[str] = field(default_factory=list)


def _trimmed(words: list[str]) -> str | None:
    while words and words[0].lower() in FILLERS:
        words = words[1:]
    while words and words[-1].lower() in FILLERS:
        words = words[:-1]
    return " ".join(words) or None


def choose_category(reading: Reading, known: list[str], rule: Rule | None) -> CategoryChoice:
    """The category of a reading: a word naming a known category (exact, several words, near miss), else the
    merchant's rule, else the first word as a new category (see the module docstring)."""
    from finbuddy.ledger.fields import MAX_CATEGORY
    from finbuddy.ledger.records import similar_category

    words = reading.words
    first = next((n for n, (_, word) in enumerate(words) if word.lower() not in FILLERS), None)
    if first is not None:
        # The longest run of consecutive words from the first one that names a known category.
        for length in (3, 2, 1):
            run = words[first : first + length]
            if len(run) < length or any(b[0] != a[0] + 1 for a, b in zip(run, run[1:], strict=False)):
                continue
            phrase = " ".join(word for _, word in run).lower()
            match = phrase if phrase in known else (similar_category(phrase, known) if length == 1 else None)
            if match is not None:
                rest = [word for _, word in words[:first] + words[first + length :]]
                return CategoryChoice(match, "user", phrase, note_words=rest)
    all_words = [word for _, word in words]
    if rule is not None:
        return CategoryChoice(rule.category, "rule", rule_merchant=rule.merchant, note_words=all_words)
    if first is None:
        return CategoryChoice(None, "user", note_words=all_words)
    word = words[first][1].lower()
    if len(word) > MAX_CATEGORY:
        return CategoryChoice(None, "user", note_words=all_words)
    rest = [w for _, w in words[:first] + words[first + 1 :]]
    return CategoryChoice(word, "user", word, new=True, note_words=rest)


@dataclass(frozen=True)
class QuickEntry:
    """A quick entry read and resolved: the record to store, and how its category was found."""

    amount: Decimal
    kind: str
    category: str
    category_source: str
    merchant: str | None
    date: dt.date | None
    note: str | None
    choice: CategoryChoice


def understand(
    ctx: Context,
    text: str,
    date: dt.date | None = None,
    merchant: str | None = None,
    income: bool = False,
) -> QuickEntry:
    """Read a quick-entry line for ctx.user (see the module docstring); `date`, `merchant` and `income` come from
    options and may not repeat what the line says. Raises QuickEntryError naming what was understood."""
    from finbuddy.db import records as record_q
    from finbuddy.db.users import find_user_id
    from finbuddy.ledger.rules import UNCATEGORIZED, load_rulebook

    reading = read_line(text, ctx.today())
    if date is not None:
        if reading.date is not None:
            reading.problems.append("two dates (in the words and --date): expected one")
        reading.date = date
    if merchant is not None:
        if reading.merchant is not None:
            reading.problems.append("two merchants (in the words and --merchant): expected one")
        reading.merchant = merchant
    reading.income = reading.income or income
    with ctx.db.read() as conn:
        user_id = find_user_id(conn, ctx.user)
        known = [] if user_id is None else [c for c in record_q.user_categories(conn, user_id) if c != UNCATEGORIZED]
        # The rules need the user's whole merchant history: only read it when there is a merchant to look up.
        rule = load_rulebook(conn, user_id).rule_for(reading.merchant) if reading.merchant else None
    choice = choose_category(reading, known, rule)
    problems = list(reading.problems)
    if choice.category is None:
        problems.append("missing: a category")
    if problems:
        understood = "; understood: " + ", ".join(reading.understood(choice.category)) if reading.understood() else ""
        raise QuickEntryError(
            f"cannot read {text.strip()!r} as one record: {'; '.join(problems)}{understood} "
            '(expected e.g. "coffee 4.50 at Starbucks yesterday", or the form: finbuddy add AMOUNT CATEGORY)'
        )
    assert reading.amount is not None and choice.category is not None  # else a problem was raised
    return QuickEntry(
        amount=reading.amount,
        kind="income" if reading.income else "expense",
        category=choice.category,
        category_source=choice.source,
        merchant=reading.merchant,
        date=reading.date,
        note=_trimmed(choice.note_words),
        choice=choice,
    )


def quick_add(
    ctx: Context,
    text: str,
    date: dt.date | None = None,
    merchant: str | None = None,
    income: bool = False,
) -> tuple[QuickEntry, Record]:
    """Read a quick-entry line and store its record; returns (QuickEntry, Record)."""
    from finbuddy.ledger.records import record_entry

    entry = understand(ctx, text, date=date, merchant=merchant, income=income)
    record = record_entry(
        ctx,
        entry.amount,
        entry.category,
        note=entry.note,
        date=entry.date,
        merchant=entry.merchant,
        kind=entry.kind,
        category_source=entry.category_source,
    )
    return entry, record
