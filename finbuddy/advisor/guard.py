"""The one guarded path to the LLM: answer cache → atomic quota reservation → provider → ledger (or refund)."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from finbuddy.advisor.batch import SUBMIT_DEADLINE, WINDOW, custom_id, request_line
from finbuddy.advisor.offline import OfflineProvider
from finbuddy.advisor.prompt import (
    INSIGHT_QUESTION,
    PROMPT_VERSION,
    build_messages,
    financial_picture,
    normalize_question,
    validate_question,
)
from finbuddy.advisor.provenance import context_figures, unverified_numbers
from finbuddy.advisor.providers import (
    Completion,
    OpenAIProvider,
    ProviderFailure,
    clean_model_name,
    longest_call_seconds,
    provider_for,
)
from finbuddy.advisor.quota import (
    USER_KINDS,
    QuotaStatus,
    build_status,
    global_ceiling,
    global_day,
    global_limit_message,
    insight_limit_message,
    quota_day,
    read_status,
    user_limit_message,
)
from finbuddy.advisor.router import MAIN, Understanding, route_question
from finbuddy.context import Context
from finbuddy.errors import AdvisorAccountError, AdvisorUnavailable, QuotaExceeded, StorageError

log = logging.getLogger("finbuddy.advisor")

# Added to the longest a call can take before a 'reserved' row counts as left by a dead process:
# covers process start-up, the database round trips and clock skew between hosts.
SWEEP_MARGIN_S = 60.0
# A batch line's reservation is swept only once the batch's 24 h window has surely passed: a batch is created within
# SUBMIT_DEADLINE of its lines' reservations (or given up), and a later run reads its results soon after its window.
BATCH_SWEEP_AFTER = WINDOW + SUBMIT_DEADLINE + dt.timedelta(hours=1)
MAX_COST_MICRO_USD = 2**63 - 1


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    source: str  # "openai" | "offline" | "local"
    model: str | None  # None for a local answer: no model was asked
    cached: bool
    tokens_in: int
    tokens_out: int
    cost_micro_usd: int
    quota: QuotaStatus
    figures: dict[str, Any] = field(repr=False)  # the financial picture sent (or shown); {} for a local answer
    # Provenance: the figures the answer used (local: computed; model: the context sent), and the numbers in a
    # model's answer that appear nowhere in that context.
    figures_used: list[dict[str, Any]] = field(default_factory=list, repr=False)
    unverified_numbers: list[str] = field(default_factory=list)
    route: Understanding | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """SPEC.md's ask shape (plus usage figures, the route, and the provenance)."""
        shown: dict[str, Any] = {
            "question": self.question,
            "answer": self.text,
            "source": self.source,
            "model": self.model,
            "cached": self.cached,
            "quota": self.quota.short_json(),
            "usage": {
                "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out,
                "cost_micro_usd": self.cost_micro_usd,
            },
            "figures": self.figures_used,
            "unverified_numbers": self.unverified_numbers,
        }
        if self.route is not None:
            shown["route"] = self.route.to_json()
        return shown


# --- public entry points --------------------------------------------------------------


def ask(ctx: Context, question: str, fresh: bool = False) -> Answer:
    """Answer ctx.user's question. A question about the user's own figures that the router fully understands
    is answered from the database (no cache, no quota, no AI call). Any other costs one of the user's daily
    calls (and one of the global limit) unless the answer is cached; `fresh` skips the cache. The offline
    provider costs nothing."""
    text = validate_question(question)
    understanding = route_question(ctx, text)
    if understanding.local:
        return _answer_locally(ctx, text, understanding)
    return _guarded(ctx, kind="ask", question=text, fresh=fresh, understanding=understanding)


def generate_insight(ctx: Context, user: str) -> Answer:
    """The daily budget insight for `user`: the same guard and context as `ask`, counted against the
    global daily limit but not against the user's ask quota."""
    return _guarded(_context_for(ctx, user), kind="insight", question=None, fresh=False)


def quota_status(ctx: Context, user: str | None = None) -> QuotaStatus:
    """The user's calls used and left today (and the global counter), after sweeping dead reservations."""
    sweep_stale_reservations(ctx)
    return read_status(ctx, user or ctx.user)


def sweep_stale_reservations(ctx: Context) -> int:
    """Refund reservations left 'reserved' by a killed process: only those older than the longest a
    call can take (timeout × attempts + the SDK's waits) plus a margin, so a live call is never swept.

    Each refund is its own short transaction, taking the locks in the order an ask takes them (the user's
    quota row, then the global one): one transaction holding the global row while it went on to the next
    user's quota row deadlocked with asks holding that quota row and waiting for the global one."""
    from finbuddy.advisor.pending import record_kept
    from finbuddy.db.ai_usage import refund_call, stale_batch_lines, stale_reservations

    # First the calls that succeeded but could not be written then: their reservations are not stale.
    record_kept(ctx)
    now = ctx.now()
    cutoff = now - dt.timedelta(seconds=longest_call_seconds(ctx.settings) + SWEEP_MARGIN_S)
    with ctx.db.read() as conn:
        stale = stale_reservations(conn, cutoff)
    refunded = 0
    for user_id, call_id in stale:
        with ctx.db.write() as conn:
            refunded += refund_call(conn, user_id, call_id, "refunded by sweep: the process making the call died", now)
    # Batch lines are answered within their batch's window, not a call's: left alone until that has passed.
    with ctx.db.read() as conn:
        stale = stale_batch_lines(conn, now - BATCH_SWEEP_AFTER)
    for user_id, call_id in stale:
        with ctx.db.write() as conn:
            refunded += refund_call(
                conn, user_id, call_id, "refunded by sweep: its batch's 24 h window passed without a result", now
            )
    if refunded:
        log.info("refunded %d stale AI reservation(s)", refunded)
    return refunded


# --- the guard ------------------------------------------------------------------------


def _context_for(ctx: Context, user: str) -> Context:
    """A context for another user sharing this one's database and cache (the daemon's batch)."""
    if user == ctx.user:
        return ctx
    ctx.db, ctx.cache  # noqa: B018 - open them once here so the copy shares them
    other = copy.copy(ctx)
    other.user = user
    return other


def _answer_locally(ctx: Context, question: str, understanding: Understanding) -> Answer:
    """The router's local answer: read-only, so no reservation, no ledger row and no cache entry."""
    from finbuddy.advisor.local_answers import answer_locally

    local = answer_locally(ctx, understanding)
    return Answer(
        question=question,
        text=local.text,
        source="local",
        model=None,
        cached=False,
        tokens_in=0,
        tokens_out=0,
        cost_micro_usd=0,
        quota=read_status(ctx, ctx.user),
        figures={},
        figures_used=local.figures,
        unverified_numbers=[],
        route=understanding,
    )


def _guarded(
    ctx: Context, kind: str, question: str | None, fresh: bool, understanding: Understanding | None = None
) -> Answer:
    settings = ctx.settings
    provider = provider_for(settings, understanding.route if understanding is not None else MAIN)
    shown_question = question if question is not None else INSIGHT_QUESTION
    try:
        sweep_stale_reservations(ctx)
    except StorageError as exc:  # housekeeping: it must not cost a cached answer, and the next start sweeps
        log.info("could not sweep stale AI reservations now (%s)", exc)

    if isinstance(provider, OfflineProvider):
        figures = financial_picture(ctx)
        return Answer(
            question=shown_question,
            text=provider.answer(figures, question, understanding),
            source=provider.name,
            model=provider.model,
            cached=False,
            tokens_in=0,
            tokens_out=0,
            cost_micro_usd=0,
            quota=read_status(ctx, ctx.user),
            figures=figures,
            figures_used=context_figures(figures),
            unverified_numbers=[],
            route=understanding,
        )

    assert isinstance(provider, OpenAIProvider)
    if not settings.api_key():
        # Before any reservation: nothing to refund. (Local servers such as Ollama take any key.)
        raise AdvisorUnavailable(
            "AI advisor unavailable: ai.provider is openai but no API key is set: set OPENAI_API_KEY "
            "(any value for a local server such as Ollama), or use ai.provider = offline"
        )
    model = provider.model
    generation = _generation(ctx)
    key_parts = (
        kind,
        provider.name,
        settings.base_url() or "",
        model,
        PROMPT_VERSION,
        # A daily insight is of its day: with unchanged data, yesterday's must not be served as today's.
        # An answer to a question may be reused within the month (and the cache's TTL).
        ctx.today().isoformat() if kind == "insight" else ctx.today().strftime("%Y-%m"),
        normalize_question(question) if question is not None else "",
    )

    # 1. The answer cache: a hit is free (no quota, no AI call), but it is written to the ledger.
    if not fresh:
        hit = ctx.cache.get("ai", ctx.user, generation, *key_parts)
        if hit is not None and isinstance(hit.value, dict) and isinstance(hit.value.get("text"), str):
            status = _record_cache_hit(ctx, kind, provider.name, model)
            value = hit.value
            cached_figures = value.get("figures") or {}
            return Answer(
                question=shown_question,
                text=value["text"],
                source=provider.name,
                model=clean_model_name(value.get("model")) or model,
                cached=True,
                tokens_in=0,
                tokens_out=0,
                cost_micro_usd=0,
                quota=status,
                figures=cached_figures,
                figures_used=context_figures(cached_figures),
                unverified_numbers=unverified_numbers(value["text"], cached_figures, question),
                route=understanding,
            )

    figures = financial_picture(ctx)
    messages = build_messages(figures, question)

    # 2. Reserve the user's quota (asks only) and the global limit, atomically.
    call_id, status, reserved_generation = _reserve(ctx, kind, provider.name, model)
    if reserved_generation[1:] == generation[1:]:
        # Same data as the figures were built from; the id is known now even for a user created
        # by this very reservation, so the next ask (which reads the id) finds the answer.
        generation = reserved_generation

    # 3. The provider call (the SDK does the retries and the timeouts), then its ledger row.
    completion, cost = _complete_reserved(ctx, call_id, "AI advisor", model, lambda: provider.complete(messages))

    # 4. Success: the cache.
    ctx.cache.put(
        "ai",
        ctx.user,
        generation,
        *key_parts,
        value={
            "text": completion.text,
            "model": completion.model,
            "figures": figures,
            "tokens_in": completion.tokens_in,
            "tokens_out": completion.tokens_out,
            "cost_micro_usd": cost,
        },
    )
    return Answer(
        question=shown_question,
        text=completion.text,
        source=provider.name,
        model=completion.model,
        cached=False,
        tokens_in=completion.tokens_in,
        tokens_out=completion.tokens_out,
        cost_micro_usd=cost,
        quota=status,
        figures=figures,
        figures_used=context_figures(figures),
        unverified_numbers=unverified_numbers(completion.text, figures, question),
        route=understanding,
    )


def _generation(ctx: Context) -> list[int | None]:
    """The user's id and data and portfolio generations: any write bumps one, so cached answers stop
    matching (the id too: a user removed and created again starts from generation 0)."""
    from finbuddy.db.users import versions

    with ctx.db.read() as conn:
        found = versions(conn, ctx.user)
    return [None, 0, 0] if found is None else list(found)


def _reserve(ctx: Context, kind: str, provider: str, model: str) -> tuple[str, QuotaStatus, list[int | None]]:
    """One write transaction: take one of the user's calls (asks only; `INSERT … ON CONFLICT DO UPDATE
    … WHERE used < limit RETURNING used`), one of the global limit (same statement shape), and write
    the 'reserved' ledger row. Any refusal rolls all of it back."""
    from finbuddy.db.ai_usage import RESERVED, insert_call, take_global_quota, take_user_quota, user_quota_used
    from finbuddy.db.users import ensure_user, versions

    settings = ctx.settings
    limit = settings.ai.daily_quota
    global_limit = settings.ai.global_daily_limit
    day, gday, now = quota_day(ctx), global_day(ctx), ctx.now()
    counts_quota = kind in USER_KINDS
    call_id = uuid.uuid4().hex
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, now)
        if counts_quota:
            used = take_user_quota(conn, user_id, day, limit)
            if used is None:
                raise QuotaExceeded(user_limit_message(build_status(ctx, ctx.user, limit, 0)))
        else:
            used = user_quota_used(conn, user_id, day)
        # Asks may take the global counter up to the limit, insights only up to the limit less the asks' reserve.
        used_globally = take_global_quota(conn, gday, global_ceiling(settings, kind))
        if used_globally is None:
            raise QuotaExceeded(global_limit_message(ctx, global_limit) if counts_quota else insight_limit_message(ctx))
        insert_call(
            conn,
            user_id=user_id,
            id=call_id,
            kind=kind,
            day=day,
            global_day=gday,
            status=RESERVED,
            counts_quota=1 if counts_quota else 0,
            provider=provider,
            model=model[:64],
            created_at=now,
        )
        found = versions(conn, ctx.user)
        assert found is not None  # ensure_user created the user in this transaction
        generation: list[int | None] = list(found)
    return call_id, build_status(ctx, ctx.user, used, used_globally), generation


def _complete_reserved(
    ctx: Context, call_id: str, what: str, model: str, complete: Callable[[], Completion]
) -> tuple[Completion, int]:
    """Make a reserved call: refunded when the provider fails (or the call is interrupted), finished in the usage
    ledger with its latency and cost (micro-USD, returned with the completion) when it answers."""
    started = time.perf_counter()
    try:
        completion = complete()
    except ProviderFailure as failure:
        _refund(ctx, call_id, failure.reason)
        message = f"{what} unavailable: {failure.reason} (not counted against your quota)"
        if failure.account is not None:
            raise AdvisorAccountError(message) from None
        raise AdvisorUnavailable(message) from None
    except BaseException:
        _refund(ctx, call_id, "interrupted")
        raise
    latency_ms = int((time.perf_counter() - started) * 1000)
    cost = estimate_cost_micro_usd(
        ctx.settings.ai.prices, completion.model, model, completion.tokens_in, completion.tokens_out
    )
    _finish(ctx, call_id, completion, cost, latency_ms)
    return completion, cost


def _refund(ctx: Context, call_id: str, reason: str) -> None:
    from finbuddy.db.ai_usage import refund_call
    from finbuddy.db.users import find_user_id

    try:
        with ctx.db.write() as conn:
            user_id = find_user_id(conn, ctx.user)
            refund_call(conn, user_id, call_id, reason, ctx.now())
    except StorageError as exc:
        # The sweep at the next start refunds it once it is old enough.
        log.warning("could not refund AI reservation %s now (%s); the next start will", call_id, exc)


def _finish(ctx: Context, call_id: str, completion: Completion, cost: int, latency_ms: int) -> None:
    """reserved → succeeded in the ledger. The call is paid for and its answer will be shown whatever happens
    here: if the database cannot take the row now, the usage is kept for the next start to record (and the
    person is told)."""
    from finbuddy.advisor.pending import PendingUsage, database_identity, keep
    from finbuddy.db.ai_usage import finish_call
    from finbuddy.db.users import find_user_id

    now = ctx.now()
    try:
        with ctx.db.write() as conn:
            finish_call(
                conn,
                find_user_id(conn, ctx.user),
                call_id,
                tokens_in=completion.tokens_in,
                tokens_out=completion.tokens_out,
                cost_micro_usd=cost,
                latency_ms=latency_ms,
                model=completion.model,
                now=now,
            )
        return
    except StorageError as exc:
        problem = exc.message
    usage = PendingUsage(
        database=database_identity(ctx),
        user=ctx.user,
        call_id=call_id,
        tokens_in=completion.tokens_in,
        tokens_out=completion.tokens_out,
        cost_micro_usd=cost,
        latency_ms=latency_ms,
        model=completion.model,
        finished_at=now.isoformat(),
    )
    if keep(ctx, usage):
        _tell(ctx, f"the usage ledger could not record AI call {call_id} now ({problem}); the next start will")
    else:
        _tell(ctx, f"the usage ledger could not record AI call {call_id} ({problem}), nor keep it for later")


def _record_cache_hit(ctx: Context, kind: str, provider: str, model: str) -> QuotaStatus:
    """The cache hit's ledger row, and the quota as it stands. A hit costs nothing, so when the ledger cannot
    take the row now the answer is served all the same (without the row), and the person is told."""
    from finbuddy.db.ai_usage import CACHE_HIT, global_used, insert_call, user_quota_used
    from finbuddy.db.users import ensure_user

    day, gday, now = quota_day(ctx), global_day(ctx), ctx.now()
    try:
        with ctx.db.write() as conn:
            user_id = ensure_user(conn, ctx.user, now)
            insert_call(
                conn,
                user_id=user_id,
                id=uuid.uuid4().hex,
                kind=kind,
                day=day,
                global_day=gday,
                status=CACHE_HIT,
                counts_quota=0,
                provider=provider,
                model=model[:64],
                created_at=now,
                finished_at=now,
                latency_ms=0,
            )
            used = user_quota_used(conn, user_id, day)
            used_globally = global_used(conn, gday)
    except StorageError as exc:
        _tell(ctx, f"this cached answer could not be counted in `finbuddy usage` ({exc.message})")
        return read_status(ctx, ctx.user)
    return build_status(ctx, ctx.user, used, used_globally)


def _tell(ctx: Context, message: str) -> None:
    """A non-fatal warning for the person (the CLI prints it on stderr) or, with nobody to tell, the log."""
    if ctx.warn is not None:
        ctx.warn(message)
    else:
        log.warning(message)


# --- the lines of a Batch API batch (ai.insights_mode = batch): the same limit, ledger and prices ----------


def insight_line(
    ctx: Context, user: str, user_id: int, day: dt.date, figures: dict[str, Any] | None = None
) -> tuple[dict[str, Any], bytes]:
    """`user`'s daily insight as a Batch API request line: the messages generate_insight sends, by the same prompt
    builder, from `figures` (kept with an earlier line) or the user's figures now. Returns (figures, line)."""
    if figures is None:
        figures = financial_picture(_context_for(ctx, user))
    line = request_line(custom_id(user_id, day), ctx.settings.ai.model, build_messages(figures, None))
    return figures, line


def batch_call_id(batch: str, user_id: int) -> str:
    """The ledger id of `user_id`'s line in batch `batch` (our id for it): found again from the results alone."""
    import hashlib

    return hashlib.sha256(f"{batch}:{user_id}".encode()).hexdigest()[:32]


def reserve_batch_lines(
    ctx: Context,
    conn: Any,
    batch: str,
    candidates: Mapping[int, dt.date],
    claim: Callable[[list[int]], set[int]],
) -> tuple[list[int], int]:
    """The guard's reservation for the lines of a batch, inside the caller's write transaction `conn`: take as many
    of `candidates` (user id -> the line's day, the user's local day; in order) as the global daily limit's insight
    share allows, let `claim` take the insight rows of those (it returns the ids it took), give back what was not
    claimed, and write one 'batched' ledger row per claimed line on the line's day, as a synchronous insight's row
    is on its user's quota day (an insight: not counted against the user's ask quota). Returns (the user ids to
    send, how many the limit granted)."""
    from finbuddy.db.ai_usage import BATCHED, give_back_global_quota, insert_calls, take_global_quota_block

    settings = ctx.settings
    gday, now = global_day(ctx), ctx.now()
    candidates_in_order = list(candidates)
    granted = take_global_quota_block(conn, gday, len(candidates_in_order), global_ceiling(settings, "insight"))
    claimed = claim(candidates_in_order[:granted]) if granted else set()
    sent = [user_id for user_id in candidates_in_order[:granted] if user_id in claimed]
    give_back_global_quota(conn, gday, granted - len(sent))
    model = settings.ai.model[:64]
    insert_calls(
        conn,
        [
            {
                "user_id": user_id,
                "id": batch_call_id(batch, user_id),
                "kind": "insight",
                "day": candidates[user_id],
                "global_day": gday,
                "status": BATCHED,
                "counts_quota": 0,
                "provider": OpenAIProvider.name,
                "model": model,
                "created_at": now,
            }
            for user_id in sent
        ],
    )
    return sent, granted


def finish_batch_line(
    ctx: Context, conn: Any, batch: str, user_id: int, completion: Completion, latency_ms: int | None
) -> int:
    """A line answered: its ledger row 'succeeded' with the tokens and the cost at the Batch API's prices (as a
    call's in _finish: counted again if a sweep refunded it meanwhile). Returns the cost in micro-USD."""
    from finbuddy.db.ai_usage import finish_call

    settings = ctx.settings
    cost = estimate_cost_micro_usd(
        settings.ai.prices,
        completion.model,
        settings.ai.model,
        completion.tokens_in,
        completion.tokens_out,
        batch=True,
    )
    finish_call(
        conn,
        user_id,
        batch_call_id(batch, user_id),
        tokens_in=completion.tokens_in,
        tokens_out=completion.tokens_out,
        cost_micro_usd=cost,
        latency_ms=latency_ms if latency_ms is not None else 0,
        model=completion.model,
        now=ctx.now(),
    )
    return cost


def refund_batch_line(ctx: Context, conn: Any, batch: str, user_id: int, reason: str) -> bool:
    """A line not answered (failed, expired, never submitted): its reservation given back, once."""
    from finbuddy.db.ai_usage import refund_call

    return refund_call(conn, user_id, batch_call_id(batch, user_id), reason, ctx.now())


def batch_prices(entry: dict[str, float]) -> tuple[float, float]:
    """A model's Batch API prices (input, output): `batch_input` / `batch_output` when the price table gives them,
    else half the synchronous prices (OpenAI's batch discount)."""
    price_in = entry.get("batch_input")
    price_out = entry.get("batch_output")
    return (
        float(price_in) if price_in is not None else float(entry.get("input", 0)) / 2,
        float(price_out) if price_out is not None else float(entry.get("output", 0)) / 2,
    )


def estimate_cost_micro_usd(
    prices: dict[str, dict[str, float]],
    served_model: str,
    configured_model: str,
    tokens_in: int,
    tokens_out: int,
    batch: bool = False,
) -> int:
    """Prices are USD per million tokens, so tokens × price is micro-USD. Unknown models cost 0 (shown as such).
    A dated model name ("gpt-4o-mini-2024-07-18") uses the price of the longest configured prefix. `batch`: a line
    of a Batch API batch, at the batch prices (batch_prices)."""
    entry = prices.get(served_model) or prices.get(configured_model)
    if entry is None:
        candidates = [name for name in prices if served_model.startswith(name) or configured_model.startswith(name)]
        if candidates:
            entry = prices[max(candidates, key=len)]
    if entry is None:
        return 0
    price_in, price_out = (
        batch_prices(entry) if batch else (float(entry.get("input", 0)), float(entry.get("output", 0)))
    )
    cost = tokens_in * price_in + tokens_out * price_out
    # The ledger's column is a signed 64-bit integer; no real call comes near it.
    return MAX_COST_MICRO_USD if not cost < MAX_COST_MICRO_USD else round(cost)


# --- categorize: the model names the categories of merchants (finbuddy.advisor.categorize) --------------------


@dataclass(frozen=True)
class CategorizeReply:
    """One guarded categorize call: the answer as `parse` read it."""

    value: Any
    model: str
    cached: bool
    quota: QuotaStatus


def categorize_call(
    ctx: Context,
    messages: list[dict[str, str]],
    parse: Callable[[str], Any],
    max_tokens: int,
    version: str,
) -> CategorizeReply:
    """One call of kind "categorize", the guard's order: the answer cache (keyed by the prompt itself: the answer
    depends on nothing else) → one of ctx.user's daily calls and one of the global limit, reserved atomically →
    the provider → the usage ledger. `parse` reads the answer (raising ValueError with the reason when it is not
    what was asked for): an answer it rejects was paid for, so the call stays counted, but it is not cached and
    AdvisorUnavailable says why. Only for the OpenAI-compatible provider (the offline one cannot categorise)."""
    import hashlib
    import json

    settings = ctx.settings
    provider = provider_for(settings)
    if not isinstance(provider, OpenAIProvider) or not settings.api_key():
        raise AdvisorUnavailable(
            "AI categorisation unavailable: no model is configured: set OPENAI_API_KEY (any value for a local server "
            "such as Ollama) and ai.provider = openai or auto"
        )
    try:
        sweep_stale_reservations(ctx)
    except StorageError as exc:
        log.info("could not sweep stale AI reservations now (%s)", exc)
    model = provider.model
    prompt = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
    key_parts = ("categorize", provider.name, settings.base_url() or "", model, version, prompt)

    hit = ctx.cache.get("ai", ctx.user, None, *key_parts)
    if hit is not None and isinstance(hit.value, dict) and isinstance(hit.value.get("text"), str):
        try:
            value = parse(hit.value["text"])
        except ValueError:
            value = None  # not what this version reads: ask again
        else:
            status = _record_cache_hit(ctx, "categorize", provider.name, model)
            return CategorizeReply(value, clean_model_name(hit.value.get("model")) or model, True, status)

    call_id, status, _ = _reserve(ctx, "categorize", provider.name, model)
    completion, _ = _complete_reserved(
        ctx,
        call_id,
        "AI categorisation",
        model,
        lambda: provider.complete(messages, max_tokens=max_tokens, json_object=True),
    )
    try:
        value = parse(completion.text)
    except ValueError as why:
        raise AdvisorUnavailable(
            f"the model's answer is not the JSON finbuddy asked for ({why}): nothing changed "
            "(the call counted against your quota)"
        ) from None
    ctx.cache.put("ai", ctx.user, None, *key_parts, value={"text": completion.text, "model": completion.model})
    return CategorizeReply(value, completion.model, False, status)
