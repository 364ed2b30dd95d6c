"""The local cache store: a diskcache directory holding JSON text only (the only module importing diskcache)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finbuddy.cache.backend import PHYSICAL_TTL_MARGIN
from finbuddy.config import make_private_dir

if TYPE_CHECKING:
    import sqlite3


def _safe_disk_class() -> type:
    import diskcache
    from diskcache.core import MODE_RAW

    class TextOnlyDisk(diskcache.Disk):
        """Keys and values as text, always inside the cache's SQLite file, never in files of their own.

        diskcache trusts the `mode` and `filename` of its index rows: it would unpickle a planted value,
        read a planted file name as the value, and delete that file when the row expires or is culled
        (`filename='../data/finbuddy.db'`). Here nothing is ever stored in a file, so a row naming one
        is planted: it is refused without its path being opened, and no path is ever deleted.
        """

        def put(self, key: object) -> tuple[str, bool]:
            if type(key) is not str:
                raise TypeError("finbuddy cache keys are text")
            return super().put(key)

        def get(self, key: str, raw: bool) -> str:
            if not raw:
                raise ValueError("refusing a pickled cache key")
            return super().get(key, raw)

        def store(self, value: object, read: bool, key: object = diskcache.core.UNKNOWN) -> tuple[int, int, None, str]:
            if type(value) is not str:
                raise TypeError("finbuddy cache values are JSON text")
            # What diskcache does for short text, whatever the size (and whatever a planted
            # `disk_min_file_size` setting says): the value lives in the row.
            return 0, MODE_RAW, None, value

        def fetch(self, mode: int, filename: str | None, value: object, read: bool) -> str:
            # Only text kept in the row; a pickled value, or a row pointing at a file, was planted
            # by whoever could write the directory: refused, never loaded or opened.
            if mode != MODE_RAW or filename is not None:
                raise ValueError(
                    f"refusing a cache value stored in mode {mode} or in a file (only JSON text is accepted)"
                )
            if type(value) is not str:
                raise ValueError("refusing a cache value that is not text")
            return value

        def remove(self, file_path: str) -> None:
            # Called with the `filename` of rows being expired, culled, evicted or overwritten. This
            # Disk never writes a file, so any name is planted: delete nothing, touch nothing.
            return None

    return TextOnlyDisk


def _bounded_cache_class() -> type:
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
        def _sql_retry(self) -> Callable[..., sqlite3.Cursor]:
            sql = self._sql
            budget = self._finbuddy_busy_s

            def execute(statement: str, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
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
        self._cache.set(key, value, expire=ttl + PHYSICAL_TTL_MARGIN, retry=False)

    def cull(self) -> int:
        return self._cache.expire(retry=True)

    def close(self) -> None:
        self._cache.close()


def looks_corrupt(exc: BaseException) -> bool:
    """A cache we should rebuild: not SQLite, malformed, or a file where the directory should be."""
    import sqlite3

    if isinstance(exc, CorruptCache | FileExistsError):
        return True
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text
