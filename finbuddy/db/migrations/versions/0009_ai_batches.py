"""Batch API: the daily insights' batches submitted to the OpenAI Batch API (ai.insights_mode = batch).

Revision ID: 0009_ai_batches
Revises: 0008_budget_alerts
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_ai_batches"
down_revision = "0008_budget_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_status", sa.String(length=16), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("succeeded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("input_file_id", sa.String(length=64), nullable=True),
        sa.Column("batch_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_batches")),
    )
    op.create_index("uq_ai_batches_day_chunk", "ai_batches", ["day", "chunk"], unique=True)
    op.create_index("ix_ai_batches_status", "ai_batches", ["status"])


def downgrade() -> None:
    op.drop_index("ix_ai_batches_status", table_name="ai_batches")
    op.drop_index("uq_ai_batches_day_chunk", table_name="ai_batches")
    op.drop_table("ai_batches")
