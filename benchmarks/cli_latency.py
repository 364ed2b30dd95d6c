"""Start-up latency of the CLI against the import floor of its stack (SQLite, a temporary FINBUDDY_HOME).

Times, as medians of N runs each (runs interleaved, so a noisy neighbour hits every case alike):

  python -c pass                       the interpreter
  python -c "import sqlalchemy, typer" the import floor: what any finbuddy data command must pay
  finbuddy --version                   target <= 0.5x floor (must not import SQLAlchemy or Typer)
  finbuddy add 1 x                     target <= 1.3x floor
  finbuddy list --limit 20 --json      target <= 1.3x floor

and checks, in a subprocess, that `add` and `list --json` import none of pydantic, openai, alembic,
psycopg, rich.table (and `--version` neither sqlalchemy nor typer). Timings never fail the run; a forbidden
import does (exit 1), because it is a deterministic regression. Byte-code is cached (in a temporary
PYTHONPYCACHEPREFIX) as it is after `pip install`, even where PYTHONDONTWRITEBYTECODE=1 is set.

    python benchmarks/cli_latency.py            # 15 runs each
    python benchmarks/cli_latency.py --runs 30
    python benchmarks/cli_latency.py --quick    # 2 runs each: the smoke test tests/ runs
    python benchmarks/cli_latency.py --json     # one JSON document on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# pydantic alone costs 50-100 ms of start-up (Typer 0.29 coerces parameters through it); the other four
# are whole subsystems a ledger command never needs.
_HEAVY = ("pydantic", "openai", "alembic", "psycopg", "rich.table")
FORBIDDEN = {
    "add": _HEAVY,
    "list": _HEAVY,
    "version": ("sqlalchemy", "typer", "rich", *_HEAVY),
}
TARGETS = {"version": 0.5, "add": 1.3, "list": 1.3}
SEED_RECORDS = 200


def finbuddy_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m finbuddy`."""
    script = Path(sys.executable).parent / "finbuddy"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "finbuddy"]


def bench_env(home: Path) -> dict[str, str]:
    """The environment of every child, which also runs in `home`: `python -c` puts the working directory
    first on sys.path, and a source tree there would shadow the finbuddy installed beside the interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINBUDDY_", "OPENAI_"))}
    env.update(
        {
            "FINBUDDY_HOME": str(home),
            "FINBUDDY_USER": "bench",
            "FINBUDDY_USER_TIMEZONE": "UTC",
            "NO_COLOR": "1",
        }
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    # Measure what an installed finbuddy costs: with byte-code cached (pip compiles it on install). Without
    # this, PYTHONDONTWRITEBYTECODE=1 would make every run recompile finbuddy's own modules (~40 ms).
    # The cache lives in a temporary prefix, so the benchmark leaves nothing in the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    return env


def seed(env: dict[str, str]) -> None:
    """Create and migrate the SQLite file and give `list` some rows to page through."""
    code = (
        "import datetime as dt\n"
        "from decimal import Decimal\n"
        "from finbuddy.config import load_settings\n"
        "from finbuddy.context import Context\n"
        "from finbuddy.ledger.records import record_entry\n"
        "ctx = Context(load_settings())\n"
        f"for i in range({SEED_RECORDS}):\n"
        "    record_entry(ctx, Decimal(i % 90 + 1), f'cat{i % 9}', note=f'seed {i}',\n"
        "                 date=dt.date(2026, 1, 1) + dt.timedelta(days=i % 300))\n"
        "ctx.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=env["FINBUDDY_HOME"], check=True)


def cases() -> dict[str, list[str]]:
    fb = finbuddy_command()
    return {
        "python": [sys.executable, "-c", "pass"],
        "floor": [sys.executable, "-c", "import sqlalchemy, typer"],
        "version": [*fb, "--version"],
        "add": [*fb, "add", "1", "x"],
        "list": [*fb, "list", "--limit", "20", "--json"],
    }


LABELS = {
    "python": "python -c pass",
    "floor": 'python -c "import sqlalchemy, typer"',
    "version": "finbuddy --version",
    "add": "finbuddy add 1 x",
    "list": "finbuddy list --limit 20 --json",
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run. CPU time (user + system of the child) hardly moves when other
    processes load the machine; wall time does, so both are reported."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=env["FINBUDDY_HOME"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if proc.returncode != 0:
        raise SystemExit(f"cli_latency: {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed * 1000, cpu * 1000


def loaded_modules(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules a finbuddy invocation has imported by the time it exits."""
    code = (
        "import sys, json\n"
        "from finbuddy.cli import main\n"
        "import io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(sys.argv[1:])\n"
        "sys.stderr.write('\\n' + json.dumps({'rc': rc, 'modules': sorted(sys.modules)}) + '\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=env["FINBUDDY_HOME"], capture_output=True, text=True
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    if report["rc"] != 0:
        raise SystemExit(f"cli_latency: finbuddy {' '.join(args)} exited {report['rc']}: {proc.stderr[-500:]}")
    return set(report["modules"])


def forbidden_imports(env: dict[str, str]) -> dict[str, list[str]]:
    invocations = {"add": ["add", "1", "x"], "list": ["list", "--limit", "20", "--json"], "version": ["--version"]}
    found: dict[str, list[str]] = {}
    for name, args in invocations.items():
        modules = loaded_modules(args, env)
        bad = sorted(
            banned for banned in FORBIDDEN[name] if any(m == banned or m.startswith(banned + ".") for m in modules)
        )
        found[name] = bad
    return found


def run(runs: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="finbuddy-bench-"))
    try:
        env = bench_env(home)
        seed(env)
        commands = cases()
        for argv in commands.values():  # warm the file cache and byte-code once
            time_once(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu_samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                wall, cpu = time_once(argv, env)
                samples[name].append(wall)
                cpu_samples[name].append(cpu)
        imports = forbidden_imports(env)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu_samples.items()}
    floor, cpu_floor = medians["floor"], cpu_medians["floor"]
    results = {}
    for name, values in samples.items():
        ratio = medians[name] / floor
        cpu_ratio = cpu_medians[name] / cpu_floor if cpu_floor else 0.0
        target = TARGETS.get(name)
        results[name] = {
            "command": LABELS[name],
            "median_ms": round(medians[name], 1),
            "min_ms": round(min(values), 1),
            "ratio_to_floor": round(ratio, 2),
            "cpu_median_ms": round(cpu_medians[name], 1),
            "cpu_ratio_to_floor": round(cpu_ratio, 2),
            "target_ratio": target,
            "meets_target": None if target is None else ratio <= target,
            "meets_target_cpu": None if target is None else cpu_ratio <= target,
        }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "runs": runs,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_1m": None if load is None else round(load, 2),
        "results": results,
        "forbidden_checked": {name: list(banned) for name, banned in FORBIDDEN.items()},
        "forbidden_imports": imports,
    }


def render(report: dict) -> str:
    lines = [
        f"finbuddy CLI latency: median of {report['runs']} runs each, Python {report['python']}, "
        f"{report['cpus']} CPUs, load average {report['load_average_1m']}",
        "",
        f"{'command':<36} {'wall ms':>8} {'min ms':>7} {'x floor':>7} {'CPU ms':>7} {'x floor':>7}  target: wall / CPU",
    ]
    for item in report["results"].values():
        target = item["target_ratio"]
        verdict = ""
        if target is not None:
            wall_ok = "ok" if item["meets_target"] else "MISSED"
            cpu_ok = "ok" if item["meets_target_cpu"] else "MISSED"
            verdict = f"<= {target}x  {wall_ok} / {cpu_ok}"
        lines.append(
            f"{item['command']:<36} {item['median_ms']:>8.1f} {item['min_ms']:>7.1f} {item['ratio_to_floor']:>7.2f} "
            f"{item['cpu_median_ms']:>7.1f} {item['cpu_ratio_to_floor']:>7.2f}  {verdict}"
        )
    lines.append("")
    for name, bad in report["forbidden_imports"].items():
        lines.append(f"imports of `{name}`: " + ("none forbidden" if not bad else "FORBIDDEN " + ", ".join(bad)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (medians; at least 10 for figures)")
    parser.add_argument("--quick", action="store_true", help="2 runs each: a smoke test, not a measurement")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    runs = 2 if args.quick else max(1, args.runs)
    report = run(runs)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 1 if any(report["forbidden_imports"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
