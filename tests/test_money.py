"""Money parsing and formatting: Decimal in, two-decimal strings out, everything else a ValidationError."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from finbuddy.errors import ValidationError
from finbuddy.money import (
    MAX_AMOUNT,
    MAX_CENTS,
    format_amount,
    format_cents,
    format_cents_grouped,
    from_cents,
    parse_amount,
    parse_decimal,
    parse_signed_amount,
    to_cents,
)

cents_in_range = st.integers(min_value=1, max_value=MAX_CENTS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", "12.00"),
        ("12.5", "12.50"),
        ("12.50", "12.50"),
        ("0.01", "0.01"),
        (".5", "0.50"),
        ("1,234.56", "1234.56"),
        ("1,234", "1234.00"),
        ("1,000,000,000", "1000000000.00"),
        ("1000000000.00", "1000000000.00"),
        ("  7.25 ", "7.25"),
        ("007", "7.00"),
    ],
)
def test_valid_amounts_parse_to_two_decimals(text, expected):
    value = parse_amount(text)
    assert isinstance(value, Decimal)
    assert str(value) == expected
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0",
        "0.00",
        "-5",
        "+5",
        "-0.01",
        "NaN",
        "nan",
        "sNaN",
        "inf",
        "Infinity",
        "-inf",
        "1e3",
        "1E3",
        "1.5e2",
        "12.345",
        "0.001",
        "1000000000.01",
        "1,000,000,001",
        "10000000000",
        "12.",
        "1,23",
        "12,34.5",
        "1,2345",
        ",123",
        "1.234,56",
        "12 34",
        "12..5",
        "٣",  # Arabic-Indic digit three
        "１２",  # full-width digits
        "१२",  # Devanagari digits
        "12\x00",
        "0x10",
        "1_000",
        "$12",
        "12 EUR",
    ],
)
def test_invalid_amounts_are_rejected_with_validation_error(text):
    with pytest.raises(ValidationError) as info:
        parse_amount(text)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_rejection_message_names_the_value_and_what_is_expected():
    with pytest.raises(ValidationError, match=r"'12\.345'.*two decimals"):
        parse_amount("12.345")
    with pytest.raises(ValidationError, match=r"'abc'.*expected a positive amount"):
        parse_amount("abc")
    with pytest.raises(ValidationError, match=r"too large.*1,000,000,000"):
        parse_amount("1000000000.01")
    with pytest.raises(ValidationError, match="greater than zero"):
        parse_amount("0")


def test_a_very_long_value_is_shortened_in_the_message():
    with pytest.raises(ValidationError) as info:
        parse_amount("9" * 5000)
    assert len(str(info.value)) < 200


def test_non_string_input_is_a_validation_error():
    with pytest.raises(ValidationError):
        parse_amount(12.5)  # type: ignore[arg-type]


def test_cents_conversions_are_exact():
    assert to_cents(Decimal("12.50")) == 1250
    assert to_cents(Decimal("1000000000.00")) == MAX_CENTS
    assert from_cents(1) == Decimal("0.01")
    assert format_cents(1250) == "12.50"
    assert format_cents(5) == "0.05"
    assert format_cents(-1250) == "-12.50"
    assert format_cents_grouped(123456789) == "1,234,567.89"
    assert format_cents_grouped(-100) == "-1.00"
    assert format_amount(Decimal("3.1")) == "3.10"
    with pytest.raises(ValueError):
        to_cents(Decimal("0.001"))


def test_max_amount_is_one_billion():
    assert MAX_AMOUNT == Decimal("1000000000")
    assert parse_amount("1000000000") == MAX_AMOUNT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-12.50", "-12.50"),
        ("12.50", "12.50"),
        ("(12.50)", "-12.50"),
        ("12.50-", "-12.50"),
        ("+3", "3.00"),
        ("-1,234.5", "-1234.50"),
    ],
)
def test_signed_amounts_as_banks_write_them(text, expected):
    assert str(parse_signed_amount(text)) == expected


@pytest.mark.parametrize("text", ["0", "-0.00", "abc", "1e2", "--5", "12.345", "2000000000", "()"])
def test_signed_amount_rejections(text):
    with pytest.raises(ValidationError):
        parse_signed_amount(text)


def test_parse_decimal_allows_more_places_for_quantities():
    assert parse_decimal("0.00000001", "quantity", 8, Decimal("1e12")) == Decimal("0.00000001")
    with pytest.raises(ValidationError):
        parse_decimal("0.000000001", "quantity", 8, Decimal("1e12"))
    with pytest.raises(ValidationError):
        parse_decimal("0", "quantity", 8, Decimal("1e12"))
    with pytest.raises(ValidationError):
        parse_decimal("2", "quantity", 8, Decimal("1"))


# --- properties -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(cents_in_range)
@example(1)
@example(MAX_CENTS)
def test_format_then_parse_round_trips(cents):
    text = format_cents(cents)
    assert to_cents(parse_amount(text)) == cents
    assert format_amount(parse_amount(text)) == text


@settings(max_examples=300, deadline=None)
@given(cents_in_range)
@example(100000)
@example(MAX_CENTS)
def test_grouped_form_round_trips(cents):
    grouped = format_cents_grouped(cents)
    assert to_cents(parse_amount(grouped)) == cents
    assert format_cents(to_cents(parse_amount(grouped))) == format_cents(cents)


@settings(max_examples=200, deadline=None)
@given(cents_in_range, st.sampled_from(["{w}", "{w}.0", "{w}.{f1}", " {w}.{f2} "]))
def test_short_fraction_forms_parse_to_the_same_cents(cents, shape):
    whole, frac = divmod(cents, 100)
    if shape == "{w}" and frac:
        return
    if shape == "{w}.0" and frac:
        return
    if shape == "{w}.{f1}" and frac % 10:
        return
    text = shape.format(w=whole, f1=frac // 10, f2=f"{frac:02d}")
    if whole == 0 and frac == 0:
        return
    assert to_cents(parse_amount(text)) == cents


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
@example("1e5")
@example("NaN")
@example("-Infinity")
@example("٣٫٥")
@example("1" * 40)
def test_any_text_parses_to_a_valid_amount_or_raises_validation_error(text):
    try:
        value = parse_amount(text)
    except ValidationError:
        return
    assert isinstance(value, Decimal)
    assert value.is_finite()
    assert Decimal("0.01") <= value <= MAX_AMOUNT
    assert value.as_tuple().exponent == -2


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.,-+eE ", max_size=20))
def test_number_like_text_parses_or_raises_validation_error(text):
    try:
        value = parse_amount(text)
    except ValidationError:
        return
    assert Decimal("0.01") <= value <= MAX_AMOUNT
    assert value == value.quantize(Decimal("0.01"))


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_decimal_strings_outside_the_contract_are_rejected(value):
    text = str(value)
    ok = (
        value.is_finite()
        and 0 < value <= MAX_AMOUNT
        and value == value.quantize(Decimal("0.01"))
        and "E" not in text.upper()
        and (value.as_tuple().exponent >= -2)
    )
    if ok:
        assert parse_amount(text) == value
    else:
        with pytest.raises(ValidationError):
            parse_amount(text)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=MAX_CENTS + 1, max_value=10**20))
def test_amounts_above_one_billion_are_rejected(cents):
    with pytest.raises(ValidationError, match="too large"):
        parse_amount(format_cents(cents))


@settings(max_examples=200, deadline=None)
@given(cents_in_range, st.integers(min_value=3, max_value=6))
def test_three_or_more_decimals_are_rejected(cents, places):
    text = format_cents(cents) + "0" * (places - 2)
    with pytest.raises(ValidationError, match="decimals"):
        parse_amount(text)
