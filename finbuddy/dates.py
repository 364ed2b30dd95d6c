"""Parsing of the dates and months users type: YYYY-MM-DD, today, yesterday, YYYY-MM."""

from __future__ import annotations

import datetime as dt
import re

from finbuddy.errors import ValidationError

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH_RE = re.compile(r"[0-9]{4}-[0-9]{2}")
DATE_EXPECTED = "expected YYYY-MM-DD, 'today' or 'yesterday'"


def parse_date(text: str, today: dt.date, what: str = "date") -> dt.date:
    """Parse `YYYY-MM-DD`, `today` or `yesterday` (relative to the caller's local today)."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered == "today":
        return today
    if lowered == "yesterday":
        return today - dt.timedelta(days=1)
    if not _DATE_RE.fullmatch(stripped):
        raise ValidationError(f"{what} {text!r} is not valid: {DATE_EXPECTED}")
    try:
        value = dt.date.fromisoformat(stripped)
    except ValueError:
        raise ValidationError(f"{what} {text!r} is not a real calendar day: {DATE_EXPECTED}") from None
    if value.year < 1900:
        raise ValidationError(f"{what} {text!r} is before 1900: {DATE_EXPECTED}")
    return value


def parse_iso_date(text: str, what: str = "date") -> dt.date:
    """Strict `YYYY-MM-DD` only (files and stored data; no relative words)."""
    stripped = text.strip()
    if not _DATE_RE.fullmatch(stripped):
        raise ValidationError(f"{what} {text!r} is not valid: expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(stripped)
    except ValueError:
        raise ValidationError(f"{what} {text!r} is not a real calendar day: expected YYYY-MM-DD") from None


def parse_month(text: str, what: str = "month") -> dt.date:
    """Parse `YYYY-MM` and return the first day of that month."""
    stripped = text.strip()
    if not _MONTH_RE.fullmatch(stripped):
        raise ValidationError(f"{what} {text!r} is not valid: expected YYYY-MM, e.g. 2026-11")
    year, month = int(stripped[:4]), int(stripped[5:])
    if not 1 <= month <= 12 or year < 1900:
        raise ValidationError(f"{what} {text!r} is not a real month: expected YYYY-MM, e.g. 2026-11")
    return dt.date(year, month, 1)


def month_bounds(first: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of the month that starts on `first`."""
    start = first.replace(day=1)
    if start.month == 12:
        # not start + 32 days: that overflows in December 9999
        return start, start.replace(day=31)
    following = start.replace(month=start.month + 1)
    return start, following - dt.timedelta(days=1)


def previous_month(first: dt.date) -> dt.date:
    return (first.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
