"""Categories that learn: merchant → category rules per user, and who chose each record's category.

Revision ID: 0010_category_rules
Revises: 0009_ai_batches

records.category_source says where a record's category came from: 'user' (typed by the user: `add` with
a category, `edit --category`), 'import' (a bank file's category column), 'rule' (filled by a rule on import
or by `categorize`), or NULL (nobody chose: an imported row left `uncategorized`). Rules never change a
'user' record, and learn only from categories a rule did not fill. Existing rows are classified once here:
rows that came from no import were added by hand ('user'); imported rows with a real category came with it
('import'); imported `uncategorized` rows stay NULL.

category_rules holds one row per (user, merchant key): the merchant lower-cased without spaces, the same key
recurring charges group by. See finbuddy/ledger/rules.py for what each source means and which one wins.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_category_rules"
down_revision = "0009_ai_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: added without rewriting the table on either backend.
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("category_source", sa.String(length=8), nullable=True))
    op.execute(
        "UPDATE records SET category_source = CASE "
        "WHEN fingerprint IS NULL THEN 'user' "
        "WHEN category <> 'uncategorized' THEN 'import' "
        "ELSE NULL END"
    )
    op.create_table(
        "category_rules",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("merchant_key", sa.String(length=400), nullable=False),
        sa.Column("merchant", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("evidence", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hits", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('user', 'learned', 'ai', 'blocked')", name=op.f("ck_category_rules_source")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_category_rules_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "merchant_key", name=op.f("pk_category_rules")),
    )


def downgrade() -> None:
    op.drop_table("category_rules")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("category_source")
