"""`db upgrade`: apply schema migrations to any database URL."""

from __future__ import annotations

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, say

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(json_: JsonOption = False) -> None:
    """Apply migrations to the configured database (SQLite files are also upgraded automatically)."""
    from finbuddy.config import mask_url
    from finbuddy.db.migrate import upgrade as run_upgrade

    settings = state.current().settings
    db = state.current().context.db
    before, after = run_upgrade(db)
    data = {"database": mask_url(settings.database_url), "from": before, "to": after}
    if before == after:
        message = f"Database {data['database']} is up to date ({after})."
    else:
        message = f"Upgraded {data['database']} from {before or 'empty'} to {after}."
    emit(data, json_, lambda: say(message))


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
