"""benchmarks/phase2.py --quick --only batch: the batch-mode section submits and ingests every user (no timing
asserted) and removes its temporary home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "phase2.py"


def test_quick_batch_benchmark_submits_and_ingests_every_user_and_cleans_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINBUDDY_") and k != "PYTEST_CURRENT_TEST"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "batch", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    batch = json.loads(proc.stdout)["batch"]
    assert (batch["users"], batch["database"], batch["files"]) == (300, "sqlite", 1)
    assert batch["ingest"]["done"] == 300
    assert batch["bytes_per_line"] > 1000  # real requests: the system prompt and the user's figures
    for phase in ("submit", "ingest"):
        assert batch[phase]["total_s"] > 0 and batch[phase]["lines_per_s"] > 0
    assert 0 <= batch["submit"]["building_lines_s"] <= batch["submit"]["total_s"]
    assert list(tmp_path.iterdir()) == []  # the work directory is removed
