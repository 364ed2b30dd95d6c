"""Portfolio: the quantity a holding's cost covers, and prices kept by date.

Revision ID: 0005_portfolio_history
Revises: 0004_daemon

holdings.cost_quantity_e8 is the part of quantity_e8 whose cost is known (cost_micros is the
average unit cost of that part), so buying without a cost no longer erases a known cost basis.
Existing rows: a holding with a cost covers all of its quantity; one without covers none.

prices is keyed by (user_id, ticker, price_date): every dated price is kept and a holding is
valued at its latest one, so an older price can never replace a newer one. Existing rows (one
per ticker) become each ticker's only dated price.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_portfolio_history"
down_revision = "0004_daemon"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("holdings") as batch:
        batch.add_column(sa.Column("cost_quantity_e8", sa.BigInteger(), server_default="0", nullable=False))
    op.execute("UPDATE holdings SET cost_quantity_e8 = quantity_e8 WHERE cost_micros IS NOT NULL")
    with op.batch_alter_table("holdings") as batch:
        batch.create_check_constraint(
            "cost_quantity_range",
            "cost_quantity_e8 >= 0 AND cost_quantity_e8 <= quantity_e8 "
            "AND (cost_micros IS NULL) = (cost_quantity_e8 = 0)",
        )
    with op.batch_alter_table("prices") as batch:
        batch.drop_constraint("pk_prices", type_="primary")
        batch.create_primary_key("pk_prices", ["user_id", "ticker", "price_date"])


def downgrade() -> None:
    # Keep each ticker's latest price; a holding's cost survives only if it covered all of it.
    op.execute(
        "DELETE FROM prices WHERE price_date < (SELECT max(p.price_date) FROM prices p "
        "WHERE p.user_id = prices.user_id AND p.ticker = prices.ticker)"
    )
    with op.batch_alter_table("prices") as batch:
        batch.drop_constraint("pk_prices", type_="primary")
        batch.create_primary_key("pk_prices", ["user_id", "ticker"])
    with op.batch_alter_table("holdings") as batch:
        batch.drop_constraint(op.f("ck_holdings_cost_quantity_range"), type_="check")
    op.execute("UPDATE holdings SET cost_micros = NULL WHERE cost_quantity_e8 < quantity_e8")
    with op.batch_alter_table("holdings") as batch:
        batch.drop_column("cost_quantity_e8")
