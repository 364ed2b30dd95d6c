"""The cache layer: hits, TTLs by the injected clock, isolation, invalidation by writes, and every failure as a miss."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from finbuddy.cache import Cache, DiskCacheBackend, cache_key
from finbuddy.clock import Clock

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
TTLS = {"summary": 1800, "portfolio": 3600, "ai": 86400}


class Warnings(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def make_cache(directory: Path, clock: Clock | None = None, namespace: str = "db1", timeout: float = 1.0):
    warnings = Warnings()
    cache = Cache(
        lambda: DiskCacheBackend(directory, timeout=timeout),
        dict(TTLS),
        clock or Clock(T0),
        warn=warnings,
        directory=directory,
        namespace=namespace,
    )
    return cache, warnings


# --- the interface --------------------------------------------------------------


def test_hit_returns_the_stored_json_value(tmp_path):
    cache, warnings = make_cache(tmp_path / "c")
    assert cache.get("summary", "alice", 1, "2026-11") is None
    cache.put("summary", "alice", 1, "2026-11", value={"expenses": "12.50", "days": [1, 2]})
    hit = cache.get("summary", "alice", 1, "2026-11")
    assert hit is not None and hit.value == {"expenses": "12.50", "days": [1, 2]}
    assert hit.stored_at == T0.timestamp() and hit.age == 0
    assert (cache.hits, cache.misses, warnings) == (1, 1, [])


def test_entries_survive_the_process(tmp_path):
    first, _ = make_cache(tmp_path / "c")
    first.put("ai", "alice", 3, "q", value="an answer")
    first.close()
    second, _ = make_cache(tmp_path / "c")
    assert second.get("ai", "alice", 3, "q").value == "an answer"


def test_ttl_expiry_follows_the_injected_clock(tmp_path):
    clock = Clock(T0)
    cache, _ = make_cache(tmp_path / "c", clock)
    cache.put("summary", "alice", 1, value=1)
    cache.put("portfolio", "alice", 1, value=2)
    clock.fixed = T0 + dt.timedelta(seconds=1799)
    hit = cache.get("summary", "alice", 1)
    assert hit is not None and hit.age == 1799
    clock.fixed = T0 + dt.timedelta(seconds=1800)
    assert cache.get("summary", "alice", 1) is None
    assert cache.get("portfolio", "alice", 1).value == 2  # 1 h for portfolios
    clock.fixed = T0 + dt.timedelta(hours=1)
    assert cache.get("portfolio", "alice", 1) is None


def test_an_entry_from_the_future_is_not_trusted(tmp_path):
    clock = Clock(T0)
    cache, _ = make_cache(tmp_path / "c", clock)
    cache.put("summary", "alice", 1, value=1)
    clock.fixed = T0 - dt.timedelta(minutes=5)
    assert cache.get("summary", "alice", 1) is None


def test_zero_ttl_stores_nothing(tmp_path):
    cache = Cache(lambda: DiskCacheBackend(tmp_path / "c"), {**TTLS, "ai": 0}, Clock(T0))
    cache.put("ai", "alice", 1, value="x")
    assert cache.get("ai", "alice", 1) is None
    assert not (tmp_path / "c").exists()  # never even opened


def test_unknown_kind_is_a_programming_error(tmp_path):
    cache, _ = make_cache(tmp_path / "c")
    with pytest.raises(ValueError, match="unknown cache kind"):
        cache.get("summaries", "alice", 1)


def test_entries_are_per_user(tmp_path):
    cache, _ = make_cache(tmp_path / "c")
    cache.put("summary", "alice", 7, "2026-11", value="alice's")
    assert cache.get("summary", "bob", 7, "2026-11") is None
    assert cache.get("summary", "Alice", 7, "2026-11") is None
    cache.put("summary", "bob", 7, "2026-11", value="bob's")
    assert cache.get("summary", "alice", 7, "2026-11").value == "alice's"
    assert cache.get("summary", "bob", 7, "2026-11").value == "bob's"


def test_keys_cannot_collide_across_users_parts_or_databases():
    keys = {
        cache_key("summary", "a:b", 1, "c"),
        cache_key("summary", "a", 1, "b:c"),
        cache_key("summary", 'a", "b', 1),
        cache_key("summary", "a", [1], "b"),
        cache_key("summary", "a", 1, "b"),
        cache_key("summary", "a", 1, "b", namespace="other-db"),
        cache_key("ai", "a", 1, "b"),
    }
    assert len(keys) == 7
    long = cache_key("ai", "alice", 1, "q" * 500)
    assert len(long) < 120 and long != cache_key("ai", "alice", 1, "q" * 501)


def test_two_databases_sharing_a_cache_directory_do_not_share_entries(tmp_path):
    one, _ = make_cache(tmp_path / "c", namespace="db-one")
    two, _ = make_cache(tmp_path / "c", namespace="db-two")
    one.put("summary", "alice", 1, value="from one")
    assert two.get("summary", "alice", 1) is None


# --- the cache belongs to one database: its identity, not its URL text ------------------


def _summary_expenses(cli) -> tuple[str, bool]:
    result = cli("summary", "--json")
    assert result.exit_code == 0, result.stderr
    return result.json["expenses"], result.json["cached"]


def test_the_same_relative_sqlite_url_in_two_directories_shares_nothing(cli, monkeypatch, tmp_path):
    """`sqlite:///fin.db` names a different file in each directory: same URL text, two databases."""
    monkeypatch.setenv("FINBUDDY_CACHE_DIR", str(tmp_path / "shared-cache"))
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", "sqlite:///fin.db")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    assert cli("add", "10", "food").exit_code == 0
    assert _summary_expenses(cli) == ("10.00", False)
    assert _summary_expenses(cli) == ("10.00", True)
    # The same user with the same generation (user 1, one write) in another directory's file.
    monkeypatch.chdir(second)
    assert cli("add", "25", "food").exit_code == 0
    assert _summary_expenses(cli) == ("25.00", False)
    monkeypatch.chdir(first)
    assert _summary_expenses(cli) == ("10.00", True)  # each database keeps its own entries


@pytest.mark.postgres
def test_a_dropped_and_recreated_postgresql_database_does_not_get_the_old_entries(pg_database, cli, monkeypatch):
    import uuid

    import sqlalchemy as sa

    from finbuddy.db import Database
    from finbuddy.db.migrate import upgrade
    from tests.conftest import PG_ADMIN_URL, drop_pg_database

    name = f"finbuddy_ident_{uuid.uuid4().hex[:12]}"
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def recreate() -> None:
        with admin.connect() as conn:
            drop_pg_database(conn, name)
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        db = Database(url)
        try:
            upgrade(db)
        finally:
            db.dispose()

    monkeypatch.setenv("FINBUDDY_DATABASE_URL", url)
    try:
        recreate()
        assert cli("add", "10", "food").exit_code == 0
        assert _summary_expenses(cli) == ("10.00", False)
        assert _summary_expenses(cli) == ("10.00", True)
        recreate()  # same name, same URL: a new, empty database
        assert cli("add", "25", "food").exit_code == 0
        assert _summary_expenses(cli) == ("25.00", False)
    finally:
        with admin.connect() as conn:
            drop_pg_database(conn, name)
        admin.dispose()


def test_directory_is_0700_and_database_0600(tmp_path):
    cache, _ = make_cache(tmp_path / "deep" / "c")
    cache.put("summary", "alice", 1, value="x")
    assert stat.S_IMODE(os.stat(tmp_path / "deep" / "c").st_mode) == 0o700
    for name in os.listdir(tmp_path / "deep" / "c"):
        if name.startswith("cache.db"):
            assert stat.S_IMODE(os.stat(tmp_path / "deep" / "c" / name).st_mode) == 0o600, name


def test_directory_is_0700_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        cache, _ = make_cache(tmp_path / "c")
        cache.put("summary", "alice", 1, value="x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "c").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "c" / "cache.db").st_mode) == 0o600


def test_values_that_are_not_json_are_refused_at_put(tmp_path):
    cache, _ = make_cache(tmp_path / "c")
    with pytest.raises(TypeError):
        cache.put("summary", "alice", 1, value=object())


def test_a_pickled_value_in_the_cache_database_is_refused(tmp_path):
    directory = tmp_path / "c"
    cache, warnings = make_cache(directory)
    cache.put("summary", "alice", 1, value="genuine")
    cache.close()
    marker = tmp_path / "unpickled"
    _plant_pickle(directory, marker)
    cache, warnings = make_cache(directory)
    assert cache.get("summary", "alice", 1) is None
    assert not marker.exists()
    assert len(warnings) == 1 and "refusing" in warnings[0]


def test_large_values_stay_inside_the_cache_database(tmp_path):
    """No value is ever a file of its own, so no index row can legitimately name one."""
    cache, warnings = make_cache(tmp_path / "c")
    big = "x" * 200_000  # diskcache's default puts text over 32 KiB in a file
    cache.put("ai", "alice", 1, "q", value=big)
    assert cache.get("ai", "alice", 1, "q").value == big
    assert sorted(p.name for p in (tmp_path / "c").iterdir() if not p.name.startswith("cache.db")) == []
    assert warnings == []


def _stored_keys(directory: Path) -> list[str]:
    conn = sqlite3.connect(directory / "cache.db")
    try:
        return sorted(row[0] for row in conn.execute("SELECT key FROM Cache"))
    finally:
        conn.close()


def test_cull_removes_expired_entries_and_keeps_live_ones(tmp_path):
    clock = Clock(T0)
    directory = tmp_path / "c"
    cache, warnings = make_cache(directory, clock)
    cache.put("summary", "alice", 1, value="alice's month")
    cache.put("summary", "bob", 4, value="bob's month")
    cache.put("portfolio", "alice", 1, value="alice's holdings")
    assert cache.cull() == 0  # nothing has expired
    assert len(_stored_keys(directory)) == 3
    # Half an hour on by finbuddy's clock the summaries (TTL 1800 s) are expired, the portfolio (1 h) is not...
    clock.fixed = T0 + dt.timedelta(seconds=1800)
    assert cache.get("summary", "alice", 1) is None and cache.get("summary", "bob", 4) is None
    # ...and diskcache's own expiry (real time: the TTL plus a margin) has passed for them too.
    conn = sqlite3.connect(directory / "cache.db")
    with conn:
        conn.execute("UPDATE Cache SET expire_time = ? WHERE key LIKE '%:summary:%'", (time.time() - 1,))
    conn.close()
    assert cache.cull() == 2
    assert _stored_keys(directory) == [cache.key("portfolio", "alice", 1)]
    assert cache.get("portfolio", "alice", 1).value == "alice's holdings"
    assert warnings == []


# --- invalidation by writes, through the CLI ----------------------------------------


def _primed(cli) -> dict:
    assert cli("add", "10", "groceries", "--merchant", "Shop").exit_code == 0
    assert cli("budget", "set", "fun", "50").exit_code == 0
    assert cli("summary", "--json").json["cached"] is False
    cached = cli("summary", "--json").json
    assert cached["cached"] is True
    return cached


@pytest.mark.parametrize(
    "write, expenses, categories",
    [
        (("add", "2.50", "fun"), "12.50", ["groceries", "fun"]),
        (("add", "100", "salary", "--income"), "10.00", ["groceries", "fun"]),
        (("edit", "1", "--amount", "11"), "11.00", ["groceries", "fun"]),
        (("edit", "1", "--date", "2026-10-31"), "0.00", ["fun"]),
        (("delete", "1", "--yes"), "0.00", ["fun"]),
        (("budget", "set", "groceries", "20"), "10.00", ["groceries", "fun"]),
        (("budget", "rm", "fun"), "10.00", ["groceries"]),
    ],
)
def test_every_kind_of_write_makes_the_next_summary_miss(cli, write, expenses, categories):
    _primed(cli)
    assert cli(*write).exit_code == 0
    after = cli("summary", "--json").json
    assert after["cached"] is False
    assert after["expenses"] == expenses
    assert [c["category"] for c in after["by_category"]] == categories


def test_another_users_write_does_not_invalidate(cli):
    _primed(cli)
    assert cli("--user", "bob", "add", "5", "fun").exit_code == 0
    assert cli("summary", "--json").json["cached"] is True


def test_holdings_change_makes_the_portfolio_entry_miss(cli):
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.db.users import bump_portfolio_version, versions

    assert cli("add", "1", "x").exit_code == 0  # creates alice
    ctx = Context(settings=load_settings())
    try:

        def generation():
            with ctx.db.read() as conn:
                user_id, _, portfolio_version = versions(conn, "alice")
            return user_id, [user_id, portfolio_version]

        user_id, before = generation()
        ctx.cache.put("portfolio", "alice", before, value={"total_value": "100.00"})
        assert ctx.cache.get("portfolio", "alice", generation()[1]).value == {"total_value": "100.00"}
        with ctx.db.write() as conn:  # what a holdings change or `portfolio sync` does in its transaction
            bump_portfolio_version(conn, user_id)
        assert ctx.cache.get("portfolio", "alice", generation()[1]) is None
        # and a record write leaves the portfolio generation alone
        ctx.cache.put("portfolio", "alice", generation()[1], value={"total_value": "90.00"})
        assert cli("add", "2", "y").exit_code == 0
        assert ctx.cache.get("portfolio", "alice", generation()[1]).value == {"total_value": "90.00"}
    finally:
        ctx.close()


# --- failures are misses: the command still answers from the database ---------------


def _expected(cli) -> dict:
    assert cli("add", "12.50", "groceries", "--merchant", "Shop").exit_code == 0
    assert cli("add", "1000", "salary", "--income").exit_code == 0
    return {"expenses": "12.50", "income": "1000.00", "net": "987.50"}


def _answers_with_one_warning(cli, expected: dict, *words: str) -> dict:
    result = cli("summary", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json
    assert {k: data[k] for k in expected} == expected
    assert data["cached"] is False
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("finbuddy: warning: cache"), result.stderr
    for word in words:
        assert word in lines[0]
    return data


def _runs_clean_and_hits(cli, expected: dict) -> None:
    first = cli("summary", "--json")
    assert first.exit_code == 0 and first.stderr == ""
    second = cli("summary", "--json")
    assert second.stderr == "" and second.json["cached"] is True
    assert {k: second.json[k] for k in expected} == expected


def test_cache_dir_that_cannot_be_created(cli, monkeypatch, tmp_path):
    expected = _expected(cli)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FINBUDDY_CACHE_DIR", str(blocker / "cache"))
    _answers_with_one_warning(cli, expected)
    _answers_with_one_warning(cli, expected)
    assert blocker.read_text() == "not a directory"  # never moved aside: it is not ours


def test_cache_dir_that_is_not_writable(cli, monkeypatch, tmp_path):
    expected = _expected(cli)
    if os.geteuid() == 0:
        # root writes through any mode bits; /proc/self is a real directory nobody can create files in.
        directory = Path("/proc/self")
        if not directory.is_dir():  # pragma: no cover - not Linux
            pytest.skip("no /proc on this system")
    else:  # pragma: no cover - the suite usually runs as root in CI containers
        directory = tmp_path / "ro"
        directory.mkdir(mode=0o500)
    monkeypatch.setenv("FINBUDDY_CACHE_DIR", str(directory))
    _answers_with_one_warning(cli, expected)


def test_a_file_where_the_directory_should_be_is_moved_aside(cli, finbuddy_env):
    expected = _expected(cli)
    cache_dir = finbuddy_env / "cache"
    cache_dir.write_bytes(b"I am a file")
    _answers_with_one_warning(cli, expected, "moved it aside")
    assert cache_dir.is_dir() and stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    (aside,) = finbuddy_env.glob("cache.corrupt-*")
    assert aside.read_bytes() == b"I am a file"
    second = cli("summary", "--json")
    assert second.stderr == "" and second.json["cached"] is True


def test_a_corrupt_cache_database_is_moved_aside_and_rebuilt(cli, finbuddy_env):
    expected = _expected(cli)
    _runs_clean_and_hits(cli, expected)
    db_file = finbuddy_env / "cache" / "cache.db"
    for extra in ("cache.db-wal", "cache.db-shm"):
        (finbuddy_env / "cache" / extra).unlink(missing_ok=True)
    db_file.write_bytes(os.urandom(4096) + b"garbage" * 100)
    _answers_with_one_warning(cli, expected, "moved it aside")
    (aside,) = finbuddy_env.glob("cache.corrupt-*")
    assert (aside / "cache.db").read_bytes().endswith(b"garbage")
    _runs_clean_and_hits(cli, expected)


def test_a_locked_cache_is_a_miss_not_a_wait(cli, finbuddy_env):
    expected = _expected(cli)
    _runs_clean_and_hits(cli, expected)
    holder = sqlite3.connect(finbuddy_env / "cache" / "cache.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
        _answers_with_one_warning(cli, expected, "locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _runs_clean_and_hits(cli, expected)


def test_a_lock_taken_while_the_cache_is_open_fails_the_write_only(tmp_path):
    directory = tmp_path / "c"
    cache, warnings = make_cache(directory, timeout=0.1)
    cache.put("summary", "alice", 1, value="x")
    holder = sqlite3.connect(directory / "cache.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert cache.get("summary", "alice", 1).value == "x"  # WAL readers are not blocked
        cache.put("summary", "alice", 2, value="y")
        assert len(warnings) == 1 and "write failed" in warnings[0]
        assert cache.get("summary", "alice", 1) is None  # the rest of this process does without
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_pickled_value_planted_in_the_cache_is_refused_through_the_cli(cli, finbuddy_env, tmp_path):
    expected = _expected(cli)
    _runs_clean_and_hits(cli, expected)
    marker = tmp_path / "unpickled"
    _plant_pickle(finbuddy_env / "cache", marker)
    _answers_with_one_warning(cli, expected, "refusing")
    assert not marker.exists()


def test_a_malformed_entry_is_a_miss(cli, finbuddy_env):
    expected = _expected(cli)
    _runs_clean_and_hits(cli, expected)
    with sqlite3.connect(finbuddy_env / "cache" / "cache.db") as conn:
        conn.execute("UPDATE Cache SET value = ? WHERE key LIKE '%:summary:%'", ("{not json",))
    conn.close()
    _answers_with_one_warning(cli, expected, "malformed")


def _tree(root: Path, skip: Path) -> dict[str, bytes | None]:
    """Every path under `root` outside `skip`, with the contents of its files (not SQLite's -wal/-shm)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        found[str(path)] = path.read_bytes() if path.is_file() and not path.name.endswith(("-wal", "-shm")) else None
    return found


def test_a_planted_file_name_in_the_cache_index_deletes_and_reads_nothing(cli, finbuddy_env, tmp_path):
    """diskcache deletes a row's `filename` when the row expires (on the next write's cull and in
    the daemon's cull) and reads it as the value: a row pointing outside the cache is ignored."""
    expected = _expected(cli)
    _runs_clean_and_hits(cli, expected)
    cache_dir = finbuddy_env / "cache"
    ledger = finbuddy_env / "data" / "finbuddy.db"
    secret = tmp_path / "secret.txt"
    secret.write_text('{"stored_at": 0, "expires_at": 9e99, "value": "planted"}')
    before = _tree(tmp_path, cache_dir)
    ledger_inode = ledger.stat().st_ino
    # A live entry whose value "is" a file outside the cache: refused, never read.
    conn = sqlite3.connect(cache_dir / "cache.db")
    with conn:
        conn.execute("update Cache set mode=3, value=NULL, filename=?", (str(secret),))
    conn.close()
    _answers_with_one_warning(cli, expected, "refusing")
    # The exact rows of the report: every entry expired and "stored in" the ledger's file. The
    # next write culls expired rows, and so does the daemon's hourly cache-maintenance.
    conn = sqlite3.connect(cache_dir / "cache.db")
    with conn:
        conn.execute("update Cache set expire_time=1,mode=3,filename='../data/finbuddy.db'")
    conn.close()
    first = cli("summary", "--json")
    assert first.exit_code == 0 and first.json["cached"] is False, first.stderr
    run = cli("daemon", "run-once", "--json")
    ran = {item["job"]: item for item in run.json["ran"]}
    assert ran["cache-maintenance"]["status"] == "ok", run.stdout

    assert ledger.is_file() and ledger.stat().st_ino == ledger_inode  # the same file, never deleted
    after = _tree(tmp_path, cache_dir)
    assert set(before) <= set(after)  # nothing outside the cache directory was deleted...
    assert after[str(secret)] == before[str(secret)]  # ...or changed (the daemon writes its own files)
    assert cli("summary", "--json").json["expenses"] == expected["expenses"]


def _plant_pickle(directory: Path, marker: Path) -> None:
    """Replace every stored value with a pickle that, if ever loaded, would create `marker`."""

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps(Exploit(), protocol=pickle.HIGHEST_PROTOCOL)
    from diskcache.core import MODE_PICKLE

    conn = sqlite3.connect(directory / "cache.db")
    with conn:
        changed = conn.execute(
            "UPDATE Cache SET value = ?, mode = ?, filename = NULL", (sqlite3.Binary(payload), MODE_PICKLE)
        ).rowcount
    conn.close()
    assert changed >= 1
