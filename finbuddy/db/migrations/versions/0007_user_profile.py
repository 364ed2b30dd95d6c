"""User profile: each user's own time zone and display currency.

Revision ID: 0007_user_profile
Revises: 0006_database_identity

users.timezone (an IANA name) and users.currency (an ISO 4217 code) are NULL for every existing
user, which means "the install's user.timezone / user.currency": nothing changes until a user runs
`finbuddy profile set`. Both are nullable columns without a default, so adding them rewrites no
rows on either backend.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_user_profile"
down_revision = "0006_database_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("currency")
        batch.drop_column("timezone")
