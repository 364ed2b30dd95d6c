"""The routing benchmark runs (quick ledger) on its corpus: every question takes its labelled route, no local
answer reaches the server, every local figure equals the SQL computation, and routing costs less."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_corpus_has_200_distinct_labelled_questions_of_every_kind():
    rows = [json.loads(line) for line in (ROOT / "benchmarks" / "data" / "questions.jsonl").read_text().splitlines()]
    assert len(rows) >= 200
    assert len({row["question"].casefold() for row in rows}) == len(rows)
    assert {row["route"] for row in rows} == {"local", "small", "main"}
    kinds = {row["kind"] for row in rows}
    assert {"figures", "afford", "budget", "investing", "planning", "chitchat", "injection", "near-miss"} <= kinds


@pytest.mark.slow
def test_routing_benchmark_quick_run():
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "routing.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["questions"] >= 200
    assert report["misrouted"] == []
    assert report["requests_match_routes"] is True
    assert report["server_requests"] == report["counts"]["small"] + report["counts"]["main"]
    checks = report["local_answers_checked"]
    assert checks["mismatches"] == [] and checks["figures_checked"] >= report["counts"]["local"]
    assert report["share"]["local"] > 0.25 and report["share"]["small"] > 0.05
    assert abs(sum(report["share"].values()) - 1) < 0.001
    cost = report["cost_per_1000_asks_usd"]
    assert 0 < cost["routed: local + gpt-4o-mini + gpt-4o"] < cost["everything to gpt-4o"]
    assert 0 < cost["default set-up, local + gpt-4o-mini"] < cost["default set-up, everything to gpt-4o-mini"]
    # the near-misses and prompt injections never answer locally
    assert set(report["by_kind"]["near-miss"]) == {"main"} and set(report["by_kind"]["injection"]) == {"main"}
