"""Export of everything a user has: records as CSV (re-importable), or records, budgets and holdings as JSON.

Both formats are streamed to a text stream record by record, so memory stays flat for any ledger.
export_to_file() writes only regular files, atomically (a private temporary file beside the target,
fsynced, then renamed), and never overwrites one unless asked.
CSV cells that a spreadsheet would run as a formula (starting with = + - @ tab or CR) get a leading
`'`, and so does a cell that already starts with `'` followed by one of those or another `'`;
`finbuddy import` removes exactly that one quote, so the round trip is lossless.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from finbuddy.context import Context
from finbuddy.errors import FinbuddyError, ValidationError
from finbuddy.ledger.fields import escape_cell
from finbuddy.money import format_cents

if TYPE_CHECKING:
    from finbuddy.db import Row

CSV_COLUMNS = ("date", "kind", "amount", "category", "merchant", "note")
FORMATS = ("csv", "json")


@dataclass(frozen=True)
class ExportResult:
    format: str
    records: int


def _record_json(user: str, row: Row[Any]) -> dict[str, Any]:
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
    if format == "csv":
        return export_csv(ctx, out)
    if format == "json":
        return export_json(ctx, out)
    raise ValidationError(f"format {format!r} is not valid: expected csv or json")


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check_target(target: Path, shown: str, force: bool) -> None:
    """Refuse anything but a new file or (with force) an existing regular file."""
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ValidationError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise ValidationError(f"{shown} is {_kind_of(mode)}: expected a regular file to write the export to")
    if not force:
        raise ValidationError(f"{shown} already exists: pass --force to overwrite it")


def export_to_file(ctx: Context, target: Path | str, format: str = "csv", force: bool = False) -> ExportResult:
    """Export into the file `target` (created 0600): written beside it under a temporary name, fsynced, then
    renamed into place, so a reader sees the old file or the whole new one. A symlink is followed to the
    file it names. Devices, FIFOs, directories and sockets are refused, and an existing file is only
    replaced with `force`."""
    import tempfile

    shown = repr(str(target))
    real = Path(os.path.realpath(target))  # through symlinks: replace the file, never the link
    _check_target(real, shown, force)
    directory = real.parent
    if not directory.is_dir():
        raise ValidationError(f"cannot write {shown}: directory {str(directory)!r} does not exist")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=directory)  # mode 0600
    except OSError as exc:
        raise ValidationError(f"cannot write {shown}: {exc.strerror or exc}") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            result = export(ctx, handle, format)
            handle.flush()
            os.fsync(handle.fileno())
        _check_target(real, shown, force)  # still a regular file (or absent) at the last moment
        _move_into_place(temp, real, shown, force)
    except OSError as exc:
        raise FinbuddyError(f"cannot write {shown}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)
    _fsync_directory(directory)
    return result


def _move_into_place(temp: Path, target: Path, shown: str, force: bool) -> None:
    if force:
        os.replace(temp, target)
        return
    try:
        os.link(temp, target)  # atomic, and fails if someone created the file meanwhile
    except FileExistsError:
        raise ValidationError(f"{shown} already exists: pass --force to overwrite it") from None
    except OSError:
        os.replace(temp, target)  # a file system without hard links


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
