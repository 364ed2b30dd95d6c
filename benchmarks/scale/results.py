"""The lab's measured figures: one JSON file per experiment under benchmarks/scale/results/, with the machine.

Experiments write with `save(name, figures)`; the report (report.py) reads every file with `load_all()`. The files
are committed: docs/SCALING.md and its plots are regenerated from them without rerunning hours of measurement.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.scale import params

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            info["memory_gib"] = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        out = subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        info["postgresql_client"] = out
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def save(name: str, figures: dict[str, Any], directory: Path = RESULTS) -> Path:
    """Write one experiment's figures (with the machine, the time and the workload model) atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "experiment": name,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": params.as_dict(),
        "figures": figures,
    }
    path = directory / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(name: str, directory: Path = RESULTS) -> dict[str, Any] | None:
    """One experiment's document, or None when it was never run."""
    path = directory / f"{name}.json"
    if not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def load_all(directory: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every experiment's document, by name."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))}
