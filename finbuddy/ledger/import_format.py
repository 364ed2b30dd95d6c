"""Recognising a CSV file's format: its separator, which column holds which field, and its rows by line."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from finbuddy.errors import ValidationError
from finbuddy.ledger.fields import shown_name

FIELDS = ("date", "amount", "debit", "credit", "kind", "category", "merchant", "note")

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


def _header_key(name: str) -> str:
    name = re.sub(r"\s*\([^)]*\)\s*$", "", name.strip())
    return " ".join(re.sub(r"[_\-]+", " ", name).split()).lower()


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


@dataclass(frozen=True)
class Layout:
    """Which column holds which field."""

    positions: dict[str, int]  # field -> column index
    columns: dict[str, str]  # field -> the column's name in the header
    ignored: list[str]  # named columns that no field reads
    width: int  # cells in the header

    @classmethod
    def from_header(cls, header: list[str], mapping: dict[str, str], label: str) -> Layout:
        """--map first, then the header aliases; a date and an amount (or debit/credit) are required."""
        names = [h.strip() for h in header]
        positions: dict[str, int] = {}
        claimed: set[int] = set()
        for column, target in mapping.items():
            index = _mapped_column(names, column, target, label)
            claimed.add(index)
            if target == "ignore":
                continue
            if target in positions:
                raise ValidationError(f"--map: two columns are mapped to {target}: expected at most one per field")
            positions[target] = index
        for index, name in enumerate(names):
            alias = HEADER_ALIASES.get(_header_key(name))
            if index not in claimed and alias is not None and alias not in positions:
                positions[alias] = index
                claimed.add(index)
        _check_fields(positions, names, label)
        ignored = [name for i, name in enumerate(names) if i not in positions.values() and name]
        return cls(positions, {f: names[i] for f, i in positions.items()}, ignored, len(names))


def _mapped_column(names: list[str], column: str, target: str, label: str) -> int:
    matches = [i for i, h in enumerate(names) if h.lower() == column.lower()]
    if not matches:
        matches = [i for i, h in enumerate(names) if _header_key(h) == _header_key(column)]
    item = repr(f"{column}={target}")
    if not matches:
        raise ValidationError(f"--map {item}: {label} has no column {column!r}: its columns are {_listed(names)}")
    if len(matches) > 1:
        raise ValidationError(f"--map {item}: {label} has {len(matches)} columns named {column!r}")
    return matches[0]


def _listed(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _check_fields(positions: dict[str, int], names: list[str], label: str) -> None:
    if "date" not in positions:
        raise ValidationError(
            f"{label}: no date column in the header ({_listed(names)}): expected one named date, "
            "or name it with --map COL=date"
        )
    has_split = "debit" in positions or "credit" in positions
    if "amount" in positions and has_split:
        raise ValidationError(
            f"{label}: both an amount column and debit/credit columns: keep one with --map COL=ignore"
        )
    if "amount" not in positions and not has_split:
        raise ValidationError(
            f"{label}: no amount column in the header ({_listed(names)}): expected amount, or debit and credit, "
            "or name it with --map COL=amount"
        )


@dataclass(frozen=True)
class CsvFormat:
    """A recognised CSV file: where it is, its separator and its layout; reads its data rows on demand."""

    path: Path
    label: str  # how messages name the file (shown_name of its name)
    delimiter: str
    layout: Layout

    @property
    def decimal_comma(self) -> bool:
        """`;`-separated files are European: "1.234,56" is accepted there."""
        return self.delimiter == ";"

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line where the row starts, cells) of every non-blank data row (the header skipped)."""
        rows = _rows(self.path, self.delimiter, self.label)
        next(rows, None)
        return rows


def recognise(path: Path | str, mapping: dict[str, str] | None = None) -> CsvFormat:
    """Read the header of `path` and decide how to read the rows (see importer's docstring)."""
    path = Path(path)
    label = shown_name(path.name)
    if path.is_dir():
        raise ValidationError(f"{shown_name(str(path))} is a directory: expected a CSV file")
    delimiter = _sniff_delimiter(path) if path.exists() else ","
    first = next(_rows(path, delimiter, label), None)
    if first is None:
        raise ValidationError(f"{label} is empty: expected a header row such as date,amount,category,note")
    layout = Layout.from_header(first[1], mapping or {}, label)
    return CsvFormat(path, label, delimiter, layout)


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
        raise ValidationError(f"cannot read {shown_name(str(path))}: {exc.strerror or exc}") from None
    with handle:
        # strict: a quote left open would otherwise swallow the rest of the file into one cell
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
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
            if "unexpected end of data" in str(exc):
                raise ValidationError(
                    f"{label} line {end + 1}: malformed CSV: a quoted cell starts in this row and its closing "
                    '" never comes: expected every opening " to be closed'
                ) from None
            raise ValidationError(
                f"{label} line {reader.line_num}: malformed CSV: {exc}: expected a closing quote to be followed by "
                'the separator or the end of the line (write a " inside a quoted cell as "")'
            ) from None
