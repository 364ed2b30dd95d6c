"""The advisor's router: the questions finbuddy answers from the user's own figures, and the model for the rest.

Deterministic and conservative. A question is answered locally only when it matches one of the question
forms below *as a whole* (every word is part of the form, a known period, a known category or merchant,
or an amount), so an unknown category, a negation, a comparison, "should I…", "why…" or a second
question falls through to a model. The rest is routed by need: short impersonal questions (definitions,
greetings) to `ai.small_model` when one is set, advice and planning to `ai.model`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from finbuddy.context import Context
from finbuddy.ledger.fields import singular

LOCAL, SMALL, MAIN = "local", "small", "main"

# Local intents: the questions answered from the database.
SPEND, INCOME, SAVINGS_RATE, BUDGET_LEFT, BIGGEST_CATEGORY, AFFORD, RECURRING_DUE = (
    "spend",
    "income",
    "savings_rate",
    "budget_left",
    "biggest_category",
    "afford",
    "recurring_due",
)
LOCAL_INTENTS = (SPEND, INCOME, SAVINGS_RATE, BUDGET_LEFT, BIGGEST_CATEGORY, AFFORD, RECURRING_DUE)

# Topics of the questions that go to a model (they also pick what the offline advisor says).
INVESTING, SAVING, AFFORDABILITY, BUDGET, PLANNING, DEFINITION, CHITCHAT, INJECTION, GENERAL = (
    "investing",
    "saving",
    "affordability",
    "budget",
    "planning",
    "definition",
    "chitchat",
    "injection",
    "general",
)

MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_ABBREVIATIONS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9}
_MONTH_ABBREVIATIONS.update({"oct": 10, "nov": 11, "dec": 12})
_NUMBER_WORDS = {"seven": 7, "ten": 10, "fourteen": 14, "thirty": 30, "sixty": 60, "ninety": 90}
MAX_ROLLING_DAYS = 366


@dataclass(frozen=True)
class Period:
    """A closed range of days and how the answer names it."""

    start: dt.date
    end: dt.date
    label: str  # "October 2026", "last week (16–22 Nov 2026)"
    this_month: bool = False  # the current calendar month (the only period budgets and affordability take)
    preposition: str = "in"  # how a sentence leads into the label: "in October 2026", "last week (…)"

    @property
    def when(self) -> str:
        return f"{self.preposition} {self.label}" if self.preposition else self.label

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "label": self.label}


@dataclass(frozen=True)
class Understanding:
    """What the router made of a question: a local intent with its entities, or the model tier and topic."""

    route: str  # LOCAL | SMALL | MAIN
    intent: str  # a local intent, else the topic
    period: Period | None = None
    category: str | None = None
    merchant: str | None = None
    merchant_spellings: tuple[str, ...] = ()
    amount: Decimal | None = None
    item: str | None = None
    reason: str = ""  # why the question was not answered locally (the benchmark and --debug show it)

    @property
    def local(self) -> bool:
        return self.route == LOCAL

    def inputs(self) -> dict[str, Any]:
        """The entities as plain values (the provenance's "inputs")."""
        found: dict[str, Any] = {}
        if self.category is not None:
            found["category"] = self.category
        if self.merchant is not None:
            found["merchant"] = self.merchant
        if self.amount is not None:
            found["cost"] = f"{self.amount:.2f}"
        if self.item:
            found["item"] = self.item
        return found

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"route": self.route, "intent": self.intent}
        if self.period is not None:
            shown["period"] = self.period.to_json()
        shown.update(self.inputs())
        if self.reason:
            shown["reason"] = self.reason
        return shown


class Vocabulary(Protocol):
    """The user's own names, looked up as the question needs them."""

    currency: str

    def category(self, text: str) -> str | None: ...

    def merchant(self, text: str) -> tuple[str, ...]: ...

    def has_budget(self, category: str) -> bool: ...

    def recurring(self, text: str) -> str | None: ...


# --- names ----------------------------------------------------------------------------------------


def name_key(text: str) -> str:
    """How a name in a question is compared with a category or merchant: case, width, spacing and a
    final plural do not matter ("Groceries" is "grocery"); nothing else is guessed."""
    words = unicodedata.normalize("NFKC", text).casefold().replace("’", "'").split()
    if words:
        words[-1] = singular(words[-1])
    return " ".join(words)


@dataclass
class StaticVocabulary:
    """A vocabulary from lists (tests, the benchmark's classifier)."""

    categories: Iterable[str] = ()
    merchants: Iterable[str] = ()
    budgets: Iterable[str] = ()
    recurring_merchants: Iterable[str] = ()
    currency: str = "USD"
    _categories: dict[str, str] = field(init=False, repr=False)
    _merchants: dict[str, tuple[str, ...]] = field(init=False, repr=False)
    _recurring: dict[str, str] = field(init=False, repr=False)
    _budgets: set[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._categories = _index_categories(self.categories)
        self._merchants = _index_merchants(self.merchants)
        self._recurring = {name_key(m): m for m in self.recurring_merchants}
        self._budgets = {b.casefold() for b in self.budgets}

    def category(self, text: str) -> str | None:
        return self._categories.get(name_key(text))

    def merchant(self, text: str) -> tuple[str, ...]:
        return self._merchants.get(name_key(text), ())

    def has_budget(self, category: str) -> bool:
        return category.casefold() in self._budgets

    def recurring(self, text: str) -> str | None:
        return self._recurring.get(name_key(text))


def _index_categories(names: Iterable[str]) -> dict[str, str]:
    index: dict[str, str] = {}
    for name in names:
        index.setdefault(name_key(name), name)
    return index


def _index_merchants(names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for name in names:
        index.setdefault(name_key(name), []).append(name)
    return {key: tuple(sorted(set(spellings))) for key, spellings in index.items()}


class DatabaseVocabulary:
    """ctx.user's categories, merchants, budgets and recurring charges, each read once and only if asked."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.currency = ctx.settings.currency
        self._loaded: dict[str, Any] = {}

    def _user_id(self) -> int | None:
        if "user_id" not in self._loaded:
            from finbuddy.db.users import find_user_id

            with self.ctx.db.read() as conn:
                self._loaded["user_id"] = find_user_id(conn, self.ctx.user)
        return self._loaded["user_id"]

    def _load(self, what: str, read: Callable[[Any, int], Any], empty: Any) -> Any:
        if what not in self._loaded:
            user_id = self._user_id()
            if user_id is None:
                self._loaded[what] = empty
            else:
                with self.ctx.db.read() as conn:
                    self._loaded[what] = read(conn, user_id)
        return self._loaded[what]

    def category(self, text: str) -> str | None:
        from finbuddy.db.records import user_categories

        index = self._load("categories", lambda conn, uid: _index_categories(user_categories(conn, uid)), {})
        return index.get(name_key(text))

    def merchant(self, text: str) -> tuple[str, ...]:
        from finbuddy.db.figures import merchant_names

        index = self._load("merchants", lambda conn, uid: _index_merchants(merchant_names(conn, uid)), {})
        return index.get(name_key(text), ())

    def has_budget(self, category: str) -> bool:
        from finbuddy.db.budgets import list_budgets

        names = self._load("budgets", lambda conn, uid: {c for c, _ in list_budgets(conn, uid)}, set())
        return category in names

    def recurring(self, text: str) -> str | None:
        charges = self._loaded.get("recurring")
        if charges is None:
            charges = self._loaded["recurring"] = {
                name_key(c.merchant): c.merchant for c in recurring_charges(self.ctx)
            }
        return charges.get(name_key(text))


def recurring_charges(ctx: Context) -> list[Any]:
    """The user's recurring charges still running (finbuddy.ledger.recurring: found in SQL, no AI)."""
    from finbuddy.ledger.recurring import find_recurring

    return list(find_recurring(ctx))


# --- the question's text ---------------------------------------------------------------------------

_CONTRACTIONS = (
    (r"\bwhat's\b", "what is"),
    (r"\bwhere's\b", "where is"),
    (r"\bwhen's\b", "when is"),
    (r"\bhow's\b", "how is"),
    (r"\bi've\b", "i have"),
    (r"\bi'm\b", "i am"),
    (r"\bwhat've\b", "what have"),
)
_LEADING = re.compile(
    r"^(?:(?:hey|hi|hello|ok|okay|so|quick question|question)[,:!]? )*"
    r"(?:finbuddy[,:]? )?"
    r"(?:(?:(?:can|could|would) you (?:please )?(?:tell|show) me|(?:please )?(?:tell|show) me|"
    r"i(?: would|'d) like to know|do you know|i want to know|let me know|remind me)[,:]? )?"
    r"(?:please[,]? )?"
)
_TRAILING = re.compile(r"(?:,? (?:please|for me|thanks|thank you|exactly|in total|altogether))+$")
# Words that change what is asked in a way no local form models: a negation, a comparison, a condition,
# advice, a forecast, an average. Any of them sends the question to a model.
_STOP_WORDS = frozenset(
    "not never no nothing without except excluding exclude minus but vs versus than compare compared comparison "
    "why should would could might shall if unless or average averages usually typically normally generally "
    "per each every predict forecast expect expected estimate projected roughly approximately about around "
    "ignore instructions pretend".split()
)


def normalize(question: str) -> str:
    """Case, width, apostrophes, spacing, contractions and the final punctuation made uniform."""
    text = unicodedata.normalize("NFKC", question).casefold()
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = " ".join(text.split())
    text = text.strip().rstrip("?!. ").strip()
    for pattern, replacement in _CONTRACTIONS:
        text = re.sub(pattern, replacement, text)
    return text


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)


def _multi_part(text: str) -> bool:
    return any(mark in text for mark in ("?", ";", "\n", "!")) or bool(re.search(r"\.\s+[a-z]", text))


# --- periods ----------------------------------------------------------------------------------------

_MONTH_WORD = "|".join([*MONTH_NAMES, *_MONTH_ABBREVIATIONS])
_PERIOD = re.compile(
    r"(?<![\w'-])(?P<prep>(?:(?:in|during|for|over|within|from) )?(?:the )?)"
    r"(?:"
    r"(?P<this_month>(?:so far )?this month(?:'s)?(?: so far| to date)?|month to date)"
    r"|(?P<last_month>last month(?:'s)?|the previous month|previous month)"
    r"|(?P<this_week>(?:so far )?this week(?:'s)?(?: so far)?)"
    r"|(?P<last_week>last week(?:'s)?|previous week)"
    r"|(?P<this_year>(?:so far )?this year(?:'s)?(?: so far| to date)?|year to date)"
    r"|(?P<last_year>last year(?:'s)?|previous year)"
    r"|(?P<days>(?:last|past) (?P<n>[0-9]{1,3}|" + "|".join(_NUMBER_WORDS) + r") days)"
    r"|(?P<today>today(?:'s)?)"
    r"|(?P<yesterday>yesterday(?:'s)?)"
    r"|(?P<iso>(?P<iso_year>[0-9]{4})-(?P<iso_month>[0-9]{2}))"
    r"|(?P<named>(?P<month_name>" + _MONTH_WORD + r")(?: (?P<month_year>(?:19|20)[0-9]{2}))?)"
    r"|(?P<year>(?:19|20)[0-9]{2})"
    r")(?![\w-])"
)


def _month_label(first: dt.date) -> str:
    return f"{MONTH_NAMES[first.month - 1].capitalize()} {first.year}"


def _day_label(day: dt.date, year: bool = True, month: bool = True) -> str:
    text = str(day.day)
    if month:
        text += " " + MONTH_NAMES[day.month - 1][:3].capitalize()
    return text + (f" {day.year}" if year else "")


def _span_label(start: dt.date, end: dt.date) -> str:
    """'16–22 Nov 2026', '27 Oct – 25 Nov 2026', '27 Dec 2025 – 2 Jan 2026'."""
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{_day_label(end)}"
    if start.year == end.year:
        return f"{_day_label(start, year=False)} – {_day_label(end)}"
    return f"{_day_label(start)} – {_day_label(end)}"


def _month(first: dt.date, today: dt.date) -> Period:
    from finbuddy.dates import month_bounds

    start, end = month_bounds(first)
    this = start <= today <= end
    label = _month_label(start) + (" so far" if this else "")
    return Period(start, end, label, this_month=this)


def _period(match: re.Match[str], today: dt.date) -> Period | None:
    """The period a match names, None when it names none this router takes (a bare "may", a future one)."""
    from finbuddy.dates import previous_month

    groups = match.groupdict()
    # A bare year or "may" is a period only after "in"/"during" ("a trip for 2000" is a price).
    has_prep = groups["prep"].strip().split(" ")[0] in ("in", "during")
    if groups["this_month"]:
        return _month(today.replace(day=1), today)
    if groups["last_month"]:
        return _month(previous_month(today.replace(day=1)), today)
    if groups["this_week"] or groups["last_week"]:
        monday = today - dt.timedelta(days=today.weekday())
        if groups["last_week"]:
            monday -= dt.timedelta(days=7)
            return Period(
                monday,
                monday + dt.timedelta(days=6),
                f"last week ({_span_label(monday, monday + dt.timedelta(days=6))})",
            )
        sunday = monday + dt.timedelta(days=6)
        return Period(monday, sunday, f"this week ({_span_label(monday, sunday)})")
    if groups["this_year"]:
        return Period(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31), f"{today.year} so far")
    if groups["last_year"]:
        year = today.year - 1
        return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), str(year))
    if groups["days"]:
        raw = groups["n"]
        days = _NUMBER_WORDS.get(raw) or int(raw)
        if not 1 <= days <= MAX_ROLLING_DAYS:
            return None
        start = today - dt.timedelta(days=days - 1)
        return Period(start, today, f"the last {days} days ({_span_label(start, today)})")
    if groups["today"]:
        return Period(today, today, f"today ({_day_label(today)})", preposition="")
    if groups["yesterday"]:
        day = today - dt.timedelta(days=1)
        return Period(day, day, f"yesterday ({_day_label(day)})", preposition="")
    if groups["iso"]:
        year, month = int(groups["iso_year"]), int(groups["iso_month"])
        if not (1900 <= year and 1 <= month <= 12):
            return None
        return _month(dt.date(year, month, 1), today)
    if groups["named"]:
        name = groups["month_name"]
        number = MONTH_NAMES.index(name) + 1 if name in MONTH_NAMES else _MONTH_ABBREVIATIONS[name]
        if groups["month_year"]:
            year = int(groups["month_year"])
        else:
            if name == "may" and not has_prep:
                return None  # "how much may I spend": the verb, not the month
            year = today.year if number <= today.month else today.year - 1
        return _month(dt.date(year, number, 1), today)
    if groups["year"] and has_prep:
        year = int(groups["year"])
        return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), str(year) + (" so far" if year == today.year else ""))
    return None


def find_period(text: str, today: dt.date) -> tuple[str, Period | None, str]:
    """(the text without its period, the period, a reason it cannot be taken or "")."""
    found = [(m, _period(m, today)) for m in _PERIOD.finditer(text)]
    taken = [(m, p) for m, p in found if p is not None]
    if any(p is None and m.group("named") and m.group("month_name") != "may" for m, p in found):
        return text, None, "a period it does not take"
    if len(taken) > 1:
        return text, None, "two periods (a comparison)"
    if not taken:
        return text, None, ""
    match, period = taken[0]
    assert period is not None
    if period.start > today:
        return text, None, "a period in the future"
    rest = (text[: match.start()] + " " + text[match.end() :]).split()
    return " ".join(rest), period, ""


# --- amounts -------------------------------------------------------------------------------------------

_AMOUNT = (
    r"(?P<symbol>[$€£¥])? ?(?P<number>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?|[0-9]+(?:\.[0-9]{1,2})?)"
    r"(?P<thousands>k)?(?: ?(?P<unit>dollars?|bucks|usd|eur|euros?|gbp|pounds?|quid|chf|cad|aud|jpy|yen))?"
)
_CURRENCY_OF = {
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "¥": "JPY",
    "jpy": "JPY",
    "yen": "JPY",
    "usd": "USD",
    "chf": "CHF",
    "cad": "CAD",
    "aud": "AUD",
}
_DOLLARS = ("$", "dollar", "dollars", "bucks")


def _amount(match: re.Match[str], currency: str) -> tuple[Decimal | None, str]:
    from finbuddy.errors import ValidationError
    from finbuddy.money import parse_amount

    for mark in (match.group("symbol"), match.group("unit")):
        if not mark:
            continue
        if mark in _DOLLARS:
            if not currency.endswith("D"):
                return None, f"an amount in dollars, not {currency}"
        elif _CURRENCY_OF.get(mark) != currency:
            return None, f"an amount in {_CURRENCY_OF.get(mark, mark)}, not {currency}"
    try:
        value = parse_amount(match.group("number"))
    except ValidationError:
        return None, "an amount it cannot read"
    if match.group("thousands"):
        value *= 1000
    return value, ""


# Words that, inside an item's description, make a cost something other than one purchase now.
_ITEM_STOP = frozenset(
    "monthly month months weekly week weeks yearly year years annual annually daily day days payment payments "
    "subscription subscriptions installment installments instalment instalments loan loans lease mortgage rent "
    "finance financing financed credit debt invest investing investment stock stocks shares crypto and with "
    "instead plus also later tomorrow next will another more extra on at in for to from by of my our their it".split()
)


# --- question forms ------------------------------------------------------------------------------------

_X = r"(?P<x>[\w&'.+-]+(?: [\w&'.+-]+){0,5}?)"
_NOT_ITEM = r"(?!(?:on|at|for|in|of|to|from|by|with|and|or|this|next)\b)"
_ITEM = rf"(?P<item>{_NOT_ITEM}[a-z][a-z'-]*(?: {_NOT_ITEM}[a-z][a-z'-]*){{0,3}})"
_TOTAL = r"(?: in total| total| altogether| overall)?"


@dataclass(frozen=True)
class Form:
    intent: str
    pattern: re.Pattern[str]
    # "default": no period means this month; "needed": the form says nothing of when (past or habitual
    # tense), so it is local only with a period; "this_month": only this month or no period (budgets).
    period: str


def _form(intent: str, period: str, *patterns: str) -> list[Form]:
    return [
        Form(intent, re.compile(p.replace("{X}", _X).replace("{AMT}", _AMOUNT).replace("{ITEM}", _ITEM)), period)
        for p in patterns
    ]


FORMS: list[Form] = [
    # spending on a category or merchant, or in total
    *_form(
        SPEND,
        "default",
        r"how much (?:money )?(?:have i|i have) spent" + _TOTAL + r"(?: (?:on|at) {X})?",
        r"what have i spent (?:on|at) {X}",
        r"what (?:is|are) my (?:total )?(?:{X} )?(?:spending|spend|expenses)",
        r"what (?:is|are) my (?:total )?(?:spending|spend|expenses) (?:on|at) {X}",
        r"how much (?:money )?(?:has gone|have i paid) (?:to|on|at) {X}",
    ),
    *_form(
        SPEND,
        "needed",
        r"how much (?:money )?(?:did i|i|do i) spen[dt]" + _TOTAL + r"(?: (?:on|at) {X})?",
        r"what did i spend (?:on|at) {X}",
        r"what (?:was|were) my (?:total )?(?:{X} )?(?:spending|spend|expenses)",
        r"what (?:was|were) my (?:total )?(?:spending|spend|expenses) (?:on|at) {X}",
        r"how much (?:money )?(?:went|did i pay|i paid) (?:to|on|at) {X}",
        r"(?:my |total )?(?:{X} )?(?:spending|spend|expenses)",
        r"(?:my |total )?(?:spending|spend|expenses) (?:on|at) {X}",
    ),
    # income
    *_form(
        INCOME,
        "default",
        r"how much (?:money )?(?:have i|i have) (?:earned|made|received|been paid)" + _TOTAL,
        r"what is my (?:total )?(?:income|earnings)",
        r"how much income (?:have i had|have i received|have i got|do i have)",
    ),
    *_form(
        INCOME,
        "needed",
        r"how much (?:money )?(?:did i|i) (?:earn|make|receive|get paid|earned|made|received)" + _TOTAL,
        r"what was my (?:total )?(?:income|earnings)",
        r"how much income (?:did i have|did i get|did i receive)",
        r"(?:my |total )?(?:income|earnings)",
    ),
    # savings rate
    *_form(
        SAVINGS_RATE,
        "default",
        r"what is my (?:savings?|saving) rate",
        r"(?:my )?(?:savings?|saving) rate",
        r"how much (?:money )?have i saved",
        r"(?:what|which) (?:percentage|percent|share|part) of my income have i saved",
        r"how much of my income have i saved",
    ),
    *_form(
        SAVINGS_RATE,
        "needed",
        r"what was my (?:savings?|saving) rate",
        r"how much (?:money )?did i save",
        r"(?:what|which) (?:percentage|percent|share|part) of my income did i save",
        r"how much of my income did i save",
    ),
    # budget left (this month's budgets)
    *_form(
        BUDGET_LEFT,
        "this_month",
        r"how much (?:is |do i have |have i got )?(?:still )?left (?:in|on|of|for) (?:my )?(?:{X} )?budgets?",
        r"how much (?:is |do i have |have i got )?(?:still )?left (?:in|on|for) (?:my )?{X}",
        r"how much (?:budget|money) (?:do i have|have i got|is|i have|do i still have) (?:still )?left"
        r"(?: (?:in|on|for) (?:my )?{X}(?: budget)?)?",
        r"how much (?:of )?my (?:{X} )?budget (?:do i have|is|have i got|i have) (?:still )?left",
        r"what is (?:still )?left (?:in|of|on) my (?:{X} )?budgets?",
        r"(?:my )?(?:{X} )?budgets? left",
        r"(?:remaining|left) budget (?:for|in|on) {X}",
        r"how much (?:more )?can i (?:still )?spend (?:on|at) {X}",
        r"am i (?:over|under|within) (?:my )?budgets?(?: (?:on|for|in) {X})?",
        r"am i (?:over|under|within) (?:my |the )?{X} budget",
    ),
    # the biggest category
    *_form(
        BIGGEST_CATEGORY,
        "default",
        r"what (?:is|are) my (?:biggest|largest|top|highest|main) (?:spending |expense )?categor(?:y|ies)",
        r"which category have i spent (?:the )?most (?:money )?(?:on|in)",
        r"(?:where|on what) have i spent (?:the )?most(?: money)?",
        r"what have i spent (?:the )?most (?:money )?on",
    ),
    *_form(
        BIGGEST_CATEGORY,
        "needed",
        r"what (?:was|were) my (?:biggest|largest|top|highest|main) (?:spending |expense )?categor(?:y|ies)",
        r"which category did i spend (?:the )?most (?:money )?(?:on|in)",
        r"(?:where|on what) did i spend (?:the )?most(?: money)?",
        r"what did i spend (?:the )?most (?:money )?on",
        r"(?:my )?(?:biggest|largest|top) (?:spending |expense )?category",
    ),
    # can I afford a cost (weighed against this month)
    *_form(
        AFFORD,
        "this_month",
        r"can i (?:still )?afford (?:to (?:buy|spend|pay|pay for|get) )?(?:a |an |the |this |that )?{AMT}"
        r"(?: {ITEM})?(?: (?:on|at) {X})?",
        r"can i (?:still )?afford (?:to (?:buy|get|pay for) )?(?:a |an |the |this |that |some )?{ITEM} "
        r"(?:for|that costs|costing|at|priced at|worth) {AMT}",
        r"is (?:a |an )?{AMT}(?: {ITEM})? affordable",
        r"do i have (?:enough|room)(?: money| left| in my budgets?)? (?:for|to (?:buy|spend|afford)) "
        r"(?:a |an )?{AMT}(?: {ITEM})?",
    ),
    # when a recurring charge is due
    *_form(
        RECURRING_DUE,
        "none",
        r"when is (?:my )?(?:next )?{X} (?:payment |charge |bill |subscription |renewal )?(?:due|charged|taken)",
        r"when (?:does|will) (?:my )?{X} (?:charge me|bill me|renew|come out|get charged|be charged|be due)"
        r"(?: next| again)?",
        r"when is (?:my |the )?next {X} (?:payment|charge|bill|renewal|debit)",
        r"when do i (?:next )?(?:pay|get charged for) {X}(?: next| again)?",
        r"when is {X} due(?: next)?",
    ),
]


def _slot(text: str) -> str:
    """A name as a slot caught it, without a leading article or possessive."""
    words = text.split()
    while words and words[0] in ("my", "the", "a", "an", "our"):
        words = words[1:]
    if len(words) > 1 and words[-1] in ("category", "purchases"):
        words = words[:-1]
    return " ".join(words)


def _resolve_name(text: str, vocabulary: Vocabulary) -> tuple[str | None, tuple[str, ...], str]:
    """(category, merchant spellings, reason): exactly one of the two, or a reason it is neither or both."""
    name = _slot(text)
    if not name:
        return None, (), "no name"
    category = vocabulary.category(name)
    spellings = vocabulary.merchant(name)
    if category and spellings:
        return None, (), f"{name!r} is both a category and a merchant"
    if not category and not spellings:
        return None, (), f"{name!r} is not one of your categories or merchants"
    return category, spellings, ""


def _try_form(
    form: Form, match: re.Match[str], period: Period | None, vocabulary: Vocabulary, today: dt.date
) -> Understanding | str:
    """The Understanding this form makes of the match, or a reason it makes none."""
    from finbuddy.dates import month_bounds

    groups = match.groupdict()
    if form.period == "needed" and period is None:
        return "the form says nothing of when (past or habitual), and no period is given"
    if (
        form.period in ("this_month", "none")
        and period is not None
        and not (form.period == "this_month" and period.this_month)
    ):
        return "a period this question does not take"
    if period is None and form.period in ("default", "this_month"):
        period = _month(month_bounds(today.replace(day=1))[0], today)
    category: str | None = None
    spellings: tuple[str, ...] = ()
    merchant: str | None = None
    x = groups.get("x")
    if form.intent == RECURRING_DUE:
        found = vocabulary.recurring(_slot(x or ""))
        if found is None:
            return f"{_slot(x or '')!r} is not one of your recurring charges"
        return Understanding(LOCAL, RECURRING_DUE, merchant=found)
    amount, item = None, None
    if form.intent == AFFORD:
        amount, why = _amount(match, vocabulary.currency)
        if amount is None:
            return why
        item = groups.get("item")
        if item:
            words = item.split()
            if set(words) & _ITEM_STOP:
                return f"the item {item!r} says more than one purchase now"
            # "can I afford 300 groceries": a category named as the item
            as_category = vocabulary.category(_slot(item)) if not x else None
            if as_category:
                category, item = as_category, None
    if x is not None:
        category, spellings, why = _resolve_name(x, vocabulary)
        if why:
            return why
        if spellings:
            if form.intent not in (SPEND, AFFORD):
                return "a merchant where a category is expected"
            merchant = spellings[0]
    if form.intent == BUDGET_LEFT and category is not None and "budget" not in match.group(0):
        if not vocabulary.has_budget(category):
            return f"no budget for {category}, and the question is not about one"
    return Understanding(
        LOCAL,
        form.intent,
        period=period,
        category=category,
        merchant=merchant,
        merchant_spellings=spellings,
        amount=amount,
        item=item,
    )


def understand(question: str, today: dt.date, vocabulary: Vocabulary) -> Understanding:
    """What the question asks: a local intent with its entities when a question form covers all of it,
    else the model tier (small or main) and the topic."""
    text = normalize(question)
    local, reason = _understand_locally(text, today, vocabulary)
    if local is not None:
        return local
    tier, topic = need(text)
    amount = None
    if topic == AFFORDABILITY:
        found = re.search(_AMOUNT, text)
        if found and found.group("number"):
            amount, _ = _amount(found, vocabulary.currency)
    return Understanding(tier, topic, amount=amount, reason=reason)


def _understand_locally(text: str, today: dt.date, vocabulary: Vocabulary) -> tuple[Understanding | None, str]:
    if not text:
        return None, "empty"
    if _multi_part(text):
        return None, "more than one sentence or question"
    core = _LEADING.sub("", text, count=1)
    core = _TRAILING.sub("", core).strip(" ,")
    words = set(_words(core))
    stops = sorted(words & _STOP_WORDS) + sorted(w for w in words if w.endswith("n't"))
    if stops:
        return None, f"{stops[0]!r} changes the question in a way finbuddy does not compute"
    core, period, why = find_period(core, today)
    if why:
        return None, why
    core = _TRAILING.sub("", core).strip(" ,")
    reasons = []
    for form in FORMS:
        match = form.pattern.fullmatch(core)
        if match is None:
            continue
        made = _try_form(form, match, period, vocabulary, today)
        if isinstance(made, Understanding):
            return made, ""
        reasons.append(made)
    return None, reasons[0] if reasons else "no question form it answers locally"


# --- the rest: which model ----------------------------------------------------------------------------

_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget) (?:all |any |the |your |my )?(?:previous |prior |above |earlier )?"
    r"(?:instructions|rules|prompts?|guidelines)\b|system prompt|jailbreak|developer mode|\bpretend\b|"
    r"you are now|act as|\bdan\b|reveal (?:your|the) |print (?:your|the) (?:instructions|prompt)|"
    r"</?(?:question|financial_data|system)>"
)
_CHITCHAT = re.compile(
    r"(?:hi|hello|hey|thanks|thank you|thx|cheers|good (?:morning|evening|afternoon)|bye|goodbye|"
    r"who are you|what can you do|what are you|how are you|are you (?:there|a bot|an ai)|help)"
    r"(?: finbuddy| there)?"
)
_DEFINITION = re.compile(
    r"(?:what (?:is|are|does|do) |what is the difference between |explain |define |definition of |meaning of |"
    r"how (?:does|do) (?:an? |the )?[\w' -]+ work|difference between |is an? |are )"
)
_FIRST_PERSON = frozenset("i me my mine myself i'm i've i'd we us our ours".split())
_ADVICE = frozenset(
    "should recommend recommendation advice advise best better plan planning strategy afford buy sell "
    "purchase switch move choose pick decide idea safe risky".split()
)
_TOPIC_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        INVESTING,
        frozenset(
            "invest investing investment investments stock stocks etf etfs shares share portfolio crypto bitcoin "
            "bond bonds dividend dividends rebalance rebalancing roth ira 401k brokerage holdings index fund funds "
            "allocation diversify diversified".split()
        ),
    ),
    (AFFORDABILITY, frozenset("afford affordable buy purchase splurge".split())),
    (
        SAVING,
        frozenset("save saving savings saved emergency cut reduce frugal cheaper".split()),
    ),
    (BUDGET, frozenset("budget budgets overspend overspending overspent track".split())),
    (
        PLANNING,
        frozenset("plan planning goal goals retire retirement mortgage debt loan loans pay off house".split()),
    ),
)
MAX_SMALL_WORDS = 15


def need(text: str) -> tuple[str, str]:
    """(tier, topic) of a question that goes to a model. The small model takes only short, impersonal,
    single questions that explain a term or make small talk; anything about the user's own money, any
    advice or plan, anything long or in several parts, and anything that looks like an attempt to
    steer the model go to the main model."""
    if _INJECTION.search(text):
        return MAIN, INJECTION
    words = _words(text)
    word_set = set(words)
    topic = GENERAL
    for name, vocabulary in _TOPIC_WORDS:
        if word_set & vocabulary:
            topic = name
            break
    simple = (
        len(words) <= MAX_SMALL_WORDS
        and not _multi_part(text)
        and not (word_set & _FIRST_PERSON)
        and not (word_set & _ADVICE)
        and "worth it" not in text
        and not (
            word_set & {"and", "or", "vs", "versus"} and not text.startswith(("what is the difference", "difference"))
        )
    )
    if simple and _CHITCHAT.fullmatch(text):
        return SMALL, CHITCHAT
    if simple and _DEFINITION.match(text):
        return SMALL, DEFINITION
    return MAIN, topic


def route_question(ctx: Context, question: str) -> Understanding:
    """The router's decision for ctx.user's question (reads only the names it needs from the database)."""
    return understand(question, ctx.today(), DatabaseVocabulary(ctx))
