"""Helpers for the ledger tests: look at the database directly, independent of finbuddy's own queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa


def _engine(url: str) -> sa.Engine | None:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return None
    return sa.create_engine(url)


def count_rows(url: str, table: str) -> int:
    """Rows in `table` (0 when the SQLite file or the table does not exist yet)."""
    engine = _engine(url)
    if engine is None:
        return 0
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return 0
            return conn.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
    finally:
        engine.dispose()


def query(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = _engine(url)
    if engine is None:
        return []
    try:
        with engine.connect() as conn:
            return [dict(row) for row in conn.execute(sa.text(sql), params).mappings()]
    finally:
        engine.dispose()


def stored_records(url: str, user: str = "alice") -> list[dict[str, Any]]:
    """The user's record rows as stored, oldest id first."""
    return query(
        url,
        "SELECT r.id, r.kind, r.amount_cents, r.expense_date, r.category, r.merchant, r.note "
        "FROM records r JOIN users u ON u.id = r.user_id WHERE u.name = :user ORDER BY r.id",
        user=user,
    )


def one_line_error(text: str) -> str:
    """The stderr of a failed command: exactly one non-empty line, returned without its newline."""
    lines = text.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {text!r}"
    assert lines[0].startswith("finbuddy: ")
    assert "Traceback" not in text
    return lines[0]
