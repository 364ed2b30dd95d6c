"""Advisor: per-user daily quota, global daily usage, and the usage ledger.

Revision ID: 0003_advisor
Revises: 0002_portfolio
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_advisor"
down_revision = "0002_portfolio"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_quota",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_ai_quota_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_ai_quota")),
    )
    op.create_table(
        "ai_global_usage",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_ai_global_usage")),
    )
    op.create_table(
        "ai_calls",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("global_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts_quota", sa.Integer(), server_default="1", nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("tokens_in", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tokens_out", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cost_micro_usd", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_ai_calls_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_ai_calls")),
    )
    op.create_index("ix_ai_calls_user_day", "ai_calls", ["user_id", "day"])
    op.create_index("ix_ai_calls_global_day", "ai_calls", ["global_day"])
    op.create_index("ix_ai_calls_status_created", "ai_calls", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("ai_calls")
    op.drop_table("ai_global_usage")
    op.drop_table("ai_quota")
