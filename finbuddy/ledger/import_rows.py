"""Validating import rows: every row is checked once, the file's date order and sign are settled in a plan.

check_rows() reads the whole file and returns an ImportPlan, or raises ValidationError naming the
first bad line. The plan then yields the rows as they will be stored (ImportPlan.records()), each
with its fingerprint, for the writer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from finbuddy.errors import ValidationError
from finbuddy.ledger.fields import normalize_category, normalize_merchant, normalize_note, unescape_cell
from finbuddy.ledger.import_format import CsvFormat
from finbuddy.money import parse_signed_cents

DEFAULT_CATEGORY = "uncategorized"
PROGRESS_EVERY = 5000
DATE_ORDERS = ("dmy", "mdy")
# How a signed amount (with no kind beside it) reads: a bank statement lists spending as negative,
# a card statement lists charges as positive and refunds as negative.
SIGNS = ("bank", "card")
_SIGN_KIND = {
    ("bank", True): "expense",
    ("bank", False): "income",
    ("card", True): "income",
    ("card", False): "expense",
}

ProgressCallback = Callable[[str, int, int | None], None]

_KINDS = {"expense": "expense", "income": "income", "debit": "expense", "credit": "income"}
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ].*)?")
_DOT_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_SLASH_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")

# A slash date before the file's order is known: (first number, second number, year).
SlashDate = tuple[int, int, int]


@dataclass(frozen=True)
class ParsedRow:
    """One checked row; `day` is still a SlashDate while the file's date order is open, and `kind`
    None (with `cents` signed) while the file's sign convention is."""

    day: dt.date | SlashDate
    kind: str | None
    cents: int
    category: str
    merchant: str | None
    note: str | None


@dataclass(frozen=True)
class PlannedRecord:
    """A row as it will be stored (the writer adds the ids and timestamps)."""

    kind: str
    cents: int
    day: dt.date
    category: str
    merchant: str | None
    note: str | None
    fingerprint: str


def make_date(year: int, month: int, day: int, text: str) -> dt.date:
    try:
        value = dt.date(year, month, day)
    except ValueError:
        raise ValidationError(f"date {text!r} is not a real calendar day") from None
    if year < 1900:
        raise ValidationError(f"date {text!r} is before 1900")
    return value


class RowParser:
    """Parses one CSV row of a recognised format into a ParsedRow (raises ValidationError)."""

    def __init__(self, fmt: CsvFormat, date_order: str | None, sign: str | None) -> None:
        p = fmt.layout.positions
        self.width = fmt.layout.width
        self.i_date = p["date"]
        self.i_amount = p.get("amount")
        self.i_debit = p.get("debit")
        self.i_credit = p.get("credit")
        self.i_kind = p.get("kind")
        self.i_category = p.get("category")
        self.i_merchant = p.get("merchant")
        self.i_note = p.get("note")
        self.date_order = date_order  # "dmy" | "mdy" | None (slash dates left unresolved)
        self.sign = sign  # "bank" | "card" | None (signed amounts left unresolved)
        self.decimal_comma = fmt.decimal_comma
        self._categories: dict[str, str] = {}

    def parse(self, cells: list[str]) -> ParsedRow:
        if len(cells) != self.width:
            if len(cells) < self.width or any(c.strip() for c in cells[self.width :]):
                raise ValidationError(f"{len(cells)} cells, expected {self.width} as in the header")
        day = self.date(cells[self.i_date])
        kind, cents = self._amount(cells, self._kind(cells))
        return ParsedRow(day, kind, cents, self._category(cells), self._merchant(cells), self._note(cells))

    def date(self, text: str) -> dt.date | SlashDate:
        stripped = text.strip()
        match = _ISO_DATE.fullmatch(stripped)
        if match:
            return make_date(int(match[1]), int(match[2]), int(match[3]), text)
        match = _DOT_DATE.fullmatch(stripped)
        if match:
            return make_date(int(match[3]), int(match[2]), int(match[1]), text)
        match = _SLASH_DATE.fullmatch(stripped)
        if match:
            a, b, year = int(match[1]), int(match[2]), int(match[3])
            if self.date_order == "dmy":
                return make_date(year, b, a, text)
            if self.date_order == "mdy":
                return make_date(year, a, b, text)
            return (a, b, year)
        raise ValidationError(
            f"date {text!r} is not valid: expected YYYY-MM-DD (also DD.MM.YYYY, DD/MM/YYYY or MM/DD/YYYY)"
        )

    def _kind(self, cells: list[str]) -> str | None:
        if self.i_kind is None:
            return None
        raw = cells[self.i_kind].strip()
        if not raw:
            return None
        kind = _KINDS.get(raw.lower())
        if kind is None:
            raise ValidationError(f"kind {raw!r} is not valid: expected expense or income")
        return kind

    def _cents(self, cells: list[str], index: int | None, what: str) -> int:
        if index is None:
            return 0
        return parse_signed_cents(cells[index].strip(), what, self.decimal_comma)

    def _amount(self, cells: list[str], kind: str | None) -> tuple[str | None, int]:
        if self.i_amount is not None:
            raw = cells[self.i_amount].strip()
            if not raw:
                raise ValidationError("amount is empty: expected a non-zero amount such as -12.50")
            cents = self._cents(cells, self.i_amount, "amount")
            if cents == 0:
                raise ValidationError(f"amount {raw!r} is zero: expected a non-zero amount")
            if kind is not None:
                return kind, abs(cents)
            if self.sign is None:
                return None, cents
            return _SIGN_KIND[(self.sign, cents < 0)], abs(cents)
        debit = self._cents(cells, self.i_debit, "debit")
        credit = self._cents(cells, self.i_credit, "credit")
        if debit and credit:
            raise ValidationError("both debit and credit are filled in: expected one of them")
        if not debit and not credit:
            raise ValidationError("neither debit nor credit holds an amount: expected one of them")
        if kind is None:
            kind = "expense" if debit else "income"
        return kind, abs(debit or credit)

    def _category(self, cells: list[str]) -> str:
        if self.i_category is None:
            return DEFAULT_CATEGORY
        raw = cells[self.i_category]
        if not raw.strip():
            return DEFAULT_CATEGORY
        known = self._categories.get(raw)
        if known is None:
            known = normalize_category(unescape_cell(raw.strip()))
            if len(self._categories) < 10_000:
                self._categories[raw] = known
        return known

    def _merchant(self, cells: list[str]) -> str | None:
        if self.i_merchant is None:
            return None
        return normalize_merchant(unescape_cell(cells[self.i_merchant].strip()))

    def _note(self, cells: list[str]) -> str | None:
        if self.i_note is None or not cells[self.i_note]:
            return None
        return normalize_note(unescape_cell(cells[self.i_note]))


def base_text(
    user: str, day: dt.date, kind: str, cents: int, category: str, merchant: str | None, note: str | None
) -> str:
    """What makes two rows "identical" for idempotency (merchant and note compared loosely)."""
    m = " ".join(merchant.split()).casefold() if merchant else ""
    n = " ".join(note.split()).casefold() if note else ""
    return f"{user}\x1f{day.isoformat()}\x1f{kind}\x1f{cents}\x1f{category}\x1f{m}\x1f{n}"


class RepeatFilter:
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
        """Add the texts one row may turn out to be (several while its date order is open)."""
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


class SignVote:
    """Whether any amount read by its sign is negative: a file without one is a list of expenses."""

    def __init__(self) -> None:
        self.signed_rows = 0
        self.negative = False

    def see(self, cents: int) -> None:
        self.signed_rows += 1
        if cents < 0:
            self.negative = True

    def settle(self, sign: str | None) -> str | None:
        """The convention the file is read with (None when no row's kind came from its sign)."""
        if not self.signed_rows:
            return None
        if sign is not None:
            return sign
        return "bank" if self.negative else "card"


class DateOrderVote:
    """Slash dates with no order given: the first line that rules out each order, and an ambiguous one."""

    def __init__(self) -> None:
        self.dmy_fails: tuple[int, str] | None = None
        self.mdy_fails: tuple[int, str] | None = None
        self.ambiguous: tuple[int, str] | None = None

    def days(self, line: int, day: SlashDate, text: str) -> list[dt.date]:
        """The days a slash date can be read as (one or two); raises if it is no day in either order."""
        a, b, year = day
        days = []
        for order, (month, mday) in (("dmy", (b, a)), ("mdy", (a, b))):
            try:
                days.append(make_date(year, month, mday, text))
            except ValidationError:
                if order == "dmy" and self.dmy_fails is None:
                    self.dmy_fails = (line, text)
                if order == "mdy" and self.mdy_fails is None:
                    self.mdy_fails = (line, text)
        if not days:
            raise ValidationError(f"date {text!r} is not a real calendar day")
        if a != b and len(days) == 2 and self.ambiguous is None:
            self.ambiguous = (line, text)
        return days

    def settle(self, label: str) -> str | None:
        """The one order every slash date allows (None when the file has no slash date)."""
        if self.dmy_fails and self.mdy_fails:
            raise ValidationError(
                f"{label}: dates mix day-first (line {self.mdy_fails[0]}: {self.mdy_fails[1]!r}) and month-first "
                f"(line {self.dmy_fails[0]}: {self.dmy_fails[1]!r}): expected one order in the whole file"
            )
        if self.dmy_fails:
            return "mdy"
        if self.mdy_fails:
            return "dmy"
        if self.ambiguous:
            line, text = self.ambiguous
            raise ValidationError(
                f"{label} line {line}: date {text!r} could be DD/MM/YYYY or MM/DD/YYYY "
                "and no date in the file tells which: pass --date-format dmy or --date-format mdy"
            )
        return None


@dataclass(frozen=True)
class ImportPlan:
    """What check_rows() learnt about a file: everything the writer needs, and nothing yet written."""

    user: str
    format: CsvFormat
    date_order: str | None  # "dmy" | "mdy" once slash dates are settled
    sign: str | None  # "bank" | "card" when some row's kind comes from its amount's sign
    rows: int  # data rows in the file
    repeats: frozenset[str]  # texts of rows that may occur more than once in the file

    def records(self) -> Iterator[PlannedRecord]:
        """Pass 2: the rows as they will be stored, each with its fingerprint.

        A row's fingerprint is sha256 of its base_text plus the number of identical rows earlier in
        the file, so importing the file again adds nothing while identical rows in it are all kept.
        """
        parser = RowParser(self.format, self.date_order, self.sign)
        candidates = self.repeats
        occurrences: dict[str, int] = {}
        user, label = self.user, self.format.label
        sha256 = hashlib.sha256
        for line, cells in self.format.rows():
            try:
                row = parser.parse(cells)
            except ValidationError as exc:  # the file changed since pass 1
                raise ValidationError(f"{label} line {line}: {exc.message}") from None
            # the parser knows the date order and the sign now
            assert isinstance(row.day, dt.date) and row.kind is not None
            text = base_text(user, row.day, row.kind, row.cents, row.category, row.merchant, row.note)
            seen = 0
            if text in candidates:
                seen = occurrences.get(text, 0)
                occurrences[text] = seen + 1
            fingerprint = sha256(f"{text}\x1f{seen}".encode()).hexdigest()
            yield PlannedRecord(row.kind, row.cents, row.day, row.category, row.merchant, row.note, fingerprint)


def check_rows(
    user: str,
    fmt: CsvFormat,
    date_order: str | None = None,
    sign: str | None = None,
    progress: ProgressCallback | None = None,
) -> ImportPlan:
    """Pass 1: validate every row, settle the date order and the sign, find the rows that may repeat.

    `date_order` and `sign` given are used; None lets the file decide (see importer's docstring).
    """
    parser = RowParser(fmt, date_order, None)  # signed amounts stay signed: the vote counts them
    repeats = RepeatFilter(fmt.path.stat().st_size)
    vote = DateOrderVote()
    sign_vote = SignVote()
    total = 0
    for line, cells in fmt.rows():
        try:
            row = parser.parse(cells)
            if isinstance(row.day, tuple):
                days = vote.days(line, row.day, cells[parser.i_date].strip())
            else:
                days = [row.day]
        except ValidationError as exc:
            raise ValidationError(f"{fmt.label} line {line}: {exc.message}") from None
        if row.kind is None:
            sign_vote.see(row.cents)
        # every text the row may turn out to be, until the date order and the sign are settled
        kinds = (row.kind,) if row.kind is not None else ("expense", "income")
        cents = abs(row.cents)
        repeats.add(
            list({base_text(user, d, k, cents, row.category, row.merchant, row.note) for d in days for k in kinds})
        )
        total += 1
        if progress is not None and total % PROGRESS_EVERY == 0:
            progress("checking", total, None)
    if date_order is None:
        date_order = vote.settle(fmt.label)
    return ImportPlan(user, fmt, date_order, sign_vote.settle(sign), total, frozenset(repeats.candidates))
