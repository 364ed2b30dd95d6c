"""The user's own time zone and display currency (`profile show|set`): checked, stored with the user, with sources.

A user's zone decides their "today", quota day, insight day and month; their currency labels every amount they
see. Each defaults to the install's user.timezone / user.currency (a NULL column), and an empty value given to
`set_profile` returns to that default.
"""

from __future__ import annotations

from finbuddy.context import Context, UserProfile, known_zone
from finbuddy.errors import ValidationError
from finbuddy.money import parse_currency

# Names that load with ZoneInfo but mean "whatever this machine's zone is": stored with a user shared by many
# machines, they would give the user a different day on each.
_MACHINE_ZONES = frozenset({"localtime", "posixrules"})
_MAX_ZONE_LENGTH = 64  # users.timezone
TIMEZONE_EXPECTED = "an IANA time zone such as Europe/Berlin, America/Los_Angeles, Asia/Tokyo or UTC"


def _describe(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def parse_timezone(text: str, what: str = "time zone") -> str:
    """An IANA zone name as the tz database spells it ("pacific/auckland" is Pacific/Auckland); ValidationError
    naming the value for anything else."""
    from zoneinfo import available_timezones

    name = text.strip()
    if name and len(name) <= _MAX_ZONE_LENGTH:
        by_lower = {zone.lower(): zone for zone in available_timezones() if zone not in _MACHINE_ZONES}
        canonical = by_lower.get(name.lower())
        if canonical is not None and known_zone(canonical) is not None:
            return canonical
    raise ValidationError(f"{what} {_describe(text)} is not a known time zone: expected {TIMEZONE_EXPECTED}")


def show_profile(ctx: Context) -> UserProfile:
    """ctx.user's zone and currency in effect, each with its source. Reading never creates the user."""
    return ctx.profile


def set_profile(ctx: Context, timezone: str | None = None, currency: str | None = None) -> UserProfile:
    """Set ctx.user's own zone and/or currency; None leaves one as it is, "" returns it to the install's setting.

    Both values are checked before anything is written, so a bad one changes nothing. Creates the user on this
    first write. A change invalidates the user's cached summaries, portfolio and answers (they carry the old
    day and currency).
    """
    from finbuddy.db.users import KEEP, ensure_user
    from finbuddy.db.users import set_profile as store

    if timezone is None and currency is None:
        raise ValidationError(
            'nothing to set: give --timezone ZONE and/or --currency CODE ("" returns to the install\'s setting)'
        )
    zone_value: str | None = KEEP
    if timezone is not None:
        zone_value = parse_timezone(timezone, "--timezone") if timezone.strip() else None
    currency_value: str | None = KEEP
    if currency is not None:
        currency_value = parse_currency(currency, "--currency") if currency.strip() else None
    with ctx.db.write() as conn:
        user_id = ensure_user(conn, ctx.user, ctx.now())
        stored = store(conn, user_id, timezone=zone_value, currency=currency_value)
    return ctx.use_profile(ctx.profile_of(ctx.user, stored.timezone, stored.currency))
