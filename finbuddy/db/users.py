"""User rows: created on first write; their record counter, cache generations and profile (zone, currency)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from finbuddy.db.engine import await_publish, dialect_insert
from finbuddy.db.tables import users


def find_user_id(conn: Connection, name: str) -> int | None:
    return conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()


def ensure_user(conn: Connection, name: str, now: dt.datetime) -> int:
    """The user's id, creating the user on their first write (safe under concurrency)."""
    user_id = find_user_id(conn, name)
    if user_id is not None:
        return user_id
    insert = dialect_insert(conn)
    conn.execute(insert(users).values(name=name, created_at=now).on_conflict_do_nothing(index_elements=["name"]))
    user_id = find_user_id(conn, name)
    assert user_id is not None  # inserted just above, or by a concurrent writer that won the conflict
    return user_id


def allocate_record_ids(conn: Connection, user_id: int, count: int) -> int:
    """Reserve `count` consecutive per-user record numbers; returns the first. Bumps the data version."""
    await_publish(conn, user_id)
    stmt = (
        sa.update(users)
        .where(users.c.id == user_id)
        .values(
            next_record_id=users.c.next_record_id + count,
            data_version=users.c.data_version + 1,
        )
        .returning(users.c.next_record_id)
    )
    after = conn.execute(stmt).scalar_one()
    return after - count


def bump_data_version(conn: Connection, user_id: int) -> None:
    """Invalidate the user's cached summaries and AI answers (same transaction as the write)."""
    await_publish(conn, user_id)
    conn.execute(sa.update(users).where(users.c.id == user_id).values(data_version=users.c.data_version + 1))


def bump_portfolio_version(conn: Connection, user_id: int) -> None:
    """Invalidate the user's cached portfolio and AI answers (same transaction as the write)."""
    await_publish(conn, user_id)
    conn.execute(sa.update(users).where(users.c.id == user_id).values(portfolio_version=users.c.portfolio_version + 1))


def versions(conn: Connection, name: str) -> tuple[int, int, int] | None:
    """(user id, data version, portfolio version) of a user, or None if the user has never written."""
    row = conn.execute(
        sa.select(users.c.id, users.c.data_version, users.c.portfolio_version).where(users.c.name == name)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


@dataclass(frozen=True)
class StoredProfile:
    """A user's own zone and currency as stored: None where they use the install's setting."""

    timezone: str | None
    currency: str | None


def stored_profile(conn: Connection, name: str) -> StoredProfile | None:
    """The user's stored profile by one indexed lookup (users.name is unique); None if the user has never written."""
    row = conn.execute(sa.select(users.c.timezone, users.c.currency).where(users.c.name == name)).first()
    return None if row is None else StoredProfile(row[0], row[1])


# What set_profile leaves as it is (None already means "back to the install's setting").
KEEP: Any = object()


def set_profile(conn: Connection, user_id: int, timezone: Any = KEEP, currency: Any = KEEP) -> StoredProfile:
    """Store the user's own zone and/or currency (None: back to the install's setting); returns the new profile.

    A change bumps both cache generations in the same statement: cached summaries, portfolios and answers
    carry the zone's "today" and the currency, so none made before the change is served after it.
    """
    values: dict[str, Any] = {}
    if timezone is not KEEP:
        values["timezone"] = timezone
    if currency is not KEEP:
        values["currency"] = currency
    before = conn.execute(sa.select(users.c.timezone, users.c.currency).where(users.c.id == user_id)).one()
    if values and any(before._mapping[key] != value for key, value in values.items()):
        values["data_version"] = users.c.data_version + 1
        values["portfolio_version"] = users.c.portfolio_version + 1
        await_publish(conn, user_id)
        conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
    return StoredProfile(values.get("timezone", before[0]), values.get("currency", before[1]))
