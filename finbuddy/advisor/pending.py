"""Usage the ledger could not take when a paid call succeeded, kept on disk until the next start records it.

A provider call that succeeded is paid for: its answer is shown even when the ledger write after it fails
(a SQLite lock held past the busy timeout, a database gone away). The call's figures are then written to a
small JSON file in the data directory (one per call, 0600), and every later sweep (each `ask`, `quota`, the
daemon) records them: the 'reserved' row becomes 'succeeded' (or, if a sweep refunded it meanwhile, is
counted again), so the quota, the global limit and `usage` stay true.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from finbuddy.context import Context
from finbuddy.errors import StorageError

log = logging.getLogger("finbuddy.advisor")

PENDING_DIR = "pending-ai-usage"


@dataclass(frozen=True)
class PendingUsage:
    """One succeeded call whose ledger row is still 'reserved'."""

    database: str  # which database it belongs to (a hash of its URL): files are only replayed there
    user: str
    call_id: str
    tokens_in: int
    tokens_out: int
    cost_micro_usd: int
    latency_ms: int
    model: str
    finished_at: str  # ISO 8601


def database_identity(ctx: Context) -> str:
    return hashlib.sha256(ctx.settings.database_url.encode("utf-8")).hexdigest()[:16]


def _directory(ctx: Context) -> Path:
    return ctx.settings.paths.data_dir / PENDING_DIR


def keep(ctx: Context, usage: PendingUsage) -> bool:
    """Write `usage` for a later start to record; False if even that fails (a full or read-only disk)."""
    directory = _directory(ctx)
    target = directory / f"{usage.call_id}.json"
    temporary = directory / f".{usage.call_id}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(usage), handle)
        os.replace(temporary, target)
    except OSError as exc:
        log.warning("could not keep the usage of AI call %s for later (%s)", usage.call_id, exc)
        return False
    return True


def record_kept(ctx: Context) -> int:
    """Write every kept usage of this database to the ledger; each file goes once its call is recorded.
    Stops quietly at the first database error (the next start tries again). Returns how many were recorded."""
    directory = _directory(ctx)
    try:
        files = sorted(directory.glob("*.json"))
    except OSError:
        return 0
    if not files:
        return 0
    from finbuddy.db.ai_usage import finish_call
    from finbuddy.db.users import find_user_id

    ours = database_identity(ctx)
    recorded = 0
    for path in files:
        try:
            usage = PendingUsage(**json.loads(path.read_text(encoding="utf-8")))
            finished_at = dt.datetime.fromisoformat(usage.finished_at)
        except FileNotFoundError:
            continue  # recorded by a concurrent start
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable pending AI usage file %s (%s)", path, exc)
            continue
        if usage.database != ours:
            continue
        try:
            with ctx.db.write() as conn:
                done = finish_call(
                    conn,
                    find_user_id(conn, usage.user),
                    usage.call_id,
                    tokens_in=usage.tokens_in,
                    tokens_out=usage.tokens_out,
                    cost_micro_usd=usage.cost_micro_usd,
                    latency_ms=usage.latency_ms,
                    model=usage.model,
                    now=finished_at,
                )
        except StorageError as exc:
            log.info("the usage ledger still cannot take kept AI usage (%s); the next start tries again", exc)
            break
        recorded += int(done)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove recorded AI usage file %s (%s)", path, exc)
    if recorded:
        log.info("recorded %d AI call(s) the usage ledger could not take at the time", recorded)
    return recorded
