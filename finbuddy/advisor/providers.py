"""The OpenAI-compatible provider (chat completions through the official SDK), and the choice of provider."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finbuddy.advisor.deadline import CallBudget, call_budget, current_budget, deadline_transport, total_seconds
from finbuddy.advisor.offline import OfflineProvider
from finbuddy.config import Settings

if TYPE_CHECKING:
    import httpx2
    import openai

MAX_ANSWER_TOKENS = 700
# What a provider reports is clamped to what the ledger holds (ai_calls.tokens_* are 32-bit integers,
# ai_calls.model and insights.model 64 characters): an absurd figure must not cost the answer.
MAX_REPORTED_TOKENS = 2**31 - 1
MAX_MODEL_CHARS = 64


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    tokens_in: int
    tokens_out: int
    budget: CallBudget | None = field(default=None, compare=False, repr=False)


class ProviderFailure(Exception):
    """The provider could not answer; `reason` is one line for people, with no secret in it.
    `budget` is what was decided for the call (its deadlines, the attempts made); `account` is "billing" or
    "auth" when the provider refused the account itself (no retry, and no call for another user, can help)."""

    def __init__(self, reason: str, budget: CallBudget | None = None, account: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.budget = budget
        self.account = account


def longest_call_seconds(settings: Settings) -> float:
    """The longest one provider call can take (its enforced deadline): every attempt cut at ai.timeout, plus the
    SDK's waits between attempts. A reservation younger than this may belong to a live call."""
    return total_seconds(settings.ai.timeout, settings.ai.max_retries)


# --- OpenAI -----------------------------------------------------------------------------

_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def _decide_retry(response: httpx2.Response) -> None:
    """An httpx2 response hook that tells the SDK (through its own x-should-retry header) not to retry an error
    no retry can fix (a 429 insufficient_quota is a billing problem), nor one whose wait (Retry-After, or the
    SDK's backoff) would leave no time for another attempt before the call's deadline."""
    if response.status_code < 400:
        return
    budget = current_budget()
    if budget is not None and not budget.fits_retry(_retry_after_seconds(response.headers)):
        response.headers["x-should-retry"] = "false"
        return
    if response.status_code != 429:
        return
    try:
        response.read()
        body = json.loads(response.content or b"{}")
    except Exception:
        return
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and "insufficient_quota" in (str(error.get("code")), str(error.get("type"))):
        response.headers["x-should-retry"] = "false"


def _retry_after_seconds(headers: httpx2.Headers) -> float | None:
    """The wait a server asks for, as the SDK reads it (retry-after-ms, then Retry-After seconds or date);
    None when it names none the SDK would honour (then the SDK's own backoff applies)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            wait = float(value) / divisor
        except ValueError:
            continue
        return wait if 0 < wait <= 120 else None
    value = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(value) if value else None  # None: not a date either
    if parsed is not None:
        try:
            wait = email.utils.mktime_tz(parsed) - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
        return wait if 0 < wait <= 120 else None
    return None


def _client(settings: Settings) -> openai.OpenAI:
    """One SDK client per (endpoint, key, timeout, retries), reused across calls (the daemon's batch)."""
    import openai

    key = (settings.base_url(), settings.api_key(), settings.ai.timeout, settings.ai.max_retries)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            http_client = openai.DefaultHttpx2Client(
                transport=deadline_transport(), event_hooks={"response": [_decide_retry]}
            )
            client = openai.OpenAI(
                api_key=key[1],
                base_url=key[0],
                timeout=key[2],
                max_retries=key[3],
                http_client=http_client,
            )
            _clients[key] = client
        return client


def chat_request(model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    """The chat-completions request of every finbuddy call: a synchronous one, or a line of a Batch API batch."""
    return {"model": model, "messages": messages, "max_tokens": MAX_ANSWER_TOKENS, "temperature": 0.2}


def warm_up(settings: Settings) -> None:
    """Import the SDK and build the client now, when the openai provider will be used. A queue worker does it
    before its first call: the import takes about a second, which must not fall between a call's slot of the
    global rate and its request (the requests would bunch up at the provider)."""
    if settings.ai_provider() == "openai" and settings.api_key():
        _client(settings)


class OpenAIProvider:
    """Chat completions against OpenAI or any OpenAI-compatible server (Ollama, vLLM, llama.cpp).
    Retries (408/409/429/5xx, connection errors, timeouts) are the SDK's, configured from settings."""

    name = "openai"

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        self.settings = settings
        self.model = model or settings.ai.model

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int = MAX_ANSWER_TOKENS, json_object: bool = False
    ) -> Completion:
        """`json_object`: ask for a JSON object answer (OpenAI's JSON mode; the caller still validates it)."""
        import openai

        api_key = self.settings.api_key()
        if not api_key:
            raise ProviderFailure("no API key: set OPENAI_API_KEY (or [ai] api_key), or use ai.provider = offline")
        client = _client(self.settings)
        with call_budget(self.settings.ai.timeout, longest_call_seconds(self.settings)) as budget:
            try:
                extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if json_object else {}
                response = client.chat.completions.create(
                    **{**chat_request(self.model, messages), "max_tokens": max_tokens, **extra}
                )
            except openai.OpenAIError as exc:
                reason = describe_failure(exc, self.settings, len(budget.attempts), self.model)
                raise ProviderFailure(_scrub(reason, api_key), budget, account_problem(exc)) from None
            except json.JSONDecodeError:
                raise ProviderFailure(self._malformed("its body is not JSON"), budget) from None
        try:
            text, model, tokens_in, tokens_out = _read_completion(response)
        except MalformedAnswer as why:
            raise ProviderFailure(_scrub(self._malformed(str(why)), api_key), budget) from None
        if not text:
            raise ProviderFailure("the AI provider returned an empty answer", budget)
        return Completion(
            text=text,
            model=clean_model_name(model) or self.model,
            tokens_in=min(tokens_in, MAX_REPORTED_TOKENS),
            tokens_out=min(tokens_out, MAX_REPORTED_TOKENS),
            budget=budget,
        )

    def _malformed(self, why: str) -> str:
        where = self.settings.base_url() or "https://api.openai.com/v1"
        return (
            f"the AI provider at {where} sent an answer that is not a chat completion ({why}): "
            "check that ai.base_url / OPENAI_BASE_URL points at an OpenAI-compatible API"
        )


def clean_model_name(value: Any) -> str | None:
    """A provider-reported model name fit to store and show: printable, at most 64 characters; None if empty."""
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    return text[:MAX_MODEL_CHARS] or None


class MalformedAnswer(Exception):
    """A provider's answer without the shape of a chat completion; the message says what is wrong."""


def completion_from_body(body: Any, model: str) -> Completion:
    """The Completion in a chat completion's JSON body (a Batch API output line carries one), checked as a
    synchronous answer is; `model` is the one asked for. Raises MalformedAnswer."""
    from openai.types.chat import ChatCompletion

    if not isinstance(body, dict):
        raise MalformedAnswer(f"the body is {type(body).__name__}, not an object")
    text, served, tokens_in, tokens_out = _read_completion(ChatCompletion.construct(**body))
    if not text:
        raise MalformedAnswer("an empty answer")
    return Completion(
        text=text,
        model=clean_model_name(served) or model,
        tokens_in=min(tokens_in, MAX_REPORTED_TOKENS),
        tokens_out=min(tokens_out, MAX_REPORTED_TOKENS),
    )


def _read_completion(response: Any) -> tuple[str, str | None, int, int]:
    """(text, model, tokens in, tokens out) from the SDK's ChatCompletion, checked field by field: the SDK does
    not validate answers, and an OpenAI-compatible server may send anything (an HTML page, tokens as words)."""
    if isinstance(response, str):
        kind = "an HTML page" if response.lstrip()[:1] == "<" else "text"
        raise MalformedAnswer(f"{kind} instead of JSON")
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise MalformedAnswer("no list of choices")
    text = ""
    if choices:
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if content is not None and not isinstance(content, str):
            raise MalformedAnswer(f"the message content is {type(content).__name__}, not text")
        text = (content or "").strip()
    model = getattr(response, "model", None)
    usage = getattr(response, "usage", None)
    if usage is None:  # some local servers send none
        return text, model if isinstance(model, str) else None, 0, 0
    if isinstance(usage, (list, tuple, str, int, float)):
        raise MalformedAnswer(f"usage is {type(usage).__name__}, not an object")
    return (
        text,
        model if isinstance(model, str) else None,
        _token_count(usage, "prompt_tokens"),
        _token_count(usage, "completion_tokens"),
    )


def _token_count(usage: Any, name: str) -> int:
    value = getattr(usage, name, None) if not isinstance(usage, dict) else usage.get(name)
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        shown = repr(value)[:40]
        raise MalformedAnswer(f"usage.{name} is {shown}, not a count of tokens")
    return value


def account_problem(exc: Exception) -> str | None:
    """ "billing" for a refusal over money (429 insufficient_quota, 402), "auth" for one over the key or its
    access (401, 403), else None."""
    import openai

    if isinstance(exc, openai.RateLimitError) and _error_code(exc) == "insufficient_quota":
        return "billing"
    if isinstance(exc, openai.APIStatusError) and exc.status_code == 402:
        return "billing"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return "auth"
    return None


def _error_message(exc: Exception) -> str:
    """The provider's own words for an error (its body's message), on one line and short."""
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        message = str(getattr(exc, "message", "") or "")
    return " ".join(message.split())[:160]


def _error_code(exc: Exception) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        return str(body.get("code") or body.get("type") or "") or None
    return None


def describe_failure(exc: Exception, settings: Settings, tries: int, model: str | None = None) -> str:
    """One line saying why the provider failed after `tries` attempts (asking `model`), and what to do about it."""
    import openai

    tried = f"after {tries} attempt{'s' if tries != 1 else ''}"
    where = settings.base_url() or "https://api.openai.com/v1"
    if isinstance(exc, openai.APITimeoutError):
        return f"the AI provider at {where} did not answer within {settings.ai.timeout:g} s ({tried})"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach the AI provider at {where} ({tried})"
    if isinstance(exc, openai.RateLimitError):
        if _error_code(exc) == "insufficient_quota":
            return (
                "the OpenAI account behind this API key has run out of credit (429 insufficient_quota): "
                "check the plan and billing at https://platform.openai.com/settings/organization/billing"
            )
        return f"the AI provider is rate limiting requests (HTTP 429, {tried}); try again later"
    if isinstance(exc, openai.APIStatusError) and exc.status_code == 402:
        return (
            f"the AI provider at {where} wants payment for this API key (HTTP 402): "
            "check the account's credit and billing"
        )
    if isinstance(exc, openai.AuthenticationError):
        return "the AI provider rejected the API key (HTTP 401): check OPENAI_API_KEY"
    if isinstance(exc, openai.PermissionDeniedError):
        return (
            f"the AI provider refused this API key access (HTTP 403: {_error_message(exc)}): "
            "check the key's project, permissions and region"
        )
    if isinstance(exc, openai.NotFoundError):
        return f"the AI provider does not know model {model or settings.ai.model!r} or endpoint {where} (HTTP 404)"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return f"the AI provider failed with HTTP {exc.status_code} ({tried})"
        message = " ".join(str(getattr(exc, "message", "") or "").split())[:160]
        return f"the AI provider refused the request (HTTP {exc.status_code}): {message}"
    return f"the AI provider failed: {type(exc).__name__}"


def _scrub(text: str, secret: str | None) -> str:
    """Providers echo (parts of) a rejected key in their errors; never pass it on."""
    if secret:
        text = text.replace(secret, "****")
        if len(secret) > 8:
            text = text.replace(secret[-8:], "****")
    return " ".join(text.split())


def model_for(settings: Settings, tier: str) -> str:
    """The model a routed question goes to: `ai.small_model` for the router's "small" tier when one is set,
    else `ai.model` (advice, planning, the daily insights, and everything when no small model is set)."""
    if tier == "small" and settings.ai.small_model:
        return settings.ai.small_model
    return settings.ai.model


def provider_for(settings: Settings, tier: str = "main") -> OpenAIProvider | OfflineProvider:
    if settings.ai_provider() != "openai":
        return OfflineProvider()
    return OpenAIProvider(settings, model_for(settings, tier))
