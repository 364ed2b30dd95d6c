"""benchmarks/phase2.py --quick, queue sections: the workers write every user under the cap, planning is chunked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "phase2.py"


def test_quick_queue_benchmark_writes_everyone_under_the_cap_and_cleans_up(tmp_path, queue_services):
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--only", "queue-batch", "--only", "planning", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    figures = json.loads(proc.stdout)
    batch = figures["queue-batch"]
    assert [run["processes"] for run in batch["runs"]] == [1, 2]
    for run in batch["runs"]:
        assert (run["done"], run["failures_surfaced"], run["server_429s"], run["worker_exit"]) == (40, 0, 0, 0)
        # What the global rate decided: one slot per request, whatever the machine's load did to the timing.
        assert run["slots_granted"] == run["requests"] == 40
        assert run["messages"] == 4
    plan = figures["planning"]
    assert (plan["planned"], plan["messages"], plan["chunk"], plan["planned_again"]) == (2000, 100, 20, 0)
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary homes are gone
