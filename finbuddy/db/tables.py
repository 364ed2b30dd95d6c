"""Table definitions (SQLAlchemy Core): every user-owned table leads its keys with user_id, so it can be sharded by user."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


def _ts(name: str, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    # Record numbers are per user (1, 2, 3 ... for each user), so ids stay small,
    # meaningful to their owner, and independent of other users (sharding).
    Column("next_record_id", Integer, nullable=False, server_default="1"),
    # Generations bumped in the same transaction as every write; cache keys carry
    # them, so a write makes the next read miss without scanning the cache.
    Column("data_version", Integer, nullable=False, server_default="0"),
    Column("portfolio_version", Integer, nullable=False, server_default="0"),
    _ts("created_at"),
)

records = Table(
    "records",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("id", Integer, nullable=False, autoincrement=False),
    Column("kind", String(8), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("expense_date", Date, nullable=False),
    Column("category", String(64), nullable=False),
    Column("merchant", String(200), nullable=True),
    Column("note", Text, nullable=True),
    Column("fingerprint", String(64), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    PrimaryKeyConstraint("user_id", "id"),
    CheckConstraint("kind IN ('expense', 'income')", name="kind"),
    CheckConstraint("amount_cents > 0", name="amount_positive"),
    # list (newest first) and month range scans
    Index("ix_records_user_date", "user_id", "expense_date", "id"),
    Index("ix_records_user_category", "user_id", "category", "expense_date"),
    # import idempotency: one fingerprint per user (NULLs are distinct on both backends)
    Index("uq_records_user_fingerprint", "user_id", "fingerprint", unique=True),
)

budgets = Table(
    "budgets",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("category", String(64), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    _ts("updated_at"),
    PrimaryKeyConstraint("user_id", "category"),
    CheckConstraint("amount_cents > 0", name="amount_positive"),
)
