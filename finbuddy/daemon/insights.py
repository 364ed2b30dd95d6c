"""The daily insight batch: one insight per user with data and local day, claimed before the call, paced, isolated.

Its steps, each usable (and tested) alone:

- `select_due(states, stale_before)`: which users this run should try, from their rows for their own local day
  (`local_days(ctx)`: each user's day is in their own zone, `profile set --timezone`);
- `write_insight(ctx, user, day, worker)`: one user's day: claim it in the database, generate the insight
  through the advisor's guard, store it (or the failure) on the claim. Safe to call from anywhere, as often as
  wanted: the claim makes it idempotent (phase 2's queue workers call it, as the batch does);
- `BatchSummary.add(result)`: the tally;
- `InsightBatch(ctx).run()`: the batch: select, then `write_insight` per user from paced worker threads.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from finbuddy.context import Context, known_zone
from finbuddy.daemon.pacing import Pacer
from finbuddy.errors import AdvisorAccountError, FinbuddyError, NotFound, QuotaExceeded, StorageError

if TYPE_CHECKING:
    from finbuddy.advisor import Answer
    from finbuddy.config import Settings
    from finbuddy.db.insights import InsightState

log = logging.getLogger("finbuddy.daemon")

# A user whose insight failed this many times in one day is left alone until the next day.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class _ProcessIdentity:
    """What tells this process start apart from every other one that may claim insights in the same database."""

    host: str
    pid: int
    namespace: str  # boot id + pid namespace, hashed: where `pid` means this process ("-": unknown)
    started: str  # the start time of `pid` in clock ticks since boot ("-": unknown)
    token: str  # random, once per process start

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.namespace}:{self.started}:{self.token}"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat from field 3 (the state) on, or None."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    return stat.rsplit(")", 1)[-1].split()  # the command name (field 2) may hold spaces and parentheses


def _start_time(pid: int | str) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _exited(pid: int) -> bool:
    """A zombie: the process has exited (killed with kill -9, say) and waits for its parent, or init, to reap it."""
    fields = _stat_fields(pid)
    return fields is not None and bool(fields) and fields[0] in ("Z", "X")


def _namespace() -> str:
    """A short hash of the boot id and the pid namespace: equal only where a pid names the same process."""
    import hashlib

    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pid_ns = None
    if not boot or not pid_ns:
        return "-"
    return hashlib.sha256(f"{boot.strip()}|{pid_ns}".encode()).hexdigest()[:8]


_this_process: _ProcessIdentity | None = None


def _process_identity() -> _ProcessIdentity:
    """This process start's identity, made once (and again in a forked child, which has a pid of its own)."""
    global _this_process
    pid = os.getpid()
    if _this_process is None or _this_process.pid != pid:
        host = (socket.gethostname() or "localhost").replace(":", "_")[:20]
        _this_process = _ProcessIdentity(host, pid, _namespace(), _start_time("self") or "-", secrets.token_hex(3))
    return _this_process


def worker_identity() -> str:
    """Who holds a claim: host, pid, pid namespace, process start time, a random token made once per process,
    and one per batch (at most 64 characters, like the claimed_by column).

    Host and pid alone are not unique: containers share host names and each runs its worker as pid 1.
    """
    return f"{_process_identity()}:{secrets.token_hex(2)}"


# Workers of this process inside write_insight now, by identity: their claims are live, any other of ours is not.
_live_workers: Counter[str] = Counter()
_live_lock = threading.Lock()


@contextmanager
def _live(worker: str) -> Iterator[None]:
    with _live_lock:
        _live_workers[worker] += 1
    try:
        yield
    finally:
        with _live_lock:
            _live_workers[worker] -= 1
            if _live_workers[worker] <= 0:
                del _live_workers[worker]


def owner_is_dead(owner: str | None) -> bool:
    """True only when we can be sure the claim's owner is gone: it ran where its pid means a process we can see
    (this host, boot and pid namespace), and that pid is gone or now belongs to a later process.

    Anything else (another host, container or boot, an unreadable or older-format owner, a live process) is
    left to the time-based staleness.
    """
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) != 6:
        return False
    host, pid_text, namespace, started, token, _batch = parts
    me = _process_identity()
    if host != me.host or namespace == "-" or namespace != me.namespace:
        return False
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == me.pid:
        if (started, token) == (me.started, me.token):
            # Ours: orphaned unless a worker of this process is writing that insight now.
            with _live_lock:
                return owner not in _live_workers
        return True  # an earlier process that had our pid in our namespace
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists (another user's process)
    except OSError:
        return False
    now_started = _start_time(pid)
    if now_started is not None and started != "-" and now_started == started and _exited(pid):
        return True  # exited, not reaped yet
    return now_started is not None and started != "-" and now_started != started  # the pid was reused


# Added to the longest a call can take before another process's claim counts as abandoned.
CLAIM_MARGIN_S = 60.0


def claim_timeout_seconds(settings: Settings) -> float:
    """How old a 'claimed' row must be before another batch may retake it: longer than any call can take."""
    from finbuddy.advisor.providers import longest_call_seconds

    return longest_call_seconds(settings) + CLAIM_MARGIN_S


@dataclass
class Selection:
    """Which users one run of the batch tries, and how many it leaves alone."""

    todo: list[InsightState] = field(default_factory=list)
    skipped: int = 0  # done, or out of attempts today
    held: int = 0  # claimed by a live worker elsewhere: still to be written today, by it or a later run


def select_due(states: list[InsightState], stale_before: dt.datetime) -> Selection:
    """The users to try, from their rows for the day: no row yet (or only queued), failed with attempts left, or a
    claim that went stale (older than `stale_before`) or whose owner is known to be dead."""
    selection = Selection()
    for state in states:
        # 'queued': planned for queue workers; with the queue switched off since, this batch writes it.
        if state.status is None or state.status == "queued":
            selection.todo.append(state)
        elif state.status == "failed":
            if state.attempts < MAX_ATTEMPTS:
                selection.todo.append(state)
            else:
                selection.skipped += 1
        elif state.status == "batched":
            selection.held += 1  # its line is in a live Batch API batch: that batch's results write it
        elif state.status == "claimed":
            if (state.claimed_at is not None and state.claimed_at < stale_before) or owner_is_dead(state.claimed_by):
                selection.todo.append(state)
            else:
                selection.held += 1
        else:
            selection.skipped += 1  # done
    return selection


# What write_insight did for a user.
DONE = "done"  # written now
FAILED = "failed"  # the call failed; recorded on the row, retried by a later run while attempts are left
SKIPPED = "skipped"  # nothing to do: already written, or out of attempts today
HELD = "held"  # claimed by a live worker elsewhere (or taken meanwhile): look again later


@dataclass(frozen=True)
class UserInsight:
    user: str
    status: str  # DONE | FAILED | SKIPPED | HELD
    answer: Answer | None = None
    error: str | None = None


def stale_claims_before(ctx: Context) -> dt.datetime:
    """Claims made before this instant count as abandoned: longer ago than any call can take."""
    return ctx.now() - dt.timedelta(seconds=claim_timeout_seconds(ctx.settings))


def write_insight(ctx: Context, user: str, day: dt.date, worker: str) -> UserInsight:
    """Write `user`'s insight for local `day` as `worker`, unless it is written or in hand elsewhere.

    Idempotent through the database: the claim lets one worker at a time call the AI for a (user, day) and a
    written insight is never redone, so any process may call this for any user, any number of times. A failed
    call is recorded on the row (an attempt used) and returned. Raised after giving the attempt back, because
    they stop a batch and are not the user's failure: QuotaExceeded (the global limit) and AdvisorAccountError
    (the provider refused the account: billing or the key; no other user's call can succeed either). A
    StorageError (the database refuses a write: a full disk) is raised as it comes: nothing can be recorded,
    and a claim left behind is retaken once this process is gone or no worker of it holds the claim.
    """
    from finbuddy.advisor import generate_insight
    from finbuddy.db import insights as q

    if not 0 < len(worker) <= q.OWNER_LENGTH:
        raise ValueError(f"a worker identity has 1 to {q.OWNER_LENGTH} characters, not {len(worker)}: {worker!r}")
    with ctx.db.read() as conn:
        state = q.insight_state(conn, user, day)
    if state is None:
        raise NotFound(f"no user named {user!r}")
    # The user's own context: their zone and currency came with the row, so no query of its own.
    user_ctx = ctx.for_user(user, ctx.profile_of(user, state.timezone, state.currency))
    if state.status == "done" or (state.status == "failed" and state.attempts >= MAX_ATTEMPTS):
        return UserInsight(user, SKIPPED)
    dead_owner = state.claimed_by if state.status == "claimed" and owner_is_dead(state.claimed_by) else None
    with _live(worker):
        with ctx.db.write() as conn:
            attempt = q.claim_insight(
                conn, state.user_id, day, worker, ctx.now(), stale_claims_before(ctx), MAX_ATTEMPTS, dead_owner
            )
        if attempt is None:
            return UserInsight(user, HELD)
        try:
            answer = generate_insight(user_ctx, user)
        except (QuotaExceeded, AdvisorAccountError) as exc:
            with ctx.db.write() as conn:
                q.fail_insight(conn, state.user_id, day, worker, ctx.now(), str(exc), count_attempt=False)
            raise
        except StorageError:
            raise
        except Exception as exc:  # one user's failure: recorded on their row
            error = str(exc) if isinstance(exc, FinbuddyError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, FinbuddyError):
                log.warning("daily-insights: user %r failed (attempt %d): %s", user, attempt, error)
            else:
                log.exception("daily-insights: unexpected error for user %r", user)
            with ctx.db.write() as conn:
                q.fail_insight(conn, state.user_id, day, worker, ctx.now(), error)
            return UserInsight(user, FAILED, error=error)
        with ctx.db.write() as conn:
            ours = q.finish_insight(
                conn,
                state.user_id,
                day,
                worker,
                ctx.now(),
                text=answer.text,
                source=answer.source,
                model=answer.model,
                figures=answer.figures,
            )
    if not ours:
        log.warning("daily-insights: the claim on user %r was retaken before the answer came", user)
    return UserInsight(user, DONE, answer=answer)


def local_today(ctx: Context, timezone: str | None) -> dt.date:
    """A user's local day now, from their stored zone (None, or a zone unknown on this machine: the install's, as
    ctx.profile_of says, and warns, for the user)."""
    return ctx.clock.today(known_zone(timezone) or ctx.install_zone)


def local_days(ctx: Context) -> tuple[Callable[[str | None], dt.date], dt.date, dt.date]:
    """Each user's local day now, from their stored zone (None: the install's), and the days it can be: the UTC
    day ± 1 holds every zone (UTC-12 to UTC+14). For `local_insight_states`."""
    now = ctx.now()
    days: dict[str | None, dt.date] = {}

    def local_day(timezone: str | None) -> dt.date:
        if timezone not in days:
            days[timezone] = local_today(ctx, timezone)
        return days[timezone]

    utc_day = now.astimezone(dt.UTC).date()
    return local_day, utc_day - dt.timedelta(days=1), utc_day + dt.timedelta(days=1)


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

    def add(self, result: UserInsight) -> None:
        """Count what write_insight did for one user."""
        if result.status == DONE:
            self.done += 1
            answer = result.answer
            if answer is not None:
                if answer.cached:
                    self.cached += 1
                elif answer.source == "offline":
                    self.offline += 1
                else:
                    self.calls += 1
                self.tokens_in += answer.tokens_in
                self.tokens_out += answer.tokens_out
                self.cost_micro_usd += answer.cost_micro_usd
        elif result.status == FAILED:
            self.failed += 1
            self.remaining += 1
            self.errors.append(f"{result.user}: {result.error}")
        elif result.status == HELD:
            self.skipped += 1
            self.remaining += 1
        else:
            self.skipped += 1

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
            f"no daily insight for {name} yet: the batch writes one a day at {ctx.settings.daemon.insights_at} "
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


NOT_REACHED = "not reached"  # a progress outcome: the batch stopped before this user


class InsightBatch:
    """One run of the daily batch for today: select the users, then write_insight each from paced threads.

    Each user's insight is for their own local day (their `profile` zone, else user.timezone), so a user in
    Auckland and one in Los Angeles are written for different dates by the same run; `day` is the install's day,
    which the daily job completes.

    Calls start no faster than ai.requests_per_minute, from daemon.workers threads. One user's failure is
    recorded on their row and retried by a later run; the global limit ends the batch (nothing more can
    succeed today), and so do the provider refusing the account and the database refusing writes (`error`: no
    other user can succeed). A stop request lets the calls in flight finish and leaves the rest for the next run.
    """

    def __init__(
        self, ctx: Context, stop: threading.Event | None = None, progress: BatchProgress | None = None
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.stop = stop or threading.Event()
        self.progress = progress
        self.day = ctx.install_today()
        self.worker = worker_identity()
        self.summary = BatchSummary(day=self.day)
        self.workers = max(1, settings.daemon.workers)
        # The offline provider calls nobody and costs nothing: only a real provider is paced.
        self.offline = settings.ai_provider() == "offline"
        self.pacer = None if self.offline else Pacer(settings.ai.requests_per_minute)
        self._halted: str | None = None  # why the batch stops early
        self.error: FinbuddyError | None = None  # what stopped it, when that is an error for whoever runs it
        self._lock = threading.Lock()

    def select(self) -> list[InsightState]:
        """Read each user's row for their own local day (one query), pick the users to try, count the others."""
        from finbuddy.db.insights import local_insight_states

        local_day, first, last = local_days(self.ctx)
        with self.ctx.db.read() as conn:
            states = local_insight_states(conn, local_day, first, last)
        selection = select_due(states, stale_claims_before(self.ctx))
        self.summary.users = len(states)
        self.summary.skipped += selection.skipped + selection.held
        self.summary.remaining += selection.held
        if self.progress is not None:
            self.progress.start(len(states))
            if selection.skipped + selection.held:
                self.progress.advance(SKIPPED, selection.skipped + selection.held)
        return selection.todo

    def run(self) -> BatchSummary:
        """Write today's insight for every user with data who has none yet; the summary says what happened."""
        started = time.monotonic()
        # Open the database and the cache once, before the threads share them.
        self.ctx.db.ensure_schema()
        _ = self.ctx.cache
        todo = self.select()
        settings = self.ctx.settings
        log.info(
            "daily-insights %s: %d users with data, %d to write, provider=%s, workers=%d, pace=%s",
            self.day.isoformat(),
            self.summary.users,
            len(todo),
            settings.ai_provider(),
            self.workers,
            "none (offline)" if self.offline else f"{settings.ai.requests_per_minute}/min",
        )
        pending = iter(todo)
        threads = min(self.workers, len(todo) or 1)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="insight") as pool:
            for future in [pool.submit(self._work, pending) for _ in range(threads)]:
                future.result()
        summary = self.summary
        if self._halted is not None:
            summary.stopped = self._halted
        elif self.stop.is_set() and summary.remaining:
            summary.stopped = "stop requested"
        summary.elapsed_s = time.monotonic() - started
        log.info(
            "daily-insights %s: done=%d skipped=%d failed=%d calls=%d tokens=%d remaining=%d%s in %.1fs",
            self.day.isoformat(),
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

    def _work(self, pending: Iterator[InsightState]) -> None:
        while True:
            with self._lock:
                state = next(pending, None)
            if state is None:
                return
            self._process(state)

    def _process(self, state: InsightState) -> None:
        user = state.user
        if not self._may_start():
            self._unfinished(NOT_REACHED)
            return
        try:
            result = write_insight(self.ctx, user, state.day or self.day, self.worker)
        except QuotaExceeded as exc:
            self._halt("global limit reached")
            log.warning("daily-insights: %s; stopping the batch until the limit resets", exc)
            self._unfinished("global limit")
            return
        except (AdvisorAccountError, StorageError) as exc:  # no other user can succeed either
            if self._halt(str(exc), exc):
                log.error("daily-insights: %s; stopping the batch", exc)
            self._unfinished("stopped")
            return
        except Exception as exc:  # unexpected (a bug) for this user: count it as failed and go on
            log.exception("daily-insights: could not process user %r", user)
            result = UserInsight(user, FAILED, error=f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.summary.add(result)
        if self.progress is not None:
            self.progress.advance(SKIPPED if result.status == HELD else result.status)

    def _may_start(self) -> bool:
        """Not stopped, and (for a real provider) this thread's paced slot has come."""
        if self.stop.is_set() or self._halted is not None:
            return False
        if self.pacer is not None and not self.pacer.acquire(self.stop):
            return False
        return not (self.stop.is_set() or self._halted is not None)

    def _halt(self, reason: str, error: FinbuddyError | None = None) -> bool:
        """Stop handing out users; True for the first reason given."""
        with self._lock:
            if self._halted is not None:
                return False
            self._halted = reason
            self.error = error
            return True

    def _unfinished(self, outcome: str) -> None:
        with self._lock:
            self.summary.remaining += 1
        if self.progress is not None:
            self.progress.advance(outcome)


def run_insight_batch(
    ctx: Context, stop: threading.Event | None = None, progress: BatchProgress | None = None
) -> BatchSummary:
    """Write today's insight for every user with data who has none yet (one InsightBatch run)."""
    return InsightBatch(ctx, stop=stop, progress=progress).run()
