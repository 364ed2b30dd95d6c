"""Deadlines for provider calls: every network operation of an attempt ends by the attempt's deadline, every
attempt by the call's, however slowly the server dribbles its answer.

httpx's timeouts bound each socket operation (a read that waits longer than `read` seconds for the next byte),
so a server sending one byte every half second keeps a call alive for ever. Here every connect, read and write
is given only the time left until the attempt's deadline (at most ai.timeout after the attempt began, never
past the call's deadline), through httpcore's public network-backend interface. The SDK keeps its own retries
and backoff; a retry is refused (the error goes straight to the caller) when, after its wait, less than half an
attempt would be left before the call's deadline. What was decided for a call is kept in its CallBudget (each
attempt's time and whether it was cut), for messages and for tests.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# The SDK's wait before retry n (0, 1, ...) when the server names none: INITIAL_RETRY_DELAY × 2ⁿ, at most
# MAX_RETRY_DELAY, less up to 25 % jitter (openai/_base_client.py _calculate_retry_timeout).
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
# The SDK's own work around the attempts (building requests, parsing answers), so that waits and overhead
# do not shorten the last attempt on a call that keeps to its timings.
CALL_OVERHEAD_S = 1.0


def backoff_seconds(retry: int) -> float:
    """The longest the SDK waits before retry number `retry` (0-based) when the server names no wait."""
    return min(FIRST_BACKOFF_S * 2.0 ** min(retry, 16), MAX_BACKOFF_S)


def total_seconds(attempt_s: float, retries: int) -> float:
    """The longest a call can take: every attempt used to its deadline, plus the SDK's waits between them and its
    own work. A server-directed wait (Retry-After) is honoured only while a retry still fits in this total."""
    return attempt_s * (retries + 1) + sum(backoff_seconds(n) for n in range(retries)) + CALL_OVERHEAD_S


@dataclass
class Attempt:
    """One HTTP attempt: the total time it was given, and whether it was cut at that deadline."""

    timeout_s: float
    cut: bool = False


@dataclass
class CallBudget:
    """The time one provider call may take: `attempt_s` per attempt (ai.timeout) and `total_s` for all of them
    together with the waits between them (longest_call_seconds)."""

    attempt_s: float
    total_s: float
    started: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    attempt_deadline: float | None = None  # monotonic time at which the current attempt is cut

    @property
    def call_deadline(self) -> float:
        return self.started + self.total_s

    def begin_attempt(self) -> Attempt | None:
        """Start an attempt with the time it may take; None when the call's deadline has passed."""
        now = time.monotonic()
        left = self.call_deadline - now
        if left <= 0:
            return None
        attempt = Attempt(timeout_s=min(self.attempt_s, left))
        self.attempts.append(attempt)
        self.attempt_deadline = now + attempt.timeout_s
        return attempt

    def fits_retry(self, wait_s: float | None = None) -> bool:
        """Whether, after waiting `wait_s` (default: the SDK's backoff for the next retry), a retry still has at
        least half an attempt's time before the call's deadline; otherwise the call ends now, not after the wait."""
        if wait_s is None:
            wait_s = backoff_seconds(max(0, len(self.attempts) - 1))
        return time.monotonic() + max(0.0, wait_s) + self.attempt_s / 2 <= self.call_deadline


_current: contextvars.ContextVar[CallBudget | None] = contextvars.ContextVar("finbuddy_call_budget", default=None)


@contextmanager
def call_budget(attempt_s: float, total_s: float) -> Iterator[CallBudget]:
    """Run the provider call of this block (in this thread) under a new CallBudget."""
    budget = CallBudget(attempt_s=attempt_s, total_s=total_s)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def current_budget() -> CallBudget | None:
    return _current.get()


def _bounded(timeout: float | None, expired: type[Exception]) -> tuple[float | None, bool]:
    """The timeout for one network operation: the given one, or the time left to the attempt's deadline if that
    is shorter (then True: running out means the attempt was cut). Raises `expired` once the deadline has passed."""
    budget = _current.get()
    if budget is None or budget.attempt_deadline is None:
        return timeout, False
    left = budget.attempt_deadline - time.monotonic()
    if left <= 0:
        _mark_cut(budget)
        raise expired("the attempt reached its deadline")
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


def _mark_cut(budget: CallBudget | None) -> None:
    if budget is not None and budget.attempts:
        budget.attempts[-1].cut = True


def _network_backend() -> Any:
    import httpcore2

    class DeadlineStream(httpcore2.NetworkStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            bounded, by_deadline = _bounded(timeout, httpcore2.ReadTimeout)
            try:
                return self._inner.read(max_bytes, bounded)
            except httpcore2.ReadTimeout:
                if by_deadline:
                    _mark_cut(_current.get())
                raise

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            bounded, by_deadline = _bounded(timeout, httpcore2.WriteTimeout)
            try:
                self._inner.write(buffer, bounded)
            except httpcore2.WriteTimeout:
                if by_deadline:
                    _mark_cut(_current.get())
                raise

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
            bounded, _ = _bounded(timeout, httpcore2.ConnectTimeout)
            return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class DeadlineBackend(httpcore2.NetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore2.SyncBackend()

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            bounded, _ = _bounded(timeout, httpcore2.ConnectTimeout)
            return DeadlineStream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

        def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
            bounded, _ = _bounded(timeout, httpcore2.ConnectTimeout)
            return DeadlineStream(self._inner.connect_unix_socket(path, bounded, socket_options))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return DeadlineBackend()


def deadline_transport(max_connections: int | None = 100, max_keepalive_connections: int | None = 20) -> Any:
    """An httpx2 transport (HTTP/1.1, verified TLS) whose attempts keep to the CallBudget of the calling thread."""
    import httpcore2
    import httpx2
    import openai

    class ResponseStream(httpx2.SyncByteStream):
        def __init__(self, inner: Any, request: Any) -> None:
            self._inner = inner
            self._request = request

        def __iter__(self) -> Iterator[bytes]:
            with _mapped_errors(self._request):
                yield from self._inner

        def close(self) -> None:
            self._inner.close()

    @contextmanager
    def _mapped_errors(request: Any) -> Iterator[None]:
        """httpcore's errors as the httpx errors the SDK retries; as the SDK's own errors (which it passes on
        without retrying) when no further attempt fits before the call's deadline."""
        try:
            yield
        except httpcore2.TimeoutException as exc:
            budget = _current.get()
            if budget is not None and not budget.fits_retry():
                raise openai.APITimeoutError(request=request) from exc
            raise getattr(httpx2, type(exc).__name__, httpx2.TimeoutException)(str(exc)) from exc
        except (httpcore2.NetworkError, httpcore2.ProtocolError, httpcore2.UnsupportedProtocol) as exc:
            budget = _current.get()
            if budget is not None and not budget.fits_retry():
                raise openai.APIConnectionError(request=request) from exc
            raise getattr(httpx2, type(exc).__name__, httpx2.TransportError)(str(exc)) from exc

    class DeadlineTransport(httpx2.BaseTransport):
        def __init__(self) -> None:
            self._pool = httpcore2.ConnectionPool(
                ssl_context=httpx2.create_ssl_context(),
                max_connections=max_connections,
                max_keepalive_connections=max_keepalive_connections,
                keepalive_expiry=5.0,
                network_backend=_network_backend(),
            )

        def handle_request(self, request: Any) -> Any:
            budget = _current.get()
            if budget is not None:
                attempt = budget.begin_attempt()
                if attempt is None:
                    # The SDK passes its own errors on without another retry.
                    raise openai.APITimeoutError(request=request)
                configured = request.extensions.get("timeout") or {}
                request.extensions["timeout"] = {
                    phase: attempt.timeout_s
                    if configured.get(phase) is None
                    else min(configured[phase], attempt.timeout_s)
                    for phase in ("connect", "read", "write", "pool")
                }
            core_request = httpcore2.Request(
                method=request.method,
                url=httpcore2.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
            with _mapped_errors(request):
                response = self._pool.handle_request(core_request)
            return httpx2.Response(
                status_code=response.status,
                headers=response.headers,
                stream=ResponseStream(response.stream, request),
                extensions=response.extensions,
            )

        def close(self) -> None:
            self._pool.close()

    return DeadlineTransport()
