"""Monthly budgets per category."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from finbuddy.context import Context
from finbuddy.errors import NotFound
from finbuddy.ledger.fields import normalize_category
from finbuddy.money import format_cents, to_cents


@dataclass(frozen=True)
class Budget:
    category: str
    amount_cents: int
    # Set by `set_budget` when the category is new to the user and close to one they use (see Record).
    did_you_mean: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "amount": format_cents(self.amount_cents)}


def set_budget(ctx: Context, category: str, amount: Decimal) -> Budget:
    from finbuddy.db.budgets import upsert_budget
    from finbuddy.db.users import bump_data_version, ensure_user
    from finbuddy.ledger.records import near_miss

    budget = Budget(normalize_category(category), to_cents(amount))
    now = ctx.now()
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        budget = replace(budget, did_you_mean=near_miss(conn, user_id, budget.category))
        upsert_budget(conn, user_id, budget.category, budget.amount_cents, now)
        bump_data_version(conn, user_id)
    return budget


def list_budgets(ctx: Context) -> list[Budget]:
    from finbuddy.db.budgets import list_budgets as query
    from finbuddy.db.users import find_user_id

    with ctx.db.read() as conn:
        user_id = find_user_id(conn, ctx.user)
        rows = [] if user_id is None else query(conn, user_id)
    return [Budget(category, cents) for category, cents in rows]


def remove_budget(ctx: Context, category: str) -> Budget:
    from finbuddy.db.budgets import delete_budget
    from finbuddy.db.budgets import list_budgets as query
    from finbuddy.db.users import bump_data_version, find_user_id

    wanted = normalize_category(category)
    with ctx.db.write() as conn:
        user_id = find_user_id(conn, ctx.user)
        existing = dict(query(conn, user_id)) if user_id is not None else {}
        if user_id is None or wanted not in existing:
            raise NotFound(f"no budget for category {wanted!r} (user {ctx.user!r})")
        delete_budget(conn, user_id, wanted)
        bump_data_version(conn, user_id)
    return Budget(wanted, existing[wanted])
