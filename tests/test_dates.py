"""Date and month parsing: YYYY-MM-DD, today, yesterday, YYYY-MM; anything else a ValidationError."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from finbuddy.dates import month_bounds, parse_date, parse_iso_date, parse_month, previous_month
from finbuddy.errors import ValidationError

TODAY = dt.date(2026, 11, 25)


def test_iso_dates_parse():
    assert parse_date("2026-02-28", TODAY) == dt.date(2026, 2, 28)
    assert parse_date(" 2024-02-29 ", TODAY) == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("word", "expected"),
    [("today", TODAY), ("TODAY", TODAY), ("yesterday", dt.date(2026, 11, 24)), (" Yesterday ", dt.date(2026, 11, 24))],
)
def test_relative_words_use_the_given_today(word, expected):
    assert parse_date(word, TODAY) == expected


def test_yesterday_crosses_month_and_year():
    assert parse_date("yesterday", dt.date(2026, 1, 1)) == dt.date(2025, 12, 31)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "2026-02-30",
        "2025-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-1-5",
        "26-01-05",
        "2026/01/05",
        "20260105",
        "2026-01-05T00:00",
        "0000-01-01",
        "1899-12-31",
        "２０２６-01-05",
        "2026-01-0٥",
        "now",
        "2026-W01",
    ],
)
def test_invalid_dates_are_rejected(text):
    with pytest.raises(ValidationError) as info:
        parse_date(text, TODAY)
    assert info.value.exit_code == 2
    assert "YYYY-MM-DD" in str(info.value)


def test_date_error_names_the_option():
    with pytest.raises(ValidationError, match=r"^--from '2026-02-30' is not a real calendar day"):
        parse_date("2026-02-30", TODAY, what="--from")


def test_iso_only_parser_refuses_words():
    assert parse_iso_date("2026-11-01") == dt.date(2026, 11, 1)
    for text in ("today", "yesterday", "2026-11-31"):
        with pytest.raises(ValidationError):
            parse_iso_date(text)


@pytest.mark.parametrize(("text", "first"), [("2026-11", dt.date(2026, 11, 1)), ("1999-01", dt.date(1999, 1, 1))])
def test_months_parse_to_their_first_day(text, first):
    assert parse_month(text) == first


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-1", "2026", "2026-11-01", "11-2026", "nov", "1899-12", ""]
)
def test_invalid_months_are_rejected(text):
    with pytest.raises(ValidationError, match="YYYY-MM"):
        parse_month(text)


def test_month_bounds_and_previous_month():
    assert month_bounds(dt.date(2024, 2, 1)) == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert month_bounds(dt.date(2026, 12, 1)) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert previous_month(dt.date(2026, 1, 1)) == dt.date(2025, 12, 1)
    assert previous_month(dt.date(2026, 3, 15)) == dt.date(2026, 2, 1)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_iso_format_round_trips(day):
    assert parse_date(day.isoformat(), TODAY) == day
    assert parse_iso_date(day.isoformat()) == day


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31)))
@example(dt.date(9999, 12, 31))
@example(dt.date(1900, 1, 1))
def test_month_bounds_contain_the_day(day):
    start, end = month_bounds(parse_month(day.strftime("%Y-%m")))
    assert start <= day <= end
    assert end == dt.date(9999, 12, 31) or (end + dt.timedelta(days=1)).day == 1


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=20))
def test_any_text_is_a_date_or_a_validation_error(text):
    try:
        value = parse_date(text, TODAY)
    except ValidationError:
        return
    assert isinstance(value, dt.date)
    assert value.year >= 1900


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_any_text_is_a_month_or_a_validation_error(text):
    try:
        value = parse_month(text)
    except ValidationError:
        return
    assert value.day == 1
