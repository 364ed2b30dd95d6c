"""What a worker does with one message: `write_insight` for each of its users, each AI call in a global slot.

A message holds one day and a chunk of user names: the planner groups users by their own local day, so the day
is each of its users' local day when planned. Users are written one after the other (a worker process runs one
message per thread); before a user's call the thread waits for a slot of the global rate, and only for a user who
still needs one (done, out of attempts, gone, or whose local day has ended since: skipped without a slot). The
database claim makes every step safe to repeat, so the message can be delivered twice, cut short, or its worker
killed.

What is not finished goes back to the queue as messages of their own, and the message is acknowledged:
- the chunk's rest, when the worker stops (SIGTERM) or the chunk has run CHUNK_BUDGET_S;
- users whose call failed, with attempts left today: after a backoff;
- users claimed by another live worker (a duplicate message): after the claim could go stale.
The global daily limit or the provider refusing the account ends the chunk without a retry (no other call can
succeed today, or without a person); the users left are planned again by a later run of the daily job.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from finbuddy.context import Context
from finbuddy.daemon.insights import (
    DONE,
    FAILED,
    HELD,
    MAX_ATTEMPTS,
    claim_timeout_seconds,
    local_today,
    worker_identity,
    write_insight,
)
from finbuddy.errors import AdvisorAccountError, NotFound, QuotaExceeded
from finbuddy.worker.rate import GlobalRate

log = logging.getLogger("finbuddy.worker")

# How long one message may keep a worker thread before handing the rest of its chunk back: far below RabbitMQ's
# 30-minute acknowledgement timeout (past which it closes the channel and redelivers), even for a message that
# waited its turn in the worker's prefetch.
CHUNK_BUDGET_S = 300.0

# Backoff of a user's failed call, by the attempt that failed: 10 s, 20 s, ... at most 5 minutes.
RETRY_BASE_S = 10.0
RETRY_MAX_S = 300.0


def retry_delay_seconds(attempt: int) -> float:
    return min(RETRY_MAX_S, RETRY_BASE_S * 2 ** max(0, attempt - 1))


@dataclass
class ChunkOutcome:
    """What a worker did with one message, and what goes back to the queue."""

    day: dt.date
    users: int
    done: int = 0
    skipped: int = 0  # already written, out of attempts, not a user any more, or for a day that has ended
    dropped: int = 0  # of the skipped: the message's day has ended in the user's own zone
    failed: int = 0
    calls: int = 0  # AI provider calls that answered (not cache hits, not the offline provider)
    halted: str | None = None  # why the chunk ended early without handing its rest back
    rest: list[str] = field(default_factory=list)  # not started: sent back now
    retry: list[str] = field(default_factory=list)  # failed with attempts left: sent back after a backoff
    retry_delay_s: float = 0.0
    held: list[str] = field(default_factory=list)  # claimed by a live worker elsewhere: looked at again later
    held_delay_s: float = 0.0
    elapsed_s: float = 0.0

    def follow_ups(self) -> list[tuple[list[str], float]]:
        """(users, delay in seconds) of each message to send back."""
        return [
            (users, delay)
            for users, delay in ((self.rest, 0.0), (self.retry, self.retry_delay_s), (self.held, self.held_delay_s))
            if users
        ]

    def describe(self) -> str:
        parts = [f"done {self.done}", f"skipped {self.skipped}", f"failed {self.failed}", f"calls {self.calls}"]
        if self.dropped:
            parts.append(f"dropped {self.dropped} (their day has ended)")
        if self.rest:
            parts.append(f"handed back {len(self.rest)}")
        if self.retry:
            parts.append(f"retry {len(self.retry)} in {self.retry_delay_s:.0f}s")
        if self.held:
            parts.append(f"held elsewhere {len(self.held)}")
        if self.halted:
            parts.append(f"stopped: {self.halted}")
        return ", ".join(parts)


class ChunkWriter:
    """Writes chunks of users' insights in one worker process, from any number of its threads."""

    def __init__(
        self,
        ctx: Context,
        rate: GlobalRate | None,
        stop: threading.Event,
        budget_s: float = CHUNK_BUDGET_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.rate = rate  # None: the offline provider, which calls nobody
        self.stop = stop
        self.budget_s = budget_s
        self._monotonic = monotonic

    def write(self, day: dt.date, users: list[str]) -> ChunkOutcome:
        from finbuddy.db.insights import insight_state

        started = self._monotonic()
        deadline = started + self.budget_s
        outcome = ChunkOutcome(day=day, users=len(users))
        worker = worker_identity()
        for index, user in enumerate(users):
            if self.stop.is_set() or self._monotonic() >= deadline:
                outcome.rest = users[index:]
                break
            with self.ctx.db.read() as conn:
                state = insight_state(conn, user, day)
            if state is None or state.status == "done" or (state.status == "failed" and state.attempts >= MAX_ATTEMPTS):
                outcome.skipped += 1
                continue
            if day < local_today(self.ctx, state.timezone):
                # The day has ended in the user's zone: their next plan has them for their new day. Writing the
                # old day's insight now would cost a second call today.
                outcome.skipped += 1
                outcome.dropped += 1
                continue
            if self.rate is not None and not self.rate.acquire(self.stop, deadline):
                outcome.rest = users[index:]
                break
            try:
                result = write_insight(self.ctx, user, day, worker)
            except (QuotaExceeded, AdvisorAccountError) as exc:
                outcome.halted = str(exc)
                log.error(
                    "insights for %s: %s; the rest of this chunk (%d users) waits for a later plan",
                    day.isoformat(),
                    exc,
                    len(users) - index,
                )
                break
            except NotFound:  # deleted since the message was planned
                outcome.skipped += 1
                continue
            if result.status == DONE:
                outcome.done += 1
                answer = result.answer
                if answer is not None and not answer.cached and answer.source != "offline":
                    outcome.calls += 1
            elif result.status == FAILED:
                outcome.failed += 1
                with self.ctx.db.read() as conn:
                    after = insight_state(conn, user, day)
                if after is not None and after.status == "failed" and after.attempts < MAX_ATTEMPTS:
                    outcome.retry.append(user)
                    outcome.retry_delay_s = max(outcome.retry_delay_s, retry_delay_seconds(after.attempts))
            elif result.status == HELD:
                outcome.held.append(user)
            else:
                outcome.skipped += 1
        if outcome.dropped:
            log.warning(
                "insights for %s: %d users dropped, the day has ended in their zone", day.isoformat(), outcome.dropped
            )
        if outcome.held:
            outcome.held_delay_s = claim_timeout_seconds(self.ctx.settings) + 5.0
        outcome.elapsed_s = self._monotonic() - started
        return outcome
