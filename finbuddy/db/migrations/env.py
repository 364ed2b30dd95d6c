"""Alembic environment: runs on the connection finbuddy hands over (never opens its own)."""

from alembic import context

from finbuddy.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - finbuddy always passes a connection
    raise RuntimeError("run migrations through `finbuddy db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
context.run_migrations()
