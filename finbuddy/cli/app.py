"""The Typer application: global options and one sub-module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from finbuddy.cli import state

app = typer.Typer(
    name="finbuddy",
    help="finbuddy: your personal finance buddy for the terminal. Log expenses, keep budgets, "
    "watch a portfolio and ask for advice that stays within a daily AI quota.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["--help", "-h"]},
)


def _version(value: bool) -> None:
    if value:
        from finbuddy import __version__

        typer.echo(f"finbuddy {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    user: Annotated[
        str | None,
        typer.Option("--user", "-u", help="Act as this user (default: [user] name, FINBUDDY_USER, your login name)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """finbuddy: your personal finance buddy for the terminal."""
    invocation = state.current()
    invocation.user = user
    invocation.debug = debug


def _register() -> None:
    from finbuddy.cli import advisor, budgets, config_cmd, daemon, db_cmd, portfolio, records, summary, transfer

    for module in (records, budgets, summary, portfolio, transfer, advisor, daemon, config_cmd, db_cmd):
        module.register(app)


_register()
