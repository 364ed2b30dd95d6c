"""Phase 3 on paper, checked: the schema and the SQL stay ready for Citus (every user-owned table sharded by user_id).

Citus cannot be installed here (docs/SCALING.md, /work/shared/recipes/README.md), so the two rules it would impose
are checked on plain PostgreSQL instead:
  1. the schema: every user-owned table's primary key and unique keys lead with its distribution column, and its
     foreign keys to other user-owned tables carry it (co-location); every other table is classified;
  2. the SQL: a tour runs every CLI command on a real PostgreSQL database while a listener records each statement
     with its parameters; each statement touching a user-owned table must filter on ONE user id (so it routes to
     one shard), or be on the short allowlist of tests/sharding_check.py with its reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import sharding_check
from tests.sharding_check import ALLOWLIST, GLOBAL_TABLES, SCHEMA_GAPS, Recorder, check, classify, user_owned

ROOT = Path(__file__).resolve().parent.parent
# FINBUDDY_SHARDING_SAVE=1: the tours write benchmarks/scale/results/sharding.json (read before the autouse fixture
# clears every FINBUDDY_* variable).
SAVE = os.environ.get("FINBUDDY_SHARDING_SAVE") == "1"


# --- 1. the schema ------------------------------------------------------------------------------


def schema_problems(metadata: sa.MetaData, keys: dict[str, dict]) -> list[str]:
    """What keeps the schema from Citus: `keys` maps each table to its 'pk', 'unique' (column lists) and 'fks'
    ((columns, referred table, referred columns)), from the metadata or reflected from a database."""
    owned = user_owned(metadata)
    problems = []
    for table in sorted(keys):
        if table not in owned and table not in GLOBAL_TABLES:
            problems.append(
                f"{table}: not classified: give it a user_id column (user-owned, sharded by user) or add it to "
                "GLOBAL_TABLES in tests/sharding_check.py with where it would live under Citus"
            )
    for table in sorted(set(GLOBAL_TABLES) & set(owned)):
        problems.append(f"{table}: listed in GLOBAL_TABLES but has a user_id column: which is it?")
    for table, column in sorted(owned.items()):
        info = keys[table]
        if not info["pk"]:
            problems.append(f"{table}: user-owned without a primary key")
        for kind, columns in [("primary key", info["pk"])] + [("unique key", u) for u in info["unique"]]:
            if columns and columns[0] != column and (table, tuple(columns)) not in SCHEMA_GAPS:
                problems.append(f"{table}: {kind} ({', '.join(columns)}) does not lead with {column}")
        for columns, referred, referred_columns in info["fks"]:
            if referred in owned:
                pairs = dict(zip(columns, referred_columns, strict=True))
                if pairs.get(column) != owned[referred]:
                    problems.append(
                        f"{table}: foreign key ({', '.join(columns)}) -> {referred} does not join {column} to "
                        f"{referred}.{owned[referred]} (the rows would not be co-located)"
                    )
    return problems


def metadata_keys(metadata: sa.MetaData) -> dict[str, dict]:
    keys = {}
    for name, table in metadata.tables.items():
        unique = [[c.name for c in con.columns] for con in table.constraints if isinstance(con, sa.UniqueConstraint)]
        unique += [[c.name for c in ix.columns] for ix in table.indexes if ix.unique]
        fks = [
            ([e.parent.name for e in fk.elements], fk.referred_table.name, [e.column.name for e in fk.elements])
            for fk in table.foreign_key_constraints
        ]
        keys[name] = {"pk": [c.name for c in table.primary_key.columns], "unique": sorted(unique), "fks": sorted(fks)}
    return keys


def reflected_keys(url: str) -> dict[str, dict]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        keys = {}
        for name in inspector.get_table_names():
            if name == "alembic_version":
                continue
            unique = [u["column_names"] for u in inspector.get_unique_constraints(name)]
            unique += [
                ix["column_names"]
                for ix in inspector.get_indexes(name)
                if ix["unique"] and "duplicates_constraint" not in ix
            ]
            fks = [
                (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                for fk in inspector.get_foreign_keys(name)
            ]
            keys[name] = {
                "pk": inspector.get_pk_constraint(name)["constrained_columns"],
                "unique": sorted(unique),
                "fks": sorted(fks),
            }
        return keys
    finally:
        engine.dispose()


def test_every_user_owned_key_leads_with_the_user_and_every_other_table_is_classified():
    from finbuddy.db.tables import metadata

    assert schema_problems(metadata, metadata_keys(metadata)) == []


@pytest.mark.postgres
def test_the_migrated_postgresql_schema_agrees_with_the_tables_and_keeps_the_rules(pg_database):
    from finbuddy.db.tables import metadata

    reflected = reflected_keys(pg_database)
    assert reflected == metadata_keys(metadata)  # the migrations made what tables.py says
    assert schema_problems(metadata, reflected) == []


def test_the_schema_check_fails_on_an_id_only_key_an_unclassified_table_and_a_foreign_key_across_shards():
    from finbuddy.db.tables import metadata as product

    metadata = sa.MetaData()
    for table in product.tables.values():
        table.to_metadata(metadata)
    sa.Table(
        "notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("record_id", sa.Integer),
        sa.ForeignKeyConstraint(["user_id", "record_id"], ["records.user_id", "records.id"]),
        sa.UniqueConstraint("record_id", "user_id"),
    )
    sa.Table("tags", metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "tag_links",
        metadata,
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("other_user", sa.Integer, sa.ForeignKey("users.id")),
    )
    problems = schema_problems(metadata, metadata_keys(metadata))
    assert sorted(problems) == [
        "notes: primary key (id) does not lead with user_id",
        "notes: unique key (record_id, user_id) does not lead with user_id",
        "tag_links: foreign key (other_user) -> users does not join user_id to users.id "
        "(the rows would not be co-located)",
        "tags: not classified: give it a user_id column (user-owned, sharded by user) or add it to GLOBAL_TABLES "
        "in tests/sharding_check.py with where it would live under Citus",
    ]


# --- 2. the SQL: a tour of every command ----------------------------------------------------------


def leaf_commands() -> set[str]:
    from typer.main import get_command

    from finbuddy.cli.app import build_app

    def walk(command, path=()):
        subs = getattr(command, "commands", None)
        if not subs:
            yield " ".join(path)
        for name, sub in (subs or {}).items():
            yield from walk(sub, (*path, name))

    return set(walk(get_command(build_app())))


# The commands the tour runs as real processes, with the recorder in them (tests/sqlrecord/sitecustomize.py);
# `worker` runs in the queue-mode tour (it needs RabbitMQ and Redis).
IN_PROCESSES = ("daemon start", "daemon run", "daemon serve", "daemon status", "daemon stop")
QUEUE_TOUR = ("worker",)


def tour_steps(tmp_path: Path) -> list[tuple[str, ...]]:
    """The in-process part of the tour: every short command, as alice (and bob, so that two users exist)."""
    statement = tmp_path / "bank.csv"
    statement.write_text(
        "date,amount,description,category\n"
        "2026-11-02,-42.10,Grocer Market,groceries\n"
        "2026-11-03,-9.99,Netflix,\n"
        "2026-11-04,2500.00,Employer Payroll,salary\n",
        encoding="utf-8",
    )
    prices = tmp_path / "prices.csv"
    prices.write_text("ticker,price,date\nAAPL,190.5,2026-11-24\nMSFT,410,\n", encoding="utf-8")
    return [
        ("config", "init"),
        ("config", "path"),
        ("config", "show"),
        ("db", "upgrade"),
        ("add", "12.50", "groceries", "--merchant", "Lidl"),
        ("add", "9.99", "subscriptions", "--merchant", "Netflix", "--date", "2026-10-03"),
        ("add", "9.99", "subscriptions", "--merchant", "Netflix", "--date", "2026-09-03"),
        ("add", "55", "uncategorized", "--merchant", "Corner Shop"),
        ("add", "3000", "salary", "--income"),
        ("--user", "bob", "add", "20", "groceries", "--merchant", "Lidl"),
        ("list",),
        ("list", "--month", "2026-11", "--category", "groceries"),
        ("edit", "1", "--amount", "13", "--note", "weekly shop"),
        ("delete", "4", "--yes"),
        ("budget", "set", "groceries", "50"),
        ("budget", "set", "fun", "100"),
        ("budget", "list"),
        ("budget", "rm", "fun"),
        ("summary",),
        ("summary", "--month", "2026-10", "--fresh"),
        ("portfolio", "add", "AAPL", "10", "--cost", "150"),
        ("portfolio", "add", "MSFT", "2"),
        ("portfolio", "price", "AAPL", "185"),
        ("portfolio", "sync", "--prices", str(prices)),
        ("portfolio", "show"),
        ("portfolio", "rm", "MSFT"),
        ("import", str(statement)),
        ("import", str(statement), "--dry-run"),
        ("export",),
        ("export", "--format", "json"),
        ("rules", "add", "Corner Shop", "snacks"),
        ("rules", "list"),
        ("categorize", "--dry-run"),
        ("categorize", "--ai"),
        ("rules", "rm", "Corner Shop"),
        ("recurring",),
        ("trend", "--months", "3"),
        ("profile", "set", "--timezone", "Europe/Paris", "--currency", "EUR"),
        ("profile", "show"),
        ("profile", "set", "--timezone", "", "--currency", ""),
        ("ask", "how am I doing?"),
        ("ask", "how am I doing?"),  # the cached answer
        ("quota",),
        ("usage",),
        ("usage", "--all"),
        ("daemon", "run-once"),
        ("insights",),
    ]


def _command_of(step: tuple[str, ...], commands: set[str]) -> str:
    words = [w for w in step if not w.startswith("-")]
    words = words[1:] if step[0] == "--user" else words
    for n in (2, 1):
        if " ".join(words[:n]) in commands:
            return " ".join(words[:n])
    raise AssertionError(f"{step} is not a command")


def _record_env(directory: Path) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "tests" / "sqlrecord"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {sharding_check.RECORD_ENV: str(directory), "PYTHONPATH": path.rstrip(os.pathsep)}


def _run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.pop("PYTEST_CURRENT_TEST", None)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "finbuddy", *args], env=full, capture_output=True, text=True, timeout=timeout
    )


def _processes_tour(directory: Path) -> set[str]:
    """The long-running commands as real processes, each recording what it sends: the daemon with its warm server
    (start, status, a command through the server, stop), the warm server alone, and the queue worker."""
    env = _record_env(directory)
    ran = set()
    started = _run(["daemon", "start", "--wait", "30"], env)
    assert started.returncode == 0, started.stderr
    ran |= {"daemon start", "daemon run"}
    try:
        served = _run(["summary", "--fresh"], env)  # answered by the daemon's warm server
        assert served.returncode == 0, served.stderr
        status = _run(["daemon", "status"], env)
        assert status.returncode == 0, status.stderr
        ran.add("daemon status")
    finally:
        stopped = _run(["daemon", "stop"], env)
    assert stopped.returncode == 0, stopped.stderr
    ran.add("daemon stop")
    ran |= _serve_alone(env)
    return ran


def _wait_for(predicate, timeout: float = 20) -> bool:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _serve_alone(env: dict[str, str]) -> set[str]:
    from finbuddy.cli.client import server_files

    socket_path = Path(server_files(os.environ)[0])
    full = {**os.environ, **env}
    full.pop("PYTEST_CURRENT_TEST", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "finbuddy", "daemon", "serve"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(socket_path.exists), "the warm server did not come up"
        served = _run(["list"], env)
        assert served.returncode == 0, served.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"daemon serve"}


def test_the_tour_runs_every_command_so_a_new_command_needs_a_step(tmp_path):
    commands = leaf_commands()
    toured = {_command_of(step, commands) for step in tour_steps(tmp_path)} | set(IN_PROCESSES) | set(QUEUE_TOUR)
    assert commands - toured == set(), f"add a step for {sorted(commands - toured)} to tests/test_sharding_ready.py"
    assert toured - commands == set()


@pytest.mark.postgres
def test_every_command_sends_only_statements_that_route_to_one_shard(backend, cli, monkeypatch, tmp_path):
    if backend != "postgresql":
        pytest.skip("Citus is PostgreSQL: the tour runs on the postgresql backend")
    from tests.fakes_daemon import start_fake

    start_fake(monkeypatch, tmp_path)
    steps = tour_steps(tmp_path)
    recorder = Recorder().install()
    try:
        for step in steps:
            result = cli(*step)
            assert result.exit_code == 0, (step, result.stderr)
    finally:
        recorder.uninstall()
    directory = tmp_path / "sql"
    recorder.dump(directory)
    assert _processes_tour(directory) == set(IN_PROCESSES)
    processes = len(list(directory.glob("sql-*.jsonl"))) - 1
    assert processes >= 3  # the daemon, the warm server alone, and the short daemon commands each recorded
    statements = list(sharding_check.load(directory))
    report = check(statements)
    figures = report.figures()
    print(json.dumps(figures, indent=2))
    assert report.violations == {}, "statements that do not route to one shard:\n" + "\n".join(report.violations)
    assert report.by_kind["single-user"] > 100
    # Every allowlist entry is still needed: an entry nothing matches any more is removed, not kept "just in case".
    # The rest are met by the queue-mode and Batch API tours below.
    assert set(report.allowed) == {a.name for a in ALLOWLIST} - {"queue-plan", "batch-claim", "batch-lines"}
    if SAVE:
        _save({**figures, "processes_recorded": processes + 1})


def _save(figures: dict) -> None:
    from benchmarks.scale import results
    from finbuddy.db.tables import metadata

    owned = user_owned(metadata)
    figures = {
        **figures,
        "source": "tests/test_sharding_ready.py: a tour of every CLI command on PostgreSQL",
        "commands_toured": len(leaf_commands()),
        "tables_user_owned": sorted(owned),
        "tables_global": dict(sorted(GLOBAL_TABLES.items())),
        "schema_gaps": {f"{t}({', '.join(c)})": why for (t, c), why in SCHEMA_GAPS.items()},
    }
    results.save("sharding", figures)


# --- the checker itself can fail ----------------------------------------------------------------


def test_a_statement_without_a_user_filter_or_with_two_users_is_a_violation():
    from finbuddy.db.tables import metadata

    owned = user_owned(metadata)
    one = {"user_id_1": 7, "id_1": 3}
    assert classify("SELECT records.id FROM records WHERE records.user_id = %(user_id_1)s::INTEGER", one, owned)[0] == (
        "single-user"
    )
    assert classify("SELECT records.id FROM records WHERE records.id = %(id_1)s::INTEGER", one, owned)[0] == (
        "cross-user"
    )
    two = {"user_id_1": 7, "user_id_2": 8}
    sql = (
        "SELECT records.id FROM records JOIN budgets ON budgets.category = records.category "
        "WHERE records.user_id = %(user_id_1)s AND budgets.user_id = %(user_id_2)s"
    )
    assert classify(sql, two, owned)[0] == "cross-user"
    assert classify(sql, {"user_id_1": 7, "user_id_2": 7}, owned)[0] == "single-user"
    join = (
        "SELECT records.id FROM records JOIN budgets ON budgets.user_id = records.user_id "
        "WHERE records.user_id = %(user_id_1)s"
    )
    assert classify(join, one, owned)[0] == "single-user"  # co-located join, one shard
    rows = {"user_id__0": 7, "id__0": 1, "user_id__1": 8, "id__1": 1}
    insert = (
        "INSERT INTO budgets (user_id, category) VALUES (%(user_id__0)s, %(category__0)s), "
        "(%(user_id__1)s, %(category__1)s)"
    )
    assert classify(insert, rows, owned)[0] == "cross-user"
    assert classify(insert, {**rows, "user_id__1": 7}, owned)[0] == "single-user"
    report = check([{"sql": "DELETE FROM budgets WHERE budgets.category = %(category_1)s", "params": [{}]}])
    assert report.figures()["violations"] == 1


def test_the_recording_mode_checks_what_a_whole_run_sent(tmp_path):
    sent = tmp_path / "sql"
    sent.mkdir()
    (sent / "sql-1-x.jsonl").write_text(
        json.dumps({"sql": "SELECT budgets.category FROM budgets WHERE budgets.category = %(c)s", "params": [{}]})
        + "\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.sharding_check", str(sent)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "VIOLATION" in done.stderr


@pytest.mark.postgres
def test_the_queue_modes_planner_and_worker_route_to_one_shard_too(backend, cli, queue_services, monkeypatch, tmp_path):
    """The daily insights through RabbitMQ: `daemon run-once` plans (in process), `worker` writes (a process)."""
    if backend != "postgresql":
        pytest.skip("Citus is PostgreSQL: the tour runs on the postgresql backend")
    from tests.fakes_daemon import insight_rows, start_fake

    fake = start_fake(monkeypatch, tmp_path)
    for user in ("ann", "ben", "cy"):
        assert cli("--user", user, "add", "10", "groceries").exit_code == 0
    directory = tmp_path / "sql"
    recorder = Recorder().install()
    try:
        planned = cli("daemon", "run-once", "--json")
        assert planned.exit_code == 0, planned.stderr
    finally:
        recorder.uninstall()
    recorder.dump(directory)
    full = {**os.environ, **_record_env(directory)}
    full.pop("PYTEST_CURRENT_TEST", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "finbuddy", "worker", "--processes", "1", "--threads", "2"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert _wait_for(lambda: sum(r["status"] == "done" for r in insight_rows()) == 3, 60), insight_rows()
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        finally:
            try:
                os.killpg(worker.pid, 9)
            except ProcessLookupError:
                pass
        fake.stop()
    report = check(sharding_check.load(directory))
    assert report.violations == {}, "\n".join(report.violations)
    assert report.by_kind["single-user"] > 10
    assert "queue-plan" in report.allowed
    if SAVE:  # after the tour's figures (run this file in order)
        from benchmarks.scale import results

        document = results.load("sharding")
        figures = document["figures"] if document else {}
        figures["queue_mode"] = report.figures()
        results.save("sharding", figures)


@pytest.mark.postgres
def test_the_batch_api_mode_routes_to_one_shard_too(backend, cli, monkeypatch, openai_server):
    """The daily insights through the OpenAI Batch API: submitted by one `daemon run-once`, ingested by the next."""
    if backend != "postgresql":
        pytest.skip("Citus is PostgreSQL: the tour runs on the postgresql backend")
    monkeypatch.setenv("FINBUDDY_AI_INSIGHTS_MODE", "batch")
    for user in ("ann", "ben", "cy"):
        assert cli("--user", user, "add", "10", "groceries").exit_code == 0
    recorder = Recorder().install()
    try:
        submitted = cli("daemon", "run-once", "--json")
        assert submitted.exit_code == 0, submitted.stderr
        openai_server.batch_api.complete()
        ingested = cli("daemon", "run-once", "--json")
        assert ingested.exit_code == 0, ingested.stderr
        assert cli("daemon", "status").exit_code == 0
    finally:
        recorder.uninstall()
    report = check(recorder.statements)
    assert report.violations == {}, "\n".join(report.violations)
    assert {"batch-claim", "batch-lines"} <= set(report.allowed)
    if SAVE:
        from benchmarks.scale import results

        document = results.load("sharding")
        figures = document["figures"] if document else {}
        figures["batch_mode"] = report.figures()
        results.save("sharding", figures)
