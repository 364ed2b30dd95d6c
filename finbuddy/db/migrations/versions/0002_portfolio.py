"""Portfolio holdings and prices; a covering index for monthly summaries.

Revision ID: 0002_portfolio
Revises: 0001_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_portfolio"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holdings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("quantity_e8", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity_e8 > 0", name=op.f("ck_holdings_quantity_positive")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_holdings_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "ticker", name=op.f("pk_holdings")),
    )
    op.create_table(
        "prices",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("price_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_micros > 0", name=op.f("ck_prices_price_positive")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_prices_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "ticker", name=op.f("pk_prices")),
    )
    op.create_index(
        "ix_records_user_kind_date",
        "records",
        ["user_id", "kind", "expense_date", "category", "amount_cents"],
    )


def downgrade() -> None:
    op.drop_index("ix_records_user_kind_date", table_name="records")
    op.drop_table("prices")
    op.drop_table("holdings")
