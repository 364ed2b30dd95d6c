"""How long a big SQLite `finbuddy import` holds the write lock, and whether concurrent `add`s survive it.

    python benchmarks/import_lock.py                  # 1,000,000 rows, an add every 3 s meanwhile
    python benchmarks/import_lock.py --rows 200000    # a smaller file
    python benchmarks/import_lock.py --json           # the figures as one JSON document
    python benchmarks/import_lock.py --add-timeout 1  # adds with a 1 s busy timeout (database.timeout)
    python benchmarks/import_lock.py --quick          # 20,000 rows, 0.2 s busy timeout: the smoke test tests/ runs

A probe thread tries `BEGIN IMMEDIATE` with no busy timeout every few milliseconds while the import
runs: the longest stretch in which every try failed is the longest time the import held the write
lock (the probe's own transaction is rolled back at once). Meanwhile a `finbuddy add` process
starts every few seconds (another user, the default 30 s busy timeout unless --add-timeout) and every
failure is counted, as is every add that waited for the import's publish (it says so on stderr): an
add that meets the publish waits for it however long it takes, so none should fail.
To measure another tree (e.g. before a change), run it from outside the repository with
PYTHONPATH=/path/to/that/tree.

Not a timed test: it prints figures and always exits 0 unless something breaks.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FAKE_NOW = "2026-11-25T12:00:00+00:00"


def _env(home: Path, user: str, timeout: float | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINBUDDY_", "OPENAI_"))}
    env.update(FINBUDDY_HOME=str(home), FINBUDDY_USER=user, FINBUDDY_USER_TIMEZONE="UTC", FINBUDDY_FAKE_NOW=FAKE_NOW)
    if timeout is not None:
        env["FINBUDDY_DATABASE_TIMEOUT"] = str(timeout)
    return env


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "amount", "category", "merchant", "note"])
        for i in range(rows):
            day = dt.date(2020, 1, 1) + dt.timedelta(days=i % 2000)
            writer.writerow(
                [day.isoformat(), f"-{1 + i % 9999}.{i % 100:02d}", f"cat{i % 20}", f"shop {i % 300}", f"n{i}"]
            )


class LockProbe(threading.Thread):
    """Measures the longest stretch during which nobody else could begin a write transaction."""

    def __init__(self, db_file: Path, every_s: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.db_file = db_file
        self.every_s = every_s
        self.stop = threading.Event()
        self.longest_s = 0.0
        self.locked_total_s = 0.0

    def run(self) -> None:
        conn = sqlite3.connect(self.db_file, timeout=0, isolation_level=None)
        locked_since: float | None = None
        last = time.perf_counter()
        while not self.stop.is_set():
            now = time.perf_counter()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                if locked_since is not None:
                    self.longest_s = max(self.longest_s, now - locked_since)
                    locked_since = None
            except sqlite3.OperationalError:
                if locked_since is None:
                    locked_since = now
                self.locked_total_s += now - last
            last = now
            time.sleep(self.every_s)
        if locked_since is not None:
            self.longest_s = max(self.longest_s, time.perf_counter() - locked_since)
        conn.close()


def run(rows: int, adds: int, every_s: float, add_timeout: float | None = None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="finbuddy-import-lock-"))
    try:
        return _run(work, rows, adds, every_s, add_timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, rows: int, adds: int, every_s: float, add_timeout: float | None) -> dict:
    home = work / "home"
    csv_file = work / "rows.csv"
    write_csv(csv_file, rows)
    # create the database (and the other user) before measuring
    first = subprocess.run(
        [sys.executable, "-m", "finbuddy", "add", "1", "setup"], env=_env(home, "adder"), capture_output=True, text=True
    )
    if first.returncode != 0:
        raise RuntimeError(first.stderr)
    db_file = home / "data" / "finbuddy.db"
    probe = LockProbe(db_file)
    probe.start()
    started = time.perf_counter()
    importer = subprocess.Popen(
        [sys.executable, "-m", "finbuddy", "import", str(csv_file), "--json"],
        env=_env(home, "importer"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    failures: list[str] = []
    waited: list[float] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def one_add(i: int) -> None:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "finbuddy", "add", f"{i + 1}", "concurrent"],
            env=_env(home, "adder", add_timeout),
            capture_output=True,
            text=True,
        )
        with lock:
            latencies.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                failures.append(proc.stderr.strip())
            elif "an import is publishing" in proc.stderr:
                waited.append(latencies[-1])

    threads: list[threading.Thread] = []
    i = 0
    while importer.poll() is None and i < adds:
        thread = threading.Thread(target=one_add, args=(i,))
        thread.start()
        threads.append(thread)
        i += 1
        next_add = time.perf_counter() + every_s
        while importer.poll() is None and time.perf_counter() < next_add:
            time.sleep(0.05)
    out, err = importer.communicate()
    import_s = time.perf_counter() - started
    for thread in threads:
        thread.join()
    probe.stop.set()
    probe.join()
    if importer.returncode != 0:
        raise RuntimeError(f"import failed: {err.strip()}")
    result = json.loads(out)
    return {
        "rows": rows,
        "imported": result["imported"],
        "import_s": round(import_s, 2),
        "longest_lock_hold_s": round(probe.longest_s, 2),
        "lock_held_total_s": round(probe.locked_total_s, 2),
        "adds": len(latencies),
        "add_busy_timeout_s": add_timeout if add_timeout is not None else 30.0,
        "adds_failed": len(failures),
        "adds_that_waited_for_the_publish": len(waited),
        "slowest_add_s": round(max(latencies, default=0.0), 2),
        "first_failure": failures[0] if failures else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--adds", type=int, default=1000, help="at most this many adds")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between two adds")
    parser.add_argument("--add-timeout", type=float, default=None, help="the adds' database.timeout (busy timeout)")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 0.2 s busy timeout: a smoke test")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.every, args.add_timeout = 20_000, 0.3, args.add_timeout or 0.2
    figures = run(args.rows, args.adds, args.every, args.add_timeout)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:>32}: {value}")


if __name__ == "__main__":
    main()
