"""The advisor benchmark runs (quick sizes) and its prompt stays flat as records grow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_advisor_benchmark_quick_run():
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "advisor.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    sizes = report["prompt_size"]["tokens_by_records"]
    assert set(sizes) == {"10", "1000", "10000"}
    assert max(sizes.values()) < 4000
    assert report["prompt_size"]["max_over_min"] <= 1.2
    overhead = report["guard_overhead"]
    assert overhead["median_ms_ask_cache_hit"] < overhead["median_ms_ask_fresh"]
    replay = report["cache_replay"]
    assert replay["server_requests"] == replay["ai_calls"]
    answered = replay["answered_from_cache"] + replay["answered_locally"] + replay["ai_calls"]
    assert answered + replay["refused_by_quota"] == replay["questions_asked"]
