"""Writing a checked import plan: duplicates of earlier imports skipped, the rest inserted in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from finbuddy.context import Context
from finbuddy.ledger.import_rows import ImportPlan, PlannedRecord, ProgressCallback

CHUNK_ROWS = 5000


@dataclass(frozen=True)
class WriteCounts:
    imported: int
    duplicates: int


def _chunks(records: Iterator[PlannedRecord], size: int) -> Iterator[list[PlannedRecord]]:
    chunk: list[PlannedRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stored(record: PlannedRecord, user_id: int, record_id: int, now: Any) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "id": record_id,
        "kind": record.kind,
        "amount_cents": record.cents,
        "expense_date": record.day,
        "category": record.category,
        "merchant": record.merchant,
        "note": record.note,
        "fingerprint": record.fingerprint,
        "created_at": now,
        "updated_at": now,
    }


def write_plan(
    ctx: Context,
    plan: ImportPlan,
    dry_run: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: ProgressCallback | None = None,
) -> WriteCounts:
    """Insert the plan's records for plan.user (or only count them with `dry_run`), all or nothing."""
    from finbuddy.db.bulk import RecordInserter, existing_fingerprints, has_fingerprints, lock_user
    from finbuddy.db.users import allocate_record_ids, ensure_user, find_user_id

    now = ctx.now()
    imported = duplicates = 0
    transaction = ctx.db.read() if dry_run else ctx.db.write()
    with transaction as conn:
        if dry_run:
            user_id = find_user_id(conn, plan.user)
        else:
            user_id = ensure_user(conn, plan.user, now)
            lock_user(conn, user_id)
        # Fingerprints are unique within the file, so only earlier imports can hold duplicates.
        check = user_id is not None and has_fingerprints(conn, user_id)
        inserter = None if dry_run else RecordInserter(conn)
        for chunk in _chunks(plan.records(), chunk_rows):
            if check:
                assert user_id is not None  # check is only set for an existing user
                known = existing_fingerprints(conn, user_id, [r.fingerprint for r in chunk])
                if known:
                    duplicates += sum(1 for r in chunk if r.fingerprint in known)
                    chunk = [r for r in chunk if r.fingerprint not in known]
            if chunk and not dry_run:
                assert user_id is not None and inserter is not None  # both set above for every real import
                first = allocate_record_ids(conn, user_id, len(chunk))
                inserter.insert([_stored(r, user_id, first + i, now) for i, r in enumerate(chunk)])
            imported += len(chunk)
            if progress is not None:
                progress("importing", imported + duplicates, plan.rows)
    return WriteCounts(imported, duplicates)
