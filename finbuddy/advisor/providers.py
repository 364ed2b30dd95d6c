"""AI providers: OpenAI-compatible chat completions through the official SDK, and offline deterministic rules."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from finbuddy.config import Settings

OFFLINE_MODEL = "offline-rules"
MAX_ANSWER_TOKENS = 700
NO_LLM_NOTICE = "No LLM was used: this answer comes from finbuddy's built-in rules applied to your own figures."


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    tokens_in: int
    tokens_out: int


class ProviderFailure(Exception):
    """The provider could not answer; `reason` is one line for people, with no secret in it."""

    def __init__(self, reason: str, billing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.billing = billing


def attempts(settings: Settings) -> int:
    return 1 + int(settings["ai.max_retries"])


def longest_call_seconds(settings: Settings) -> float:
    """The longest one provider call can take: every attempt timing out, plus the SDK's waits between
    attempts (server-directed Retry-After is honoured up to 120 s), so a live call is never taken for dead."""
    retries = int(settings["ai.max_retries"])
    return float(settings["ai.timeout"]) * (retries + 1) + 120.0 * retries


# --- OpenAI -----------------------------------------------------------------------------

_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def _mark_billing_errors_final(response) -> None:
    """An httpx2 response hook: a 429 whose code is insufficient_quota is a billing problem that no
    retry can fix, so tell the SDK (through its own x-should-retry header) not to retry it."""
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


def _client(settings: Settings):
    """One SDK client per (endpoint, key, timeout, retries), reused across calls (the daemon's batch)."""
    import openai

    key = (settings.base_url(), settings.api_key(), float(settings["ai.timeout"]), int(settings["ai.max_retries"]))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            http_client = openai.DefaultHttpx2Client(event_hooks={"response": [_mark_billing_errors_final]})
            client = openai.OpenAI(
                api_key=key[1],
                base_url=key[0],
                timeout=key[2],
                max_retries=key[3],
                http_client=http_client,
            )
            _clients[key] = client
        return client


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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = settings["ai.model"]

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        import openai

        api_key = self.settings.api_key()
        if not api_key:
            raise ProviderFailure("no API key: set OPENAI_API_KEY (or [ai] api_key), or use ai.provider = offline")
        try:
            response = _client(self.settings).chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=MAX_ANSWER_TOKENS,
                temperature=0.2,
            )
        except openai.OpenAIError as exc:
            raise ProviderFailure(_scrub(describe_failure(exc, self.settings), api_key), _is_billing(exc)) from None
        text = ""
        if response.choices:
            text = (response.choices[0].message.content or "").strip()
        if not text:
            raise ProviderFailure("the AI provider returned an empty answer")
        usage = response.usage
        return Completion(
            text=text,
            model=response.model or self.model,
            tokens_in=int(usage.prompt_tokens) if usage else 0,
            tokens_out=int(usage.completion_tokens) if usage else 0,
        )


def _is_billing(exc: Exception) -> bool:
    """The account itself was refused (billing: 429 insufficient_quota; auth: 401/403): no call can succeed."""
    import openai

    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return True
    return isinstance(exc, openai.RateLimitError) and _error_code(exc) == "insufficient_quota"


def _error_code(exc: Exception) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        return str(body.get("code") or body.get("type") or "") or None
    return None


def describe_failure(exc: Exception, settings: Settings) -> str:
    """One line saying why the provider failed, and what to do about it."""
    import openai

    tries = attempts(settings)
    tried = f"after {tries} attempt{'s' if tries != 1 else ''}"
    where = settings.base_url() or "https://api.openai.com/v1"
    if isinstance(exc, openai.APITimeoutError):
        return f"the AI provider at {where} did not answer within {settings['ai.timeout']:g} s ({tried})"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach the AI provider at {where} ({tried})"
    if isinstance(exc, openai.RateLimitError):
        if _error_code(exc) == "insufficient_quota":
            return (
                "the OpenAI account behind this API key has run out of credit (429 insufficient_quota): "
                "check the plan and billing at https://platform.openai.com/settings/organization/billing"
            )
        return f"the AI provider is rate limiting requests (HTTP 429, {tried}); try again later"
    if isinstance(exc, openai.AuthenticationError):
        return "the AI provider rejected the API key (HTTP 401): check OPENAI_API_KEY"
    if isinstance(exc, openai.NotFoundError):
        return f"the AI provider does not know model {settings['ai.model']!r} or endpoint {where} (HTTP 404)"
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


# --- offline ----------------------------------------------------------------------------


class OfflineProvider:
    """Deterministic answers from the user's figures: no network, no quota, and it says so."""

    name = "offline"
    model = OFFLINE_MODEL

    def answer(self, figures: dict[str, Any], question: str | None) -> str:
        from finbuddy.advisor.offline import offline_answer

        return offline_answer(figures, question)


def provider_for(settings: Settings) -> OpenAIProvider | OfflineProvider:
    return OpenAIProvider(settings) if settings.ai_provider() == "openai" else OfflineProvider()
