"""The daemon's loop: what is due comes from each job's last recorded run; a schedule.Scheduler asks when.

One mechanism decides when a job runs: `jobs.py`'s Daily/Every compare finbuddy's Clock (in user.timezone)
with the job's last run as recorded in the database (job_runs.last_day, last_finished_at). That is what makes
a missed run happen once after the machine slept or the daemon was down, and what `run-once` and `daemon
status` read.

`schedule` is the loop's timer, used plainly: one job, every TICK_SECONDS, that runs whatever is due. Its own
`.day.at("07:00")` is not used because it computes times from the machine's naive `datetime.now()`: not
finbuddy's Clock (which tests and FINBUDDY_FAKE_NOW pin), not user.timezone (its time zones need pytz), and
by design it never replays a run it missed. A daily job therefore starts within TICK_SECONDS of its slot.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import schedule

from finbuddy.config import make_private_dir
from finbuddy.context import Context
from finbuddy.daemon.jobs import JobResult, JobSpec, RunControl, default_jobs
from finbuddy.db.job_runs import JobRun
from finbuddy.errors import FinbuddyError, StorageError

log = logging.getLogger("finbuddy.daemon")

# How often the loop asks which jobs are due (a daily job starts at most this late; a suspended machine or a
# clock jump is noticed within it).
TICK_SECONDS = 30


@dataclass
class JobOutcome:
    job: str
    status: str  # ok | partial | interrupted | error | busy
    reason: str
    result: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    error: FinbuddyError | None = None  # a typed error that ended the job: what `run-once` exits 1 with

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "status": self.status,
            "reason": self.reason,
            "result": self.result,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class JobView:
    """A job as `daemon status` shows it."""

    name: str
    schedule: str
    description: str
    due: bool
    next_run: dt.datetime
    run: JobRun | None

    def to_json(self) -> dict[str, Any]:
        run = self.run
        return {
            "job": self.name,
            "schedule": self.schedule,
            "description": self.description,
            "due": self.due,
            "next_run": self.next_run.isoformat(),
            "last_day": run.last_day.isoformat() if run and run.last_day else None,
            "last_started_at": run.last_started_at.isoformat() if run and run.last_started_at else None,
            "last_finished_at": run.last_finished_at.isoformat() if run and run.last_finished_at else None,
            "last_status": run.last_status if run else None,
            "last_result": run.last_result if run else None,
        }


class _JobLock:
    """One process at a time per job on this machine (a cron run-once next to a daemon paces as one)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / f"job-{name}.lock"
        self.fd: int | None = None

    def __enter__(self) -> bool:
        make_private_dir(self.path.parent)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None


class JobRunner:
    """Runs registry jobs when due by the clock and their recorded last run; each run wrapped and recorded."""

    def __init__(
        self,
        ctx: Context,
        jobs: list[JobSpec] | None = None,
        stop: threading.Event | None = None,
        progress_for: Callable[[str], Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.jobs = jobs if jobs is not None else default_jobs(ctx.settings)
        self.by_name = {job.name: job for job in self.jobs}
        self.stop = stop or threading.Event()
        self.progress_for = progress_for
        self.lock_dir = ctx.settings.paths.runtime_dir

    @property
    def zone(self) -> ZoneInfo:
        return self.ctx.install_zone

    def runs(self) -> dict[str, JobRun]:
        from finbuddy.db.job_runs import read_job_runs

        with self.ctx.db.read() as conn:
            return read_job_runs(conn)

    def views(self) -> list[JobView]:
        runs = self.runs()
        now = self.ctx.now()
        views = []
        for job in self.jobs:
            run = runs.get(job.name)
            views.append(
                JobView(
                    name=job.name,
                    schedule=job.schedule.describe(self.zone),
                    description=job.description,
                    due=job.schedule.is_due(run, now, self.zone),
                    next_run=job.schedule.next_run(run, now, self.zone),
                    run=run,
                )
            )
        return views

    def run_job(self, job: JobSpec, reason: str) -> JobOutcome:
        """Run one job now. Never raises: a failure is logged and recorded, and the caller's loop lives on."""
        from finbuddy.db.job_runs import record_job_end, record_job_start

        started = time.monotonic()
        try:
            with _JobLock(self.lock_dir, job.name) as mine:
                if not mine:
                    log.info("job %s: already running in another process; skipped", job.name)
                    return JobOutcome(job.name, "busy", reason, {"note": "running in another process"})
                log.info("job %s: starting (%s)", job.name, reason)
                with self.ctx.db.write() as conn:
                    record_job_start(conn, job.name, self.ctx.now())
                progress = self.progress_for(job.name) if self.progress_for else None
                control = RunControl(stop=self.stop, progress=progress)
                failed = True
                try:
                    result: JobResult = job.func(self.ctx, control)
                    failed = result.error is not None
                finally:
                    if progress is not None and hasattr(progress, "close"):
                        progress.close(failed=failed)  # a failure's one line is not followed by a stale bar
                with self.ctx.db.write() as conn:
                    record_job_end(conn, job.name, self.ctx.now(), result.status, result.result, result.completed_day)
                elapsed = time.monotonic() - started
                log.info("job %s: %s in %.1fs %s", job.name, result.status, elapsed, _brief(result.result))
                return JobOutcome(job.name, result.status, reason, result.result, elapsed, result.error)
        except Exception as exc:
            elapsed = time.monotonic() - started
            log.exception("job %s: failed after %.1fs", job.name, elapsed)
            error = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            try:
                with self.ctx.db.write() as conn:
                    record_job_end(conn, job.name, self.ctx.now(), "error", error, None)
            except Exception:
                log.exception("job %s: could not record the failure", job.name)
            typed = exc if isinstance(exc, FinbuddyError) else None
            return JobOutcome(job.name, "error", reason, error, elapsed, typed)

    def run_due(self, reason: str, backoff: bool = True) -> list[JobOutcome]:
        """Every job that is due now, once each, in registry order (start-up, each scheduled check, `run-once`).

        `backoff=False` (run-once) also runs a job whose last run left work undone moments ago. A job ended by
        the database refusing writes (a full disk) ends the round: no other job could record its run either.
        """
        outcomes = []
        runs = self.runs()
        now = self.ctx.now()
        for job in self.jobs:
            if self.stop.is_set():
                break
            run = runs.get(job.name)
            if job.schedule.is_due(run, now, self.zone, backoff=backoff):
                why = reason
                if run is not None and reason == "start-up":
                    last = run.last_day.isoformat() if run.last_day else "never"
                    why = f"{reason}: missed run, last completed {last}"
                outcomes.append(self.run_job(job, why))
                if isinstance(outcomes[-1].error, StorageError):
                    break
        return outcomes


def _brief(result: dict[str, Any]) -> str:
    keys = ("done", "skipped", "failed", "calls", "tokens", "remaining", "stopped", "culled", "refunded", "error")
    return " ".join(f"{k}={result[k]}" for k in keys if k in result and result[k] is not None)


class Daemon:
    """The long-running loop: catch up at start, then let the scheduler check for due jobs every tick."""

    def __init__(self, runner: JobRunner, tick_seconds: int = TICK_SECONDS) -> None:
        self.runner = runner
        self.scheduler = schedule.Scheduler()
        self.scheduler.every(tick_seconds).seconds.do(self.check_due)

    @property
    def stop(self) -> threading.Event:
        return self.runner.stop

    def check_due(self) -> None:
        """The scheduled job: run every job that is due now. Never raises, so the loop lives on."""
        try:
            self.runner.run_due("scheduled")
        except Exception:  # the due check itself failed (database away): log, and the next tick tries again
            log.exception("daemon: could not check which jobs are due; trying again in a moment")

    def loop(self) -> None:
        """Run the scheduler until stopped, sleeping between its jobs."""
        while not self.stop.is_set():
            self.scheduler.run_pending()
            idle = self.scheduler.idle_seconds
            if self.stop.wait(max(0.0, idle if idle is not None else float(TICK_SECONDS))):
                break

    def run_forever(self) -> None:
        log.info(
            "daemon started (pid %d): %s",
            os.getpid(),
            ", ".join(f"{j.name} {j.schedule.describe(self.runner.zone)}" for j in self.runner.jobs),
        )
        try:
            self.runner.run_due("start-up")
        except Exception:
            log.exception("start-up catch-up failed; the loop goes on")
        self.loop()
        log.info("daemon stopped (pid %d)", os.getpid())
