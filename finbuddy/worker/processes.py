"""`finbuddy worker`: N forked processes, each a Dramatiq worker with N threads on the insights queue.

The parent checks the settings, forks the children before it opens anything (no connection or thread crosses
a fork), forwards SIGTERM/SIGINT to them and waits. Each child opens its own database pool, Redis client and
RabbitMQ connections. A child told to stop lets every thread finish the call it is in, hands the rest of its
chunk back to the queue, acknowledges, and exits 0; messages it had prefetched but not started go back to
RabbitMQ when its connection closes. A child that dies otherwise stops the others: the command exits 1, and
a supervisor (systemd's Restart=) starts it again; a killed worker's messages are redelivered by RabbitMQ and
its claims retaken at once on the same machine (the claim names a dead process), after the claim timeout
elsewhere.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from finbuddy.config import Settings, mask_url
from finbuddy.errors import FinbuddyError
from finbuddy.worker.config import check_queue_settings, insights_queue, rate_key, worker_settings

log = logging.getLogger("finbuddy.worker")

# How long a stopping child waits for its threads (each finishes at most one AI call: ai.timeout) before it
# gives up on them; their messages then go back to RabbitMQ unacknowledged.
STOP_MARGIN_S = 30.0


@dataclass
class WorkerRun:
    """How `finbuddy worker` ended: the exit code and each child's status."""

    exit_code: int
    children: dict[int, int] = field(default_factory=dict)  # pid -> exit code (negative: killed by that signal)


def run_workers(settings: Settings, processes: int, threads: int) -> WorkerRun:
    """Run `processes` worker children of `threads` threads until SIGTERM/SIGINT; exit code 0 when every child
    stopped cleanly. ConfigError (before anything starts) when the queue cannot work."""
    check_queue_settings(settings)
    log.info(
        "finbuddy worker: %d process%s x %d threads on %s queue %s; one global rate of %d AI requests/minute "
        "(Redis %s); stop with SIGTERM or Ctrl-C",
        processes,
        "" if processes == 1 else "es",
        threads,
        mask_url(settings.queue.url or ""),
        insights_queue(settings),
        settings.ai.requests_per_minute,
        mask_url(settings.cache.url or ""),
    )
    stopping = threading.Event()
    children: dict[int, int] = {}

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for number in range(1, processes + 1):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    for sig in previous:
                        signal.signal(sig, signal.SIG_DFL)
                    code = _child(settings, number, processes, threads)
                except FinbuddyError as exc:  # the database away at start, say: one line
                    log.error("worker %d: %s", number, exc)
                except BaseException:
                    log.exception("worker %d: failed", number)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            children[pid] = number
            if stopping.is_set():  # a signal came while forking: this child was not told yet
                os.kill(pid, signal.SIGTERM)
        return _wait(children, stopping, forward)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait(
    children: dict[int, int], stopping: threading.Event, forward: Callable[[int, FrameType | None], None]
) -> WorkerRun:
    result = WorkerRun(exit_code=0)
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries waitpid after a handler
            continue
        number = children.pop(pid, None)
        if number is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        result.children[pid] = code
        if code != 0 and not stopping.is_set():
            how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
            log.error("worker %d (pid %d) ended unexpectedly (%s); stopping the others", number, pid, how)
            forward(signal.SIGTERM, None)
        elif code != 0:
            log.error("worker %d (pid %d) stopped with exit %d", number, pid, code)
    if any(code != 0 for code in result.children.values()):
        result.exit_code = 1
    log.info("finbuddy worker: stopped")
    return result


def _child(settings: Settings, number: int, processes: int, threads: int) -> int:
    """One worker process: a Dramatiq Worker with `threads` threads, until SIGTERM/SIGINT. Returns the exit code."""
    import dramatiq
    from dramatiq import Worker

    from finbuddy.clock import Clock
    from finbuddy.context import Context
    from finbuddy.worker.broker import ACTOR_NAME, MAX_BACKOFF_MS, MAX_RETRIES, MIN_BACKOFF_MS, make_broker
    from finbuddy.worker.chunks import ChunkWriter
    from finbuddy.worker.rate import GlobalRate

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    settings = worker_settings(settings)
    ctx = Context(settings=settings, clock=Clock.from_env())
    ctx.db.ensure_schema()
    _ = ctx.cache  # opened once, before the threads share it
    # The SDK's import and client now, not between the first calls' slots of the global rate and their requests.
    from finbuddy.advisor.providers import warm_up

    warm_up(settings)
    rate = None
    if settings.ai_provider() != "offline":
        assert settings.cache.url is not None  # check_queue_settings
        rate = GlobalRate(settings.cache.url, rate_key(settings), settings.ai.requests_per_minute)
    writer = ChunkWriter(ctx, rate, stop)
    broker = make_broker(settings)

    def daily_insights(day: str, users: list[str]) -> None:
        try:
            outcome = writer.write(dt.date.fromisoformat(day), users)
        except FinbuddyError as exc:
            # An expected failure (the rate's Redis or the database away) is one line, not a traceback: the
            # message goes back to the queue with Dramatiq's backoff and no user's attempt was used.
            log.warning("worker %d: %s, %d users not written now: %s; retried later", number, day, len(users), exc)
            raise dramatiq.Retry(str(exc)) from None
        for group, delay in outcome.follow_ups():
            actor.send_with_options(args=(day, group), delay=int(delay * 1000) if delay > 0 else None)
        log.info("worker %d: %s, %d users: %s (%.1fs)", number, day, len(users), outcome.describe(), outcome.elapsed_s)

    actor = dramatiq.actor(
        actor_name=ACTOR_NAME,
        queue_name=insights_queue(settings),
        broker=broker,
        max_retries=MAX_RETRIES,
        min_backoff=MIN_BACKOFF_MS,
        max_backoff=MAX_BACKOFF_MS,
    )(daily_insights)
    worker = Worker(broker, worker_threads=threads)
    # One message per thread at a time: a message waiting in one worker's memory is one another worker could
    # be writing (Dramatiq prefetches two per thread by default).
    worker.queue_prefetch = threads
    worker.start()
    log.info("worker %d/%d (pid %d): started, %d threads", number, processes, os.getpid(), threads)
    try:
        while not stop.wait(0.5):
            pass
        log.info("worker %d: stopping; the calls in flight finish first", number)
        stopped_at = time.monotonic()
        worker.stop(timeout=int((settings.ai.timeout + STOP_MARGIN_S) * 1000))
        log.info("worker %d: stopped in %.1fs", number, time.monotonic() - stopped_at)
    finally:
        broker.close()
        if rate is not None:
            rate.close()
        ctx.close()
    return 0
