"""Category-rule queries: the stored rules, the evidence to learn from, the records rules may fill, and filling them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import dialect_insert
from finbuddy.db.tables import category_rules, records

UNCATEGORIZED = "uncategorized"
# records.category_source values
BY_USER, BY_IMPORT, BY_RULE = "user", "import", "rule"


@dataclass(frozen=True)
class StoredRule:
    key: str
    merchant: str
    category: str | None
    source: str  # user | learned | ai | blocked
    evidence: int
    hits: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class RuleFill:
    """Rule `key` filled `count` records (for the hits counter; a learned rule is stored on its first fill)."""

    key: str
    merchant: str
    category: str
    source: str
    evidence: int
    count: int


def stored_rules(conn: Connection, user_id: int) -> list[StoredRule]:
    c = category_rules.c
    stmt = sa.select(c.merchant_key, c.merchant, c.category, c.source, c.evidence, c.hits, c.updated_at).where(
        c.user_id == user_id
    )
    return [StoredRule(*row) for row in conn.execute(stmt)]


def category_evidence(conn: Connection, user_id: int) -> list[tuple[str, str, int]]:
    """(merchant as spelled, category, records) for every category a user gave a merchant: records with a merchant
    and a real category that no rule filled (those would only echo the rule back)."""
    stmt = (
        sa.select(records.c.merchant, records.c.category, sa.func.count())
        .where(
            records.c.user_id == user_id,
            records.c.merchant.is_not(None),
            records.c.category != UNCATEGORIZED,
            sa.or_(records.c.category_source.is_(None), records.c.category_source != BY_RULE),
        )
        .group_by(records.c.merchant, records.c.category)
    )
    return [(merchant, category, int(count)) for merchant, category, count in conn.execute(stmt)]


def _fillable(user_id: int) -> list[sa.ColumnElement[bool]]:
    """Records a rule may fill: `uncategorized`, with a merchant, and not left so by the user's own choice."""
    return [
        records.c.user_id == user_id,
        records.c.category == UNCATEGORIZED,
        records.c.merchant.is_not(None),
        sa.or_(records.c.category_source.is_(None), records.c.category_source != BY_USER),
    ]


def uncategorized_without_merchant(conn: Connection, user_id: int) -> int:
    """The user's `uncategorized` records with no merchant: no rule can tell what they were."""
    stmt = sa.select(sa.func.count()).where(
        records.c.user_id == user_id, records.c.category == UNCATEGORIZED, records.c.merchant.is_(None)
    )
    return int(conn.execute(stmt).scalar_one())


def fillable_records(conn: Connection, user_id: int, lock: bool = False) -> list[tuple[int, str]]:
    """(id, merchant) of the user's records a rule may fill; `lock`: locked until the transaction ends (PostgreSQL;
    a SQLite writer holds the database's write lock already), so fill_records can change them by key alone."""
    stmt = sa.select(records.c.id, records.c.merchant).where(*_fillable(user_id))
    if lock:
        stmt = stmt.with_for_update()
    return [(record_id, merchant) for record_id, merchant in conn.execute(stmt)]


FILL_CHUNK = 500


def fill_records(conn: Connection, user_id: int, ids: Sequence[int], category: str, now: dt.datetime) -> int:
    """Give these records (read by fillable_records with `lock`, in this transaction) `category`, marked as filled
    by a rule. By primary key only: with the fillable conditions in the statement, SQLite picks the category index
    and reads every uncategorised record once per statement (a minute for 40,000 records and 3,000 rules)."""
    changed = 0
    for start in range(0, len(ids), FILL_CHUNK):
        chunk = list(ids[start : start + FILL_CHUNK])
        stmt = (
            sa.update(records)
            .where(records.c.user_id == user_id, records.c.id.in_(chunk))
            .values(category=category, category_source=BY_RULE, updated_at=now)
        )
        changed += conn.execute(stmt).rowcount
    return changed


def refile_records(conn: Connection, user_id: int, spellings: Sequence[str], category: str, now: dt.datetime) -> int:
    """Records of these spellings that a rule filled, or that a rule may fill, now get `category` (a rule the user
    set or changed); records whose category the user or the file chose are left alone."""
    if not spellings:
        return 0
    by_rule = sa.and_(records.c.category_source == BY_RULE, records.c.category != category)
    fillable = sa.and_(*_fillable(user_id)[1:])
    stmt = (
        sa.update(records)
        .where(records.c.user_id == user_id, records.c.merchant.in_(list(spellings)), sa.or_(by_rule, fillable))
        .values(category=category, category_source=BY_RULE, updated_at=now)
    )
    return conn.execute(stmt).rowcount


def merchant_spellings(conn: Connection, user_id: int) -> list[str]:
    """Every merchant spelling the user's records carry."""
    stmt = sa.select(records.c.merchant).where(records.c.user_id == user_id, records.c.merchant.is_not(None)).distinct()
    return [row[0] for row in conn.execute(stmt)]


def count_fills(conn: Connection, user_id: int, fills: Iterable[RuleFill], now: dt.datetime) -> None:
    """Add each fill to its merchant's hits; a learned rule not stored yet is stored with them (and a stored learned
    rule takes the category it was applied with). A stored user, ai or blocked row keeps its rule."""
    rows = [
        {
            "user_id": user_id,
            "merchant_key": f.key,
            "merchant": f.merchant,
            "category": f.category,
            "source": f.source,
            "evidence": f.evidence,
            "hits": f.count,
            "created_at": now,
            "updated_at": now,
        }
        for f in fills
        if f.count > 0
    ]
    if not rows:
        return
    insert = dialect_insert(conn)
    stmt = insert(category_rules)
    learned = category_rules.c.source == "learned"
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "merchant_key"],
        set_={
            "hits": category_rules.c.hits + stmt.excluded.hits,
            "category": sa.case((learned, stmt.excluded.category), else_=category_rules.c.category),
            "evidence": sa.case((learned, stmt.excluded.evidence), else_=category_rules.c.evidence),
            "updated_at": stmt.excluded.updated_at,
        },
    )
    conn.execute(stmt, rows)


def put_rule(
    conn: Connection,
    user_id: int,
    key: str,
    merchant: str,
    category: str | None,
    source: str,
    now: dt.datetime,
    evidence: int = 0,
) -> None:
    """Store the merchant's rule (replacing whatever row it had; its hits are kept)."""
    conn.execute(_upsert(conn, user_id, key, merchant, category, source, evidence, now))


def _upsert(
    conn: Connection,
    user_id: int,
    key: str,
    merchant: str | None,
    category: str | None,
    source: str,
    evidence: int,
    now: dt.datetime,
    where: sa.ColumnElement[bool] | None = None,
) -> Any:
    """INSERT the merchant's rule row, or (where `where` holds, always without it) replace the existing row's
    merchant, category, source and evidence, keeping its hits and creation time."""
    stmt = dialect_insert(conn)(category_rules).values(
        user_id=user_id,
        merchant_key=key,
        merchant=merchant,
        category=category,
        source=source,
        evidence=evidence,
        hits=0,
        created_at=now,
        updated_at=now,
    )
    return stmt.on_conflict_do_update(
        index_elements=["user_id", "merchant_key"],
        set_={
            "merchant": stmt.excluded.merchant,
            "category": stmt.excluded.category,
            "source": stmt.excluded.source,
            "evidence": stmt.excluded.evidence,
            "updated_at": stmt.excluded.updated_at,
        },
        where=where,
    )


def add_model_answers(
    conn: Connection, user_id: int, answers: Iterable[tuple[str, str, str | None]], now: dt.datetime
) -> int:
    """Store the model's answers (key, merchant, category or None) as 'ai' rows where the merchant has no rule row
    yet (a learned row whose evidence has gone is replaced, its hits kept): a rule set meanwhile (by the user,
    another process) wins. Returns how many were stored."""
    stored = 0
    for key, merchant, category in answers:
        stmt = _upsert(conn, user_id, key, merchant, category, "ai", 0, now, where=category_rules.c.source == "learned")
        stored += conn.execute(stmt).rowcount
    return stored


def delete_rule(conn: Connection, user_id: int, key: str) -> bool:
    stmt = sa.delete(category_rules).where(category_rules.c.user_id == user_id, category_rules.c.merchant_key == key)
    return conn.execute(stmt).rowcount == 1
