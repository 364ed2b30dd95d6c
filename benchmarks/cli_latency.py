"""Start-up latency of the CLI against the import floor of its stack, cold and warm (SQLite, a temporary home).

Cold: every command a new interpreter. Times, as medians of N runs each (runs interleaved, so a noisy neighbour
hits every case alike):

  python -c pass                       the interpreter
  python -c "import sqlalchemy, typer" the import floor: what any cold finbuddy data command must pay
  finbuddy --version                   target <= 0.5x floor (must not import SQLAlchemy or Typer)
  finbuddy add 1 x                     target <= 1.3x floor
  finbuddy list --limit 20 --json      target <= 1.3x floor

Warm (README "Warm start"): the same commands with `finbuddy daemon serve` running, each paired with its cold
run in the same round, for a user with 10,000 records in the month shown (--records):

  add, list --limit 20 --json          warm add: target <= 3x python -c pass
  summary (cached), summary --fresh    warm --fresh: target faster than ledger (also --fresh --json: the same
                                       figures without drawing the dashboard)
  ledger bal                           `ledger` (when installed) on the same month of the same records, as a journal
  32 concurrent adds                   warm p95: target < 0.5 s (and the same burst cold, for comparison)

and checks, in a subprocess, that `add` and `list --json` import none of pydantic, openai, alembic,
psycopg, rich.table (and `--version` neither sqlalchemy nor typer). Timings never fail the run; a forbidden
import does (exit 1), because it is a deterministic regression, and so does a warm run that the server did not
answer or whose output differs from cold. Byte-code is cached (in a temporary PYTHONPYCACHEPREFIX) as it is
after `pip install`, even where PYTHONDONTWRITEBYTECODE=1 is set.

    python benchmarks/cli_latency.py            # 15 runs each
    python benchmarks/cli_latency.py --runs 30
    python benchmarks/cli_latency.py --quick    # 2 runs each, 300 records, 4 concurrent: the smoke test tests/ runs
    python benchmarks/cli_latency.py --json     # one JSON document on stdout
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime as dt
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
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
WARM_ADD_TARGET = 3.0  # x python -c pass
CONCURRENT_P95_TARGET_MS = 500.0
FAKE_NOW = "2026-11-25T12:00:00+00:00"
MONTH = "2026-11"
RECORDS = 10_000
CATEGORIES = ["groceries", "dining", "rent", "transport", "utilities", "fun", "health", "travel", "gifts", "pets"]
MERCHANTS = [f"Merchant {i:02d}" for i in range(40)]


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
            "FINBUDDY_FAKE_NOW": FAKE_NOW,  # "this month" is the seeded one, and the summary cache stays valid
            "NO_COLOR": "1",
            "COLUMNS": "120",
        }
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    # Measure what an installed finbuddy costs: with byte-code cached (pip compiles it on install). Without
    # this, PYTHONDONTWRITEBYTECODE=1 would make every run recompile finbuddy's own modules (~40 ms).
    # The cache lives in a temporary prefix, so the benchmark leaves nothing in the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    return env


def cold(env: dict[str, str]) -> dict[str, str]:
    return {**env, "FINBUDDY_NO_SERVER": "1"}


def synthetic_rows(count: int) -> list[dict[str, str]]:
    """`count` records in MONTH (an income every 50th), as `finbuddy export` writes them."""
    rng = random.Random(13)
    year, month = map(int, MONTH.split("-"))
    rows = []
    for index in range(count):
        income = index % 50 == 49
        cents = rng.randint(300_000, 500_000) if income else rng.randint(100, 20_000)
        rows.append(
            {
                "date": dt.date(year, month, 1 + index % 28).isoformat(),
                "kind": "income" if income else "expense",
                "amount": f"{Decimal(cents) / 100:.2f}",
                "category": "salary" if income else rng.choice(CATEGORIES),
                "merchant": "" if income else rng.choice(MERCHANTS),
                "note": f"note {index}",
            }
        )
    return rows


def ledger_journal(rows: list[dict[str, str]], path: Path) -> None:
    """The same records as a ledger-cli journal: expenses and income against one checking account."""
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            payee = row["merchant"] or row["category"]
            account = ("Expenses:" if row["kind"] == "expense" else "Income:") + row["category"]
            amount = row["amount"] if row["kind"] == "expense" else f"-{row['amount']}"
            out.write(f"{row['date'].replace('-', '/')} {payee}\n    {account}    ${amount}\n    Assets:Checking\n\n")


def seed(env: dict[str, str], records: int) -> list[dict[str, str]]:
    """Create and migrate the SQLite file and give user `bench` `records` records in MONTH (through `import`)."""
    home = Path(env["FINBUDDY_HOME"])
    rows = synthetic_rows(records)
    seed_csv = home / "seed.csv"
    with open(seed_csv, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    proc = subprocess.run(
        [*finbuddy_command(), "import", str(seed_csv), "--json"], env=cold(env), cwd=home, capture_output=True
    )
    if proc.returncode != 0 or json.loads(proc.stdout)["imported"] != records:
        raise SystemExit(f"cli_latency: seeding failed: {proc.stderr.decode()[-500:]}")
    return rows


LABELS = {
    "python": "python -c pass",
    "floor": 'python -c "import sqlalchemy, typer"',
    "version": "finbuddy --version",
    "add": "finbuddy add 1 x",
    "list": "finbuddy list --limit 20 --json",
    "add_warm": "  warm",
    "list_warm": "  warm",
    "summary": "finbuddy summary (cached)",
    "summary_warm": "  warm",
    "fresh": "finbuddy summary --fresh",
    "fresh_warm": "  warm",
    "fresh_json": "finbuddy summary --fresh --json",
    "fresh_json_warm": "  warm",
    "ledger": f"ledger bal ({MONTH})",
}


def cases(env: dict[str, str], journal: Path | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each case: (argv, environment). Adds go to another user, so that they never invalidate bench's summary."""
    fb = finbuddy_command()
    adder = {**env, "FINBUDDY_USER": "adder"}
    table = {
        "python": ([sys.executable, "-c", "pass"], cold(env)),
        "floor": ([sys.executable, "-c", "import sqlalchemy, typer"], cold(env)),
        "version": ([*fb, "--version"], cold(env)),
        "add": ([*fb, "add", "1", "x"], cold(adder)),
        "add_warm": ([*fb, "add", "1", "x"], adder),
        "list": ([*fb, "list", "--limit", "20", "--json"], cold(env)),
        "list_warm": ([*fb, "list", "--limit", "20", "--json"], env),
        "summary": ([*fb, "summary"], cold(env)),
        "summary_warm": ([*fb, "summary"], env),
        "fresh": ([*fb, "summary", "--fresh"], cold(env)),
        "fresh_warm": ([*fb, "summary", "--fresh"], env),
        "fresh_json": ([*fb, "summary", "--fresh", "--json"], cold(env)),
        "fresh_json_warm": ([*fb, "summary", "--fresh", "--json"], env),
    }
    if journal is not None:
        table["ledger"] = (["ledger", "-f", str(journal), "bal", *ledger_period()], cold(env))
    return table


def ledger_period() -> list[str]:
    """ledger's options for MONTH: from its first day to the next month's (exclusive)."""
    year, month = map(int, MONTH.split("-"))
    end = dt.date(year + month // 12, month % 12 + 1, 1)
    return ["-b", f"{year}/{month:02d}/01", "-e", f"{end:%Y/%m/%d}"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(argv: list[str], env: dict[str, str], server: WarmServer | None = None) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run. CPU time (user + system of the child) hardly moves when other
    processes load the machine; wall time does, so both are reported. A warm command's CPU is its client's
    and what the server spent meanwhile (its loop and the process it forked for the request)."""
    cpu_before = _children_cpu() + (server.cpu() if server else 0.0)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=env["FINBUDDY_HOME"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() + (server.cpu() if server else 0.0) - cpu_before
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
        modules = loaded_modules(args, cold(env))
        bad = sorted(
            banned for banned in FORBIDDEN[name] if any(m == banned or m.startswith(banned + ".") for m in modules)
        )
        found[name] = bad
    return found


# --- the warm server ------------------------------------------------------------------------------------


class WarmServer:
    """`finbuddy daemon serve` in the benchmark's home, for the length of a `with` block."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.socket = str(Path(env["FINBUDDY_HOME"]) / "run" / "server.sock")
        self.proc: subprocess.Popen | None = None

    def status(self) -> dict | None:
        from finbuddy.server.protocol import query_status

        return query_status(self.socket, timeout=10)

    def __enter__(self) -> WarmServer:
        self.proc = subprocess.Popen(
            [*finbuddy_command(), "daemon", "serve"],
            env=self.env,
            cwd=self.env["FINBUDDY_HOME"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while not (self.status() or {}).get("serving"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("cli_latency: the warm server did not come up")
            time.sleep(0.1)
        return self

    def cpu(self) -> float:
        """Seconds of CPU the server and its reaped request processes have used (/proc/PID/stat)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def requests(self) -> int:
        status = self.status()
        if status is None:
            raise SystemExit("cli_latency: the warm server stopped answering")
        return int(status["requests"])

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def same_output(env: dict[str, str]) -> dict[str, bool]:
    """Whether warm and cold print the same bytes for the read-only commands timed here."""
    fb = finbuddy_command()
    same = {}
    for name, args in {"list": ["list", "--limit", "20", "--json"], "summary": ["summary"]}.items():
        outputs = [
            subprocess.run([*fb, *args], env=e, cwd=env["FINBUDDY_HOME"], capture_output=True) for e in (env, cold(env))
        ]
        same[name] = (outputs[0].returncode, outputs[0].stdout, outputs[0].stderr) == (
            outputs[1].returncode,
            outputs[1].stdout,
            outputs[1].stderr,
        )
    return same


def ledger_agrees(env: dict[str, str], journal: Path) -> bool | None:
    """Whether `ledger` and `finbuddy summary` find the same month's expenses in the same records."""
    summary = subprocess.run(
        [*finbuddy_command(), "summary", "--json"], env=cold(env), cwd=env["FINBUDDY_HOME"], capture_output=True
    )
    proc = subprocess.run(
        ["ledger", "-f", str(journal), "bal", "^Expenses", "-n", *ledger_period()], capture_output=True, text=True
    )
    match = re.search(r"\$\s*([0-9,]+\.[0-9]{2})", proc.stdout)
    if summary.returncode != 0 or match is None:
        return None
    return Decimal(json.loads(summary.stdout)["expenses"]) == Decimal(match.group(1).replace(",", ""))


def burst(argv: list[str], env: dict[str, str], count: int) -> list[float]:
    """Start `count` copies of `argv` at once; each one's wall time (ms), from its start to its exit."""

    def one(_: int) -> float:
        started = time.perf_counter()
        proc = subprocess.run(
            argv, env=env, cwd=env["FINBUDDY_HOME"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if proc.returncode != 0:
            raise SystemExit(f"cli_latency: {' '.join(argv)} failed: {proc.stderr.decode()[-300:]}")
        return (time.perf_counter() - started) * 1000

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def run(runs: int, records: int = RECORDS, concurrency: int = 32) -> dict:
    home = Path(tempfile.mkdtemp(prefix="finbuddy-bench-"))
    loads = [round(os.getloadavg()[0], 2)]
    try:
        env = bench_env(home)
        rows = seed(env, records)
        journal = None
        if shutil.which("ledger"):
            journal = home / "bench.ledger"
            ledger_journal(rows, journal)
        commands = cases(env, journal)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu_samples: dict[str, list[float]] = {name: [] for name in commands}
        with WarmServer(env) as server:
            for argv, case_env in commands.values():  # warm the file cache, byte-code and summary cache once
                time_once(argv, case_env)
            served_before = server.requests()
            for _ in range(runs):
                for name, (argv, case_env) in commands.items():
                    wall, cpu = time_once(argv, case_env, server if name.endswith("_warm") else None)
                    samples[name].append(wall)
                    cpu_samples[name].append(cpu)
            warm_runs = runs * sum(1 for name in commands if name.endswith("_warm"))
            served = server.requests() - served_before
            identical = same_output(env)
            loads.append(round(os.getloadavg()[0], 2))
            adder = {**env, "FINBUDDY_USER": "adder"}
            before = server.requests()
            warm_burst = burst([*finbuddy_command(), "add", "1", "x"], adder, concurrency)
            burst_served = server.requests() - before
            cold_burst = burst([*finbuddy_command(), "add", "1", "x"], cold(adder), concurrency)
            python_burst = burst([sys.executable, "-c", "pass"], cold(adder), concurrency)
            loads.append(round(os.getloadavg()[0], 2))
        agrees = ledger_agrees(env, journal) if journal is not None else None
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
            "ratio_to_python": round(medians[name] / medians["python"], 2),
            "cpu_median_ms": round(cpu_medians[name], 1),
            "cpu_ratio_to_floor": round(cpu_ratio, 2),
            "target_ratio": target,
            "meets_target": None if target is None else ratio <= target,
            "meets_target_cpu": None if target is None else cpu_ratio <= target,
        }
    warm_add_ratio = medians["add_warm"] / medians["python"]
    warm = {
        "records": records,
        "month": MONTH,
        "served": served,
        "expected": warm_runs,
        "same_output": identical,
        "add_ratio_to_python": round(warm_add_ratio, 2),
        "add_target": WARM_ADD_TARGET,
        "add_meets_target": warm_add_ratio <= WARM_ADD_TARGET,
        "speedup": {
            name: round(medians[name] / medians[f"{name}_warm"], 1)
            for name in ("add", "list", "summary", "fresh", "fresh_json")
        },
        "fresh_vs_ledger": None if "ledger" not in medians else round(medians["ledger"] / medians["fresh_warm"], 2),
        "fresh_beats_ledger": None if "ledger" not in medians else medians["fresh_warm"] < medians["ledger"],
        "fresh_json_beats_ledger": None if "ledger" not in medians else medians["fresh_json_warm"] < medians["ledger"],
        "ledger_agrees": agrees,
        "concurrent": {
            "count": concurrency,
            "served": burst_served,
            "warm_p95_ms": round(p95(warm_burst), 1),
            "warm_median_ms": round(statistics.median(warm_burst), 1),
            "cold_p95_ms": round(p95(cold_burst), 1),
            "cold_median_ms": round(statistics.median(cold_burst), 1),
            "python_p95_ms": round(p95(python_burst), 1),
            "target_p95_ms": CONCURRENT_P95_TARGET_MS,
            "meets_target": p95(warm_burst) < CONCURRENT_P95_TARGET_MS,
        },
    }
    return {
        "runs": runs,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_1m": loads[0],
        "load_average_1m_during": loads,
        "results": results,
        "warm": warm,
        "forbidden_checked": {name: list(banned) for name, banned in FORBIDDEN.items()},
        "forbidden_imports": imports,
    }


def render(report: dict) -> str:
    warm = report["warm"]
    lines = [
        f"finbuddy CLI latency: median of {report['runs']} runs each, Python {report['python']}, "
        f"{report['cpus']} CPUs, load average (1 min) {' -> '.join(map(str, report['load_average_1m_during']))}",
        f"{warm['records']} records for the summarised user, all in {warm['month']}",
        "",
        f"{'command':<36} {'wall ms':>8} {'min ms':>7} {'x floor':>7} {'x pass':>7} {'CPU ms':>7}  target"
        "   (warm CPU: client + server)",
    ]
    for name, item in report["results"].items():
        target = item["target_ratio"]
        verdict = ""
        if target is not None:
            wall_ok = "ok" if item["meets_target"] else "MISSED"
            cpu_ok = "ok" if item["meets_target_cpu"] else "MISSED"
            verdict = f"<= {target}x floor  {wall_ok} / CPU {cpu_ok}"
        if name == "add_warm":
            verdict = f"<= {warm['add_target']}x pass  " + ("ok" if warm["add_meets_target"] else "MISSED")
        if name == "fresh_warm" and warm["fresh_beats_ledger"] is not None:
            verdict = "< ledger  " + ("ok" if warm["fresh_beats_ledger"] else "MISSED")
        if name == "fresh_json_warm" and warm["fresh_json_beats_ledger"] is not None:
            verdict = "< ledger  " + ("ok" if warm["fresh_json_beats_ledger"] else "MISSED")
        lines.append(
            f"{item['command']:<36} {item['median_ms']:>8.1f} {item['min_ms']:>7.1f} {item['ratio_to_floor']:>7.2f} "
            f"{item['ratio_to_python']:>7.2f} {item['cpu_median_ms']:>7.1f}  {verdict}"
        )
    concurrent_ = warm["concurrent"]
    lines += [
        "",
        "warm speed-up (cold / warm): "
        + ", ".join(f"{name} {value}x" for name, value in warm["speedup"].items())
        + (f"; ledger / warm summary --fresh: {warm['fresh_vs_ledger']}x" if warm["fresh_vs_ledger"] else ""),
        f"{concurrent_['count']} concurrent adds: warm p95 {concurrent_['warm_p95_ms']:.0f} ms "
        f"(median {concurrent_['warm_median_ms']:.0f}), cold p95 {concurrent_['cold_p95_ms']:.0f} ms "
        f"(median {concurrent_['cold_median_ms']:.0f}), python -c pass p95 {concurrent_['python_p95_ms']:.0f} ms; "
        f"target warm p95 < {concurrent_['target_p95_ms']:.0f} ms  "
        + ("ok" if concurrent_["meets_target"] else "MISSED"),
        f"warm runs answered by the server: {warm['served']} of {warm['expected']} "
        f"(burst: {concurrent_['served']} of {concurrent_['count']}); same output warm and cold: "
        + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in warm["same_output"].items())
        + ("" if warm["ledger_agrees"] is None else f"; ledger's expenses equal summary's: {warm['ledger_agrees']}"),
        "",
    ]
    for name, bad in report["forbidden_imports"].items():
        lines.append(f"imports of `{name}`: " + ("none forbidden" if not bad else "FORBIDDEN " + ", ".join(bad)))
    return "\n".join(lines)


def failures(report: dict) -> list[str]:
    """What makes the run fail (never a timing): a forbidden import, a warm run not served, other output."""
    warm = report["warm"]
    problems = [f"{name} imports {', '.join(bad)}" for name, bad in report["forbidden_imports"].items() if bad]
    if warm["served"] != warm["expected"] or warm["concurrent"]["served"] != warm["concurrent"]["count"]:
        problems.append("the warm server did not answer every warm run")
    problems += [f"{name}: warm output differs from cold" for name, same in warm["same_output"].items() if not same]
    if warm["ledger_agrees"] is False:
        problems.append("ledger and finbuddy disagree on the month's expenses")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (medians; at least 10 for figures)")
    parser.add_argument("--records", type=int, default=RECORDS, help="records of the summarised user")
    parser.add_argument(
        "--quick", action="store_true", help="2 runs each, few records: a smoke test, not a measurement"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.quick:
        report = run(2, records=300, concurrency=4)
    else:
        report = run(max(1, args.runs), records=args.records)
    print(json.dumps(report, indent=2) if args.json else render(report))
    problems = failures(report)
    for problem in problems:
        print(f"cli_latency: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
