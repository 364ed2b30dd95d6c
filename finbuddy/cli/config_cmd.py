"""`config show|path|init`: the effective settings, where they live, and a documented starting file."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, say

config_app = typer.Typer(help="Show, locate or create the configuration.", no_args_is_help=True)


@config_app.command("show")
def show(json_: JsonOption = False) -> None:
    """Print the effective settings (the API key masked) and where each came from."""
    settings = state.current().settings
    data: dict[str, Any] = {
        "config_file": str(settings.paths.config_file),
        "settings": settings.masked(),
        "sources": {dotted: source for dotted, source in settings.sources.items() if source != "default"},
        "paths": {
            "data_dir": str(settings.paths.data_dir),
            "cache_dir": str(settings.cache_dir),
            "log_dir": str(settings.paths.log_dir),
            "runtime_dir": str(settings.paths.runtime_dir),
        },
    }

    def render() -> None:
        from rich.table import Table

        from finbuddy.cli.output import console

        table = Table(title=f"finbuddy settings ({settings.paths.config_file})", title_justify="left")
        table.add_column("key")
        table.add_column("value", overflow="fold")
        table.add_column("from", style="dim")
        for section, values in data["settings"].items():
            for name, value in values.items():
                source = settings.sources.get(f"{section}.{name}", "derived")
                shown = "" if value is None else str(value)
                table.add_row(f"{section}.{name}", shown, source)
        console().print(table)

    emit(data, json_, render)


@config_app.command("path")
def path() -> None:
    """Print the location of the config file (it may not exist yet)."""
    import os

    from finbuddy.config import Paths

    say(str(Paths.from_env(os.environ).config_file))


@config_app.command("init")
def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config file.")] = False,
) -> None:
    """Write the documented example config file (refuses to overwrite without --force)."""
    import os

    from finbuddy.config import Paths, write_example_config

    written = write_example_config(Paths.from_env(os.environ).config_file, force=force)
    say(f"Wrote {written}")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
