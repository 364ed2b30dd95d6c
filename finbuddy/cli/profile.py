"""`profile show|set`: the user's own time zone and display currency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, printable, say

if TYPE_CHECKING:
    from finbuddy.context import Context, UserProfile

profile_app = typer.Typer(
    help='Your own time zone and currency: "today", the AI quota day, daily insights and amounts follow them.',
    no_args_is_help=True,
)


def _render(ctx: Context, profile: UserProfile) -> None:
    local_now = ctx.now().astimezone(profile.zone).strftime("%Y-%m-%d %H:%M %z")
    mine = "your own"
    say(f"Profile of {printable(profile.user)}")
    zone_source = mine if profile.timezone_source == "profile" else "the install's user.timezone"
    say(f"  time zone  {profile.timezone} ({zone_source}; now {local_now})")
    currency_source = mine if profile.currency_source == "profile" else "the install's user.currency"
    say(f"  currency   {profile.currency} ({currency_source})")


@profile_app.command("show")
def show(json_: JsonOption = False) -> None:
    """Show your time zone and currency, and whether each is your own or the install's setting."""
    from finbuddy.ledger.profile import show_profile

    ctx = state.current().context
    profile = show_profile(ctx)
    emit(profile.to_json(), json_, lambda: _render(ctx, profile))


@profile_app.command("set")
def set_(
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            metavar="ZONE",
            help='Your IANA time zone, e.g. Asia/Tokyo; "" returns to the install\'s user.timezone.',
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            metavar="CODE",
            help='Your ISO 4217 currency code, e.g. EUR; "" returns to the install\'s user.currency.',
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Set your own time zone and/or currency (the other stays as it is)."""
    from finbuddy.ledger.profile import set_profile

    ctx = state.current().context
    profile = set_profile(ctx, timezone=timezone, currency=currency)
    emit(profile.to_json(), json_, lambda: _render(ctx, profile))


def register(app: typer.Typer) -> None:
    app.add_typer(profile_app, name="profile")
