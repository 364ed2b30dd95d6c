"""Reports on a read replica: a real PostgreSQL primary and streaming hot standby (tests/conftest.py
`pg_replica`), read-your-writes while the standby's replay is paused, and the primary when it is down."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from finbuddy.db import Database
from finbuddy.db.tables import users
from tests.conftest import ReplicaPair, _truncate_pg

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


class Warnings(list):
    def __call__(self, message: str) -> None:
        self.append(message)


@pytest.fixture
def replica(pg_replica: ReplicaPair, monkeypatch) -> Iterator[ReplicaPair]:
    """The session's primary and standby, emptied, streaming and caught up; finbuddy points at both."""
    if not pg_replica.standby_running():
        pg_replica.start_standby()
    pg_replica.sql(pg_replica.standby_port, "SELECT pg_wal_replay_resume()", "postgres")
    _truncate_pg(pg_replica.url)
    pg_replica.wait_replayed()
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", pg_replica.url)
    monkeypatch.setenv("FINBUDDY_DATABASE_REPORTING_URL", pg_replica.replica_url)
    try:
        yield pg_replica
    finally:
        if not pg_replica.standby_running():
            pg_replica.start_standby()
        pg_replica.sql(pg_replica.standby_port, "SELECT pg_wal_replay_resume()", "postgres")


def pause_replay(pair: ReplicaPair) -> None:
    pair.sql(pair.standby_port, "SELECT pg_wal_replay_pause()", "postgres")


def in_recovery(conn) -> bool:
    """True on the standby, False on the primary: where a connection really reads."""
    return conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar()


@pytest.mark.postgres
def test_a_reporting_read_goes_to_the_replica_when_it_has_caught_up(replica):
    warnings = Warnings()
    db = Database(replica.url, replica.replica_url, warn=warnings)
    try:
        with db.read(reporting=True) as conn:
            assert in_recovery(conn) is True
        with db.read() as conn:
            assert in_recovery(conn) is False
    finally:
        db.dispose()
    assert warnings == []


@pytest.mark.postgres
def test_a_reporting_read_never_misses_a_write_committed_before_it(replica):
    """The rule: a report reads the replica only once it has replayed the primary's WAL position taken
    when the report began (waiting briefly); otherwise the primary."""
    import sqlalchemy as sa

    warnings = Warnings()
    db = Database(replica.url, replica.replica_url, warn=warnings)
    try:
        pause_replay(replica)
        with db.write() as conn:
            conn.execute(sa.insert(users).values(name="just-written", created_at=NOW))
        with db.read(reporting=True) as conn:
            names = set(conn.execute(sa.select(users.c.name)).scalars())
            assert in_recovery(conn) is False  # the standby is behind: the primary answered
        assert "just-written" in names
        replica.sql(replica.standby_port, "SELECT pg_wal_replay_resume()", "postgres")
        replica.wait_replayed()
        with db.read(reporting=True) as conn:
            assert in_recovery(conn) is True  # caught up again: back on the standby
            assert "just-written" in set(conn.execute(sa.select(users.c.name)).scalars())
    finally:
        db.dispose()
    assert warnings == []  # a replica behind is routine, not worth a warning


@pytest.mark.postgres
def test_summary_list_and_the_advisor_show_a_write_made_while_replay_is_paused(replica, cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "offline")
    assert cli("add", "40", "food").exit_code == 0
    assert cli("summary", "--json").json["expenses"] == "40.00"
    pause_replay(replica)
    assert cli("add", "12.50", "fun").exit_code == 0  # on the primary only

    summary = cli("summary", "--json")
    assert summary.exit_code == 0 and summary.stderr == "", summary.stderr
    assert summary.json["expenses"] == "52.50" and summary.json["cached"] is False
    listed = cli("list", "--json")
    assert listed.exit_code == 0 and listed.stderr == ""
    assert [(r["id"], r["amount"]) for r in listed.json] == [(2, "12.50"), (1, "40.00")]
    answer = cli("ask", "where does my money go?", "--json")
    assert answer.exit_code == 0 and answer.stderr == "", answer.stderr
    assert "spent 52.50 USD" in answer.json["answer"]


@pytest.mark.postgres
def test_usage_shows_an_ask_made_while_replay_is_paused(replica, cli, openai_server):
    assert cli("add", "5", "food").exit_code == 0
    pause_replay(replica)
    assert cli("ask", "how am I doing?", "--json").exit_code == 0
    usage = cli("usage", "--json", "--days", "1")
    assert usage.exit_code == 0 and usage.stderr == "", usage.stderr
    assert usage.json["total"]["calls"] == 1


@pytest.mark.postgres
def test_a_replica_that_is_down_falls_back_to_the_primary_with_one_warning(replica, cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "offline")
    assert cli("add", "40", "food").exit_code == 0
    replica.stop_standby()
    for args, check in (
        (("summary", "--json"), lambda data: data["expenses"] == "40.00"),
        (("list", "--json"), lambda data: [r["amount"] for r in data] == ["40.00"]),
        (("ask", "where does my money go?", "--json"), lambda data: "spent 40.00 USD" in data["answer"]),
        (("usage", "--json", "--days", "1"), lambda data: data["total"]["calls"] == 0),
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert check(result.json), (args, result.stdout)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("finbuddy: warning: "), (args, result.stderr)
        assert "read replica" in lines[0] and "reading from the primary" in lines[0], lines[0]
        assert f":{replica.standby_port}/" in lines[0]


def test_a_reporting_url_on_a_sqlite_database_is_ignored_with_one_warning(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("FINBUDDY_DATABASE_REPORTING_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert cli("add", "40", "food").exit_code == 0
    result = cli("summary", "--json")
    assert result.exit_code == 0 and result.json["expenses"] == "40.00"
    (line,) = result.stderr.splitlines()
    assert "database.reporting_url" in line and "reading from the primary" in line
