"""The only place that imports SQLAlchemy: engine, tables, queries and Alembic migrations."""

from finbuddy.db.engine import Database, open_database

__all__ = ["Database", "open_database"]
