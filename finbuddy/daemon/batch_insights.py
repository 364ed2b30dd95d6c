"""The daily insights through the OpenAI Batch API (ai.insights_mode = batch): submitted once, ingested later.

Each run of the daily job in batch mode does three things, each safe to repeat and to run from any process:

- resume: a batch whose intent is recorded but whose submission did not finish (its process died, or the provider
  failed, between recording the intent and recording the batch) is looked for at the provider by the id in its
  metadata before anything is created; if there is none it is submitted now, or given up (its lines released)
  once SUBMIT_DEADLINE has passed;
- settle: every submitted batch is polled; a finished one's results are written by custom_id (the output keeps no
  order): each answer becomes the user's insight for the day through the sync path's finish step (so one insight
  per user and day holds) and its ledger row 'succeeded' at the Batch API's prices; each failed or unanswered line
  is refunded and recorded on the user's row (an attempt used), for a later run's batch to retry while attempts
  are left. A batch still running past its 24 h window is cancelled and treated as expired;
- submit: the due users (`select_due`, as the sync batch picks them, each for their own local day: `local_days`)
  become JSONL request lines with the messages the sync path sends, cut into files of at most MAX_LINES lines and
  MAX_FILE_BYTES. Per file, one
  transaction records the intent first (the batch row, the users' insight rows 'batched', and the guard's
  reservation of the global limit's insight share as 'batched' ledger rows), then the file is uploaded and the batch
  created. A user whose line is in a live batch is never called synchronously: a 'batched' row is never claimed.

Days: every line is for its user's own local day, like the in-process batch (a user in Auckland and one in Los
Angeles get lines for different dates in the same file). The day is in the line's custom_id ("u42:2026-11-26"), on
its insight row and on its ledger row, and ingestion finishes the row of that day. A batch row's `day` (ai_batches,
`daemon status`, the file name and metadata) is the planning day: the install's day (user.timezone) on which the
daily job submitted it, which is also the day the job completes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from finbuddy.context import Context
from finbuddy.daemon.insights import (
    MAX_ATTEMPTS,
    SKIPPED,
    BatchProgress,
    _live,
    local_days,
    owner_is_dead,
    select_due,
    stale_claims_before,
    worker_identity,
)
from finbuddy.daemon.jobs import JobResult, RunControl
from finbuddy.errors import AdvisorAccountError, FinbuddyError

if TYPE_CHECKING:
    from finbuddy.advisor import BatchClient, BatchInfo, BatchResults, ProviderFailure
    from finbuddy.config import Settings
    from finbuddy.db.ai_batches import BatchLine, BatchRow
    from finbuddy.db.insights import InsightState

log = logging.getLogger("finbuddy.daemon")

# A batch row being submitted or ingested whose owner has shown no progress for this long is taken over by another
# run (at once when its owner is known to be dead: a process of this host that is gone).
STALE_OWNER_AFTER = dt.timedelta(minutes=30)
# Results (or failures) written per transaction.
LINES_PER_TRANSACTION = 500
# The job status of a run that left lines in live batches: the loop polls again after jobs.RETRY_DELAY.
WAITING = "batched"
MAX_LATENCY_MS = 2**31 - 1


def batch_mode(settings: Settings) -> bool:
    """Whether the daily insights go through the Batch API: ai.insights_mode = batch with the OpenAI provider (the
    offline advisor calls nobody, so it always writes its insights at once)."""
    return settings.ai.insights_mode == "batch" and settings.ai_provider() == "openai"


@dataclass
class BatchModeSummary:
    """What one run of the daily job in batch mode did (JSON-able: the job's result)."""

    day: dt.date  # the planning day: the install's (each user's line is for the user's own local day)
    mode: str = "batch"
    users: int = 0  # users with data
    submitted: int = 0  # lines sent in batches created by this run
    batches: int = 0  # batches created by this run (resumed ones included)
    done: int = 0  # insights written by this run from batch results
    failed: int = 0  # lines that failed or went unanswered in results read by this run (refunded, retried later)
    calls: int = 0  # lines answered (paid for) in results read by this run
    skipped: int = 0  # the day's users with nothing to do: written, out of attempts, or held elsewhere
    in_batches: int = 0  # the day's users whose lines are in live batches
    remaining: int = 0  # the day's users without an insight yet (in live batches, or due again)
    live_batches: int = 0  # batches of any day not settled yet
    tokens_in: int = 0
    tokens_out: int = 0
    cost_micro_usd: int = 0
    stopped: str | None = None
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.remaining == 0 and self.live_batches == 0 and self.stopped is None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["tokens"] = self.tokens_in + self.tokens_out
        data["elapsed_s"] = round(self.elapsed_s, 3)
        data["errors"] = self.errors[:10]
        return data


@dataclass(frozen=True)
class PlannedLine:
    """One user's request line, built before its file's intent is recorded."""

    user_id: int
    user: str
    day: dt.date  # the user's local day: the line's custom_id, insight row and ledger row
    figures: str  # JSON, kept on the insight row
    data: bytes  # the JSONL line


def batch_json(row: BatchRow) -> dict[str, Any]:
    """A batch as `daemon status --json` shows it."""

    def when(moment: dt.datetime | None) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "id": row.id,
        "day": row.day.isoformat(),
        "chunk": row.chunk,
        "status": row.status,
        "provider_status": row.provider_status,
        "batch_id": row.batch_id,
        "lines": row.lines,
        "bytes": row.bytes,
        "succeeded": row.succeeded,
        "failed": row.failed,
        "created_at": when(row.created_at),
        "submitted_at": when(row.submitted_at),
        "expires_at": when(row.expires_at),
        "finished_at": when(row.finished_at),
        "updated_at": when(row.updated_at),
        "error": row.error,
    }


def shown_batches(ctx: Context) -> list[BatchRow]:
    """Today's batches (the install's day: the planning day) and any other day's still live, by day and chunk (from
    the database: no provider call)."""
    from finbuddy.db.ai_batches import shown_batches as query

    with ctx.db.read() as conn:
        return query(conn, ctx.install_today())


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class BatchInsightRun:
    """One run of the daily job in batch mode: resume, settle, submit (`run`), or resume and settle alone
    (`settle`: for sync mode after a switch, and for any process that only polls)."""

    def __init__(
        self, ctx: Context, stop: threading.Event | None = None, progress: BatchProgress | None = None
    ) -> None:
        self.ctx = ctx
        self.stop = stop or threading.Event()
        self.progress = progress
        self.day = ctx.install_today()  # the planning day (the batch rows'); each line has its user's own day
        self.worker = worker_identity()
        self.summary = BatchModeSummary(day=self.day)
        self.error: FinbuddyError | None = None  # what stopped the run, when that is an error for whoever runs it
        self._unavailable: str | None = None  # the provider failed a submission: no more files this run
        self._client: BatchClient | None = None

    @property
    def client(self) -> BatchClient:
        if self._client is None:
            from finbuddy.advisor import BatchClient

            self._client = BatchClient(self.ctx.settings)
        return self._client

    # --- the runs ----------------------------------------------------------------------

    def run(self) -> BatchModeSummary:
        started = time.monotonic()
        self.ctx.db.ensure_schema()
        _ = self.ctx.cache  # opened once, before the figures of many users are read through it
        with _live(self.worker):
            self._resume()
            self._settle()
            self._submit_due()
        return self._finish(started)

    def settle(self) -> BatchModeSummary:
        started = time.monotonic()
        with _live(self.worker):
            self._resume()
            self._settle()
        return self._finish(started)

    def _finish(self, started: float) -> BatchModeSummary:
        self._tally()
        summary = self.summary
        if summary.stopped is None and self.stop.is_set() and summary.remaining > summary.in_batches:
            summary.stopped = "stop requested"
        summary.elapsed_s = time.monotonic() - started
        log.info(
            "daily-insights %s (batch mode): submitted=%d in %d batch(es), done=%d failed=%d in_batches=%d "
            "remaining=%d live_batches=%d%s in %.1fs",
            self.day.isoformat(),
            summary.submitted,
            summary.batches,
            summary.done,
            summary.failed,
            summary.in_batches,
            summary.remaining,
            summary.live_batches,
            f" ({summary.stopped})" if summary.stopped else "",
            summary.elapsed_s,
        )
        return summary

    def _halted(self) -> bool:
        return self.stop.is_set() or self.error is not None

    def _owner_gone(self, row: BatchRow) -> bool:
        """Whether another run may take batch `row` over: its owner is known dead, or silent for too long."""
        if row.owner == self.worker:
            return False
        return owner_is_dead(row.owner) or row.updated_at < self.ctx.now() - STALE_OWNER_AFTER

    def _provider_failed(self, failure: ProviderFailure, what: str) -> None:
        message = f"{what}: {failure.reason}"
        self.summary.errors.append(message)
        if failure.account is not None:  # no other request can succeed either
            log.error("daily-insights: %s; stopping", message)
            self.error = AdvisorAccountError(f"AI advisor unavailable: {failure.reason}")
            self.summary.stopped = "the AI provider refused the account"
        else:
            log.warning("daily-insights: %s; a later run tries again", message)
            self.summary.stopped = self.summary.stopped or "the AI provider failed (see errors)"

    # --- resume: intents whose submission did not finish ------------------------------------

    def _resume(self) -> None:
        from finbuddy.db.ai_batches import UNSUBMITTED, batch_rows, take_over

        with self.ctx.db.read() as conn:
            rows = batch_rows(conn, UNSUBMITTED)
        for row in rows:
            if self._halted():
                return
            if not self._owner_gone(row):
                continue
            with self.ctx.db.write() as conn:
                if not take_over(conn, row.id, row.status, row.owner, self.worker, self.ctx.now()):
                    continue
            log.info("daily-insights: resuming batch %s (%s #%d, %s)", row.id, row.day, row.chunk, row.status)
            self._complete_submission(row, None)

    def _complete_submission(self, row: BatchRow, data: bytes | None) -> None:
        """Upload (unless done) and create batch `row`, which this run holds; a batch created by an earlier run that
        died before recording it is found by its metadata instead. A provider failure leaves the row for a later run
        (it is looked for again first); past SUBMIT_DEADLINE it is given up."""
        from finbuddy.advisor import SUBMIT_DEADLINE, ProviderFailure
        from finbuddy.db.ai_batches import UPLOADED, update_batch

        try:
            if row.status == UPLOADED:
                found = self.client.find(row.id)
                if found is not None:
                    log.info("daily-insights: batch %s exists at the provider (%s): recorded", row.id, found.id)
                    self._record_submitted(row, found)
                    return
            if self.ctx.now() - row.created_at > SUBMIT_DEADLINE:
                self._abandon(row, f"not submitted within {SUBMIT_DEADLINE} of its lines' reservation")
                return
            file_id = row.input_file_id
            if file_id is None:
                if data is None:
                    data = self._rebuild(row)
                if not data:
                    self._abandon(row, "none of its lines is left to send")
                    return
                name = f"finbuddy-insights-{row.day}-{row.chunk:04d}-{row.id[:8]}.jsonl"
                file_id = self.client.upload(name, data)
                with self.ctx.db.write() as conn:
                    now = self.ctx.now()
                    update_batch(conn, row.id, now, owner=self.worker, status=UPLOADED, input_file_id=file_id)
            info = self.client.create(file_id, self._metadata(row))
        except ProviderFailure as failure:
            self._unavailable = failure.reason
            self._provider_failed(failure, f"submitting batch {row.day} #{row.chunk}")
            return
        self._record_submitted(row, info)

    def _metadata(self, row: BatchRow) -> dict[str, str]:
        from finbuddy.advisor.batch import METADATA_ID

        return {
            METADATA_ID: row.id,
            "finbuddy_job": "daily-insights",
            "finbuddy_day": row.day.isoformat(),
            "finbuddy_chunk": str(row.chunk),
            "finbuddy_database": self.ctx.db.identity,
        }

    def _record_submitted(self, row: BatchRow, info: BatchInfo) -> None:
        from finbuddy.advisor import WINDOW
        from finbuddy.db.ai_batches import SUBMITTED, update_batch

        now = self.ctx.now()
        with self.ctx.db.write() as conn:
            update_batch(
                conn,
                row.id,
                now,
                owner=self.worker,
                status=SUBMITTED,
                batch_id=info.id,
                input_file_id=info.input_file_id or row.input_file_id,
                provider_status=info.status,
                submitted_at=now,
                expires_at=now + WINDOW,
            )
        self.summary.batches += 1
        if row.day == self.day:
            self.summary.submitted += row.lines
        log.info("daily-insights: batch %s (%s #%d, %d lines) is %s", row.id, row.day, row.chunk, row.lines, info.id)

    def _rebuild(self, row: BatchRow) -> bytes:
        """The file of batch `row` again, from the figures kept on its lines' insight rows: the same requests."""
        from finbuddy.advisor import insight_line
        from finbuddy.db.ai_batches import batched_lines, line_owner

        with self.ctx.db.read() as conn:
            lines = batched_lines(conn, line_owner(row.id))
        parts = []
        for line in lines:
            figures = json.loads(line.figures) if line.figures else None
            parts.append(insight_line(self.ctx, line.user, line.user_id, line.day, figures)[1])
        return b"".join(parts)

    def _abandon(self, row: BatchRow, reason: str) -> None:
        """Give batch `row` up before any batch exists for it: its lines refunded, their rows failed (an attempt used,
        so a file the provider always refuses is not sent for ever)."""
        from finbuddy.db.ai_batches import ABANDONED, batched_lines, line_owner, update_batch

        with self.ctx.db.read() as conn:
            lines = batched_lines(conn, line_owner(row.id))
        self._fail_lines(row, [(line, f"batch not submitted: {reason}") for line in lines])
        now = self.ctx.now()
        with self.ctx.db.write() as conn:
            update_batch(conn, row.id, now, status=ABANDONED, error=reason, failed=len(lines), finished_at=now)
        self.summary.errors.append(f"batch {row.day} #{row.chunk} given up: {reason}")
        log.warning("daily-insights: batch %s (%s #%d) given up: %s", row.id, row.day, row.chunk, reason)

    # --- settle: poll submitted batches, ingest finished ones ----------------------------------

    def _settle(self) -> None:
        from finbuddy.advisor import BatchGone, BatchInfo, BatchResults, ProviderFailure
        from finbuddy.advisor.batch import GONE
        from finbuddy.db.ai_batches import INGESTING, SUBMITTED, batch_rows, take_over, update_batch

        with self.ctx.db.read() as conn:
            rows = batch_rows(conn, (SUBMITTED, INGESTING))
        for row in rows:
            if self._halted():
                return
            if row.status == INGESTING and not self._owner_gone(row):
                continue  # being ingested by another run
            assert row.batch_id is not None  # recorded with SUBMITTED
            try:
                info = self.client.retrieve(row.batch_id)
            except BatchGone as gone:  # no result will ever come: its lines are released like an expired batch's
                log.warning("daily-insights: %s; its lines are released", gone.reason)
                info = BatchInfo(row.batch_id, GONE, row.input_file_id, None, None, {}, 0, errors=gone.reason)
            except ProviderFailure as failure:
                self._provider_failed(failure, f"polling batch {row.day} #{row.chunk}")
                continue
            now = self.ctx.now()
            expired = False
            if not info.terminal:
                if row.expires_at is None or now < row.expires_at:
                    with self.ctx.db.write() as conn:
                        update_batch(conn, row.id, now, provider_status=info.status)
                    continue
                expired = True  # still running past its window: no result is waited for any longer
                try:
                    self.client.cancel(info.id)
                except ProviderFailure as failure:
                    log.warning("daily-insights: could not cancel batch %s: %s", info.id, failure.reason)
            with self.ctx.db.write() as conn:
                ours = take_over(conn, row.id, row.status, row.owner, self.worker, now) and update_batch(
                    conn, row.id, now, owner=self.worker, status=INGESTING, provider_status=info.status
                )
            if not ours:
                continue
            try:
                results = self.client.results(info) if info.terminal else BatchResults()
            except ProviderFailure as failure:  # left 'ingesting': a later run (this one gone) reads them again
                self._provider_failed(failure, f"reading the results of batch {row.day} #{row.chunk}")
                continue
            self._ingest(row, info, results, expired)

    def _ingest(self, row: BatchRow, info: BatchInfo, results: BatchResults, expired: bool) -> None:
        from finbuddy.advisor import finish_batch_line, parse_custom_id
        from finbuddy.advisor.batch import GONE
        from finbuddy.db.ai_batches import INGESTED, batched_lines, line_owner, update_batch
        from finbuddy.db.insights import finish_insight

        owner = line_owner(row.id)
        with self.ctx.db.read() as conn:
            # By (user, day): the custom_id's day is the line's own, its user's local day.
            pending = {(line.user_id, line.day): line for line in batched_lines(conn, owner)}

        def take(line_id: str) -> BatchLine | None:
            parsed = parse_custom_id(line_id)
            if parsed is None:
                log.warning("daily-insights: batch %s answered an unknown custom_id %r", info.id, line_id[:80])
                return None
            return pending.pop(parsed, None)  # None: written by an earlier, interrupted ingestion (or not ours)

        answered = [(line, answer) for line_id, answer in results.succeeded.items() if (line := take(line_id))]
        failed = [(line, f"batch line failed: {e}") for line_id, e in results.failed.items() if (line := take(line_id))]
        if expired:
            why = "still running past its 24 h window (treated as expired)"
        elif info.status == GONE:
            why = f"is unknown to the provider ({info.errors})"
        else:
            why = f"ended {info.status}" + (f": {info.errors}" if info.errors else "")
        failed += [(line, f"batch line not answered: the batch {why}") for line in pending.values()]

        now = self.ctx.now()
        latency_ms = None
        if row.submitted_at is not None:
            latency_ms = min(MAX_LATENCY_MS, max(0, int((now - row.submitted_at).total_seconds() * 1000)))
        summary = self.summary
        for part in _chunks(answered, LINES_PER_TRANSACTION):
            with self.ctx.db.write() as conn:
                for line, completion in part:
                    figures = json.loads(line.figures) if line.figures else None
                    written = finish_insight(
                        conn,
                        line.user_id,
                        line.day,
                        owner,
                        now,
                        text=completion.text,
                        source="openai",
                        model=completion.model,
                        figures=figures,
                    )
                    cost = finish_batch_line(self.ctx, conn, row.id, line.user_id, completion, latency_ms)
                    summary.done += 1 if written else 0
                    summary.calls += 1
                    summary.tokens_in += completion.tokens_in
                    summary.tokens_out += completion.tokens_out
                    summary.cost_micro_usd += cost
        self._fail_lines(row, failed)
        summary.failed += len(failed)
        with self.ctx.db.write() as conn:
            update_batch(
                conn,
                row.id,
                now,
                owner=self.worker,
                status=INGESTED,
                provider_status="expired" if expired else info.status,
                succeeded=len(results.succeeded),
                failed=max(0, row.lines - len(results.succeeded)),
                finished_at=now,
                error=None if info.status == "completed" and not expired else why,
            )
        log.info(
            "daily-insights: batch %s (%s #%d) %s: %d answered, %d failed",
            info.id,
            row.day,
            row.chunk,
            "treated as expired" if expired else info.status,
            len(answered),
            len(failed),
        )

    def _fail_lines(self, row: BatchRow, failed: list[tuple[BatchLine, str]]) -> None:
        """Lines without an answer: refunded, and recorded on the user's row (the attempt counted at submission
        stays used), which a later run retries while attempts are left."""
        from finbuddy.advisor import refund_batch_line
        from finbuddy.db.ai_batches import line_owner
        from finbuddy.db.insights import fail_insight

        owner = line_owner(row.id)
        now = self.ctx.now()
        for part in _chunks(failed, LINES_PER_TRANSACTION):
            with self.ctx.db.write() as conn:
                for line, reason in part:
                    refund_batch_line(self.ctx, conn, row.id, line.user_id, reason)
                    fail_insight(conn, line.user_id, line.day, owner, now, reason)

    # --- submit: the day's due users, in files -----------------------------------------

    def _states(self) -> list[InsightState]:
        """Every user with data and their insight row for their own local day (one query)."""
        from finbuddy.db.insights import local_insight_states

        local_day, first, last = local_days(self.ctx)
        with self.ctx.db.read() as conn:
            return local_insight_states(conn, local_day, first, last)

    def _submit_due(self) -> None:
        from finbuddy.advisor.batch import split_lines

        if self._halted() or self._unavailable is not None:
            return
        states = self._states()
        selection = select_due(states, stale_claims_before(self.ctx))
        todo = selection.todo
        allowance = self._allowance()
        if len(todo) > allowance:
            self.summary.stopped = "global limit for insights reached"
            todo = todo[:allowance]
        if self.progress is not None:
            self.progress.start(len(states))
            if len(states) > len(todo):
                self.progress.advance(SKIPPED, len(states) - len(todo))
        if not todo:
            return
        for lines in split_lines(self._planned(todo), lambda line: len(line.data)):
            if self._halted() or self._unavailable is not None:
                break  # a file cut short by a stop request is not sent: its users stay due
            if not self._submit_file(lines):
                self.summary.stopped = "global limit for insights reached"
                break

    def _allowance(self) -> int:
        """How many more insight calls the global daily limit's insight share allows today (the reservation itself
        is exact; this only keeps a run from building lines that cannot be sent)."""
        from finbuddy.advisor.quota import global_ceiling, global_day
        from finbuddy.db.ai_usage import global_used

        with self.ctx.db.read() as conn:
            used = global_used(conn, global_day(self.ctx))
        return max(0, global_ceiling(self.ctx.settings, "insight") - used)

    def _planned(self, todo: list[InsightState]) -> Iterator[PlannedLine]:
        """The due users' request lines, built one by one (each reads the user's figures), until stopped."""
        from finbuddy.advisor import insight_line
        from finbuddy.errors import StorageError

        for state in todo:
            if self._halted():
                return
            try:
                figures, data = insight_line(self.ctx, state.user, state.user_id, state.day or self.day)
            except StorageError:
                raise
            except Exception as exc:  # one user's figures (a bug): that user waits, the others go
                log.exception("daily-insights: could not build the request of user %r", state.user)
                self.summary.errors.append(f"{state.user}: {type(exc).__name__}: {exc}")
                continue
            if self.progress is not None:
                self.progress.advance("prepared")
            yield PlannedLine(
                state.user_id,
                state.user,
                state.day or self.day,
                json.dumps(figures, ensure_ascii=False, default=str),
                data,
            )

    def _submit_file(self, lines: list[PlannedLine]) -> bool:
        """Record the intent of one file (batch row, insight rows, reservations) in one transaction, then upload and
        create it. False when the global limit did not grant every line."""
        from finbuddy.advisor import reserve_batch_lines
        from finbuddy.db.ai_batches import (
            delete_batch,
            get_batch,
            insert_batch,
            line_owner,
            mark_batched,
            update_batch,
        )

        batch = uuid.uuid4().hex
        now = self.ctx.now()
        by_user = {line.user_id: line for line in lines}
        stale_before = stale_claims_before(self.ctx)
        with self.ctx.db.write() as conn:
            insert_batch(conn, batch, self.day, self.worker, now)

            def claim(user_ids: list[int]) -> set[int]:
                rows = [(user_id, by_user[user_id].day, by_user[user_id].figures) for user_id in user_ids]
                return mark_batched(conn, rows, line_owner(batch), now, stale_before, MAX_ATTEMPTS)

            days = {user_id: line.day for user_id, line in by_user.items()}
            sent, granted = reserve_batch_lines(self.ctx, conn, batch, days, claim)
            data = b"".join(by_user[user_id].data for user_id in sent)
            if sent:
                update_batch(conn, batch, now, lines=len(sent), bytes=len(data))
                row = get_batch(conn, batch)
            else:
                delete_batch(conn, batch)
                row = None
        if row is not None:
            self._complete_submission(row, data)
        return granted == len(lines)

    # --- the tally ---------------------------------------------------------------------

    def _tally(self) -> None:
        from finbuddy.db.ai_batches import BATCHED, live_batch_count

        states = self._states()
        with self.ctx.db.read() as conn:
            live = live_batch_count(conn)
        selection = select_due(states, stale_claims_before(self.ctx))
        summary = self.summary
        summary.users = len(states)
        summary.in_batches = sum(1 for state in states if state.status == BATCHED)
        summary.remaining = len(selection.todo) + selection.held
        summary.skipped = max(0, selection.skipped - summary.done)  # as in sync mode: not written by this run
        summary.live_batches = live


def batch_insights_job(ctx: Context, control: RunControl) -> JobResult:
    """The daily job in batch mode: resume, settle, submit; 'ok' once the day is written and no batch is live."""
    run = BatchInsightRun(ctx, stop=control.stop, progress=control.progress)
    summary = run.run()
    if run.error is not None:
        return JobResult("error", summary.to_json(), error=run.error)
    if summary.complete:
        return JobResult("ok", summary.to_json(), completed_day=summary.day)
    if summary.stopped == "stop requested":
        return JobResult("interrupted", summary.to_json())
    if summary.live_batches and summary.stopped is None and summary.remaining == summary.in_batches:
        return JobResult(WAITING, summary.to_json())  # only the provider's results are awaited
    return JobResult("partial", summary.to_json())


def settle_batches(ctx: Context) -> BatchModeSummary | None:
    """Poll and ingest the batches still live (none: one query, no provider call): what a run in sync mode does first,
    so batches submitted before a switch to sync still bring their results, and what any poller calls."""
    from finbuddy.db.ai_batches import live_batch_count

    with ctx.db.read() as conn:
        if not live_batch_count(conn):
            return None
    return BatchInsightRun(ctx).settle()
