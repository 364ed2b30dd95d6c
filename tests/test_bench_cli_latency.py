"""benchmarks/cli_latency.py runs (in --quick mode) so it cannot rot; its import checks must hold, and its warm
runs must be answered by the server with the same output as cold."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "cli_latency.py"


def test_cli_latency_benchmark_runs_and_finds_no_forbidden_imports():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["runs"] == 2
    cold = {"python", "floor", "version", "add", "list", "summary", "fresh", "fresh_json"}
    warm = {"add_warm", "list_warm", "summary_warm", "fresh_warm", "fresh_json_warm"}
    assert cold | warm <= set(report["results"]) <= cold | warm | {"ledger"}
    assert ("ledger" in report["results"]) == (shutil.which("ledger") is not None)
    for item in report["results"].values():
        assert item["median_ms"] > 0
    assert report["results"]["floor"]["ratio_to_floor"] == 1.0
    heavy = {"pydantic", "openai", "alembic", "rich.table", "psycopg"}
    assert heavy <= set(report["forbidden_checked"]["add"]) and heavy <= set(report["forbidden_checked"]["list"])
    assert report["forbidden_imports"] == {"add": [], "list": [], "version": []}
    warm_report = report["warm"]
    assert warm_report["served"] == warm_report["expected"] == 2 * len(warm)  # every warm run went warm
    assert warm_report["same_output"] == {"list": True, "summary": True}
    assert warm_report["concurrent"]["count"] == warm_report["concurrent"]["served"] == 4
    if shutil.which("ledger"):
        assert warm_report["ledger_agrees"] is True  # the same records, the same month's expenses
