"""benchmarks/cli_latency.py runs (in --quick mode) so it cannot rot; its import checks must hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "cli_latency.py"


def test_cli_latency_benchmark_runs_and_finds_no_forbidden_imports():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["runs"] == 2
    assert set(report["results"]) == {"python", "floor", "version", "add", "list"}
    for item in report["results"].values():
        assert item["median_ms"] > 0
    assert report["results"]["floor"]["ratio_to_floor"] == 1.0
    heavy = {"pydantic", "openai", "alembic", "rich.table", "psycopg"}
    assert heavy <= set(report["forbidden_checked"]["add"]) and heavy <= set(report["forbidden_checked"]["list"])
    assert report["forbidden_imports"] == {"add": [], "list": [], "version": []}
