"""Expenses and income: record, list, edit and delete one user's entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finbuddy.context import Context
from finbuddy.errors import NotFound, ValidationError
from finbuddy.ledger.fields import normalize_category, normalize_merchant, normalize_note
from finbuddy.money import format_cents, from_cents, to_cents

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


def _record(user: str, row) -> Record:
    return Record(
        id=row["id"],
        user=user,
        kind=row["kind"],
        amount_cents=row["amount_cents"],
        date=row["expense_date"],
        category=row["category"],
        note=row["note"],
        merchant=row["merchant"],
    )


def record_entry(
    ctx: Context,
    amount: Decimal,
    category: str,
    note: str | None = None,
    date: dt.date | None = None,
    merchant: str | None = None,
    kind: str = "expense",
) -> Record:
    """Store one expense or income for ctx.user (creating the user on their first write)."""
    from finbuddy.db import records as q
    from finbuddy.db.users import allocate_record_ids, ensure_user

    if kind not in KINDS:
        raise ValidationError(f"kind {kind!r} is not valid: expected expense or income")
    values = {
        "kind": kind,
        "amount_cents": to_cents(amount),
        "expense_date": date or ctx.today(),
        "category": normalize_category(category),
        "merchant": normalize_merchant(merchant),
        "note": normalize_note(note),
    }
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        record_id = allocate_record_ids(conn, user_id, 1)
        q.insert_record(conn, user_id, record_id, values, now)
        row = q.get_record(conn, user_id, record_id)
    return _record(ctx.user, row)


def list_records(
    ctx: Context,
    start: dt.date | None = None,
    end: dt.date | None = None,
    category: str | None = None,
    limit: int | None = 50,
) -> list[Record]:
    """ctx.user's records, newest first, optionally within [start, end] and one category."""
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
            return []
        rows = q.find_records(conn, user_id, start=start, end=end, category=wanted, limit=limit)
    return [_record(ctx.user, row) for row in rows]


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
        if user_id is None or not q.update_record(conn, user_id, record_id, changes, ctx.now()):
            raise NotFound(f"record {record_id} not found for user {ctx.user!r}")
        bump_data_version(conn, user_id)
        row = q.get_record(conn, user_id, record_id)
    return _record(ctx.user, row)


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
