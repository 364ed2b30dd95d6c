"""benchmarks/phase2.py --quick: every section runs and reports its figures (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "phase2.py"


def test_quick_benchmark_reports_every_figure(tmp_path, redis_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINBUDDY_") and k != "PYTEST_CURRENT_TEST"}
    env.update(TMPDIR=str(tmp_path), FINBUDDY_BENCH_REDIS_URL=redis_url)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    cache = figures["cache"]
    for store in ("diskcache", "redis"):
        for lookup in ("cache_get", "cached_monthly_summary"):
            assert cache[store][lookup]["median_us"] > 0 and cache[store][lookup]["p95_us"] > 0
        assert cache[store]["entry_bytes"] > 1000  # a real summary, not a toy value
    for outage in ("closed_port", "hung"):
        assert cache["redis"][outage]["first_lookup_ms"] > 0
        assert cache["redis"][outage]["lookup_while_breaker_open"]["median_us"] > 0
    assert set(cache["redis_over_disk"]) == {"cache_get", "cached_monthly_summary"}
    assert list(tmp_path.iterdir()) == []  # the work directory is removed
