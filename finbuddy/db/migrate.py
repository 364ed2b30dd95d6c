"""Apply Alembic migrations inside one locked transaction, so concurrent first runs migrate once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

    from finbuddy.db.engine import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every finbuddy process.
_PG_MIGRATION_LOCK = 0x46494E42


def known_revisions() -> set[str]:
    """Revision ids are the file names of the migration scripts (read without importing Alembic)."""
    return {path.stem for path in (MIGRATIONS_DIR / "versions").glob("*.py") if not path.stem.startswith("_")}


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(database: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade `database` to `revision`; returns (before, after)."""
    import sqlalchemy as sa
    from alembic import command

    with database.raw_write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        before = _revision_in(conn)
        command.upgrade(alembic_config(conn), revision)
        after = _revision_in(conn)
    return before, after


def _revision_in(conn: Connection) -> str | None:
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
