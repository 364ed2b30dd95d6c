"""Option types shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer


def _record_json_mode(value: bool) -> bool:
    """Click has parsed --json: from here on the error boundary answers in the mode actually asked for."""
    from finbuddy.cli import state

    state.current().json_mode = value
    return value


JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout and nothing else.", callback=_record_json_mode),
]
