"""Writing a checked import plan: staged outside the write lock, then published in one short transaction.

All or nothing: nothing is visible to anyone until the publishing transaction commits, and a failure
at any point before leaves the ledger as it was (see finbuddy/db/bulk.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finbuddy.context import Context
from finbuddy.ledger.import_rows import DEFAULT_CATEGORY, ImportPlan, PlannedRecord, ProgressCallback

if TYPE_CHECKING:
    from finbuddy.db import Connection
    from finbuddy.ledger.rules import FillCounter, Rule, RuleBook, RuleFills

CHUNK_ROWS = 5000


@dataclass(frozen=True)
class WriteCounts:
    imported: int
    duplicates: int
    categorized: RuleFills | None = None  # what the merchant rules filled (None: --no-rules)


def _chunks(
    records: Iterator[PlannedRecord], size: int, rules: RuleBook | None
) -> Iterator[tuple[list[dict[str, Any]], list[Rule | None]]]:
    """The rows to stage, chunk by chunk, with the rule that filled each row (None: none did).

    A row arriving `uncategorized` takes its merchant's rule; its fingerprint stays that of the row as the file
    has it, so importing the file again still adds nothing."""
    chunk: list[dict[str, Any]] = []
    filled_by: list[Rule | None] = []
    for r in records:
        category, rule = r.category, None
        source: str | None = "import"
        if category == DEFAULT_CATEGORY:
            source = None
            rule = rules.rule_for(r.merchant) if rules is not None else None
            if rule is not None:
                assert rule.category is not None  # rule_for returns active rules only
                category, source = rule.category, "rule"
        chunk.append(
            {
                "kind": r.kind,
                "amount_cents": r.cents,
                "expense_date": r.day,
                "category": category,
                "merchant": r.merchant,
                "note": r.note,
                "fingerprint": r.fingerprint,
                "category_source": source,
            }
        )
        filled_by.append(rule)
        if len(chunk) >= size:
            yield chunk, filled_by
            chunk, filled_by = [], []
    if chunk:
        yield chunk, filled_by


def _count_fills(
    counter: FillCounter, chunk: list[dict[str, Any]], filled_by: list[Rule | None], known: set[str]
) -> None:
    """Count the rows rules filled, leaving out those the user already had (they are not imported)."""
    for row, rule in zip(chunk, filled_by, strict=True):
        if rule is not None and row["fingerprint"] not in known:
            counter.add(rule)


def write_plan(
    ctx: Context,
    plan: ImportPlan,
    dry_run: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: ProgressCallback | None = None,
    rules: RuleBook | None = None,
) -> WriteCounts:
    """Insert the plan's records for plan.user (or only count them with `dry_run`), all or nothing.

    Rows the user already has (an earlier import of the same rows) are counted as duplicates. With `rules`,
    rows arriving `uncategorized` take their merchant's rule (see finbuddy/ledger/rules.py); the rules' hit
    counts are written in the transaction that publishes the rows.
    """
    from finbuddy.db.bulk import stage_import
    from finbuddy.ledger.rules import FillCounter

    counter = FillCounter()
    done = duplicates = 0
    with stage_import(ctx.db, plan.user) as stage:
        for chunk, filled_by in _chunks(plan.records(), chunk_rows, rules):
            duplicates += stage.add(chunk, keep=not dry_run)
            _count_fills(counter, chunk, filled_by, stage.last_duplicates)
            done += len(chunk)
            if progress is not None:
                progress("importing", done, plan.rows)
        categorized = counter.result() if rules is not None else None
        if dry_run:
            return WriteCounts(stage.staged, duplicates, categorized)
        if progress is not None:
            progress("saving", plan.rows, plan.rows)
        now = ctx.now()

        def count_hits(conn: Connection, user_id: int) -> None:
            from finbuddy.db.rules import count_fills

            count_fills(conn, user_id, counter.fills(), now)

        imported, late = stage.publish(now, also=count_hits if counter.rows else None)
    return WriteCounts(imported, duplicates + late, categorized)
