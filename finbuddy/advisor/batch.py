"""The OpenAI Batch API, client side: JSONL request lines, files of at most 50,000 lines, upload, create, find,
poll, and the results matched by custom_id.

The SDK calls (openai-python 3.x): files.create(file=..., purpose="batch") POST /v1/files; batches.create(
input_file_id, endpoint="/v1/chat/completions", completion_window="24h", metadata) POST /v1/batches;
batches.retrieve(id) GET /v1/batches/{id}; batches.list() GET /v1/batches; batches.cancel(id); files.content(id)
GET /v1/files/{id}/content. The API takes no idempotency key, so batches.create is never retried blindly: after a
lost answer the batch is looked for by the id in its metadata before anything is created again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from finbuddy.advisor.providers import (
    Completion,
    MalformedAnswer,
    ProviderFailure,
    _client,
    _scrub,
    account_problem,
    chat_request,
    completion_from_body,
    describe_failure,
)
from finbuddy.config import Settings

log = logging.getLogger("finbuddy.advisor")

# The API's limits on one batch file: 50,000 requests and 200 MB. Files are cut before either, with a margin under
# the size (the multipart upload and the provider's own accounting add a little).
MAX_LINES = 50_000
MAX_FILE_BYTES = 190 * 2**20
ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
WINDOW = dt.timedelta(hours=24)
# A batch whose lines were reserved is created within this time, or given up (its lines released): so its window
# ends at most WINDOW + SUBMIT_DEADLINE after its lines' reservations, which the sweep of dead calls relies on.
SUBMIT_DEADLINE = dt.timedelta(hours=1)
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
GONE = "gone"  # our status for a batch the provider no longer knows (HTTP 404): as final as the others
# The batch's metadata key holding our id for it (in the database's ai_batches row): how a batch created by a run
# that died before recording it is found again.
METADATA_ID = "finbuddy_batch"
# How far back the provider's list of batches is searched for ours: pages of 100, and batches created at most this
# long before the newest one seen (ours, created after its intent, is never older than that).
FIND_PAGES = 50
FIND_SPAN_S = 6 * 3600

_CUSTOM_ID = re.compile(r"u([0-9]{1,18}):([0-9]{4}-[0-9]{2}-[0-9]{2})")


def custom_id(user_id: int, day: dt.date) -> str:
    """A line's custom_id: the user and the day ("u42:2026-11-25"), unique in a file (the API requires it)."""
    return f"u{user_id}:{day.isoformat()}"


def parse_custom_id(text: Any) -> tuple[int, dt.date] | None:
    """(user id, day) of one of our custom_ids; None for anything else."""
    match = _CUSTOM_ID.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    try:
        return int(match.group(1)), dt.date.fromisoformat(match.group(2))
    except ValueError:
        return None


def request_line(line_id: str, model: str, messages: list[dict[str, str]]) -> bytes:
    """One JSONL request: the chat-completions request a synchronous call sends, under `line_id`."""
    line = {"custom_id": line_id, "method": "POST", "url": ENDPOINT, "body": chat_request(model, messages)}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


T = TypeVar("T")


def split_lines(items: Iterable[T], size: Callable[[T], int]) -> Iterator[list[T]]:
    """`items` in files of at most MAX_LINES items and MAX_FILE_BYTES bytes (by `size`), in order, lazily: a file is
    handed out as soon as it is full. (The limits are read at each call.)"""
    max_lines, max_bytes = MAX_LINES, MAX_FILE_BYTES
    current: list[T] = []
    used = 0
    for item in items:
        length = size(item)
        if current and (len(current) == max_lines or used + length > max_bytes):
            yield current
            current, used = [], 0
        current.append(item)
        used += length
    if current:
        yield current


class BatchGone(ProviderFailure):
    """The provider does not know the batch (HTTP 404): deleted, or made under another account."""


@dataclass(frozen=True)
class BatchInfo:
    """A batch as the provider describes it."""

    id: str
    status: str
    input_file_id: str | None
    output_file_id: str | None
    error_file_id: str | None
    metadata: dict[str, str]
    created_at: int
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: str | None = None  # why a batch failed as a whole (its validation), one line

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL or self.status == GONE


@dataclass
class BatchResults:
    """A finished batch's lines by custom_id: the answers, and why the others failed. A line in neither was not
    answered (the batch expired, was cancelled or failed before it)."""

    succeeded: dict[str, Completion] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def _info(batch: Any) -> BatchInfo:
    counts = getattr(batch, "request_counts", None)
    errors = getattr(batch, "errors", None)
    messages = [
        " ".join(str(getattr(error, "message", "") or getattr(error, "code", "") or "").split())
        for error in (getattr(errors, "data", None) or [])
    ]
    metadata = getattr(batch, "metadata", None)
    return BatchInfo(
        id=str(batch.id),
        status=str(batch.status),
        input_file_id=getattr(batch, "input_file_id", None),
        output_file_id=getattr(batch, "output_file_id", None),
        error_file_id=getattr(batch, "error_file_id", None),
        metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
        created_at=int(getattr(batch, "created_at", 0) or 0),
        total=int(getattr(counts, "total", 0) or 0),
        completed=int(getattr(counts, "completed", 0) or 0),
        failed=int(getattr(counts, "failed", 0) or 0),
        errors="; ".join(m for m in messages if m)[:300] or None,
    )


class BatchClient:
    """The Batch API through the SDK client finbuddy's synchronous calls use (its timeouts and retries); every
    failure is a ProviderFailure whose reason is one line without the key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = settings.ai.model

    def _client(self) -> Any:
        if not self.settings.api_key():
            raise ProviderFailure("no API key: set OPENAI_API_KEY (or [ai] api_key), or use ai.provider = offline")
        return _client(self.settings)

    def _failure(self, exc: Exception, what: str) -> ProviderFailure:
        import openai

        if isinstance(exc, openai.NotFoundError):
            reason = f"the AI provider does not know {what} (HTTP 404)"
        else:
            reason = describe_failure(exc, self.settings, 1 + self.settings.ai.max_retries)
        return ProviderFailure(_scrub(f"{what}: {reason}", self.settings.api_key()), account=account_problem(exc))

    def upload(self, name: str, data: bytes) -> str:
        """Upload a JSONL batch file; its file id."""
        import openai

        try:
            uploaded = self._client().files.create(file=(name, data, "application/jsonl"), purpose="batch")
        except openai.OpenAIError as exc:
            raise self._failure(exc, f"uploading batch file {name}") from None
        return str(uploaded.id)

    def create(self, input_file_id: str, metadata: dict[str, str]) -> BatchInfo:
        """Create the batch of an uploaded file, once: the SDK does not retry this request (the API has no
        idempotency key, and a retry after a lost answer would make a second batch); after a failure that may hide
        a created batch (no answer, a timeout, a 5xx), the batch is looked for by its metadata id instead."""
        import openai

        client = self._client()
        try:
            batch = client.with_options(max_retries=0).batches.create(
                input_file_id=input_file_id,
                endpoint=ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata=metadata,
            )
            return _info(batch)
        except openai.OpenAIError as exc:
            failure = self._failure(exc, f"creating the batch of file {input_file_id}")
            maybe_created = isinstance(exc, openai.APIConnectionError) or (
                isinstance(exc, openai.APIStatusError) and exc.status_code >= 500
            )
        if maybe_created:
            found = self.find(metadata[METADATA_ID])
            if found is not None:
                log.info("batch %s was created although its answer was lost: found by its metadata", found.id)
                return found
        raise failure

    def find(self, id: str) -> BatchInfo | None:
        """The provider's batch whose metadata names our id `id` (newest first, within FIND_PAGES pages and
        FIND_SPAN_S of the newest batch); None when there is none. Raises ProviderFailure when the list fails."""
        import openai

        client = self._client()
        newest: int | None = None
        try:
            page = client.batches.list(limit=100)
            for _ in range(FIND_PAGES):
                for batch in page.data:
                    created = int(getattr(batch, "created_at", 0) or 0)
                    newest = created if newest is None else max(newest, created)
                    metadata = getattr(batch, "metadata", None) or {}
                    if isinstance(metadata, dict) and metadata.get(METADATA_ID) == id:
                        return _info(batch)
                    if created < newest - FIND_SPAN_S:
                        return None
                if not page.has_next_page():
                    return None
                page = page.get_next_page()
        except openai.OpenAIError as exc:
            raise self._failure(exc, "listing batches") from None
        return None

    def retrieve(self, batch_id: str) -> BatchInfo:
        import openai

        try:
            return _info(self._client().batches.retrieve(batch_id))
        except openai.NotFoundError as exc:
            raise BatchGone(self._failure(exc, f"batch {batch_id}").reason) from None
        except openai.OpenAIError as exc:
            raise self._failure(exc, f"batch {batch_id}") from None

    def cancel(self, batch_id: str) -> None:
        import openai

        try:
            self._client().batches.cancel(batch_id)
        except openai.OpenAIError as exc:
            raise self._failure(exc, f"cancelling batch {batch_id}") from None

    def _content(self, file_id: str) -> bytes:
        import openai

        try:
            return self._client().files.content(file_id).content
        except openai.OpenAIError as exc:
            raise self._failure(exc, f"batch file {file_id}") from None

    def results(self, info: BatchInfo) -> BatchResults:
        """The answers and failures in a finished batch's output and error files, by custom_id (in any order)."""
        results = BatchResults()
        for file_id in (info.output_file_id, info.error_file_id):
            if file_id:
                for raw in self._content(file_id).splitlines():
                    if raw.strip():
                        self._read_line(raw, results)
        return results

    def _read_line(self, raw: bytes, results: BatchResults) -> None:
        try:
            line = json.loads(raw)
        except ValueError:
            log.warning("a batch output line is not JSON; skipped: %r", raw[:80])
            return
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            log.warning("a batch output line has no custom_id; skipped: %r", raw[:80])
            return
        line_id = line["custom_id"]
        response = line.get("response")
        if not isinstance(response, dict):
            response = {}
        status = response.get("status_code")
        body = response.get("body")
        if status == 200 and not line.get("error"):
            try:
                results.succeeded[line_id] = completion_from_body(body, self.model)
                return
            except MalformedAnswer as why:
                results.failed[line_id] = f"the AI provider sent an answer that is not a chat completion ({why})"
                return
        error = line.get("error") or (body.get("error") if isinstance(body, dict) else None)
        message = error.get("message") if isinstance(error, dict) else None
        reason = f"HTTP {status}" if status else "failed"
        if isinstance(message, str) and message.strip():
            reason += ": " + " ".join(message.split())[:160]
        results.failed[line_id] = reason
