"""benchmarks/insights.py --quick: the batch keeps to the provider's rate limit without surfacing a 429."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "insights.py"


def test_quick_insight_benchmark_stays_within_the_rate_limit_and_fails_nobody():
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    figures = json.loads(proc.stdout)
    assert (figures["done"], figures["failed"], figures["failures_surfaced"]) == (80, 0, 0)
    # The target is "0 surfaced as failures" (asserted above): the openai client retries a 429. The
    # quick mode's 6-second window is so short that ~80 ms of scheduling jitter on a loaded machine
    # can put one extra request into it, so the server's raw 429 count is reported, not pinned at 0
    # (the full run's 60-second window measured 0).
    assert figures["server_429s"] <= figures["done"] // 10
    # Never faster than the provider allows (the pacer's floor); the >= 90 % target is the full run's,
    # not asserted here, since a loaded CI machine may lag.
    assert figures["calls_per_minute"] <= 600
    assert figures["pct_of_limit"] >= 30
