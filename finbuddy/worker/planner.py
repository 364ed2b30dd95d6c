"""The daily job with a queue: mark the users due today 'queued' in the database and enqueue them in chunks.

Planning calls no AI. It is safe to run as often as wanted, from several machines at once: a user is enqueued
only by the planner that moved their row to 'queued' (one atomic statement per chunk, published inside the same
transaction, so a refused publish marks nobody). Running it again the same day enqueues only the users that
need it again: failed with attempts left, 'queued' so long ago that their message must be lost (dead-lettered
after Dramatiq's retries, or purged), or claimed by a worker that died on another machine.

Days: each user is planned for their own local day (`local_days`, as the in-process batch), so a message holds
the users of one day: the due users are grouped by day, then cut into chunks. A worker drops a user whose day has
ended by the time it reads the message (chunks.py). The plan's own `day` is the install's (user.timezone): the
day the daily job completes once every user's insight for their local day is written.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from finbuddy.context import Context
from finbuddy.daemon.insights import MAX_ATTEMPTS, local_days, stale_claims_before
from finbuddy.worker.config import check_queue_settings, insights_queue

log = logging.getLogger("finbuddy.worker")

# Users per message: enough messages for every worker thread to have one (TARGET_MESSAGES), never one message
# per user at scale (publishing a million single messages takes most of an hour), never so many users that one
# message outlives RabbitMQ's 30-minute acknowledgement timeout (a worker also hands a chunk's rest back after
# chunks.CHUNK_BUDGET_S).
MIN_CHUNK = 10
MAX_CHUNK = 500
TARGET_MESSAGES = 100

# A user 'queued' this long ago and still not written is enqueued again: their message was dead-lettered or
# lost. A message that was only slow costs a duplicate, which the claim turns into a database read, not a call.
REQUEUE_AFTER = dt.timedelta(hours=1)


def chunk_size(users: int) -> int:
    """Users per message for a plan of `users`: 10 for small plans, 20 for 2,000, 500 from 50,000 on."""
    return min(MAX_CHUNK, max(MIN_CHUNK, math.ceil(users / TARGET_MESSAGES)))


@dataclass
class PlanSummary:
    """What one planning run did (JSON-able: the daily job's result)."""

    day: dt.date  # the install's day (the job's); each user is planned for their own local day
    queue: str
    mode: str = "queue"
    users: int = 0  # users with data
    done: int = 0  # already written today
    planned: int = 0  # users enqueued by this run
    messages: int = 0  # messages published by this run
    chunk: int = 0  # users per message (at most)
    in_hand: int = 0  # queued or claimed earlier, not due again yet: workers have them
    out_of_attempts: int = 0  # failed MAX_ATTEMPTS times today: left for tomorrow
    remaining: int = 0  # not written yet and still to be: planned now or in hand
    days: dict[str, int] = field(default_factory=dict)  # users enqueued by this run, by their local day
    stopped: str | None = None
    elapsed_s: float = 0.0

    @property
    def complete(self) -> bool:
        return self.remaining == 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["elapsed_s"] = round(self.elapsed_s, 3)
        return data


def plan_insights(ctx: Context, stop: threading.Event | None = None) -> PlanSummary:
    """Enqueue the due users, each for their own local day, for the queue workers; returns what it did. ConfigError
    without cache.url or the `scale` extra; QueueError when RabbitMQ refuses (nothing is marked for the chunk that
    failed)."""
    from finbuddy.db.insights import local_insight_states, queue_insights
    from finbuddy.worker.broker import Publisher

    started = time.monotonic()
    settings = ctx.settings
    check_queue_settings(settings)
    ctx.db.ensure_schema()
    day = ctx.install_today()
    now = ctx.now()
    summary = PlanSummary(day=day, queue=insights_queue(settings))
    local_day, first, last = local_days(ctx)
    with ctx.db.read() as conn:
        states = local_insight_states(conn, local_day, first, last)
    summary.users = len(states)
    stale_before = stale_claims_before(ctx)
    requeue_before = now - REQUEUE_AFTER
    candidates = []
    for state in states:
        if state.status == "done":
            summary.done += 1
        elif state.status == "failed" and state.attempts >= MAX_ATTEMPTS:
            summary.out_of_attempts += 1
        elif state.status == "claimed" and not (state.claimed_at is not None and state.claimed_at < stale_before):
            summary.in_hand += 1  # a live claim: its worker is writing it now
        elif state.status == "queued" and not (state.updated_at is not None and state.updated_at < requeue_before):
            summary.in_hand += 1  # its message is on its way
        else:
            candidates.append(state)  # no row, failed with attempts left, queued (maybe long ago), stale claim
    summary.remaining = len(candidates) + summary.in_hand
    summary.chunk = chunk_size(len(candidates))
    names = {state.user_id: state.user for state in candidates}
    # A message holds one day: the due users grouped by their local day (in user order within a day).
    by_day: dict[dt.date, list[int]] = {}
    for state in candidates:
        by_day.setdefault(state.day or day, []).append(state.user_id)
    planned: Counter[dt.date] = Counter()
    chunks = [
        (user_day, ids[start : start + summary.chunk])
        for user_day, ids in sorted(by_day.items())
        for start in range(0, len(ids), summary.chunk)
    ]
    if chunks:
        publisher = Publisher(settings)
        try:
            for user_day, ids in chunks:
                if stop is not None and stop.is_set():
                    summary.stopped = "stop requested"
                    break
                with ctx.db.write() as conn:
                    marked = queue_insights(conn, user_day, ids, now, requeue_before, stale_before, MAX_ATTEMPTS)
                    if marked:
                        publisher.send(user_day, [names[user_id] for user_id in marked])
                summary.planned += len(marked)
                summary.messages += 1 if marked else 0
                planned[user_day] += len(marked)
        finally:
            publisher.close()
    summary.days = {user_day.isoformat(): count for user_day, count in sorted(planned.items()) if count}
    summary.in_hand += len(candidates) - summary.planned
    summary.elapsed_s = time.monotonic() - started
    log.info(
        "daily-insights %s: planned %d users in %d messages on %s (local days %s; %d done, %d in hand, "
        "%d out of attempts) in %.1fs",
        day.isoformat(),
        summary.planned,
        summary.messages,
        summary.queue,
        ", ".join(f"{d}: {n}" for d, n in summary.days.items()) or "none",
        summary.done,
        summary.in_hand,
        summary.out_of_attempts,
        summary.elapsed_s,
    )
    return summary
