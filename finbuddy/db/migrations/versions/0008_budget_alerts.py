"""Budget alerts: one row per budget (category and amount), threshold (80 or 100 %) and month; and a covering
index on records for a merchant's history by date, which recurring charges are found with (and the dashboard's
forecast reads on every fresh summary: without it each row of the history is a table lookup).

Revision ID: 0008_budget_alerts
Revises: 0007_user_profile
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_budget_alerts"
down_revision = "0007_user_profile"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_alerts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("spent_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("threshold IN (80, 100)", name=op.f("ck_budget_alerts_threshold")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_budget_alerts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "month", "category", "budget_cents", "threshold", name=op.f("pk_budget_alerts")
        ),
    )
    op.create_index(
        "ix_records_user_kind_merchant",
        "records",
        ["user_id", "kind", "merchant", "expense_date", "amount_cents", "category"],
    )


def downgrade() -> None:
    op.drop_index("ix_records_user_kind_merchant", table_name="records")
    op.drop_table("budget_alerts")
