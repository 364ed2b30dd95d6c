"""The schema revision this code needs; a test keeps it equal to Alembic's head."""

HEAD_REVISION = "0010_category_rules"
