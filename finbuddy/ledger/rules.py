"""Merchant → category rules: learned from a user's own history, set by the user, or answered by the model once.

What a rule is and which one wins (the documented contract):

- A rule maps a merchant to a category. Merchants are compared by their key: casefolded, spaces removed
  ("NETFLIX.COM", "Netflix .com" and "netflix.com" are one merchant), as recurring charges group them.
- Learned: from the user's records that have a merchant and a real category (not `uncategorized`) that no rule
  filled in. Per merchant, the most frequent category is learned when it has at least LEARN_MIN_RECORDS records
  and at least two thirds of the merchant's categorised records: a tie, a single record or a split history
  (3 of 5) teaches nothing. Learning is computed from the history whenever rules are used, so it follows the
  user's edits.
- Explicit (`rules add MERCHANT CATEGORY`, source "user") wins over everything.
- The model's answer (`categorize --ai`, source "ai") applies when nothing is learned for the merchant: the
  user's own history outranks a model's guess. The model is asked about a merchant only when the merchant has
  no rule of any kind, so never twice; an answer of "unknown" is kept too (nothing filled, not asked again).
- `rules rm` of a learned or ai rule stores a block (source "blocked"): nothing is learned for the merchant and
  the model is not asked about it again, until `rules add` sets a rule or `rules rm` removes the block.
  `rules rm` of your own rule deletes it: the merchant is learned (or asked about) again like any other.
- Rules fill only records whose category is `uncategorized` and that the user did not leave so themselves:
  a category the user chose (`add` with a category, `edit --category`) is never changed by a rule.
  Removing a rule leaves the records it filled as they are.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finbuddy.context import Context
from finbuddy.errors import NotFound, ValidationError
from finbuddy.ledger.fields import normalize_category, normalize_merchant

if TYPE_CHECKING:
    from finbuddy.db import Connection

UNCATEGORIZED = "uncategorized"
LEARN_MIN_RECORDS = 2
SOURCES = ("user", "learned", "ai", "blocked")


def merchant_key(merchant: str) -> str:
    """Case and spacing ignored, beyond ASCII too: the key recurring charges group merchants by."""
    return "".join(merchant.split()).casefold()


@dataclass(frozen=True)
class Learned:
    """What a merchant's history teaches: `records` of its `of` categorised records are in `category`."""

    key: str
    merchant: str  # the most frequent spelling
    category: str
    records: int
    of: int


@dataclass(frozen=True)
class Rule:
    """A merchant's rule as it stands. `category` None: a block, or a model that could not tell."""

    key: str
    merchant: str
    category: str | None
    source: str  # user | learned | ai | blocked
    hits: int = 0  # records rules have filled for this merchant
    evidence: int = 0  # learned: records in `category`
    of: int = 0  # learned: the merchant's categorised records
    updated_at: dt.datetime | None = None  # None: a learned rule not applied yet

    @property
    def active(self) -> bool:
        return self.category is not None and self.source != "blocked"

    def to_json(self) -> dict[str, Any]:
        return {
            "merchant": self.merchant,
            "key": self.key,
            "category": self.category,
            "source": self.source,
            "active": self.active,
            "evidence": {"records": self.evidence, "of": self.of} if self.source == "learned" else None,
            "hits": self.hits,
            "updated_at": self.updated_at.isoformat() if self.updated_at is not None else None,
        }


def learn(evidence: Iterable[tuple[str, str, int]]) -> dict[str, Learned]:
    """Rules from (merchant spelling, category, records) counts: see the module docstring for the threshold."""
    by_key: dict[str, Counter[str]] = defaultdict(Counter)
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for merchant, category, count in evidence:
        key = merchant_key(merchant)
        if not key:
            continue
        by_key[key][category] += count
        spellings[key][merchant] += count
    learned: dict[str, Learned] = {}
    for key, categories in by_key.items():
        total = sum(categories.values())
        (category, count), *_ = sorted(categories.items(), key=lambda item: (-item[1], item[0]))
        if count >= LEARN_MIN_RECORDS and 3 * count >= 2 * total:
            merchant = sorted(spellings[key].items(), key=lambda item: (-item[1], item[0]))[0][0]
            learned[key] = Learned(key, merchant, category, count, total)
    return learned


def resolve(stored: Iterable[Any], learned: dict[str, Learned]) -> dict[str, Rule]:
    """Every merchant's rule in force (and the blocks and unknowns, inactive), from the stored rows and what the
    history teaches: user > blocked > learned > ai. A stored learned row the history no longer supports is no rule."""
    rows = {row.key: row for row in stored}
    rules: dict[str, Rule] = {}
    for key in rows.keys() | learned.keys():
        row, taught = rows.get(key), learned.get(key)
        hits = row.hits if row is not None else 0
        if row is not None and row.source in ("user", "blocked"):
            rules[key] = Rule(key, row.merchant, row.category, row.source, hits, updated_at=row.updated_at)
        elif taught is not None:
            when = row.updated_at if row is not None and row.source == "learned" else None
            rules[key] = Rule(key, taught.merchant, taught.category, "learned", hits, taught.records, taught.of, when)
        elif row is not None and row.source == "ai":
            rules[key] = Rule(key, row.merchant, row.category, "ai", hits, updated_at=row.updated_at)
    return rules


@dataclass(frozen=True)
class RuleBook:
    """A user's rules as they stand, looked up by merchant."""

    rules: dict[str, Rule] = field(default_factory=dict)

    def rule_for(self, merchant: str | None) -> Rule | None:
        """The active rule for this merchant, or None."""
        if not merchant:
            return None
        rule = self.rules.get(merchant_key(merchant))
        return rule if rule is not None and rule.active else None

    def may_ask_model(self, key: str) -> bool:
        """Whether the model may be asked about this merchant: it has no rule, block or answer of any kind."""
        return key not in self.rules


def load_rulebook(conn: Connection, user_id: int | None) -> RuleBook:
    from finbuddy.db import rules as q

    if user_id is None:
        return RuleBook()
    return RuleBook(resolve(q.stored_rules(conn, user_id), learn(q.category_evidence(conn, user_id))))


def rules_for_import(ctx: Context, user: str) -> RuleBook:
    """The rules an import of `user`'s rows applies (read once, before the rows are staged)."""
    from finbuddy.db.users import find_user_id

    with ctx.db.read() as conn:
        return load_rulebook(conn, find_user_id(conn, user))


# --- filling records ------------------------------------------------------------------


@dataclass(frozen=True)
class RuleUse:
    """One rule and the records it filled (or would fill)."""

    merchant: str
    category: str
    source: str
    records: int

    def to_json(self) -> dict[str, Any]:
        return {"merchant": self.merchant, "category": self.category, "source": self.source, "records": self.records}


@dataclass(frozen=True)
class RuleFills:
    """What rules did to a batch of rows: `rows` filled, by `uses` (most rows first)."""

    enabled: bool
    rows: int
    uses: list[RuleUse]

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "rows": self.rows, "rules": [use.to_json() for use in self.uses]}


class FillCounter:
    """Counts the rows each rule fills (import: row by row, as they are staged)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._rules: dict[str, Rule] = {}

    def add(self, rule: Rule, count: int = 1) -> None:
        self._counts[rule.key] += count
        self._rules[rule.key] = rule

    @property
    def rows(self) -> int:
        return sum(self._counts.values())

    def uses(self) -> list[RuleUse]:
        ordered = sorted(self._counts.items(), key=lambda item: (-item[1], item[0]))
        result = []
        for key, count in ordered:
            rule = self._rules[key]
            assert rule.category is not None  # only active rules fill
            result.append(RuleUse(rule.merchant, rule.category, rule.source, count))
        return result

    def fills(self) -> list[Any]:
        from finbuddy.db.rules import RuleFill

        fills = []
        for key, count in self._counts.items():
            rule = self._rules[key]
            assert rule.category is not None
            fills.append(RuleFill(key, rule.merchant, rule.category, rule.source, rule.evidence, count))
        return fills

    def result(self, enabled: bool = True) -> RuleFills:
        return RuleFills(enabled, self.rows, self.uses())


@dataclass(frozen=True)
class ModelOutcome:
    """What `categorize --ai` asked the model (filled in by finbuddy.advisor.categorize)."""

    provider: str  # "openai" | "offline"
    merchants: int  # distinct merchants sent (dry run: that would be sent)
    calls: int  # calls made (dry run: that would be made); cached answers included
    cached_calls: int
    answered: int  # merchants the model named a category for
    unknown: int  # merchants the model could not tell
    note: str | None = None  # for people: why nothing was asked

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "merchants": self.merchants,
            "calls": self.calls,
            "cached_calls": self.cached_calls,
            "answered": self.answered,
            "unknown": self.unknown,
            "note": self.note,
        }


@dataclass(frozen=True)
class CategorizeResult:
    dry_run: bool
    filled: int
    uses: list[RuleUse]
    left: int  # records a rule may fill that are still uncategorised
    left_merchants: list[str]  # their distinct merchants (one spelling each), sorted
    without_merchant: int  # uncategorised records with no merchant: no rule can fill them
    model: ModelOutcome | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "filled": self.filled,
            "rules": [use.to_json() for use in self.uses],
            "left": self.left,
            "left_merchants": len(self.left_merchants),
            "without_merchant": self.without_merchant,
            "ai": self.model.to_json() if self.model is not None else None,
        }


@dataclass(frozen=True)
class FillPlan:
    """The fillable records grouped by merchant key: which a rule fills (with the records' ids), which stay."""

    filled: list[tuple[Rule, list[int]]]
    left: dict[str, tuple[str, int]]  # key -> (the most frequent spelling, records)


def plan_fills(book: RuleBook, fillable: Iterable[tuple[int, str]]) -> FillPlan:
    """Group the fillable (id, merchant) records by merchant key and rule."""
    ids: dict[str, list[int]] = defaultdict(list)
    shown: dict[str, Counter[str]] = defaultdict(Counter)
    for record_id, merchant in fillable:
        key = merchant_key(merchant)
        if not key:
            continue
        ids[key].append(record_id)
        shown[key][merchant] += 1
    filled = []
    left = {}
    for key in sorted(ids):
        rule = book.rules.get(key)
        if rule is not None and rule.active:
            filled.append((rule, sorted(ids[key])))
        else:
            spelling = sorted(shown[key].items(), key=lambda item: (-item[1], item[0]))[0][0]
            left[key] = (spelling, len(ids[key]))
    return FillPlan(filled, left)


def merchants_for_model(ctx: Context) -> tuple[list[tuple[str, str]], list[str]]:
    """(key, spelling) of the merchants of the user's fillable records that no rule fills and the model was never
    asked about, sorted by key; and the user's categories (for the model to reuse)."""
    from finbuddy.db import records as record_q
    from finbuddy.db import rules as q
    from finbuddy.db.users import find_user_id

    with ctx.db.read() as conn:
        user_id = find_user_id(conn, ctx.user)
        if user_id is None:
            return [], []
        book = load_rulebook(conn, user_id)
        plan = plan_fills(book, q.fillable_records(conn, user_id))
        categories = [c for c in record_q.user_categories(conn, user_id) if c != UNCATEGORIZED]
    merchants = [(key, spelling) for key, (spelling, _) in plan.left.items() if book.may_ask_model(key)]
    return merchants, categories


def fill_from_rules(
    ctx: Context,
    dry_run: bool = False,
    answers: list[tuple[str, str, str | None]] | None = None,
    model: ModelOutcome | None = None,
) -> CategorizeResult:
    """Fill ctx.user's fillable `uncategorized` records from the rules, in ONE write transaction that also stores
    the model's `answers` (key, merchant, category or None) as rules and bumps the user's data version (cached
    summaries and answers stop matching). `dry_run` changes nothing and says what would change."""
    from finbuddy.db import rules as q
    from finbuddy.db.users import bump_data_version, find_user_id

    now = ctx.now()
    transaction = ctx.db.read() if dry_run else ctx.db.write()
    with transaction as conn:
        user_id = find_user_id(conn, ctx.user)
        if user_id is None:
            return CategorizeResult(dry_run, 0, [], 0, [], 0, model)
        if answers and not dry_run:
            q.add_model_answers(conn, user_id, answers, now)
        book = load_rulebook(conn, user_id)
        plan = plan_fills(book, q.fillable_records(conn, user_id, lock=not dry_run))
        counter = FillCounter()
        by_category: dict[str, list[int]] = defaultdict(list)
        for rule, ids in plan.filled:
            assert rule.category is not None  # plan_fills takes active rules only
            counter.add(rule, len(ids))
            by_category[rule.category].extend(ids)
        if not dry_run:
            for category, ids in sorted(by_category.items()):
                q.fill_records(conn, user_id, sorted(ids), category, now)
        if counter.rows and not dry_run:
            q.count_fills(conn, user_id, counter.fills(), now)
            bump_data_version(conn, user_id)
        without = q.uncategorized_without_merchant(conn, user_id)
    left = sorted(spelling for spelling, _ in plan.left.values())
    return CategorizeResult(
        dry_run, counter.rows, counter.uses(), sum(n for _, n in plan.left.values()), left, without, model
    )


# --- seeing and correcting the rules ----------------------------------------------------


def list_rules(ctx: Context) -> list[Rule]:
    """ctx.user's rules (learned ones computed from the history now), blocks and unknowns included, by merchant."""
    from finbuddy.db.users import find_user_id

    with ctx.db.read() as conn:
        book = load_rulebook(conn, find_user_id(conn, ctx.user))
    return sorted(book.rules.values(), key=lambda rule: (rule.key, rule.source))


@dataclass(frozen=True)
class RuleChange:
    """What `rules add` / `rules rm` did: the rule before and after, and the records re-filed."""

    action: str  # "set" | "removed" | "blocked" | "unblocked"
    merchant: str
    before: Rule | None
    after: Rule | None  # the merchant's rule now (for rm: what applies instead, if anything)
    refiled: int = 0
    did_you_mean: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "merchant": self.merchant,
            "before": self.before.to_json() if self.before is not None else None,
            "rule": self.after.to_json() if self.after is not None else None,
            "refiled": self.refiled,
        }


def _merchant_arg(merchant: str) -> tuple[str, str]:
    value = normalize_merchant(merchant)
    if value is None or not merchant_key(value):
        raise ValidationError(f"merchant {merchant!r} is empty: expected a merchant name, e.g. Netflix")
    return value, merchant_key(value)


def add_rule(ctx: Context, merchant: str, category: str) -> RuleChange:
    """Set ctx.user's own rule for a merchant. It wins over learned and model rules at once: the merchant's records
    that a rule filled, or that a rule may fill, take its category now (records the user categorised do not)."""
    from finbuddy.db import records as record_q
    from finbuddy.db import rules as q
    from finbuddy.db.users import bump_data_version, ensure_user
    from finbuddy.ledger.records import similar_category

    shown, key = _merchant_arg(merchant)
    wanted = normalize_category(category)
    if wanted == UNCATEGORIZED:
        raise ValidationError(
            f"category {category!r} is what rules fill, not a rule: expected a category such as subscriptions "
            "(`finbuddy rules rm MERCHANT` removes a rule)"
        )
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        before = load_rulebook(conn, user_id).rules.get(key)
        hint = None
        if not record_q.category_in_use(conn, user_id, wanted):
            hint = similar_category(wanted, record_q.user_categories(conn, user_id))
        q.put_rule(conn, user_id, key, shown, wanted, "user", now)
        spellings = [m for m in q.merchant_spellings(conn, user_id) if merchant_key(m) == key]
        refiled = q.refile_records(conn, user_id, spellings, wanted, now)
        if refiled:
            q.count_fills(conn, user_id, [q.RuleFill(key, shown, wanted, "user", 0, refiled)], now)
            bump_data_version(conn, user_id)
        after = load_rulebook(conn, user_id).rules.get(key)
    return RuleChange("set", shown, before, after, refiled, hint)


def remove_rule(ctx: Context, merchant: str) -> RuleChange:
    """`rules rm`: your own rule is deleted; a learned or model rule is blocked; a block is lifted."""
    from finbuddy.db import rules as q
    from finbuddy.db.users import find_user_id

    shown, key = _merchant_arg(merchant)
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = find_user_id(conn, ctx.user)
        before = load_rulebook(conn, user_id).rules.get(key) if user_id is not None else None
        if user_id is None or before is None:
            raise NotFound(f"no rule for merchant {shown!r}: `finbuddy rules list` shows your rules")
        if before.source in ("user", "blocked"):
            q.delete_rule(conn, user_id, key)
            action = "removed" if before.source == "user" else "unblocked"
        else:
            q.put_rule(conn, user_id, key, before.merchant, None, "blocked", now)
            action = "blocked"
        after = load_rulebook(conn, user_id).rules.get(key)
    return RuleChange(action, before.merchant, before, after)
