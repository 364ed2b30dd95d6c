"""Expenses and income: record, list, edit and delete one user's entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from finbuddy.context import Context
from finbuddy.errors import NotFound, ValidationError
from finbuddy.ledger.fields import normalize_category, normalize_merchant, normalize_note, singular
from finbuddy.money import format_cents, from_cents, to_cents

if TYPE_CHECKING:
    from finbuddy.db import Connection, RowMapping

KINDS = ("expense", "income")
MAX_LIST_LIMIT = 100_000


@dataclass(frozen=True)
class Record:
    id: int
    user: str
    kind: str
    amount_cents: int
    date: dt.date
    category: str
    note: str | None
    merchant: str | None
    # Set by a write that introduced a category new to the user and close to one they already use
    # ("grocery" when "groceries" exists): the existing one. Talk for people, never part of the record.
    did_you_mean: str | None = field(default=None, compare=False)

    @property
    def amount(self) -> Decimal:
        return from_cents(self.amount_cents)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "kind": self.kind,
            "amount": format_cents(self.amount_cents),
            "category": self.category,
            "date": self.date.isoformat(),
            "note": self.note,
            "merchant": self.merchant,
        }


@dataclass(frozen=True)
class RecordPage:
    """Records newest first, at most `limit` of them, and how many matched in all."""

    records: list[Record]
    total: int

    @property
    def cut(self) -> bool:
        return len(self.records) < self.total


def similar_category(category: str, known: list[str]) -> str | None:
    """The known category that `category` (new, normalised) most likely meant, or None.

    Singular and plural of one word match ("grocery", "grocerys", "groceries"); otherwise a typo of
    one or two letters in a word of five or more ("cofee", "dinning"). Short words are left alone:
    "tax" and "taxi" are different things.
    """
    if category in known:
        return None
    stem = singular(category)
    for candidate in known:
        if singular(candidate) == stem:
            return candidate
    if len(category) < 5:
        return None
    import difflib

    close = difflib.get_close_matches(category, [k for k in known if len(k) >= 5], n=1, cutoff=0.8)
    return close[0] if close else None


def near_miss(conn: Connection, user_id: int, category: str) -> str | None:
    """Inside a write: the user's existing category that a new `category` is close to, or None."""
    from finbuddy.db import records as q

    if q.category_in_use(conn, user_id, category):
        return None
    return similar_category(category, q.user_categories(conn, user_id))


def _record(user: str, row: RowMapping, did_you_mean: str | None = None) -> Record:
    return Record(
        id=row["id"],
        user=user,
        kind=row["kind"],
        amount_cents=row["amount_cents"],
        date=row["expense_date"],
        category=row["category"],
        note=row["note"],
        merchant=row["merchant"],
        did_you_mean=did_you_mean,
    )


def record_entry(
    ctx: Context,
    amount: Decimal,
    category: str,
    note: str | None = None,
    date: dt.date | None = None,
    merchant: str | None = None,
    kind: str = "expense",
    category_source: str = "user",
) -> Record:
    """Store one expense or income for ctx.user (creating the user on their first write).

    `category_source` says who chose the category: "user" (typed; no rule ever changes it) or "rule" (quick
    entry filled it from the merchant's rule)."""
    from finbuddy.db import records as q
    from finbuddy.db.users import allocate_record_ids, ensure_user

    if kind not in KINDS:
        raise ValidationError(f"kind {kind!r} is not valid: expected expense or income")
    wanted = normalize_category(category)
    values = {
        "kind": kind,
        "amount_cents": to_cents(amount),
        "expense_date": date or ctx.today(),
        "category": wanted,
        "merchant": normalize_merchant(merchant),
        "note": normalize_note(note),
        "category_source": category_source,
    }
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        hint = near_miss(conn, user_id, wanted)
        record_id = allocate_record_ids(conn, user_id, 1)
        q.insert_record(conn, user_id, record_id, values, now)
        row = q.get_record(conn, user_id, record_id)
    assert row is not None  # inserted just above, in the same transaction
    return _record(ctx.user, row, hint)


def list_records(
    ctx: Context,
    start: dt.date | None = None,
    end: dt.date | None = None,
    category: str | None = None,
    limit: int | None = None,
) -> RecordPage:
    """ctx.user's records, newest first, optionally within [start, end] and one category.

    With a limit, at most that many, and `total` says how many matched (counted only when cut).
    """
    from finbuddy.db import records as q
    from finbuddy.db.users import find_user_id

    if limit is not None and not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValidationError(f"limit {limit} is not valid: expected 1-{MAX_LIST_LIMIT}")
    if start and end and start > end:
        raise ValidationError(f"--from {start.isoformat()} is after --to {end.isoformat()}: expected from <= to")
    wanted = normalize_category(category) if category is not None else None
    with ctx.db.read(reporting=True) as conn:
        user_id = find_user_id(conn, ctx.user)
        if user_id is None:
            return RecordPage([], 0)
        # One row more than asked tells whether the list is cut; only then is the rest counted.
        fetch = None if limit is None else limit + 1
        rows = q.find_records(conn, user_id, start=start, end=end, category=wanted, limit=fetch)
        total = len(rows)
        if limit is not None and total > limit:
            rows = rows[:limit]
            total = q.count_records(conn, user_id, start=start, end=end, category=wanted)
    return RecordPage([_record(ctx.user, row) for row in rows], total)


def get_record(ctx: Context, record_id: int) -> Record:
    from finbuddy.db import records as q
    from finbuddy.db.users import find_user_id

    with ctx.db.read() as conn:
        user_id = find_user_id(conn, ctx.user)
        row = None if user_id is None else q.get_record(conn, user_id, record_id)
    if row is None:
        raise NotFound(f"record {record_id} not found for user {ctx.user!r}")
    return _record(ctx.user, row)


def edit_record(
    ctx: Context,
    record_id: int,
    amount: Decimal | None = None,
    category: str | None = None,
    date: dt.date | None = None,
    note: str | None = None,
    merchant: str | None = None,
) -> Record:
    """Change fields of one of ctx.user's records; None leaves a field as it is, "" clears note/merchant."""
    from finbuddy.db import records as q
    from finbuddy.db.users import bump_data_version, find_user_id

    changes: dict[str, Any] = {}
    if amount is not None:
        changes["amount_cents"] = to_cents(amount)
    if category is not None:
        changes["category"] = normalize_category(category)
        changes["category_source"] = "user"  # the user's choice: no rule changes it again
    if date is not None:
        changes["expense_date"] = date
    if note is not None:
        changes["note"] = normalize_note(note)
    if merchant is not None:
        changes["merchant"] = normalize_merchant(merchant)
    if not changes:
        raise ValidationError(
            "nothing to change: expected at least one of --amount, --category, --date, --note, --merchant"
        )
    with ctx.db.write() as conn:
        user_id = find_user_id(conn, ctx.user)
        if user_id is None:
            raise NotFound(f"record {record_id} not found for user {ctx.user!r}")
        new_category = changes.get("category")
        is_new = new_category is not None and not q.category_in_use(conn, user_id, new_category)
        if not q.update_record(conn, user_id, record_id, changes, ctx.now()):
            raise NotFound(f"record {record_id} not found for user {ctx.user!r}")
        bump_data_version(conn, user_id)
        row = q.get_record(conn, user_id, record_id)
        hint = None
        if new_category is not None and is_new:
            # Compared after the change: moving a category's only record to a new spelling is a rename.
            others = [c for c in q.user_categories(conn, user_id) if c != new_category]
            hint = similar_category(new_category, others)
    assert row is not None  # updated just above, in the same transaction
    return _record(ctx.user, row, hint)


def delete_record(ctx: Context, record_id: int) -> Record:
    """Remove one of ctx.user's records; returns what was removed."""
    from finbuddy.db import records as q
    from finbuddy.db.users import bump_data_version, find_user_id

    with ctx.db.write() as conn:
        user_id = find_user_id(conn, ctx.user)
        row = None if user_id is None else q.get_record(conn, user_id, record_id)
        if user_id is None or row is None:
            raise NotFound(f"record {record_id} not found for user {ctx.user!r}")
        q.delete_record(conn, user_id, record_id)
        bump_data_version(conn, user_id)
    return _record(ctx.user, row)
