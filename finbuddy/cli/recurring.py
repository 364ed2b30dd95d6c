"""`recurring`: the charges that repeat, with their next date, yearly cost and price changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption

if TYPE_CHECKING:
    from decimal import Decimal

    from finbuddy.ledger.recurring import RecurringReport


def recurring(json_: JsonOption = False) -> None:
    """Charges that repeat (weekly, monthly, yearly): typical amount, next date, yearly cost and price changes.

    Found in your own history (same merchant, similar amount, regular dates); no AI.
    """
    from finbuddy.cli.output import emit
    from finbuddy.ledger.recurring import recurring_report

    report = recurring_report(state.current().context)
    emit(report.to_json(), json_, lambda: render(report))


def render(report: RecurringReport) -> None:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from finbuddy.cli.output import console, printable, say
    from finbuddy.money import format_cents_grouped, to_cents

    if not report.charges:
        say(
            "No recurring charges found. They show once a merchant has charged a similar amount on a regular "
            "cadence (4 weekly, 3 monthly or 2-3 yearly charges)."
        )
        return

    def money(amount: Decimal) -> str:
        return format_cents_grouped(to_cents(amount))

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left")
    table.title = Text(f"Recurring charges ({report.currency})", style="bold")
    table.add_column("merchant", overflow="fold", max_width=28)
    table.add_column("every", no_wrap=True)
    table.add_column("amount", justify="right", no_wrap=True)
    table.add_column("next", no_wrap=True)
    table.add_column("a year", justify="right", no_wrap=True)
    table.add_column("seen", justify="right", style="dim", no_wrap=True)
    for charge in report.charges:
        late = " (late)" if charge.next_date < report.today else ""
        table.add_row(
            Text(printable(charge.merchant)),
            {"weekly": "week", "monthly": "month", "yearly": "year"}[charge.cadence],
            money(charge.typical_amount),
            charge.next_date.isoformat() + late,
            money(charge.yearly_cost),
            f"{charge.occurrences}×",
        )
    parts: list = [table]
    changes = [(c, change) for c in report.charges for change in c.price_changes]
    if changes:
        parts.append(Text("Price changes", style="bold"))
        for charge, change in changes:
            parts.append(Text("  " + change.describe(printable(charge.merchant))))
        parts.append(Text(""))
    parts.append(
        Text(
            f"{len(report.charges)} recurring charge{'s' if len(report.charges) != 1 else ''}: "
            f"{money(report.yearly_total)} a year (about {money(report.monthly_average)} a month)",
            style="dim",
        )
    )
    console().print(Group(*parts))


def register(app: typer.Typer) -> None:
    app.command("recurring")(recurring)
