"""Synthetic ledgers: many realistic records for one user, inserted in bulk (for size tests and benchmarks)."""

from __future__ import annotations

import datetime as dt
import random

CATEGORIES = [
    "groceries",
    "rent",
    "dining",
    "transport",
    "utilities",
    "health",
    "fun",
    "clothes",
    "travel",
    "gifts",
    "education",
    "insurance",
    "phone",
    "subscriptions",
    "pets",
    "kids",
    "home",
    "charity",
    "taxes",
    "misc",
]
MERCHANTS = ["Lidl", "Aldi", "Shell", "Uber", "Netflix", "Amazon", "Ikea", "Deliveroo", "Apple", "Zara"]


def seed_records(
    ctx,
    count: int,
    *,
    seed: int = 1,
    categories: list[str] | None = None,
    merchants: list[str] | None = None,
    days_back: int = 60,
    note_chars: int = 40,
) -> None:
    """Insert `count` records for ctx.user (expenses, with an income every 50th), dated over the last
    `days_back` days, in one transaction; bumps the user's data version like any write."""
    import sqlalchemy as sa

    from finbuddy.db.tables import records
    from finbuddy.db.users import allocate_record_ids, ensure_user

    rng = random.Random(seed)
    categories = categories or CATEGORIES
    merchants = merchants or MERCHANTS
    today = ctx.today()
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        first = allocate_record_ids(conn, user_id, count)
        rows = []
        for index in range(count):
            income = index % 50 == 49
            rows.append(
                {
                    "user_id": user_id,
                    "id": first + index,
                    "kind": "income" if income else "expense",
                    "amount_cents": rng.randint(300_000, 500_000) if income else rng.randint(100, 20_000),
                    "expense_date": today - dt.timedelta(days=rng.randrange(days_back)),
                    "category": "salary" if income else rng.choice(categories),
                    "merchant": None if income else rng.choice(merchants),
                    "note": (f"note {index} " + "x" * note_chars)[:note_chars] if note_chars else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(records), rows[start : start + 5000])
