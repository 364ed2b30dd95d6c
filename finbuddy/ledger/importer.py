"""CSV import of bank statements and finbuddy exports: validated first, idempotent, streamed, all-or-nothing.

How a file is read (this is the documented contract):

- The first non-blank row is the header. Cells are separated by `,` (or `;` or a tab when the
  header holds more of those). The file is UTF-8 (a BOM is fine).
- Columns are recognised by name, case-insensitively, ignoring `_`/`-`/extra spaces and a trailing
  "(...)" such as "Amount (EUR)": see HEADER_ALIASES. `--map COL=FIELD` names the rest (or
  overrides a guess); FIELD is one of FIELDS or `ignore`. Unrecognised columns are ignored.
- A row needs a date and either an amount or a debit/credit amount. Without a kind column (or with
  an empty kind cell) a signed amount decides: negative = expense, positive = income; a debit cell
  is an expense and a credit cell income. With a kind (expense|income, also debit|credit) the
  amount's sign is ignored. Amounts: "12.50", "-12.50", "1,234.56", "(12.50)", "12.50-", an
  optional currency sign; with `;` separators a decimal comma ("1.234,56") too. Zero is an error.
- Dates: YYYY-MM-DD (a time after it is ignored), DD.MM.YYYY, and D/M/YYYY or M/D/YYYY: slash
  dates are read day-first or month-first for the whole file, whichever every row allows;
  if both do (all days <= 12) the file is ambiguous and `date_format` ("dmy"|"mdy") must say.
- Empty category → "uncategorized". Text cells that finbuddy's export escaped against spreadsheet
  formulas (a leading `'` before = + - @ tab CR or another `'`) are unescaped.

Every row is checked in a first streaming pass; a bad row raises ValidationError naming its
line and nothing is written. The second pass inserts in chunks inside ONE transaction.
A row's fingerprint is sha256(user, date, kind, amount, normalised category/merchant/note,
occurrence number of identical rows earlier in the file), so importing a file again adds
nothing, while identical rows within one file are all kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finbuddy.context import Context
from finbuddy.errors import ValidationError
from finbuddy.ledger.fields import MAX_MERCHANT, normalize_category, normalize_note
from finbuddy.money import MAX_CENTS, parse_signed_amount, to_cents

FIELDS = ("date", "amount", "debit", "credit", "kind", "category", "merchant", "note")
DEFAULT_CATEGORY = "uncategorized"
CHUNK_ROWS = 5000
PROGRESS_EVERY = 5000

HEADER_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        [
            "date",
            "transaction date",
            "trans date",
            "txn date",
            "posted date",
            "posting date",
            "post date",
            "booking date",
            "booked date",
            "value date",
            "completed date",
        ],
        "date",
    ),
    **dict.fromkeys(["amount", "transaction amount", "amt"], "amount"),
    **dict.fromkeys(
        [
            "debit",
            "debits",
            "debit amount",
            "withdrawal",
            "withdrawals",
            "withdrawal amount",
            "money out",
            "paid out",
            "outflow",
        ],
        "debit",
    ),
    **dict.fromkeys(
        [
            "credit",
            "credits",
            "credit amount",
            "deposit",
            "deposits",
            "deposit amount",
            "money in",
            "paid in",
            "inflow",
        ],
        "credit",
    ),
    "kind": "kind",
    **dict.fromkeys(["category", "transaction category"], "category"),
    **dict.fromkeys(
        ["merchant", "merchant name", "payee", "payee name", "counterparty", "counterparty name"], "merchant"
    ),
    **dict.fromkeys(
        ["note", "notes", "memo", "description", "transaction description", "details", "narrative"], "note"
    ),
}
_KINDS = {"expense": "expense", "income": "income", "debit": "expense", "credit": "income"}
_FORMULA_START = frozenset("=+-@\t\r'")
_FAST_AMOUNT = re.compile(r"(-?)([0-9]{1,10})(?:\.([0-9]{1,2}))?")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ].*)?")
_DOT_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_SLASH_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_CURRENCY_SIGNS = str.maketrans("", "", "$€£¥₹ \u00a0")


def unescape_cell(text: str) -> str:
    """Undo the spreadsheet-formula escape of finbuddy's export (a leading ' before = + - @ tab CR ')."""
    if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_START:
        return text[1:]
    return text


def _header_key(name: str) -> str:
    name = re.sub(r"\s*\([^)]*\)\s*$", "", name.strip())
    return " ".join(re.sub(r"[_\-]+", " ", name).split()).lower()


# --- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    imported: int
    duplicates: int
    rows: int
    dry_run: bool
    columns: dict[str, str] = field(default_factory=dict)  # field -> the column it was read from
    ignored_columns: list[str] = field(default_factory=list)
    date_format: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "columns": self.columns,
            "ignored_columns": self.ignored_columns,
        }


ProgressCallback = Callable[[str, int, int | None], None]


# --- layout: which column is which field -----------------------------------------------


@dataclass
class _Layout:
    positions: dict[str, int]
    columns: dict[str, str]
    ignored: list[str]
    width: int


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """`--map COL=FIELD` items → {column: field}."""
    mapping: dict[str, str] = {}
    for item in items or []:
        column, sep, target = item.rpartition("=")
        target = target.strip().lower()
        if not sep or not column.strip():
            raise ValidationError(f"--map {item!r} is not valid: expected COL=FIELD, e.g. 'Booking text=note'")
        if target not in FIELDS and target != "ignore":
            raise ValidationError(
                f"--map {item!r}: field {target!r} is not known: expected one of {', '.join(FIELDS)} or ignore"
            )
        mapping[column.strip()] = target
    return mapping


def _layout(header: list[str], mapping: dict[str, str], label: str) -> _Layout:
    names = [h.strip() for h in header]
    positions: dict[str, int] = {}
    claimed: set[int] = set()
    for column, target in mapping.items():
        matches = [i for i, h in enumerate(names) if h.lower() == column.lower()]
        if not matches:
            matches = [i for i, h in enumerate(names) if _header_key(h) == _header_key(column)]
        if not matches:
            raise ValidationError(
                f"--map {column}={target}: {label} has no column {column!r}: its columns are {', '.join(names)}"
            )
        if len(matches) > 1:
            raise ValidationError(f"--map {column}={target}: {label} has {len(matches)} columns named {column!r}")
        claimed.add(matches[0])
        if target == "ignore":
            continue
        if target in positions:
            raise ValidationError(f"--map: two columns are mapped to {target}: expected at most one per field")
        positions[target] = matches[0]
    for index, name in enumerate(names):
        if index in claimed:
            continue
        alias = HEADER_ALIASES.get(_header_key(name))
        if alias is not None and alias not in positions:
            positions[alias] = index
            claimed.add(index)
    ignored = [name for i, name in enumerate(names) if i not in positions.values() and name]
    if "date" not in positions:
        raise ValidationError(
            f"{label}: no date column in the header ({', '.join(names)}): expected one named date, "
            "or name it with --map COL=date"
        )
    has_split = "debit" in positions or "credit" in positions
    if "amount" in positions and has_split:
        raise ValidationError(
            f"{label}: both an amount column and debit/credit columns: keep one with --map COL=ignore"
        )
    if "amount" not in positions and not has_split:
        raise ValidationError(
            f"{label}: no amount column in the header ({', '.join(names)}): expected amount, or debit and credit, "
            "or name it with --map COL=amount"
        )
    return _Layout(positions, {f: names[i] for f, i in positions.items()}, ignored, len(names))


# --- one row ----------------------------------------------------------------------------


class _RowReader:
    """Parses one CSV row into (date | (a, b, year), kind, cents, category, merchant, note)."""

    def __init__(self, layout: _Layout, date_order: str | None, decimal_comma: bool) -> None:
        self.width = layout.width
        p = layout.positions
        self.i_date = p["date"]
        self.i_amount = p.get("amount")
        self.i_debit = p.get("debit")
        self.i_credit = p.get("credit")
        self.i_kind = p.get("kind")
        self.i_category = p.get("category")
        self.i_merchant = p.get("merchant")
        self.i_note = p.get("note")
        self.date_order = date_order  # "dmy" | "mdy" | None (slash dates left unresolved)
        self.decimal_comma = decimal_comma
        self._categories: dict[str, str] = {}

    def cents(self, text: str, what: str) -> int:
        """Signed cents of an amount cell; 0 for an empty or zero cell."""
        match = _FAST_AMOUNT.fullmatch(text)
        if match:
            sign, whole, frac = match.groups()
            cents = int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
            if cents > MAX_CENTS:
                raise ValidationError(f"{what} {text!r} is too large: at most 1,000,000,000")
            return -cents if sign else cents
        stripped = text.translate(_CURRENCY_SIGNS)
        if not any(ch in "123456789" for ch in stripped):
            if stripped.strip("0.,+-()") == "":
                return 0
        if self.decimal_comma and "," in stripped:
            stripped = stripped.replace(".", "").replace(",", ".")
        return to_cents(parse_signed_amount(stripped, what))

    def date(self, text: str) -> dt.date | tuple[int, int, int]:
        stripped = text.strip()
        match = _ISO_DATE.fullmatch(stripped)
        if match:
            return _make_date(int(match[1]), int(match[2]), int(match[3]), text)
        match = _DOT_DATE.fullmatch(stripped)
        if match:
            return _make_date(int(match[3]), int(match[2]), int(match[1]), text)
        match = _SLASH_DATE.fullmatch(stripped)
        if match:
            a, b, year = int(match[1]), int(match[2]), int(match[3])
            if self.date_order == "dmy":
                return _make_date(year, b, a, text)
            if self.date_order == "mdy":
                return _make_date(year, a, b, text)
            return (a, b, year)
        raise ValidationError(
            f"date {text!r} is not valid: expected YYYY-MM-DD (also DD.MM.YYYY, DD/MM/YYYY or MM/DD/YYYY)"
        )

    def parse(self, cells: list[str]):
        if len(cells) != self.width:
            if len(cells) < self.width or any(c.strip() for c in cells[self.width :]):
                raise ValidationError(f"{len(cells)} cells, expected {self.width} as in the header")
        day = self.date(cells[self.i_date])
        kind = None
        if self.i_kind is not None:
            raw_kind = cells[self.i_kind].strip()
            if raw_kind:
                kind = _KINDS.get(raw_kind.lower())
                if kind is None:
                    raise ValidationError(f"kind {raw_kind!r} is not valid: expected expense or income")
        if self.i_amount is not None:
            raw = cells[self.i_amount].strip()
            if not raw:
                raise ValidationError("amount is empty: expected a non-zero amount such as -12.50")
            cents = self.cents(raw, "amount")
            if cents == 0:
                raise ValidationError(f"amount {raw!r} is zero: expected a non-zero amount")
            if kind is None:
                kind = "expense" if cents < 0 else "income"
            cents = abs(cents)
        else:
            debit = self.cents(cells[self.i_debit].strip(), "debit") if self.i_debit is not None else 0
            credit = self.cents(cells[self.i_credit].strip(), "credit") if self.i_credit is not None else 0
            if debit and credit:
                raise ValidationError("both debit and credit are filled in: expected one of them")
            if not debit and not credit:
                raise ValidationError("neither debit nor credit holds an amount: expected one of them")
            if kind is None:
                kind = "expense" if debit else "income"
            cents = abs(debit or credit)
        category = DEFAULT_CATEGORY
        if self.i_category is not None:
            raw = cells[self.i_category]
            if raw.strip():
                known = self._categories.get(raw)
                if known is None:
                    known = normalize_category(unescape_cell(raw.strip()))
                    if len(self._categories) < 10_000:
                        self._categories[raw] = known
                category = known
        merchant = None
        if self.i_merchant is not None:
            raw = unescape_cell(cells[self.i_merchant].strip()).strip()
            if raw:
                if len(raw) > MAX_MERCHANT:
                    raise ValidationError(
                        f"merchant {raw[:20]!r}... is {len(raw)} characters long: expected at most 200"
                    )
                if _has_control(raw):
                    raise ValidationError(f"merchant {raw!r} contains control characters: expected plain text")
                merchant = raw
        note = None
        if self.i_note is not None:
            raw = cells[self.i_note]
            if raw:
                note = normalize_note(unescape_cell(raw))
        return day, kind, cents, category, merchant, note


_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


def _has_control(text: str) -> bool:
    return _CONTROL_RE.search(text) is not None


def _make_date(year: int, month: int, day: int, text: str) -> dt.date:
    try:
        value = dt.date(year, month, day)
    except ValueError:
        raise ValidationError(f"date {text!r} is not a real calendar day") from None
    if year < 1900:
        raise ValidationError(f"date {text!r} is before 1900")
    return value


def _base_text(user: str, day: dt.date, kind: str, cents: int, category: str, merchant, note) -> str:
    """What makes two rows "identical" for idempotency (merchant and note compared loosely)."""
    m = " ".join(merchant.split()).casefold() if merchant else ""
    n = " ".join(note.split()).casefold() if note else ""
    return f"{user}\x1f{day.isoformat()}\x1f{kind}\x1f{cents}\x1f{category}\x1f{m}\x1f{n}"


class _RepeatFilter:
    """A Bloom filter over row texts: finds which rows may repeat within the file in bounded memory.

    Only rows that may repeat (true repeats plus ~1% false positives) are remembered for the second
    pass, so memory grows with the number of repeated rows, not with the size of the file.
    """

    def __init__(self, file_size: int) -> None:
        bits = 1 << 16
        while bits < min(file_size // 2, 1 << 25):
            bits <<= 1
        self.mask = bits - 1
        self.bits = bytearray(bits // 8)
        self.candidates: set[str] = set()

    def add(self, texts: list[str]) -> None:
        seen = False
        positions: list[int] = []
        for text in texts:
            h = hash(text) & 0xFFFFFFFFFFFFFFFF
            h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1
            mine = ((h1) & self.mask, (h1 + h2) & self.mask, (h1 + 2 * h2) & self.mask)
            if all(self.bits[i >> 3] & (1 << (i & 7)) for i in mine):
                seen = True
            positions.extend(mine)
        if seen:
            self.candidates.update(texts)
        for i in positions:
            self.bits[i >> 3] |= 1 << (i & 7)


# --- the file ---------------------------------------------------------------------------


def _sniff_delimiter(path: Path) -> str:
    with open(path, encoding="utf-8-sig", newline="", errors="replace") as handle:
        for line in handle:
            if line.strip():
                counts = {d: line.count(d) for d in (",", ";", "\t")}
                best = max(counts, key=lambda d: counts[d])
                return best if counts[best] > 0 else ","
    return ","


def _rows(path: Path, delimiter: str, label: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row starts, cells) of every non-blank row, header included."""
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle, delimiter=delimiter)
        end = 0
        try:
            for cells in reader:
                start, end = end + 1, reader.line_num
                if cells and any(cells):
                    yield start, cells
        except UnicodeDecodeError:
            raise ValidationError(
                f"{label} line {end + 1}: not UTF-8 text: expected a UTF-8 CSV (save it as CSV UTF-8)"
            ) from None
        except csv.Error as exc:
            raise ValidationError(f"{label} line {reader.line_num}: malformed CSV: {exc}") from None


def import_csv(
    ctx: Context,
    path: Path | str,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    date_format: str | None = None,
    progress: ProgressCallback | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Import ctx.user's records from a CSV file (see the module docstring for what is accepted)."""
    path = Path(path)
    label = path.name
    if date_format not in (None, "auto", "dmy", "mdy"):
        raise ValidationError(f"date format {date_format!r} is not valid: expected auto, dmy or mdy")
    if path.is_dir():
        raise ValidationError(f"{path} is a directory: expected a CSV file")
    delimiter = _sniff_delimiter(path) if path.exists() else ","
    order = None if date_format in (None, "auto") else date_format
    header, reader = _check_file(ctx, path, label, delimiter, mapping or {}, order, progress)
    layout, total, order, repeats = reader
    return _write(ctx, path, label, delimiter, layout, order, repeats, total, dry_run, chunk_rows, progress)


def _check_file(ctx, path, label, delimiter, mapping, order, progress):
    """Pass 1: validate every row, settle the date order, find rows that may repeat."""
    rows = _rows(path, delimiter, label)
    first = next(rows, None)
    if first is None:
        raise ValidationError(f"{label} is empty: expected a header row such as date,amount,category,note")
    header = first[1]
    layout = _layout(header, mapping, label)
    parser = _RowReader(layout, order, delimiter == ";")
    repeats = _RepeatFilter(path.stat().st_size)
    user = ctx.user
    total = 0
    # Slash dates with no order given: the first line that rules each order out.
    dmy_fails: tuple[int, str] | None = None
    mdy_fails: tuple[int, str] | None = None
    ambiguous_line: tuple[int, str] | None = None
    for line, cells in rows:
        try:
            day, kind, cents, category, merchant, note = parser.parse(cells)
        except ValidationError as exc:
            raise ValidationError(f"{label} line {line}: {exc.message}") from None
        if isinstance(day, tuple):
            a, b, year = day
            text = cells[layout.positions["date"]].strip()
            days = []
            for fmt, (m, d) in (("dmy", (b, a)), ("mdy", (a, b))):
                try:
                    days.append(_make_date(year, m, d, text))
                except ValidationError:
                    if fmt == "dmy" and dmy_fails is None:
                        dmy_fails = (line, text)
                    if fmt == "mdy" and mdy_fails is None:
                        mdy_fails = (line, text)
            if not days:
                raise ValidationError(f"{label} line {line}: date {text!r} is not a real calendar day")
            if a != b and len(days) == 2 and ambiguous_line is None:
                ambiguous_line = (line, text)
            texts = list({_base_text(user, d, kind, cents, category, merchant, note) for d in days})
        else:
            texts = [_base_text(user, day, kind, cents, category, merchant, note)]
        repeats.add(texts)
        total += 1
        if progress is not None and total % PROGRESS_EVERY == 0:
            progress("checking", total, None)
    if order is None and (dmy_fails or mdy_fails or ambiguous_line):
        if dmy_fails and mdy_fails:
            raise ValidationError(
                f"{label}: dates mix day-first (line {mdy_fails[0]}: {mdy_fails[1]!r}) and month-first "
                f"(line {dmy_fails[0]}: {dmy_fails[1]!r}): expected one order in the whole file"
            )
        if dmy_fails:
            order = "mdy"
        elif mdy_fails:
            order = "dmy"
        else:
            raise ValidationError(
                f"{label} line {ambiguous_line[0]}: date {ambiguous_line[1]!r} could be DD/MM/YYYY or MM/DD/YYYY "
                "and no date in the file tells which: pass --date-format dmy or --date-format mdy"
            )
    return header, (layout, total, order, repeats)


def _prepared(ctx, path, label, delimiter, layout, order, repeats, now) -> Iterator[dict[str, Any]]:
    """Pass 2: the rows as they will be stored, each with its fingerprint (no id yet)."""
    parser = _RowReader(layout, order, delimiter == ";")
    candidates = repeats.candidates
    occurrences: dict[str, int] = {}
    user = ctx.user
    sha256 = hashlib.sha256
    rows = _rows(path, delimiter, label)
    next(rows)  # the header
    for line, cells in rows:
        try:
            day, kind, cents, category, merchant, note = parser.parse(cells)
        except ValidationError as exc:  # the file changed since pass 1
            raise ValidationError(f"{label} line {line}: {exc.message}") from None
        text = _base_text(user, day, kind, cents, category, merchant, note)
        seen = 0
        if text in candidates:
            seen = occurrences.get(text, 0)
            occurrences[text] = seen + 1
        yield {
            "kind": kind,
            "amount_cents": cents,
            "expense_date": day,
            "category": category,
            "merchant": merchant,
            "note": note,
            "fingerprint": sha256(f"{text}\x1f{seen}".encode()).hexdigest(),
            "created_at": now,
            "updated_at": now,
        }


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write(ctx, path, label, delimiter, layout, order, repeats, total, dry_run, chunk_rows, progress) -> ImportResult:
    from finbuddy.db.bulk import RecordInserter, existing_fingerprints, has_fingerprints, lock_user
    from finbuddy.db.users import allocate_record_ids, ensure_user, find_user_id

    now = ctx.now()
    imported = duplicates = 0
    rows = _prepared(ctx, path, label, delimiter, layout, order, repeats, now)
    transaction = ctx.db.read() if dry_run else ctx.db.write()
    with transaction as conn:
        if dry_run:
            user_id = find_user_id(conn, ctx.user)
        else:
            user_id = ensure_user(conn, ctx.user, now)
            lock_user(conn, user_id)
        # Fingerprints are unique within the file, so only earlier imports can hold duplicates.
        check = user_id is not None and has_fingerprints(conn, user_id)
        inserter = None if dry_run else RecordInserter(conn)
        for chunk in _chunks(rows, chunk_rows):
            if check:
                assert user_id is not None  # check is only set for an existing user
                known = existing_fingerprints(conn, user_id, [r["fingerprint"] for r in chunk])
                if known:
                    duplicates += sum(1 for r in chunk if r["fingerprint"] in known)
                    chunk = [r for r in chunk if r["fingerprint"] not in known]
            if chunk and not dry_run:
                assert user_id is not None and inserter is not None  # both set above for every real import
                first = allocate_record_ids(conn, user_id, len(chunk))
                for offset, row in enumerate(chunk):
                    row["user_id"] = user_id
                    row["id"] = first + offset
                inserter.insert(chunk)
            imported += len(chunk)
            if progress is not None:
                progress("importing", imported + duplicates, total)
    return ImportResult(
        imported=imported,
        duplicates=duplicates,
        rows=total,
        dry_run=dry_run,
        columns=layout.columns,
        ignored_columns=layout.ignored,
        date_format=order,
    )


def file_size(path: Path | str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
