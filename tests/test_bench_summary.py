"""benchmarks/summary.py --quick: every section of the benchmark runs and reports its figures (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "summary.py"


def test_quick_benchmark_reports_every_figure(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINBUDDY_") and k != "PYTEST_CURRENT_TEST"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", "--no-postgres"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    sqlite = figures["backends"]["sqlite"]
    for who in ("big", "user00001"):
        row = sqlite["summary"][who]
        assert row["library_ms"] > 0 and row["raw_sql_ms"] > 0 and row["records_in_month"] > 0
    assert {"import_floor_ms", "cached_summary_ms", "fresh_summary_ms", "cache_saves_ms"} <= set(sqlite["cli"])
    imported = figures["import"]
    assert "skipped" in imported or (imported["imported"] == imported["rows"] and imported["peak_rss_mib"] > 0)
    assert list(tmp_path.iterdir()) == []  # the work directory is removed
