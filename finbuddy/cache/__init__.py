"""The cache: the only module importing diskcache; JSON values, per-user generation keys, TTLs, failures as misses."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from finbuddy.clock import Clock
from finbuddy.config import make_private_dir

log = logging.getLogger("finbuddy.cache")

KEY_VERSION = "fb1"
_TTL_KEYS = {"summary": "cache.summary_ttl", "portfolio": "cache.portfolio_ttl", "ai": "cache.ai_ttl"}
# diskcache's own expiry runs on real time; keep entries a little longer than our TTL so
# that expiry is decided by our (injectable) clock, and let the hourly cull remove them.
_PHYSICAL_TTL_MARGIN = 60


class CacheBackend(Protocol):
    """What a cache store must do. diskcache now; a shared Redis store (phase 2) later, by `cache.url`."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: int) -> None: ...

    def cull(self) -> int: ...

    def close(self) -> None: ...


def _safe_disk_class():
    import diskcache
    from diskcache.core import MODE_RAW

    class TextOnlyDisk(diskcache.Disk):
        """Keys and values as text, always inside the cache's SQLite file, never in files of their own.

        diskcache trusts the `mode` and `filename` of its index rows: it would unpickle a planted value,
        read a planted file name as the value, and delete that file when the row expires or is culled
        (`filename='../data/finbuddy.db'`). Here nothing is ever stored in a file, so a row naming one
        is planted: it is refused without its path being opened, and no path is ever deleted.
        """

        def put(self, key):
            if type(key) is not str:
                raise TypeError("finbuddy cache keys are text")
            return super().put(key)

        def get(self, key, raw):
            if not raw:
                raise ValueError("refusing a pickled cache key")
            return super().get(key, raw)

        def store(self, value, read, key=diskcache.core.UNKNOWN):
            if type(value) is not str:
                raise TypeError("finbuddy cache values are JSON text")
            # What diskcache does for short text, whatever the size (and whatever a planted
            # `disk_min_file_size` setting says): the value lives in the row.
            return 0, MODE_RAW, None, value

        def fetch(self, mode, filename, value, read):
            # Only text kept in the row; a pickled value, or a row pointing at a file, was planted
            # by whoever could write the directory: refused, never loaded or opened.
            if mode != MODE_RAW or filename is not None:
                raise ValueError(
                    f"refusing a cache value stored in mode {mode} or in a file (only JSON text is accepted)"
                )
            if type(value) is not str:
                raise ValueError("refusing a cache value that is not text")
            return value

        def remove(self, file_path):
            # Called with the `filename` of rows being expired, culled, evicted or overwritten. This
            # Disk never writes a file, so any name is planted: delete nothing, touch nothing.
            return None

    return TextOnlyDisk


def _bounded_cache_class():
    import sqlite3

    import diskcache

    class BoundedCache(diskcache.Cache):
        """diskcache.Cache whose set-up writes give up after `timeout` seconds on a locked database.

        diskcache retries the writes of its constructor (it rewrites its Settings table on every
        open) for 60 s whatever the timeout; a cache held by another process would hang the command.
        """

        def __init__(self, directory: str, timeout: float, **kwargs: Any) -> None:
            self._finbuddy_busy_s = timeout
            super().__init__(directory, timeout=timeout, **kwargs)

        @property
        def _sql_retry(self):
            sql = self._sql
            budget = self._finbuddy_busy_s

            def execute(statement, *args, **kwargs):
                start = time.monotonic()
                while True:
                    try:
                        return sql(statement, *args, **kwargs)
                    except sqlite3.OperationalError as exc:
                        if str(exc) != "database is locked" or time.monotonic() - start > budget:
                            raise
                        time.sleep(0.002)

            return execute

    return BoundedCache


class CorruptCache(Exception):
    """The cache directory holds something that is not a finbuddy cache: move it aside and rebuild."""


class DiskCacheBackend:
    """A diskcache directory, created 0700 with its database 0600, and a short lock timeout
    (a busy cache is a miss, not a wait)."""

    DB_NAME = "cache.db"

    def __init__(self, directory: Path, timeout: float = 1.0) -> None:
        self.directory = directory
        try:
            make_private_dir(directory)
        except FileExistsError:
            # Ours already (perhaps made a moment ago by a concurrent first run), or a file in the way.
            if not directory.is_dir():
                raise CorruptCache(f"{directory} is not a directory") from None
        db_file = directory / self.DB_NAME
        if not db_file.exists():
            # Create the file ourselves so that it (and SQLite's -wal/-shm, which copy its
            # mode) is 0600 from the first byte, not after a chmod.
            os.close(os.open(db_file, os.O_RDWR | os.O_CREAT, 0o600))
        elif not db_file.is_file():
            raise CorruptCache(f"{db_file} is not a file")
        elif db_file.stat().st_mode & 0o077:
            os.chmod(db_file, 0o600)
        self._cache = _bounded_cache_class()(str(directory), timeout=timeout, disk=_safe_disk_class())

    def get(self, key: str) -> str | None:
        return self._cache.get(key, default=None, retry=False)

    def set(self, key: str, value: str, ttl: int) -> None:
        self._cache.set(key, value, expire=ttl + _PHYSICAL_TTL_MARGIN, retry=False)

    def cull(self) -> int:
        return self._cache.expire(retry=True)

    def close(self) -> None:
        self._cache.close()


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
    if len(payload) > 200:
        payload = "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()
    return f"{KEY_VERSION}:{namespace}:{kind}:{payload}"


class Cache:
    """JSON entries with TTLs decided by finbuddy's clock; every failure is a miss with one warning."""

    def __init__(
        self,
        opener: Callable[[], CacheBackend] | None,
        ttls: dict[str, int],
        clock: Clock,
        warn: Callable[[str], None] | None = None,
        directory: Path | None = None,
        namespace: str | Callable[[], str] = "",
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
        self.hits = 0
        self.misses = 0

    # --- failure handling -------------------------------------------------------

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            self._warn(message)

    def _fail(self, what: str, exc: BaseException) -> None:
        """Stop using the cache for the rest of this process: every later call is a quiet miss."""
        self._broken = True
        self._close_backend()
        if self.directory is not None and _looks_corrupt(exc) and self._move_aside():
            # Found broken while in use: the next process starts from an empty cache.
            self._warn_once(
                f"cache at {self.directory} is corrupt ({exc}); moved it aside, answering from the database"
            )
            return
        detail = str(exc) or "timed out waiting for another process's lock"
        self._warn_once(f"cache {what} failed ({type(exc).__name__}: {detail}); answering from the database")

    def _open(self) -> CacheBackend | None:
        if self._broken or self._opener is None:  # no opener means broken from the start
            return None
        if self._backend is not None:
            return self._backend
        try:
            self._backend = self._opener()
            return self._backend
        except Exception as first:
            if self.directory is not None and _looks_corrupt(first) and self._move_aside():
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

    def cull(self) -> int:
        """Remove expired entries (the daemon's hourly cache-maintenance)."""
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


def _looks_corrupt(exc: BaseException) -> bool:
    """A cache we should rebuild: not SQLite, malformed, or a file where the directory should be."""
    import sqlite3

    if isinstance(exc, CorruptCache | FileExistsError):
        return True
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def open_cache(settings, clock: Clock, identity: Callable[[], str], warn: Callable[[str], None] | None = None) -> Cache:
    """The cache the settings describe, for the database whose identity `identity()` returns (asked once,
    when the first key is made). `cache.url` (Redis) is the phase-2 backend: not in this version."""
    ttls = {kind: int(settings.values[key]) for kind, key in _TTL_KEYS.items()}
    url = settings.values.get("cache.url")
    directory = settings.cache_dir
    if url:
        from finbuddy.config import mask_url

        message = (
            f"cache.url {mask_url(url)!r}: the shared Redis cache is the phase-2 backend, "
            f"not in this version; using {directory}"
        )
        (warn or log.warning)(message)
    return Cache(
        lambda: DiskCacheBackend(directory),
        ttls,
        clock,
        warn=warn,
        directory=directory,
        namespace=identity,
    )
