"""Table definitions (SQLAlchemy Core): user-owned tables lead their keys with user_id, so they can be sharded."""

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
    # The user's own IANA zone and ISO 4217 currency (`profile set`, revision 0007); NULL: the install's
    # user.timezone / user.currency. "Today", the quota day and the insight day are local to the zone.
    Column("timezone", String(64), nullable=True),
    Column("currency", String(3), nullable=True),
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
    # Who chose the category (revision 0009): 'user' (add with a category, edit --category: never changed by a
    # rule), 'import' (the file's category column), 'rule' (filled by a merchant rule), NULL (nobody: imported
    # `uncategorized`). Rules learn from every category a rule did not fill.
    Column("category_source", String(8), nullable=True),
    PrimaryKeyConstraint("user_id", "id"),
    CheckConstraint("kind IN ('expense', 'income')", name="kind"),
    CheckConstraint("amount_cents > 0", name="amount_positive"),
    # list (newest first) and month range scans
    Index("ix_records_user_date", "user_id", "expense_date", "id"),
    Index("ix_records_user_category", "user_id", "category", "expense_date"),
    # covering index for the month aggregates of `summary` (revision 0002)
    Index("ix_records_user_kind_date", "user_id", "kind", "expense_date", "category", "amount_cents"),
    # covering index for a merchant's history, in merchant then date order: recurring charges (revision 0007)
    Index("ix_records_user_kind_merchant", "user_id", "kind", "merchant", "expense_date", "amount_cents", "category"),
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

# --- portfolio (revision 0002) ----------------------------------------------------
# Quantities in 1e-8 units and unit prices/costs in 1e-6 currency units: exact integers,
# enough for fractional shares and crypto.

holdings = Table(
    "holdings",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("ticker", String(16), nullable=False),
    Column("quantity_e8", BigInteger, nullable=False),
    Column("cost_micros", BigInteger, nullable=True),  # average unit cost of the cost_quantity_e8 part
    _ts("created_at"),
    _ts("updated_at"),
    # The part of quantity_e8 whose cost is known (revision 0005): buying without a cost adds to
    # quantity_e8 only, so a known cost basis is never lost.
    Column("cost_quantity_e8", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("user_id", "ticker"),
    CheckConstraint("quantity_e8 > 0", name="quantity_positive"),
    CheckConstraint(
        "cost_quantity_e8 >= 0 AND cost_quantity_e8 <= quantity_e8 AND (cost_micros IS NULL) = (cost_quantity_e8 = 0)",
        name="cost_quantity_range",
    ),
)

prices = Table(
    "prices",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("ticker", String(16), nullable=False),
    Column("price_micros", BigInteger, nullable=False),
    Column("price_date", Date, nullable=False),
    Column("source", String(16), nullable=False),
    _ts("updated_at"),
    # Every dated price is kept (revision 0005); a holding is valued at its ticker's latest date.
    PrimaryKeyConstraint("user_id", "ticker", "price_date"),
    CheckConstraint("price_micros > 0", name="price_positive"),
)

# --- advisor (revision 0003) ------------------------------------------------------

ai_quota = Table(
    "ai_quota",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("day", Date, nullable=False),  # the quota day, local to the user's zone
    Column("used", Integer, nullable=False),
    PrimaryKeyConstraint("user_id", "day"),
)

ai_global_usage = Table(
    "ai_global_usage",
    metadata,
    Column("day", Date, nullable=False),
    Column("used", Integer, nullable=False),
    PrimaryKeyConstraint("day"),
)

# The usage ledger: one row per AI call or cache hit. A reservation is a row in state
# 'reserved' that becomes 'succeeded' or 'refunded' exactly once.
ai_calls = Table(
    "ai_calls",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("id", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # ask | insight | categorize
    Column("day", Date, nullable=False),  # the quota day the call counts against
    Column("global_day", Date, nullable=False),  # the UTC day of the global limit
    Column("status", String(16), nullable=False),  # reserved | succeeded | refunded | cache_hit
    Column("counts_quota", Integer, nullable=False, server_default="1"),
    Column("provider", String(16), nullable=False),
    Column("model", String(64), nullable=False),
    Column("tokens_in", Integer, nullable=False, server_default="0"),
    Column("tokens_out", Integer, nullable=False, server_default="0"),
    Column("cost_micro_usd", BigInteger, nullable=False, server_default="0"),
    Column("latency_ms", Integer, nullable=True),
    Column("error", String(300), nullable=True),
    _ts("created_at"),
    _ts("finished_at", nullable=True),
    PrimaryKeyConstraint("user_id", "id"),
    Index("ix_ai_calls_user_day", "user_id", "day"),
    Index("ix_ai_calls_global_day", "global_day"),
    Index("ix_ai_calls_status_created", "status", "created_at"),
)

# --- daemon (revision 0004) -------------------------------------------------------

insights = Table(
    "insights",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("day", Date, nullable=False),
    Column("status", String(16), nullable=False),  # queued | claimed | done | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(64), nullable=True),
    _ts("claimed_at", nullable=True),
    Column("text", Text, nullable=True),
    Column("source", String(16), nullable=True),
    Column("model", String(64), nullable=True),
    Column("figures", Text, nullable=True),  # JSON of the figures behind the insight
    Column("error", String(300), nullable=True),
    _ts("updated_at"),
    PrimaryKeyConstraint("user_id", "day"),
    Index("ix_insights_day_status", "day", "status"),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("job", String(64), nullable=False),
    Column("last_day", Date, nullable=True),  # the last local day the job completed for
    _ts("last_started_at", nullable=True),
    _ts("last_finished_at", nullable=True),
    Column("last_status", String(16), nullable=True),
    Column("last_result", Text, nullable=True),  # JSON summary
    PrimaryKeyConstraint("job"),
)

# --- database identity (revision 0005) --------------------------------------------

# One row, written by the migration that creates the table: a random id naming this database
# (not its URL), which keys the cache. Read with the schema check, so it costs no round trip.
database_identity = Table(
    "database_identity",
    metadata,
    Column("id", String(32), nullable=False),
    PrimaryKeyConstraint("id"),
)

# --- budget alerts (revision 0008) ------------------------------------------------

# Written by the daemon's budget-alerts job: at most one row per budget (its category and amount at the time),
# threshold and month. A budget changed to another amount is another budget: it may alert again.
budget_alerts = Table(
    "budget_alerts",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("month", Date, nullable=False),  # the first day of the month the spending is in
    Column("category", String(64), nullable=False),
    Column("budget_cents", BigInteger, nullable=False),
    Column("threshold", Integer, nullable=False),  # percent of the budget: 80 or 100
    Column("spent_cents", BigInteger, nullable=False),  # the month's spending in the category when written
    _ts("created_at"),
    PrimaryKeyConstraint("user_id", "month", "category", "budget_cents", "threshold"),
    CheckConstraint("threshold IN (80, 100)", name="threshold"),
)

# --- the daily insights through the OpenAI Batch API (revision 0009) ---------------

# One row per batch file, written ('preparing', with its lines' insight rows and ledger reservations) before
# anything is uploaded: the intent comes first, so a crash between the upload and the batch's creation is
# resumed (the batch found by the id in its metadata) instead of submitted twice. Not user-owned: the lines are
# the insight rows claimed by 'batch:<id>' and their ledger rows.
ai_batches = Table(
    "ai_batches",
    metadata,
    Column("id", String(32), nullable=False),  # ours, made before the upload; in the batch's metadata
    Column("day", Date, nullable=False),  # the insights' day
    Column("chunk", Integer, nullable=False),  # 0, 1, ... within the day (the retries' batches continue it)
    # preparing | uploaded | submitted | ingesting | ingested | abandoned
    Column("status", String(16), nullable=False),
    Column("provider_status", String(16), nullable=True),  # the Batch API's, as last seen
    Column("owner", String(64), nullable=True),  # the process working on it (a worker identity)
    Column("lines", Integer, nullable=False, server_default="0"),
    Column("bytes", BigInteger, nullable=False, server_default="0"),
    Column("succeeded", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("input_file_id", String(64), nullable=True),
    Column("batch_id", String(64), nullable=True),
    Column("error", String(300), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("submitted_at", nullable=True),
    _ts("expires_at", nullable=True),  # submitted_at + 24 h by our clock: past it, a running batch is expired
    _ts("finished_at", nullable=True),
    PrimaryKeyConstraint("id"),
    Index("uq_ai_batches_day_chunk", "day", "chunk", unique=True),
    Index("ix_ai_batches_status", "status"),
)

# --- category rules (revision 0010) -----------------------------------------------

# One row per user and merchant key (the merchant casefolded without spaces, as recurring charges group it):
# an explicit rule ('user'), a learned one as last applied ('learned'), the model's answer ('ai'; category NULL
# when it could not tell), or a block ('blocked', category NULL: `rules rm` of a learned or ai rule, so it does
# not come back). `hits` counts the records rules have filled for the merchant. See finbuddy/ledger/rules.py.
category_rules = Table(
    "category_rules",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("merchant_key", String(400), nullable=False),
    Column("merchant", String(200), nullable=False),  # a spelling to show
    Column("category", String(64), nullable=True),
    Column("source", String(8), nullable=False),
    Column("evidence", Integer, nullable=False, server_default="0"),  # learned: the records behind it
    Column("hits", Integer, nullable=False, server_default="0"),
    _ts("created_at"),
    _ts("updated_at"),
    PrimaryKeyConstraint("user_id", "merchant_key"),
    CheckConstraint("source IN ('user', 'learned', 'ai', 'blocked')", name="source"),
)
