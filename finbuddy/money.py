"""Parsing and formatting of money: Decimal in code, integer cents in the database, never float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from finbuddy.errors import ValidationError

MAX_AMOUNT = Decimal("1000000000")
MAX_CENTS = int(MAX_AMOUNT * 100)
CENT = Decimal("0.01")

# Plain digits ("1234.5") or properly grouped thousands ("1,234.56"). ASCII digits
# only: Python's Decimal would accept Arabic-Indic or full-width digits too.
_PLAIN = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_GROUPED = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?"
_NUMBER_RE = re.compile(rf"(?:{_GROUPED}|{_PLAIN})")
_SIGNED_RE = re.compile(rf"([+-]?)\s*({_GROUPED}|{_PLAIN})")

AMOUNT_EXPECTED = "a positive amount with at most two decimals, e.g. 12.50 or 1,234.56"


def _describe(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return repr(shown)


def _to_decimal(digits: str, text: str, what: str, max_places: int, expected: str) -> Decimal:
    cleaned = digits.replace(",", "")
    if cleaned.endswith("."):
        raise ValidationError(f"{what} {_describe(text)} is not valid: expected {expected}")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the regex admits only decimal literals
        raise ValidationError(f"{what} {_describe(text)} is not valid: expected {expected}") from None
    if "." in cleaned and len(cleaned.split(".", 1)[1]) > max_places:
        raise ValidationError(f"{what} {_describe(text)} has more than {max_places} decimals: expected {expected}")
    return value


def parse_amount(text: str, what: str = "amount") -> Decimal:
    """Parse a user-typed amount: positive, at most two decimals, at most 1,000,000,000."""
    if not isinstance(text, str):
        raise ValidationError(f"{what} {text!r} is not valid: expected {AMOUNT_EXPECTED}")
    stripped = text.strip()
    if not _NUMBER_RE.fullmatch(stripped):
        raise ValidationError(f"{what} {_describe(text)} is not valid: expected {AMOUNT_EXPECTED}")
    value = _to_decimal(stripped, text, what, 2, AMOUNT_EXPECTED)
    _check_range(value, text, what)
    return value.quantize(CENT)


def parse_signed_amount(text: str, what: str = "amount") -> Decimal:
    """Parse an amount that may carry a sign, as bank exports write them ("-12.50", "(12.50)")."""
    stripped = text.strip()
    negative = False
    if stripped.startswith("(") and stripped.endswith(")"):
        negative, stripped = True, stripped[1:-1].strip()
    if stripped.endswith("-"):
        negative, stripped = not negative, stripped[:-1].strip()
    match = _SIGNED_RE.fullmatch(stripped)
    expected = "a decimal amount with at most two decimals, e.g. -12.50"
    if not match:
        raise ValidationError(f"{what} {_describe(text)} is not valid: expected {expected}")
    sign, digits = match.groups()
    value = _to_decimal(digits, text, what, 2, expected)
    if sign == "-":
        negative = not negative
    if value == 0:
        raise ValidationError(f"{what} {_describe(text)} is zero: expected a non-zero amount")
    if value > MAX_AMOUNT:
        raise ValidationError(f"{what} {_describe(text)} is too large: at most 1,000,000,000")
    value = value.quantize(CENT)
    return -value if negative else value


def parse_decimal(text: str, what: str, max_places: int, maximum: Decimal) -> Decimal:
    """Parse a positive decimal with up to `max_places` decimals (quantities, unit prices)."""
    stripped = text.strip()
    expected = f"a positive number with at most {max_places} decimals"
    if not _NUMBER_RE.fullmatch(stripped):
        raise ValidationError(f"{what} {_describe(text)} is not valid: expected {expected}")
    value = _to_decimal(stripped, text, what, max_places, expected)
    if value <= 0:
        raise ValidationError(f"{what} {_describe(text)} must be greater than zero")
    if value > maximum:
        raise ValidationError(f"{what} {_describe(text)} is too large: at most {maximum:,}")
    return value


def _check_range(value: Decimal, text: str, what: str) -> None:
    if value <= 0:
        raise ValidationError(f"{what} {_describe(text)} must be greater than zero")
    if value > MAX_AMOUNT:
        raise ValidationError(f"{what} {_describe(text)} is too large: at most 1,000,000,000")


def to_cents(amount: Decimal) -> int:
    """Decimal → integer cents (exact; the amount must already have at most two decimals)."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def format_cents(cents: int) -> str:
    """Integer cents → the canonical string of SPEC.md: two decimals, no grouping ("1234.50")."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def format_amount(amount: Decimal) -> str:
    return format_cents(to_cents(amount.quantize(CENT)))


def format_cents_grouped(cents: int) -> str:
    """For people: thousands grouped ("1,234.50")."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{frac:02d}"


# --- currencies ---------------------------------------------------------------------

# ISO 4217 List One (current currency and funds codes), as published by the maintenance agency (SIX) in 2025:
# XAD (Arab accounting dinar) and XCG (Caribbean guilder) added; ANG, CUC, HRK, SLL and ZWL withdrawn. A code
# that is three letters but not on the list ("ABC", "EUD") is a typo, not a currency.
ISO_4217_CODES = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN
    MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD
    SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD USN UYI UYU UYW UZS VED VES VND VUV WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD
    XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG
    """.split()
)

CURRENCY_EXPECTED = "an ISO 4217 currency code such as USD, EUR, JPY or NZD"


def is_currency_code(text: str) -> bool:
    """True for a current ISO 4217 code, in any letter case ("eur" is EUR)."""
    return text.strip().upper() in ISO_4217_CODES


def parse_currency(text: str, what: str = "currency") -> str:
    """A user-typed currency code, upper-cased; ValidationError unless it is on ISO 4217's list."""
    code = text.strip().upper() if isinstance(text, str) else ""
    if code not in ISO_4217_CODES:
        raise ValidationError(f"{what} {_describe(str(text))} is not a known currency: expected {CURRENCY_EXPECTED}")
    return code
