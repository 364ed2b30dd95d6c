"""What a cache store must do (diskcache locally, Redis when shared), and how a shared store says it is away."""

from __future__ import annotations

from typing import Protocol

# The stores' own expiry runs on real time; entries are kept a little longer than our TTL so that
# expiry is decided by finbuddy's (injectable) clock. diskcache's are then removed by the hourly cull,
# Redis's by Redis itself.
PHYSICAL_TTL_MARGIN = 60


class CacheBackend(Protocol):
    """A store of JSON text by key. `get` and `set` may raise: any exception is a miss (see Cache)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: int) -> None: ...

    def cull(self) -> int: ...

    def close(self) -> None: ...


class CacheUnavailable(Exception):
    """A shared store that could not be reached or did not answer in time.

    Not a broken cache: the caller skips the store for `retry_after` seconds (the circuit breaker is
    open), then tries it again, so a long-running daemon gets its cache back when the store returns.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
