"""The Typer application: global options and one sub-module per command group."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from finbuddy.cli import state


def _version(value: bool) -> None:
    if value:
        from finbuddy import __version__

        typer.echo(f"finbuddy {__version__}")
        raise typer.Exit()


def main(
    user: Annotated[
        str | None,
        typer.Option(
            "--user", "-u", help="Act as this user (default: the user.name setting, FINBUDDY_USER, your login name)."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """finbuddy: your personal finance buddy for the terminal."""
    invocation = state.current()
    invocation.user = user
    invocation.debug = debug  # as parsed: the scan of argv only stood in until now


def _new_app() -> typer.Typer:
    """The bare application: global options, no commands yet."""
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
    app.callback()(main)
    return app


# Every command group, by module. A command needs only its own group: importing and building the
# whole tree (all groups, every signature inspected) would cost each command 20-30 ms of start-up.
# tests/test_help.py checks that this map names the module of every command the full app has.
MODULES = (
    "records",
    "budgets",
    "summary",
    "portfolio",
    "transfer",
    "advisor",
    "daemon",
    "config_cmd",
    "db_cmd",
    "profile",
    "recurring",
    "trend",
    "worker",
    "rules",
)
COMMAND_MODULES = {
    "add": "records",
    "list": "records",
    "edit": "records",
    "delete": "records",
    "budget": "budgets",
    "summary": "summary",
    "portfolio": "portfolio",
    "import": "transfer",
    "export": "transfer",
    "ask": "advisor",
    "quota": "advisor",
    "usage": "advisor",
    "daemon": "daemon",
    "insights": "daemon",
    "config": "config_cmd",
    "db": "db_cmd",
    "profile": "profile",
    "recurring": "recurring",
    "trend": "trend",
    "worker": "worker",
    "categorize": "rules",
    "rules": "rules",
}


def build_app(modules: tuple[str, ...] = MODULES) -> typer.Typer:
    """An application with the command groups of `modules` (all of them by default)."""
    from importlib import import_module

    app = _new_app()
    for name in modules:
        import_module(f"finbuddy.cli.{name}").register(app)
    return app


def app_for(command: str | None) -> typer.Typer:
    """The application that can run `command` (the first word, `finbuddy.cli.scan`): only its group,
    else (no command, help, typos) every group."""
    module = COMMAND_MODULES.get(command) if command is not None else None
    return build_app((module,)) if module else build_app()


_prebuilt: dict[str, Any] = {}


def prebuild() -> None:
    """Build the Click command of every group (and of the whole app) now: the warm server does it once, before it
    forks a process per request, so that no request pays for inspecting the command signatures."""
    from typer.main import get_command

    for module in MODULES:
        _prebuilt[module] = get_command(build_app((module,)))
    _prebuilt[""] = get_command(build_app())


def command_for(command: str | None) -> Any:
    """The Click command that runs `command` (the first word): prebuilt in a warm server, else built now."""
    module = COMMAND_MODULES.get(command) if command is not None else None
    built = _prebuilt.get(module or "")
    if built is not None:
        return built
    from typer.main import get_command

    return get_command(app_for(command))


def __getattr__(name: str) -> typer.Typer:
    # `from finbuddy.cli.app import app`: the full application, built on first use.
    if name == "app":
        app = build_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
