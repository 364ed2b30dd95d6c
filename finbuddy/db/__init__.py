"""The only place that imports SQLAlchemy: engine, tables, queries and Alembic migrations."""

from sqlalchemy.engine import Connection, Row, RowMapping

from finbuddy.db.engine import Database, open_database

# Connection, Row and RowMapping: the types that code outside db/ (which never imports SQLAlchemy) annotates with.
__all__ = ["Connection", "Database", "Row", "RowMapping", "open_database"]
