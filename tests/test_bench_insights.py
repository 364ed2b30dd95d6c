"""benchmarks/insights.py --quick: the batch keeps to the provider's rate limit without surfacing a 429."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "insights.py"


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    return env


def test_quick_insight_benchmark_never_paces_faster_than_the_limit_fails_nobody_and_cleans_up(tmp_path):
    env = _env(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    figures = json.loads(proc.stdout)
    assert (figures["done"], figures["failed"], figures["failures_surfaced"]) == (80, 0, 0)
    # What the pacer decided, which no load can change (the measured rate and the server's 429 count are
    # reported, not asserted: a busy machine delays requests after their slots and can bunch them up).
    pacer = figures["pacer"]
    assert pacer["slots"] == figures["calls"] == 80
    assert pacer["min_spacing_s"] >= 60.0 / figures["server"]["per_minute_limit"]
    assert pacer["decided_per_minute"] <= figures["requests_per_minute_setting"]
    assert list((tmp_path / "tmp").iterdir()) == []  # the benchmark's temporary home is gone
