"""Twenty `finbuddy add` processes at once: all succeed, twenty rows, distinct ids (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers_ledger import count_rows, stored_records

pytestmark = pytest.mark.slow

N = 20


def start_adds(user: str = "alice", n: int = N) -> list[subprocess.Popen]:
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "finbuddy", "--user", user, "add", f"{i + 1}.25", "food", f"note {i}", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    return results


def test_twenty_concurrent_adds_all_succeed(backend, db_url, finbuddy_env):
    if backend == "sqlite":
        assert not (finbuddy_env / "data").exists()  # a fresh file: the processes also race to create and migrate it
    results = finish(start_adds())
    failures = [(code, err) for code, _, err in results if code != 0]
    assert failures == []
    assert all(err == "" for _, _, err in results)
    import json

    printed = [json.loads(out) for _, out, _ in results]
    assert sorted(r["id"] for r in printed) == list(range(1, N + 1))
    rows = stored_records(db_url)
    assert count_rows(db_url, "records") == N
    assert sorted(row["id"] for row in rows) == list(range(1, N + 1))
    assert sorted(row["amount_cents"] for row in rows) == sorted((i + 1) * 100 + 25 for i in range(N))
    assert count_rows(db_url, "users") == 1


def test_concurrent_first_writes_of_different_users(backend, db_url):
    procs = []
    for user in ("u1", "u2"):
        procs.extend(start_adds(user, 2))
    results = finish(procs)
    assert [code for code, _, _ in results] == [0] * 4, [err for _, _, err in results]
    assert count_rows(db_url, "users") == 2
    for user in ("u1", "u2"):
        assert sorted(row["id"] for row in stored_records(db_url, user)) == [1, 2]
