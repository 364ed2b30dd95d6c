"""Validation of the text fields users type (categories, merchants, notes, counts) and the CSV formula escape."""

from __future__ import annotations

from finbuddy.errors import ValidationError

MAX_CATEGORY = 64
MAX_MERCHANT = 200
MAX_NOTE = 1000


# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = frozenset("=+-@\t\r")
_QUOTED_START = FORMULA_START | {"'"}


def singular(word: str) -> str:
    """The English singular of a lower-case word, by its ending ("groceries" → "grocery", "taxes" → "tax"), so
    that a category or a question's last word matches its other number."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def has_control(text: str) -> bool:
    """Whether `text` holds a C0/C1 control character (newlines and tabs included)."""
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text)


def shown_name(text: str) -> str:
    """A file or column name in a message: as it is when plainly printable, else quoted and escaped
    like repr (so a name holding a terminal escape can never act on the terminal)."""
    return text if text.isprintable() else repr(text)


def escape_cell(text: str) -> str:
    """Neutralise a spreadsheet formula with a leading `'`; a cell that already starts with `'` before
    a formula character or another `'` gets one too, so that unescape_cell undoes exactly this."""
    if text and (text[0] in FORMULA_START or (text[0] == "'" and len(text) > 1 and text[1] in _QUOTED_START)):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """Undo escape_cell: drop a leading `'` before = + - @ tab CR or another `'`."""
    if len(text) > 1 and text[0] == "'" and text[1] in _QUOTED_START:
        return text[1:]
    return text


def normalize_category(text: str) -> str:
    """Trimmed, lower case, 1-64 characters; categories compare case-insensitively."""
    value = text.strip().lower()
    if not value:
        raise ValidationError(f"category {text!r} is empty: expected 1-64 characters, e.g. groceries")
    if len(value) > MAX_CATEGORY:
        raise ValidationError(f"category {text[:20]!r}... is {len(value)} characters long: expected at most 64")
    if has_control(value):
        raise ValidationError(f"category {text!r} contains control characters: expected plain text")
    return value


def normalize_merchant(text: str | None) -> str | None:
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    if len(value) > MAX_MERCHANT:
        raise ValidationError(f"merchant {value[:20]!r}... is {len(value)} characters long: expected at most 200")
    if has_control(value):
        raise ValidationError(f"merchant {text!r} contains control characters: expected plain text")
    return value


def normalize_note(text: str | None) -> str | None:
    """Notes are stored verbatim (any Unicode but NUL), up to 1,000 characters; an empty note is no note."""
    if text is None or text.strip() == "":
        return None
    if len(text) > MAX_NOTE:
        raise ValidationError(f"note {text[:20]!r}... is {len(text)} characters long: expected at most 1000")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL, so no backend stores it (SQLite would, silently).
        shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
        raise ValidationError(f"note {shown} contains a NUL character (\\x00): expected text without NUL")
    return text


def parse_count(text: str, what: str, maximum: int) -> int:
    """A whole number 1..maximum typed by a user (record ids, --limit); ASCII digits only."""
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()) or len(stripped) > 12:
        raise ValidationError(f"{what} {text!r} is not valid: expected a whole number from 1 to {maximum:,}")
    value = int(stripped)
    if not 1 <= value <= maximum:
        raise ValidationError(f"{what} {text!r} is out of range: expected a whole number from 1 to {maximum:,}")
    return value
