"""Writing a checked import plan: staged outside the write lock, then published in one short transaction.

All or nothing: nothing is visible to anyone until the publishing transaction commits, and a failure
at any point before leaves the ledger as it was (see finbuddy/db/bulk.py).
"""

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


def _chunks(records: Iterator[PlannedRecord], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for r in records:
        chunk.append(
            {
                "kind": r.kind,
                "amount_cents": r.cents,
                "expense_date": r.day,
                "category": r.category,
                "merchant": r.merchant,
                "note": r.note,
                "fingerprint": r.fingerprint,
            }
        )
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_plan(
    ctx: Context,
    plan: ImportPlan,
    dry_run: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: ProgressCallback | None = None,
) -> WriteCounts:
    """Insert the plan's records for plan.user (or only count them with `dry_run`), all or nothing.

    Rows the user already has (an earlier import of the same rows) are counted as duplicates.
    """
    from finbuddy.db.bulk import stage_import

    done = duplicates = 0
    with stage_import(ctx.db, plan.user) as stage:
        for chunk in _chunks(plan.records(), chunk_rows):
            duplicates += stage.add(chunk, keep=not dry_run)
            done += len(chunk)
            if progress is not None:
                progress("importing", done, plan.rows)
        if dry_run:
            return WriteCounts(stage.staged, duplicates)
        if progress is not None:
            progress("saving", plan.rows, plan.rows)
        imported, late = stage.publish(ctx.now())
    return WriteCounts(imported, duplicates + late)
