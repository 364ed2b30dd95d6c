"""The scale lab's day replay (benchmarks/scale/replay.py) in --quick mode: the figures are there, the cache's
invalidation held (no stale read) and the percentiles are ordered. No timing thresholds."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scale import params, replay  # noqa: E402

OPERATIONS = ("add", "summary", "summary_cold", "summary_cached", "ask")


def _check(figures: dict, config: str) -> None:
    assert figures["config"] == config
    assert figures["users"] == params.QUICK_USERS
    assert figures["steps"], "no ramp step ran"
    for step in figures["steps"]:
        for name in ("concurrency", "ops_per_s", "errors", "stale_reads", "cache_hit_rate", "db_cpu_s"):
            assert name in step, name
        assert step["stale_reads"] == 0, step["stale_samples"]
        assert step["errors"] == 0, step["error_samples"]
        assert step["checked_reads"] > 0, "no summary after an add was checked"
        assert step["ops"] > 0 and step["ops_per_s"] > 0
        assert len(step["load_average"]) == 3
        for op in OPERATIONS:
            figures_of = step["operations"][op]
            assert {"p50_ms", "p95_ms", "p99_ms", "count"} <= set(figures_of)
            if figures_of["count"]:
                assert figures_of["p99_ms"] >= figures_of["p95_ms"] >= figures_of["p50_ms"] > 0
        assert step["operations"]["summary"]["count"] > 0
        assert step["operations"]["add"]["count"] > 0
    assert figures["stale_reads"] == 0
    point = figures["breaking_point"]
    for name in ("users", "concurrency", "requests_per_s", "summary_p95_ms", "saturated", "reason"):
        assert name in point, name
    assert point["saturated"] and point["reason"]
    assert figures["cli"]["processes"] > 0 and figures["cli"]["failures"] == 0
    assert figures["db_size_bytes"] > 0


def test_quick_replay_on_sqlite(monkeypatch, tmp_path):
    monkeypatch.setenv("FINBUDDY_REPLAY_TMP", str(tmp_path))
    figures = replay.run("sqlite", params.QUICK_USERS, (1, 2), 3.0, quick=True, cli_count=1, save=False)
    _check(figures, "sqlite")
    assert figures["steps"][0]["db_cpu_source"].startswith("the worker processes")
    # Every session opens the dashboard again after its adds: some views are cold, the repeated ones cached.
    assert any(step["operations"]["summary_cold"]["count"] for step in figures["steps"])


def test_quick_replay_phase2_shape(monkeypatch, tmp_path, pg_replica):
    """Phase 2's shape: the primary + streaming standby (the tests' pair) and the shared Redis."""
    problem = replay.redis_problem()
    if problem:
        service_missing(problem)
    name = f"replay_{uuid.uuid4().hex[:10]}"
    pg_replica.sql(pg_replica.primary_port, f"CREATE DATABASE {name}", "postgres")
    try:
        base = "postgresql+psycopg://postgres@127.0.0.1"
        monkeypatch.setenv("FINBUDDY_REPLAY_PRIMARY_URL", f"{base}:{pg_replica.primary_port}/{name}")
        monkeypatch.setenv("FINBUDDY_REPLAY_REPLICA_URL", f"{base}:{pg_replica.standby_port}/{name}")
        monkeypatch.setenv("FINBUDDY_REPLAY_TMP", str(tmp_path))
        figures = replay.run("phase2", params.QUICK_USERS, (2,), 3.0, quick=True, cli_count=1, save=False)
    finally:
        pg_replica.sql(pg_replica.primary_port, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", "postgres")
    _check(figures, "phase2")
    assert figures["steps"][0]["db_cpu_source"].startswith("postgresql")


def test_day_plan_follows_the_model():
    users = [f"u{i}" for i in range(4000)]
    plan = replay.day_plan(users)
    day = params.DAY
    assert len(plan) == round(len(users) * day.active_share)
    assert len({s.user for s in plan}) == len(plan)
    assert all(s.ops[0].kind == "summary" for s in plan)
    adds = sum(op.kind == "add" for s in plan for op in s.ops) / len(plan)
    views = sum(op.kind == "summary" for s in plan for op in s.ops) / len(plan)
    assert abs(adds - day.adds_per_active) < 0.3
    assert abs(views - day.views_per_active) < 0.5
    assert replay.day_plan(users) == plan  # seeded: every worker process derives the same day
