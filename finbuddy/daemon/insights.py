"""The daily insight batch: one insight per user with data and local day, claimed before the call, paced, isolated."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from finbuddy.context import Context
from finbuddy.daemon.pacing import Pacer
from finbuddy.errors import FinbuddyError, NotFound, QuotaExceeded

log = logging.getLogger("finbuddy.daemon")

# A user whose insight failed this many times in one day is left alone until the next day.
MAX_ATTEMPTS = 3


def worker_identity() -> str:
    """Who holds a claim: host, pid and a per-batch token (so a dead process's claims can be recognised)."""
    host = socket.gethostname()[:40] or "localhost"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


_live_batches: set[str] = set()
_live_lock = threading.Lock()


def owner_is_dead(owner: str | None) -> bool:
    """True only when we can be sure: the claim was made on this host by a process that no longer exists.

    Anything else (another host, an unreadable owner, a live or reused pid) is left to the time-based staleness.
    """
    if not owner:
        return False
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != (socket.gethostname()[:40] or "localhost"):
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        # Ours: orphaned unless a batch of this process that is still running holds it.
        with _live_lock:
            return owner not in _live_batches
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


# Added to the longest a call can take before another process's claim counts as abandoned.
CLAIM_MARGIN_S = 60.0


def claim_timeout_seconds(settings) -> float:
    """How old a 'claimed' row must be before another batch may retake it: longer than any call can take."""
    from finbuddy.advisor.providers import longest_call_seconds

    return longest_call_seconds(settings) + CLAIM_MARGIN_S


class BatchProgress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, outcome: str, count: int = 1) -> None: ...


@dataclass
class BatchSummary:
    """What one run of the batch did (JSON-able: the job's result)."""

    day: dt.date
    users: int = 0  # users with data
    done: int = 0  # insights written by this run
    skipped: int = 0  # nothing to do: already written, being written elsewhere, or out of attempts today
    failed: int = 0  # failed in this run (recorded; retried by a later run)
    calls: int = 0  # AI provider calls (not cache hits, not the offline provider)
    cached: int = 0
    offline: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_micro_usd: int = 0
    remaining: int = 0  # users that still need a run today (failed with attempts left, not reached, held elsewhere)
    stopped: str | None = None  # why the batch ended early, if it did
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.remaining == 0 and self.stopped is None

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["tokens"] = self.tokens
        data["elapsed_s"] = round(self.elapsed_s, 3)
        data["errors"] = self.errors[:10]
        return data


@dataclass(frozen=True)
class Insight:
    user: str
    date: dt.date
    text: str
    source: str | None
    model: str | None
    figures: Any
    written_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "date": self.date.isoformat(),
            "text": self.text,
            "source": self.source,
            "model": self.model,
            "figures": self.figures,
            "written_at": self.written_at.isoformat() if self.written_at else None,
        }


def latest_insight(ctx: Context, user: str | None = None) -> Insight:
    """The user's most recent daily insight; NotFound if the batch has not written one yet."""
    from finbuddy.db.engine import as_utc
    from finbuddy.db.insights import latest_insight as query
    from finbuddy.db.users import find_user_id

    name = user or ctx.user
    with ctx.db.read() as conn:
        user_id = find_user_id(conn, name)
        row = query(conn, user_id) if user_id is not None else None
    if row is None:
        raise NotFound(
            f"no daily insight for {name} yet: the batch writes one a day at {ctx.settings['daemon.insights_at']} "
            "for every user with data (run `finbuddy daemon run-once` to write it now)"
        )
    try:
        figures = json.loads(row["figures"]) if row["figures"] else None
    except ValueError:
        figures = None
    return Insight(
        user=name,
        date=row["day"],
        text=row["text"] or "",
        source=row["source"],
        model=row["model"],
        figures=figures,
        written_at=as_utc(row["updated_at"]),
    )


class _Outcome:
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_REACHED = "not reached"
    LIMIT = "global limit"


def run_insight_batch(
    ctx: Context,
    stop: threading.Event | None = None,
    progress: BatchProgress | None = None,
    generate: Callable[[Context, str], Any] | None = None,
) -> BatchSummary:
    """Write today's insight for every user with data who has none yet.

    Each user is claimed in the database before the AI call, so concurrent batches (another daemon, a cron
    run-once) never call twice for one user, and a killed batch resumes where it stopped. Calls start no faster
    than ai.requests_per_minute, from daemon.workers threads. One user's failure is recorded on their row and
    retried by a later run; a reached global limit ends the batch (nothing more can succeed today).
    """
    from finbuddy.db import insights as q

    if generate is None:
        from finbuddy.advisor import generate_insight

        generate = generate_insight
    stop = stop or threading.Event()
    started = time.monotonic()
    settings = ctx.settings
    day = ctx.today()
    summary = BatchSummary(day=day)
    worker = worker_identity()
    stale_before = ctx.now() - dt.timedelta(seconds=claim_timeout_seconds(settings))

    # Open the database and the cache once, before the threads share them.
    ctx.db.ensure_schema()
    _ = ctx.cache
    with ctx.db.read() as conn:
        states = q.insight_states(conn, day)
    summary.users = len(states)

    todo: list[q.InsightState] = []
    for state in states:
        if state.status is None:
            todo.append(state)
        elif state.status == "failed":
            if state.attempts < MAX_ATTEMPTS:
                todo.append(state)
            else:
                summary.skipped += 1  # out of attempts for today
        elif state.status == "claimed":
            if (state.claimed_at is not None and state.claimed_at < stale_before) or owner_is_dead(state.claimed_by):
                todo.append(state)
            else:
                summary.skipped += 1  # being written by a live process
                summary.remaining += 1
        else:
            summary.skipped += 1  # done
    if progress is not None:
        progress.start(len(states))
        if summary.skipped:
            progress.advance(_Outcome.SKIPPED, summary.skipped)
    log.info(
        "daily-insights %s: %d users with data, %d to write, provider=%s, workers=%d, pace=%s",
        day.isoformat(),
        len(states),
        len(todo),
        settings.ai_provider(),
        settings["daemon.workers"],
        f"{settings['ai.requests_per_minute']}/min" if settings.ai_provider() != "offline" else "none (offline)",
    )

    # The offline provider calls nobody and costs nothing: only a real provider is paced.
    pacer = Pacer(int(settings["ai.requests_per_minute"])) if settings.ai_provider() != "offline" else None
    halt = threading.Event()  # the global limit was reached: nothing more can succeed today
    lock = threading.Lock()
    pending: Iterator[q.InsightState] = iter(todo)

    def next_state() -> q.InsightState | None:
        with lock:
            return next(pending, None)

    def record(outcome: str, answer: Any = None, error: str | None = None) -> None:
        with lock:
            if outcome == _Outcome.DONE:
                summary.done += 1
                if answer is not None:
                    if getattr(answer, "cached", False):
                        summary.cached += 1
                    elif getattr(answer, "source", None) == "offline":
                        summary.offline += 1
                    else:
                        summary.calls += 1
                    summary.tokens_in += int(getattr(answer, "tokens_in", 0) or 0)
                    summary.tokens_out += int(getattr(answer, "tokens_out", 0) or 0)
                    summary.cost_micro_usd += int(getattr(answer, "cost_micro_usd", 0) or 0)
            elif outcome == _Outcome.FAILED:
                summary.failed += 1
                summary.remaining += 1
                if error:
                    summary.errors.append(error)
            elif outcome == _Outcome.SKIPPED:
                summary.skipped += 1
                summary.remaining += 1  # taken by someone else meanwhile: look again later
            else:  # not reached, global limit
                summary.remaining += 1
        if progress is not None:
            progress.advance(outcome)

    def process(state: q.InsightState) -> None:
        if stop.is_set() or halt.is_set():
            record(_Outcome.NOT_REACHED)
            return
        if (pacer is not None and not pacer.acquire(stop)) or stop.is_set() or halt.is_set():
            record(_Outcome.NOT_REACHED)
            return
        dead_owner = state.claimed_by if state.status == "claimed" else None
        with ctx.db.write() as conn:
            attempt = q.claim_insight(
                conn, state.user_id, day, worker, ctx.now(), stale_before, MAX_ATTEMPTS, dead_owner=dead_owner
            )
        if attempt is None:
            record(_Outcome.SKIPPED)
            return
        try:
            answer = generate(ctx, state.user)
        except QuotaExceeded as exc:
            halt.set()
            with ctx.db.write() as conn:
                q.fail_insight(conn, state.user_id, day, worker, ctx.now(), str(exc), count_attempt=False)
            log.warning("daily-insights: %s; stopping the batch until the limit resets", exc)
            record(_Outcome.LIMIT)
            return
        except Exception as exc:  # one user's failure never stops the batch
            error = str(exc) if isinstance(exc, FinbuddyError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, FinbuddyError):
                log.exception("daily-insights: unexpected error for user %r", state.user)
            else:
                log.warning("daily-insights: user %r failed (attempt %d): %s", state.user, attempt, error)
            with ctx.db.write() as conn:
                q.fail_insight(conn, state.user_id, day, worker, ctx.now(), error)
            record(_Outcome.FAILED, error=f"{state.user}: {error}")
            return
        with ctx.db.write() as conn:
            ours = q.finish_insight(
                conn,
                state.user_id,
                day,
                worker,
                ctx.now(),
                text=answer.text,
                source=answer.source,
                model=getattr(answer, "model", None),
                figures=getattr(answer, "figures", None),
            )
        if not ours:
            log.warning("daily-insights: the claim on user %r was retaken before the answer came", state.user)
        record(_Outcome.DONE, answer=answer)

    def work() -> None:
        while True:
            state = next_state()
            if state is None:
                return
            try:
                process(state)
            except Exception as exc:  # e.g. the database went away for this user: record and go on
                log.exception("daily-insights: could not process user %r", state.user)
                record(_Outcome.FAILED, error=f"{state.user}: {type(exc).__name__}: {exc}")

    workers = max(1, min(int(settings["daemon.workers"]), len(todo) or 1))
    with _live_lock:
        _live_batches.add(worker)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="insight") as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
    finally:
        with _live_lock:
            _live_batches.discard(worker)

    if halt.is_set():
        summary.stopped = "global limit reached"
    elif stop.is_set() and summary.remaining:
        summary.stopped = "stop requested"
    summary.elapsed_s = time.monotonic() - started
    log.info(
        "daily-insights %s: done=%d skipped=%d failed=%d calls=%d tokens=%d remaining=%d%s in %.1fs",
        day.isoformat(),
        summary.done,
        summary.skipped,
        summary.failed,
        summary.calls,
        summary.tokens,
        summary.remaining,
        f" ({summary.stopped})" if summary.stopped else "",
        summary.elapsed_s,
    )
    return summary
