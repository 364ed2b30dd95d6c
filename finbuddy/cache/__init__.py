"""The cache: keys, TTL policy, invalidation by generation, and every failure as a miss, over two stores.

diskcache (finbuddy/cache/disk.py) by default; a shared Redis (finbuddy/cache/redis.py) when `cache.url`
is set. Those two modules are the only ones importing diskcache and redis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finbuddy.cache.backend import CacheBackend, CacheUnavailable
from finbuddy.cache.disk import CorruptCache, DiskCacheBackend, looks_corrupt
from finbuddy.clock import Clock
from finbuddy.errors import ConfigError

if TYPE_CHECKING:
    from finbuddy.config import Settings

__all__ = [
    "Cache",
    "CacheBackend",
    "CacheHit",
    "CacheUnavailable",
    "CorruptCache",
    "DiskCacheBackend",
    "cache_key",
    "open_cache",
    "require_cache_client",
]

log = logging.getLogger("finbuddy.cache")

KEY_VERSION = "fb1"
SCALE_EXTRA_HINT = "pip install 'finbuddy[scale]'"


@dataclass(frozen=True)
class CacheHit:
    value: Any
    stored_at: float  # POSIX timestamp, by finbuddy's clock
    read_at: float = 0.0  # when it was read, by the same clock

    @property
    def age(self) -> float:
        """Seconds between storing and reading the entry."""
        return max(0.0, self.read_at - self.stored_at)


def cache_key(kind: str, user: str, generation: Any, *parts: Any, namespace: str = "") -> str:
    """A key that names the database (namespace: its identity), the kind, the user and the user's data
    generation; injective, so no entry can ever be served to another user, from another database sharing
    the cache directory, or after the user's data changed."""
    payload = json.dumps([user, generation, *parts], ensure_ascii=False, separators=(",", ":"), default=str)
    # Bounded in bytes (what Redis and SQLite store): at most 200, else its hash.
    if len(payload.encode("utf-8")) > 200:
        payload = "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()
    return f"{KEY_VERSION}:{namespace}:{kind}:{payload}"


class Cache:
    """JSON entries with TTLs decided by finbuddy's clock; every failure is a miss with one warning.

    A store that fails for good (a disk cache that cannot be opened or written) is left alone for the
    rest of the process. A shared store that is away (CacheUnavailable: Redis down, hung or refusing)
    trips a circuit breaker instead: no call reaches it for the `retry_after` seconds the store asked
    for, then one call tries again. One warning per outage: a command warns once; the daemon warns
    again only after the store came back and went away again.
    """

    def __init__(
        self,
        opener: Callable[[], CacheBackend] | None,
        ttls: dict[str, int],
        clock: Clock,
        warn: Callable[[str], None] | None = None,
        directory: Path | None = None,
        namespace: str | Callable[[], str] = "",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._opener = opener
        self._backend: CacheBackend | None = None
        self._broken = opener is None
        self.ttls = ttls
        self.clock = clock
        self.directory = directory
        # The database's identity, asked for only when a key is first made (by then the command has
        # read the database, so the identity is known and costs nothing).
        self._namespace = namespace
        self._warn = warn if warn is not None else log.warning
        self._warned = False
        # The circuit breaker (shared stores only): closed while open_until <= monotonic().
        self._monotonic = monotonic
        self.open_until = 0.0
        self.breaker_trips = 0
        self._in_outage = False
        self.hits = 0
        self.misses = 0

    # --- failure handling -------------------------------------------------------

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            self._warn(message)

    @property
    def store(self) -> CacheBackend | None:
        """The opened store; None before the first get or put, or once given up."""
        return self._backend

    @property
    def breaker_open(self) -> bool:
        return self._monotonic() < self.open_until

    def _fail(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, CacheUnavailable):
            # Away, not broken: keep the client (its pool reconnects) and skip it for a while.
            self.open_until = self._monotonic() + exc.retry_after
            self.breaker_trips += 1
            if not self._in_outage:
                self._in_outage = True
                self._warn(str(exc))
            return
        # Stop using the cache for the rest of this process: every later call is a quiet miss.
        self._broken = True
        self._close_backend()
        if self.directory is not None and looks_corrupt(exc) and self._move_aside():
            # Found broken while in use: the next process starts from an empty cache.
            self._warn_once(
                f"cache at {self.directory} is corrupt ({exc}); moved it aside, answering from the database"
            )
            return
        detail = str(exc) or "timed out waiting for another process's lock"
        self._warn_once(f"cache {what} failed ({type(exc).__name__}: {detail}); answering from the database")

    def _succeeded(self) -> None:
        self._in_outage = False

    def _open(self) -> CacheBackend | None:
        if self._broken or self._opener is None:  # no opener means broken from the start
            return None
        if self.open_until and self.breaker_open:
            return None
        if self._backend is not None:
            return self._backend
        try:
            self._backend = self._opener()
            return self._backend
        except Exception as first:
            if self.directory is not None and looks_corrupt(first) and self._move_aside():
                try:
                    self._backend = self._opener()
                    self._warn_once(f"cache at {self.directory} was unusable ({first}); moved it aside and rebuilt it")
                    return self._backend
                except Exception as second:
                    self._fail("open", second)
                    return None
            self._fail("open", first)
            return None

    def _move_aside(self) -> bool:
        assert self.directory is not None
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%S")
        target = self.directory.with_name(f"{self.directory.name}.corrupt-{stamp}-{os.getpid()}")
        try:
            os.replace(self.directory, target)
            return True
        except OSError:
            return False

    def _close_backend(self) -> None:
        if self._backend is not None:
            try:
                self._backend.close()
            except Exception:
                pass
            self._backend = None

    # --- the interface ----------------------------------------------------------

    def ttl(self, kind: str) -> int:
        if kind not in self.ttls:
            raise ValueError(f"unknown cache kind {kind!r}: expected one of {', '.join(self.ttls)}")
        return self.ttls[kind]

    @property
    def namespace(self) -> str:
        if callable(self._namespace):
            self._namespace = self._namespace()
        return self._namespace

    def key(self, kind: str, user: str, generation: Any, *parts: Any) -> str:
        return cache_key(kind, user, generation, *parts, namespace=self.namespace)

    def get(self, kind: str, user: str, generation: Any, *parts: Any) -> CacheHit | None:
        """The cached value, or None on a miss, an expired entry, a TTL of 0 or any cache failure."""
        if self.ttl(kind) <= 0:
            return None
        backend = self._open()
        if backend is None:
            self.misses += 1
            return None
        key = self.key(kind, user, generation, *parts)  # outside the try: a database failure is not the cache's
        try:
            raw = backend.get(key)
        except Exception as exc:
            self._fail("read", exc)
            self.misses += 1
            return None
        self._succeeded()
        if raw is None:
            self.misses += 1
            return None
        try:
            envelope = json.loads(raw)
            expires_at = float(envelope["expires_at"])
            stored_at = float(envelope["stored_at"])
            value = envelope["value"]
        except (ValueError, KeyError, TypeError) as exc:
            self._warn_once(f"cache entry is malformed ({type(exc).__name__}); answering from the database")
            self.misses += 1
            return None
        now = self.clock.now().timestamp()
        # An entry "from the future" (the clock was moved back) is not trusted either.
        if now >= expires_at or stored_at > now:
            self.misses += 1
            return None
        self.hits += 1
        return CacheHit(value=value, stored_at=stored_at, read_at=now)

    def put(self, kind: str, user: str, generation: Any, *parts: Any, value: Any) -> None:
        """Store a JSON-serialisable value under the kind's TTL; failures only warn."""
        ttl = self.ttl(kind)
        if ttl <= 0:
            return
        now = self.clock.now().timestamp()
        # Serialise first: a value that is not JSON is a bug in the caller, not a cache failure.
        envelope = json.dumps({"stored_at": now, "expires_at": now + ttl, "value": value}, ensure_ascii=False)
        backend = self._open()
        if backend is None:
            return
        key = self.key(kind, user, generation, *parts)
        try:
            backend.set(key, envelope, ttl)
        except Exception as exc:
            self._fail("write", exc)
            return
        self._succeeded()

    def cull(self) -> int:
        """Remove expired entries (the daemon's hourly cache-maintenance); Redis expires its own: 0."""
        backend = self._open()
        if backend is None:
            return 0
        try:
            return backend.cull()
        except Exception as exc:
            self._fail("cull", exc)
            return 0

    def close(self) -> None:
        self._close_backend()


def require_cache_client(settings: Settings) -> None:
    """ConfigError (exit 2) when `cache.url` is set but the Redis client is not installed. Looks the
    package up without importing it (importing redis costs 70-270 ms; only commands that use the
    cache pay that)."""
    url = settings.cache.url
    if not url:
        return
    import importlib.util

    try:
        found = importlib.util.find_spec("redis") is not None
    except (ImportError, ValueError):  # ValueError: a module entry without a spec
        found = False
    if not found:
        from finbuddy.config import mask_url

        raise ConfigError(
            f"[cache] url = {mask_url(url)!r} needs the Redis client, which is not installed: {SCALE_EXTRA_HINT}"
        )


def open_cache(
    settings: Settings, clock: Clock, identity: Callable[[], str], warn: Callable[[str], None] | None = None
) -> Cache:
    """The cache the settings describe, for the database whose identity `identity()` returns (asked once,
    when the first key is made): the shared Redis at `cache.url` under `cache.prefix`, else the disk
    cache in `cache.dir`. Neither store is touched until the first get or put."""
    ttls = {
        "summary": settings.cache.summary_ttl,
        "portfolio": settings.cache.portfolio_ttl,
        "ai": settings.cache.ai_ttl,
    }
    url = settings.cache.url
    if url:
        require_cache_client(settings)
        prefix = settings.cache.prefix

        def open_redis() -> CacheBackend:
            from finbuddy.cache.redis import RedisCacheBackend

            return RedisCacheBackend(url, prefix)

        return Cache(open_redis, ttls, clock, warn=warn, namespace=identity)
    directory = settings.cache_dir
    return Cache(
        lambda: DiskCacheBackend(directory),
        ttls,
        clock,
        warn=warn,
        directory=directory,
        namespace=identity,
    )
