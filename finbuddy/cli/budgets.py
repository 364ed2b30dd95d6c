"""`budget set|list|rm`: monthly budgets per category."""

from __future__ import annotations

from typing import Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption, NumbersAreArguments, is_negative_number
from finbuddy.cli.output import emit, printable, say, warn
from finbuddy.errors import ValidationError
from finbuddy.money import format_cents_grouped

budget_app = typer.Typer(help="Monthly budgets per category.", no_args_is_help=True)


def _positive(amount: str) -> None:
    if amount.strip().startswith("-"):
        raise ValidationError(
            f"amount {printable(amount)!r} is negative: a monthly budget is a positive amount, e.g. 400"
        )


class SetCommand(NumbersAreArguments):
    def check_arguments(self, arguments: list[str]) -> None:
        # `budget set food -400` (or the two swapped): the amount is the mistake, whatever else is wrong.
        for argument in arguments:
            if is_negative_number(argument):
                _positive(argument)


@budget_app.command("set", cls=SetCommand)
def set_(
    category: Annotated[str, typer.Argument(help="Category, e.g. groceries.")],
    amount: Annotated[str, typer.Argument(help="Monthly amount, e.g. 400 or 1,250.50.")],
    json_: JsonOption = False,
) -> None:
    """Set (or change) the monthly budget of a category."""
    from finbuddy.ledger.budgets import set_budget
    from finbuddy.money import parse_amount

    _positive(amount)
    budget = set_budget(state.current().context, category, parse_amount(amount))
    emit(
        budget.to_json(),
        json_,
        lambda: say(f"Budget for {printable(budget.category)}: {format_cents_grouped(budget.amount_cents)} a month"),
    )
    if budget.did_you_mean is not None:
        import shlex

        warn(
            f"new category {printable(budget.category)!r} — did you mean {printable(budget.did_you_mean)!r}? "
            f"(`finbuddy budget rm {printable(shlex.quote(budget.category))}` removes it)"
        )


@budget_app.command("list")
def list_(json_: JsonOption = False) -> None:
    """Show your monthly budgets."""
    from finbuddy.ledger.budgets import list_budgets

    ctx = state.current().context
    budgets = list_budgets(ctx)

    def render() -> None:
        if not budgets:
            say("No budgets yet. Set one with: finbuddy budget set groceries 400")
            return
        from rich.table import Table
        from rich.text import Text

        from finbuddy.cli.output import console

        table = Table(title="Monthly budgets", title_justify="left")
        table.add_column("category")
        table.add_column(f"amount ({ctx.currency})", justify="right")
        for b in budgets:
            table.add_row(Text(printable(b.category)), format_cents_grouped(b.amount_cents))
        console().print(table)

    emit([b.to_json() for b in budgets], json_, render)


@budget_app.command("rm")
def rm(
    category: Annotated[str, typer.Argument(help="Category whose budget to remove.")],
    json_: JsonOption = False,
) -> None:
    """Remove the budget of a category."""
    from finbuddy.ledger.budgets import remove_budget

    budget = remove_budget(state.current().context, category)
    emit({"removed": budget.to_json()}, json_, lambda: say(f"Removed the budget for {printable(budget.category)}"))


def register(app: typer.Typer) -> None:
    app.add_typer(budget_app, name="budget")
