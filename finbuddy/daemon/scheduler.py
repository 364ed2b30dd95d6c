"""The scheduler loop: an explicit schedule.Scheduler on finbuddy's clock, wrapped jobs, and catch-up of missed runs."""

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

from finbuddy.clock import Clock
from finbuddy.config import make_private_dir
from finbuddy.context import Context
from finbuddy.daemon.jobs import JobResult, JobSpec, RunControl, default_jobs
from finbuddy.db.daemon import JobRun

log = logging.getLogger("finbuddy.daemon")

# The loop wakes at least this often to look for missed runs (a suspended machine, a clock jump).
TICK_SECONDS = 30.0


class ClockedJob(schedule.Job):
    """A schedule.Job whose times come from finbuddy's Clock and the daemon's zone, not the naive system time.

    schedule computes `next_run` with datetime.now() (machine-local, naive, and not injectable); the daemon's
    "07:00" is in user.timezone and tests move an injected clock, so the two methods that read the time are
    replaced. Everything else (the builder, run_pending, sorting) is schedule's own.
    """

    scheduler: ClockedScheduler

    @property
    def should_run(self) -> bool:
        assert self.next_run is not None, "must run _schedule_next_run before"
        return self.scheduler.clock.now() >= self.next_run

    def _schedule_next_run(self) -> None:
        now = self.scheduler.clock.now()
        if self.unit == "days" and self.at_time is not None:
            zone = self.scheduler.zone
            local = now.astimezone(zone)
            day = local.date()
            while True:
                candidate = dt.datetime.combine(day, self.at_time, tzinfo=zone)
                if candidate > local:
                    break
                day += dt.timedelta(days=1)
            self.next_run = candidate.astimezone(dt.UTC)
        else:
            assert self.unit is not None, "set by the builder (.seconds, .minutes, ...) before scheduling"
            self.next_run = now + dt.timedelta(**{self.unit: self.interval})


class ClockedScheduler(schedule.Scheduler):
    def __init__(self, clock: Clock, zone: ZoneInfo) -> None:
        super().__init__()
        self.clock = clock
        self.zone = zone

    def every(self, interval: int = 1) -> ClockedJob:
        return ClockedJob(interval, self)

    @property
    def idle_seconds(self) -> float | None:
        if not self.next_run:
            return None
        return (self.next_run - self.clock.now()).total_seconds()


@dataclass
class JobOutcome:
    job: str
    status: str  # ok | partial | interrupted | error | busy
    reason: str
    result: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

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
        return self.ctx.zone

    def runs(self) -> dict[str, JobRun]:
        from finbuddy.db.daemon import read_job_runs

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

    def due_jobs(self) -> list[JobSpec]:
        runs = self.runs()
        now = self.ctx.now()
        return [job for job in self.jobs if job.schedule.is_due(runs.get(job.name), now, self.zone)]

    def run_job(self, job: JobSpec, reason: str) -> JobOutcome:
        """Run one job now. Never raises: a failure is logged and recorded, and the caller's loop lives on."""
        from finbuddy.db.daemon import record_job_end, record_job_start

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
                try:
                    result: JobResult = job.func(self.ctx, control)
                finally:
                    if progress is not None and hasattr(progress, "close"):
                        progress.close()
                with self.ctx.db.write() as conn:
                    record_job_end(conn, job.name, self.ctx.now(), result.status, result.result, result.completed_day)
                elapsed = time.monotonic() - started
                log.info("job %s: %s in %.1fs %s", job.name, result.status, elapsed, _brief(result.result))
                return JobOutcome(job.name, result.status, reason, result.result, elapsed)
        except Exception as exc:
            elapsed = time.monotonic() - started
            log.exception("job %s: failed after %.1fs", job.name, elapsed)
            error = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            try:
                with self.ctx.db.write() as conn:
                    record_job_end(conn, job.name, self.ctx.now(), "error", error, None)
            except Exception:
                log.exception("job %s: could not record the failure", job.name)
            return JobOutcome(job.name, "error", reason, error, elapsed)

    def run_if_due(self, name: str, reason: str) -> JobOutcome | None:
        job = self.by_name[name]
        runs = self.runs()
        if not job.schedule.is_due(runs.get(name), self.ctx.now(), self.zone):
            return None
        return self.run_job(job, reason)

    def run_due(self, reason: str) -> list[JobOutcome]:
        """Every job that is due now, once each, in registry order (the start-up/tick catch-up and `run-once`)."""
        outcomes = []
        runs = self.runs()
        now = self.ctx.now()
        for job in self.jobs:
            if self.stop.is_set():
                break
            run = runs.get(job.name)
            if job.schedule.is_due(run, now, self.zone):
                why = reason
                if run is not None and reason != "run-once":
                    last = run.last_day.isoformat() if run.last_day else "never"
                    why = f"{reason}: missed run, last completed {last}"
                outcomes.append(self.run_job(job, why))
        return outcomes


def _brief(result: dict[str, Any]) -> str:
    keys = ("done", "skipped", "failed", "calls", "tokens", "remaining", "stopped", "culled", "refunded", "error")
    return " ".join(f"{k}={result[k]}" for k in keys if k in result and result[k] is not None)


class Daemon:
    """The long-running loop: schedule fires jobs on time; every tick also catches up anything due but missed."""

    def __init__(self, runner: JobRunner, tick_seconds: float = TICK_SECONDS) -> None:
        self.runner = runner
        self.tick_seconds = tick_seconds
        self.scheduler = ClockedScheduler(runner.ctx.clock, runner.zone)
        for job in runner.jobs:
            builder = _schedule_builder(self.scheduler, job)
            builder.do(self._fire, job.name).tag(job.name)

    @property
    def stop(self) -> threading.Event:
        return self.runner.stop

    def _fire(self, name: str) -> None:
        try:
            self.runner.run_if_due(name, "scheduled")
        except Exception:  # the due check itself failed (database away): log, and the next tick tries again
            log.exception("job %s: could not check whether it is due", name)

    def tick(self) -> None:
        """Run what schedule says is on time, then catch up anything still due (missed while asleep or down)."""
        try:
            self.scheduler.run_pending()
            self.runner.run_due("catch-up")
        except Exception:
            log.exception("daemon tick failed; trying again in %.0fs", self.tick_seconds)

    def next_wait(self) -> float:
        idle = self.scheduler.idle_seconds
        if idle is None:
            return self.tick_seconds
        return max(0.0, min(self.tick_seconds, idle))

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
        while not self.stop.is_set():
            if self.stop.wait(self.next_wait()):
                break
            self.tick()
        log.info("daemon stopped (pid %d)", os.getpid())


def _schedule_builder(scheduler: ClockedScheduler, job: JobSpec) -> ClockedJob:
    from finbuddy.daemon.jobs import Daily

    plan = job.schedule
    if isinstance(plan, Daily):
        return scheduler.every().day.at(plan.at.strftime("%H:%M"))
    minutes = int(plan.interval.total_seconds() // 60)
    if minutes % 60 == 0:
        return scheduler.every(minutes // 60).hours
    return scheduler.every(minutes).minutes
