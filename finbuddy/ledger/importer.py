"""CSV import of bank statements and finbuddy exports: validated first, idempotent, streamed, all-or-nothing.

How a file is read (this is the documented contract):

- The first non-blank row is the header. Cells are separated by `,` (or `;` or a tab when the
  header holds more of those). The file is UTF-8 (a BOM is fine).
- Columns are recognised by name, case-insensitively, ignoring `_`/`-`/extra spaces and a trailing
  "(...)" such as "Amount (EUR)": see HEADER_ALIASES. `--map COL=FIELD` names the rest (or
  overrides a guess); FIELD is one of FIELDS or `ignore`. Unrecognised columns are ignored.
- A row needs a date and either an amount or a debit/credit amount. A debit cell is an expense and
  a credit cell income. With a kind (expense|income, also debit|credit) the amount's sign is
  ignored. Without a kind column (or with an empty kind cell) a signed amount decides, read by the
  file's convention like its date order: if any such amount is negative, the file is a bank
  statement (negative = expense, positive = income); if none is, it is a list of expenses or a
  card statement (positive = expense, negative = a refund, i.e. income). `sign` ("bank"|"card")
  overrides the guess; ImportResult.sign says which reading was used.
- Amounts: "12.50", "-12.50", "1,234.56", "(12.50)", "12.50-", an optional currency sign; with
  `;` separators a decimal comma ("1.234,56") too. Zero is an error.
- Dates: YYYY-MM-DD (a time after it is ignored), DD.MM.YYYY, and D/M/YYYY or M/D/YYYY: slash
  dates are read day-first or month-first for the whole file, whichever every row allows;
  if both do (all days <= 12) the file is ambiguous and `date_format` ("dmy"|"mdy") must say.
- Empty category → "uncategorized", and then the user's merchant rules (finbuddy/ledger/rules.py) fill
  it unless `rules=False` (`--no-rules`): ImportResult.categorized says which rules filled how many rows.
  Such a row's fingerprint is still that of the row as the file has it. Text cells that finbuddy's
  export escaped against spreadsheet formulas (a leading `'` before = + - @ tab CR or another `'`) are
  unescaped.

Three steps, one plan passed between them:
1. import_format.recognise: the separator and the header → a CsvFormat;
2. import_rows.check_rows: every row is checked in a first streaming pass (a bad row raises
   ValidationError naming its line, and nothing is written) → an ImportPlan;
3. import_write.write_plan: the plan's records are staged where nobody sees them, without taking
   the write lock, then published by ONE short transaction (see finbuddy/db/bulk.py).
A row's fingerprint is sha256(user, date, kind, amount, normalised category/merchant/note,
occurrence number of identical rows earlier in the file), so importing a file again adds
nothing, while identical rows within one file are all kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finbuddy.context import Context
from finbuddy.errors import ValidationError
from finbuddy.ledger.import_format import FIELDS, HEADER_ALIASES, parse_mapping, recognise
from finbuddy.ledger.import_rows import DATE_ORDERS, SIGNS, ProgressCallback, check_rows
from finbuddy.ledger.import_write import CHUNK_ROWS, write_plan
from finbuddy.ledger.rules import RuleFills, rules_for_import

__all__ = ["FIELDS", "HEADER_ALIASES", "ImportResult", "ProgressCallback", "import_csv", "parse_mapping"]


@dataclass(frozen=True)
class ImportResult:
    imported: int
    duplicates: int
    rows: int
    dry_run: bool
    columns: dict[str, str] = field(default_factory=dict)  # field -> the column it was read from
    ignored_columns: list[str] = field(default_factory=list)
    date_format: str | None = None
    sign: str | None = None  # "bank" | "card": how signed amounts were read (None: no row needed it)
    categorized: RuleFills = field(default_factory=lambda: RuleFills(False, 0, []))

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "columns": self.columns,
            "ignored_columns": self.ignored_columns,
            "sign": self.sign,
            "categorized": self.categorized.to_json(),
        }


def import_csv(
    ctx: Context,
    path: Path | str,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    date_format: str | None = None,
    progress: ProgressCallback | None = None,
    chunk_rows: int = CHUNK_ROWS,
    sign: str | None = None,
    rules: bool = True,
) -> ImportResult:
    """Import ctx.user's records from a CSV file (see the module docstring for what is accepted); with `rules`,
    rows arriving uncategorised take the user's merchant rules."""
    if date_format not in (None, "auto", *DATE_ORDERS):
        raise ValidationError(f"date format {date_format!r} is not valid: expected auto, dmy or mdy")
    if sign not in (None, "auto", *SIGNS):
        raise ValidationError(f"--sign {sign!r} is not valid: expected bank or card")
    fmt = recognise(path, mapping)
    plan = check_rows(
        ctx.user,
        fmt,
        date_order=None if date_format == "auto" else date_format,
        sign=None if sign == "auto" else sign,
        progress=progress,
    )
    book = rules_for_import(ctx, plan.user) if rules else None
    counts = write_plan(ctx, plan, dry_run=dry_run, chunk_rows=chunk_rows, progress=progress, rules=book)
    return ImportResult(
        imported=counts.imported,
        duplicates=counts.duplicates,
        rows=plan.rows,
        dry_run=dry_run,
        columns=fmt.layout.columns,
        ignored_columns=fmt.layout.ignored,
        date_format=plan.date_order,
        sign=plan.sign,
        categorized=counts.categorized or RuleFills(False, 0, []),
    )
