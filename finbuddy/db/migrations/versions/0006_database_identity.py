"""Database identity: a random id made once per database, so the cache is keyed by the database itself.

Revision ID: 0006_database_identity
Revises: 0005_portfolio_history
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006_database_identity"
down_revision = "0005_portfolio_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "database_identity",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_database_identity")),
    )
    # New and existing databases alike get their id here: a database dropped and created again
    # under the same URL, or another file behind the same relative SQLite URL, gets another id.
    op.bulk_insert(table, [{"id": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("database_identity")
