"""benchmarks/import_lock.py --quick: an import runs beside adds with a 0.2 s busy timeout; every figure is reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "import_lock.py"


def test_quick_benchmark_reports_every_figure(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINBUDDY_") and k != "PYTEST_CURRENT_TEST"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["imported"] == figures["rows"] == 20_000
    assert figures["add_busy_timeout_s"] == 0.2
    assert figures["adds"] >= 1
    assert figures["adds_failed"] == 0, figures["first_failure"]
    assert figures["longest_lock_hold_s"] > 0 and figures["import_s"] > 0
    assert list(tmp_path.iterdir()) == []  # the work directory is removed
