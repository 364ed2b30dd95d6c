"""The shared cache store on Redis (`cache.url`): the only module importing redis; short timeouts, no retries.

Every install pointing at one Redis (and one database) shares its entries: the keys are the disk cache's
keys (database identity, kind, user, the user's data generation read from the database) under
`{cache.prefix}:`. Values are the same JSON text as on disk, never pickle. Redis expires every entry
itself (SET ... EX), so `cull()` has nothing to do.

redis-py's defaults would turn an outage into a slow command: 8.x waits 5 s to connect and for an
answer and retries 10 times with backoff (3.6-3.9 s to fail on a closed port here); 7.x has no socket
timeout at all (a hung Redis hangs the command).
Here a connection attempt or an answer gets 0.1 s, nothing is retried, and a failure raises
CacheUnavailable, which keeps Redis out of the way for BREAKER_OPEN_S seconds (see Cache).
"""

from __future__ import annotations

from typing import Any

from finbuddy.cache.backend import PHYSICAL_TTL_MARGIN, CacheUnavailable

CONNECT_TIMEOUT_S = 0.1
SOCKET_TIMEOUT_S = 0.1
BREAKER_OPEN_S = 5.0
# A CLI command makes one connection; the daemon's insight threads share the pool.
MAX_CONNECTIONS = 64


def redis_client(url: str, connect_timeout: float = CONNECT_TIMEOUT_S, socket_timeout: float = SOCKET_TIMEOUT_S) -> Any:
    """A redis-py client for `url` (redis://, rediss://, unix://) that fails fast: short timeouts, no
    retries, no background health checks. Options in the URL's query (`?socket_timeout=0.5`) win: the
    escape hatch for a Redis far away."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        max_connections=MAX_CONNECTIONS,
    )


class RedisCacheBackend:
    """Cache entries in a (shared) Redis under `{prefix}:{key}`."""

    def __init__(
        self,
        url: str,
        prefix: str,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        socket_timeout: float = SOCKET_TIMEOUT_S,
        open_for: float = BREAKER_OPEN_S,
    ) -> None:
        import redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.url = url
        self.prefix = prefix
        self.open_for = open_for
        self.client = redis_client(url, connect_timeout, socket_timeout)

    def full_key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def _unavailable(self, what: str, exc: BaseException) -> CacheUnavailable:
        from finbuddy.config import mask_url

        detail = str(exc).splitlines()[0] if str(exc) else "no answer"
        return CacheUnavailable(
            f"cache at {mask_url(self.url)} unavailable ({what}: {type(exc).__name__}: {detail}); "
            f"answering from the database, not trying Redis again for {self.open_for:g} s",
            retry_after=self.open_for,
        )

    def get(self, key: str) -> str | None:
        try:
            raw = self.client.get(self.full_key(key))
        except self._errors as exc:
            raise self._unavailable("read", exc) from exc
        if raw is None:
            return None
        # Text that is not UTF-8 was not written by finbuddy: a malformed entry (a miss), never unpickled.
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)

    def set(self, key: str, value: str, ttl: int) -> None:
        try:
            self.client.set(self.full_key(key), value.encode("utf-8"), ex=ttl + PHYSICAL_TTL_MARGIN)
        except self._errors as exc:
            raise self._unavailable("write", exc) from exc

    def cull(self) -> int:
        """Nothing to do: every entry was written with its expiry, and Redis removes it then."""
        return 0

    def close(self) -> None:
        self.client.close()
