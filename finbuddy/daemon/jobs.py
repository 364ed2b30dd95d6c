"""The job registry: each job is small, idempotent, and knows when it is due from its last recorded run."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finbuddy.config import Settings

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from finbuddy.context import Context
from finbuddy.db.job_runs import JobRun
from finbuddy.errors import FinbuddyError

log = logging.getLogger("finbuddy.daemon")

# After a run that left work undone (a user failed, the provider was down), the daemon's loop waits this long
# before the next try, so a failing provider is not hammered by every tick. `run-once` does not wait: someone
# (a person told "run `finbuddy daemon run-once` to write it now", or cron) asked for the work now.
RETRY_DELAY = dt.timedelta(minutes=10)
# "batched": the day's lines are in Batch API batches (ai.insights_mode = batch): the next run polls them.
# "queued": the day's insights are planned on the queue (queue.url) and not all written yet; the next run
# plans again whoever needs it and completes the day once workers have written every insight.
BACKOFF_STATUSES = ("partial", "error", "batched", "queued")


@dataclass(frozen=True)
class Daily:
    """Once a local day, at `at` (in the daemon's zone, user.timezone)."""

    at: dt.time

    @classmethod
    def parse(cls, text: str) -> Daily:
        hours, minutes = text.split(":")
        return cls(dt.time(int(hours), int(minutes)))

    def describe(self, zone: ZoneInfo) -> str:
        return f"daily at {self.at.strftime('%H:%M')} {zone.key}"

    def slot(self, day: dt.date, zone: ZoneInfo) -> dt.datetime:
        """The scheduled instant of local `day`: the one place a slot is computed."""
        return dt.datetime.combine(day, self.at, tzinfo=zone)

    def latest_slot(self, now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
        """The most recent scheduled instant at or before `now`."""
        today = now.astimezone(zone).date()
        slot = self.slot(today, zone)
        return slot if slot <= now else self.slot(today - dt.timedelta(days=1), zone)

    def is_due(self, run: JobRun | None, now: dt.datetime, zone: ZoneInfo, backoff: bool = True) -> bool:
        """Due when the latest slot's day has not been completed: a missed day (asleep, down) runs once, not N times.

        A run at 06:00 that catches up yesterday's missed 07:00 writes today's insight and completes today, so
        today's 07:00 finds nothing to do.
        """
        if backoff and _backing_off(run, now):
            return False
        last_day = run.last_day if run is not None else None
        return last_day is None or last_day < self.latest_slot(now, zone).date()

    def next_run(self, run: JobRun | None, now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
        if self.is_due(run, now, zone):
            return now
        if _backing_off(run, now):
            assert run is not None and run.last_finished_at is not None  # _backing_off checked both
            return run.last_finished_at + RETRY_DELAY
        # Not due: the latest slot's day is completed, so the next slot is the one of the day after it.
        assert run is not None and run.last_day is not None  # is_due is True without a completed day
        return self.slot(run.last_day + dt.timedelta(days=1), zone)


@dataclass(frozen=True)
class Every:
    """At most once per `interval`, measured from the end of the last completed run."""

    interval: dt.timedelta

    def describe(self, zone: ZoneInfo) -> str:
        minutes = int(self.interval.total_seconds() // 60)
        return "hourly" if minutes == 60 else f"every {minutes} minutes"

    def is_due(self, run: JobRun | None, now: dt.datetime, zone: ZoneInfo, backoff: bool = True) -> bool:
        if run is None or run.last_finished_at is None:
            return True
        if backoff and _backing_off(run, now):
            return False
        return now - run.last_finished_at >= self.interval

    def next_run(self, run: JobRun | None, now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
        if self.is_due(run, now, zone):
            return now
        assert run is not None and run.last_finished_at is not None  # is_due is True without a finished run
        if _backing_off(run, now):
            return run.last_finished_at + RETRY_DELAY
        return run.last_finished_at + self.interval


def _backing_off(run: JobRun | None, now: dt.datetime) -> bool:
    return (
        run is not None
        and run.last_status in BACKOFF_STATUSES
        and run.last_finished_at is not None
        and now < run.last_finished_at + RETRY_DELAY
    )


@dataclass
class RunControl:
    """What a running job can see: a stop request, and where to report progress (the CLI draws it)."""

    stop: threading.Event = field(default_factory=threading.Event)
    progress: Any = None


@dataclass
class JobResult:
    status: str  # ok | partial | interrupted | error | batched | queued
    result: dict[str, Any]
    completed_day: dt.date | None = None  # the local day the job completed for (kept as job_runs.last_day)
    error: FinbuddyError | None = None  # with status error: what `run-once` reports and exits 1 for


@dataclass(frozen=True)
class JobSpec:
    name: str
    schedule: Daily | Every
    func: Callable[[Context, RunControl], JobResult]
    description: str


# --- the jobs ----------------------------------------------------------------------


def daily_insights(ctx: Context, control: RunControl) -> JobResult:
    from finbuddy.daemon.batch_insights import batch_insights_job, batch_mode, settle_batches
    from finbuddy.daemon.insights import InsightBatch

    if batch_mode(ctx.settings):
        return batch_insights_job(ctx, control)
    if ctx.settings.queue.url is not None:  # phase 2: plan only; `finbuddy worker` processes write them
        from finbuddy.worker.planner import plan_insights

        settle_batches(ctx)
        plan = plan_insights(ctx, stop=control.stop)
        if plan.complete:
            return JobResult("ok", plan.to_json(), completed_day=plan.day)
        return JobResult("queued", plan.to_json())
    settle_batches(ctx)  # batches submitted before a switch to sync mode still bring their results

    batch = InsightBatch(ctx, stop=control.stop, progress=control.progress)
    summary = batch.run()
    if batch.error is not None:
        return JobResult("error", summary.to_json(), error=batch.error)
    if summary.complete:
        return JobResult("ok", summary.to_json(), completed_day=summary.day)
    status = "interrupted" if summary.stopped == "stop requested" else "partial"
    return JobResult(status, summary.to_json())


def budget_alerts(ctx: Context, control: RunControl) -> JobResult:
    """Alerts for budgets that passed 80 % or 100 % since the last run (no AI; idempotent)."""
    from finbuddy.db.job_runs import read_job_runs
    from finbuddy.ledger.alerts import write_budget_alerts

    with ctx.db.read() as conn:
        last = read_job_runs(conn).get("budget-alerts")
    run = write_budget_alerts(ctx, last.last_day if last is not None else None)
    return JobResult("ok", run.to_json(), completed_day=ctx.install_today())


def cache_maintenance(ctx: Context, control: RunControl) -> JobResult:
    removed = ctx.cache.cull()
    return JobResult("ok", {"culled": removed}, completed_day=ctx.install_today())


def reservation_sweep(ctx: Context, control: RunControl) -> JobResult:
    from finbuddy.advisor import sweep_stale_reservations

    refunded = sweep_stale_reservations(ctx)
    return JobResult("ok", {"refunded": refunded}, completed_day=ctx.install_today())


def default_jobs(settings: Settings) -> list[JobSpec]:
    """The registry the daemon and `run-once` run."""
    return [
        JobSpec(
            "daily-insights",
            Daily.parse(settings.daemon.insights_at),
            daily_insights,
            "one AI insight per user with data and local day",
        ),
        JobSpec(
            "budget-alerts",
            Daily.parse(settings.daemon.insights_at),
            budget_alerts,
            "an alert for each budget that passed 80 % or 100 % this month",
        ),
        JobSpec(
            "cache-maintenance",
            Every(dt.timedelta(hours=1)),
            cache_maintenance,
            "remove expired cache entries",
        ),
        JobSpec(
            "reservation-sweep",
            Every(dt.timedelta(minutes=10)),
            reservation_sweep,
            "refund AI-call reservations left by killed processes",
        ),
    ]
