"""The scale lab's one command: regenerate the report, or run the experiments in order and then the report.

    python benchmarks/scale/lab.py report              # docs/SCALING.md's lab section + docs/scaling/*.png
    python benchmarks/scale/lab.py run --quick         # every experiment at a few hundred users (nothing saved),
                                                       # then the report into a temporary copy (its path printed)
    python benchmarks/scale/lab.py run                 # hours: the populations, the replays, the AI bill, the report
    python benchmarks/scale/lab.py run --sizes 10000 --configs sqlite,postgresql --skip-population

`run` calls each experiment's own command line (a subprocess each, as a person would): population.py builds the
shared populations (PostgreSQL lab_pop_<users>, /work/labdata/sqlite-<users>.db; this command touches
/work/labdata/<backend>-<users>.ready after a build succeeds), replay.py ramps each configuration on each size, and
aibill.py replays the AI bill; each writes its results file. Then the report is regenerated from every results file.
A step that fails is reported and the others go on (the report says "not measured" for what is missing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scale import params, report  # noqa: E402

HERE = Path(__file__).resolve().parent
LABDATA = Path(os.environ.get("FINBUDDY_LAB_DATA", "/work/labdata"))
PG = os.environ.get("FINBUDDY_LAB_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
CONFIGS = ("sqlite", "postgresql", "postgresql-noindex", "phase2")


def _step(name: str, command: list[str]) -> bool:
    """Run one experiment's command line; True when it succeeded."""
    print(f"lab: {name}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT)
    print(f"lab: {name}: exit {done.returncode} in {time.monotonic() - started:.0f} s", flush=True)
    return done.returncode == 0


def _script(name: str) -> list[str]:
    return [sys.executable, str(HERE / name)]


def run_quick() -> int:
    """Every experiment's --quick (nothing saved), then the report into a temporary copy of SCALING.md."""
    failed = [
        name
        for name, command in (
            ("population", [*_script("population.py"), "--quick"]),
            ("replay", [*_script("replay.py"), "--quick", "--no-save"]),
            ("aibill", [*_script("aibill.py"), "--quick"]),
        )
        if not _step(name, command)
    ]
    out = Path(tempfile.mkdtemp(prefix="finbuddy-lab-report-"))
    shutil.copyfile(report.SCALING, out / "SCALING.md")
    report.render(doc=out / "SCALING.md", plots_dir=out / "scaling")
    print(f"lab: report from the committed results rendered into {out} (docs/ untouched)")
    if failed:
        print(f"lab: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def run_full(sizes: list[int], configs: list[str], population: bool) -> int:
    failed: list[str] = []
    for size in sizes if population else []:
        LABDATA.mkdir(parents=True, exist_ok=True)
        for backend, url in (
            ("sqlite", f"sqlite:///{LABDATA}/sqlite-{size}.db"),
            ("postgresql", f"{PG}/lab_pop_{size}"),
        ):
            name = f"population-{backend}-{size}"
            if _step(name, [*_script("population.py"), "--url", url, "--users", str(size), "--replace"]):
                (LABDATA / f"{backend}-{size}.ready").touch()
            else:
                failed.append(name)
    for size in sizes:
        for config in configs:
            name = f"replay-{config}-{size}"
            if not _step(name, [*_script("replay.py"), "--config", config, "--users", str(size)]):
                failed.append(name)
    if not _step("aibill", _script("aibill.py")):
        failed.append("aibill")
    done = report.render()
    print(f"lab: report regenerated from {len(done['results'])} results file(s): {done['doc']}")
    if failed:
        print(f"lab: failed (the report says 'not measured' for them): {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("report", help="regenerate docs/SCALING.md's lab section and docs/scaling/*.png")
    run = commands.add_parser("run", help="run the experiments in order, then the report")
    run.add_argument("--quick", action="store_true", help="a few hundred users each, nothing saved, seconds")
    run.add_argument("--sizes", default=",".join(str(s) for s in params.SIZES), help="users, comma-separated")
    run.add_argument("--configs", default=",".join(CONFIGS), help="replay configurations, comma-separated")
    run.add_argument("--skip-population", action="store_true", help="reuse the populations already built")
    args = parser.parse_args(argv)
    if args.command == "report":
        done = report.render()
        print(f"lab: report regenerated from {len(done['results'])} results file(s): {done['doc']}, {done['plots']}")
        return 0
    if args.quick:
        return run_quick()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    configs = [c for c in args.configs.split(",") if c]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(sorted(unknown))}")
    return run_full(sizes, configs, not args.skip_population)


if __name__ == "__main__":
    raise SystemExit(main())
