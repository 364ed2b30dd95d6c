"""Export of everything a user has: records as CSV (re-importable), or records, budgets and holdings as JSON.

Both formats are streamed to a text stream record by record, so memory stays flat for any ledger.
CSV cells that a spreadsheet would run as a formula (starting with = + - @ tab or CR) get a leading
`'`, and so does a cell that already starts with `'` followed by one of those or another `'`;
`finbuddy import` removes exactly that one quote, so the round trip is lossless.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import Any, TextIO

from finbuddy.context import Context
from finbuddy.money import format_cents

CSV_COLUMNS = ("date", "kind", "amount", "category", "merchant", "note")
FORMATS = ("csv", "json")
_FORMULA_START = frozenset("=+-@\t\r")


def escape_cell(text: str) -> str:
    """Neutralise spreadsheet formulas; the importer's unescape_cell undoes exactly this."""
    if text and (text[0] in _FORMULA_START or (text[0] == "'" and len(text) > 1 and text[1] in _FORMULA_START | {"'"})):
        return "'" + text
    return text


@dataclass(frozen=True)
class ExportResult:
    format: str
    records: int


def _record_json(user: str, row) -> dict[str, Any]:
    return {
        "id": row.id,
        "user": user,
        "kind": row.kind,
        "amount": format_cents(row.amount_cents),
        "category": row.category,
        "date": row.expense_date.isoformat(),
        "note": row.note,
        "merchant": row.merchant,
    }


def export_csv(ctx: Context, out: TextIO) -> ExportResult:
    """Write ctx.user's records (oldest first) as date,kind,amount,category,merchant,note."""
    from finbuddy.db.bulk import stream_records
    from finbuddy.db.users import find_user_id

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    with ctx.db.read() as conn:
        user_id = find_user_id(conn, ctx.user)
        if user_id is not None:
            for row in stream_records(conn, user_id):
                writer.writerow(
                    (
                        row.expense_date.isoformat(),
                        row.kind,
                        format_cents(row.amount_cents),
                        escape_cell(row.category),
                        escape_cell(row.merchant or ""),
                        escape_cell(row.note or ""),
                    )
                )
                count += 1
    return ExportResult("csv", count)


def export_json(ctx: Context, out: TextIO) -> ExportResult:
    """Write one JSON document: user, exported_at, currency, records, budgets, holdings (SPEC.md shape)."""
    from finbuddy.db.budgets import list_budgets
    from finbuddy.db.bulk import stream_records
    from finbuddy.db.portfolio import list_holdings
    from finbuddy.db.users import find_user_id
    from finbuddy.ledger.portfolio import Holding

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    count = 0
    with ctx.db.read() as conn:
        user_id = find_user_id(conn, ctx.user)
        out.write("{\n")
        out.write(f'  "user": {dump(ctx.user)},\n')
        out.write(f'  "exported_at": {dump(ctx.now().isoformat())},\n')
        out.write(f'  "currency": {dump(ctx.currency)},\n')
        out.write('  "records": [')
        if user_id is not None:
            for row in stream_records(conn, user_id):
                out.write(("," if count else "") + "\n    " + dump(_record_json(ctx.user, row)))
                count += 1
        out.write("\n  ],\n" if count else "],\n")
        budgets = [] if user_id is None else list_budgets(conn, user_id)
        budget_json = [{"category": c, "amount": format_cents(cents)} for c, cents in budgets]
        out.write(f'  "budgets": {dump(budget_json)},\n')
        holdings = [] if user_id is None else list_holdings(conn, user_id)
        holding_json = [Holding.from_row(*row).to_json() for row in holdings]
        out.write(f'  "holdings": {dump(holding_json)}\n')
        out.write("}\n")
    return ExportResult("json", count)


def export(ctx: Context, out: TextIO, format: str = "csv") -> ExportResult:
    from finbuddy.errors import ValidationError

    if format == "csv":
        return export_csv(ctx, out)
    if format == "json":
        return export_json(ctx, out)
    raise ValidationError(f"format {format!r} is not valid: expected csv or json")
