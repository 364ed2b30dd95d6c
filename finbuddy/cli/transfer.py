"""`import` and `export`: bank CSV in, everything out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, printable, say
from finbuddy.errors import ValidationError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class _ProgressBar:
    """A Rich progress bar on stderr, started only once a file proves large (the first callback)."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from finbuddy.cli.output import console

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(phase, total=total)
        assert self._task is not None  # added together with the bar
        self._progress.update(self._task, description=phase, completed=done, total=total)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="Bank statement or finbuddy export (UTF-8 CSV).")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="COL=FIELD",
            help="Read column COL as FIELD: date, amount, debit, credit, "
            "kind, category, merchant, note, or ignore. Repeatable.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file and count what would be imported.")
    ] = False,
    date_format: Annotated[
        str,
        typer.Option("--date-format", help="How to read slash dates like 03/04/2026: auto, dmy or mdy."),
    ] = "auto",
    sign: Annotated[
        str,
        typer.Option(
            "--sign",
            help="How to read signed amounts: bank (negative = expense), card (positive = expense, "
            "negative = refund), or auto: bank if any amount is negative, else every row is an expense.",
        ),
    ] = "auto",
    no_rules: Annotated[
        bool,
        typer.Option(
            "--no-rules",
            help="Leave rows without a category `uncategorized` instead of filling them from your merchant rules.",
        ),
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Import records from a CSV file: every row is checked first, re-importing adds nothing."""
    from finbuddy.ledger.importer import import_csv, parse_mapping

    ctx = state.current().context
    mapping = parse_mapping(map_)
    bar = _ProgressBar() if not json_ and sys.stderr.isatty() else None
    try:
        result = import_csv(
            ctx,
            file,
            mapping,
            dry_run=dry_run,
            date_format=date_format,
            sign=sign,
            progress=bar,
            rules=not no_rules,
        )
    finally:
        if bar is not None:
            bar.stop()

    def render() -> None:
        verb = "Would import" if result.dry_run else "Imported"
        say(
            f"{verb} {result.imported} of {result.rows} row{'s' if result.rows != 1 else ''} from "
            f"{printable(file.name)}; {result.duplicates} already imported before."
        )
        if result.ignored_columns:
            say(f"Ignored columns: {', '.join(printable(c) for c in result.ignored_columns)} (use --map to read them)")
        if result.categorized.rows:
            from finbuddy.cli.rules import describe_fills

            verb = "Would categorise" if result.dry_run else "Categorised"
            say(f"{verb} {describe_fills(result.categorized.rows, result.categorized.uses)}; --no-rules to skip")
        if result.sign is not None:
            sys.stderr.write(f"finbuddy: {_SIGN_READINGS[result.sign]}\n")

    emit(result.to_json(), json_, render)


_SIGN_READINGS = {
    "bank": "amounts read as a bank statement: negative = expense, positive = income "
    "(--sign card reads positive amounts as expenses)",
    "card": "amounts read as a card statement: positive = expense, negative = refund (income) "
    "(--sign bank reads positive amounts as income)",
}


def export(
    format_: Annotated[
        str | None,
        typer.Option("--format", "-f", help="csv (records, re-importable; the default) or json (everything)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (created 0600) instead of stdout.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --output file if it exists.")] = False,
    json_: JsonOption = False,
) -> None:
    """Export all your records (csv), or records, budgets and holdings (json)."""
    from finbuddy.ledger.exporter import FORMATS, export_to_file
    from finbuddy.ledger.exporter import export as run_export

    to_stdout = output is None or str(output) == "-"
    if format_ is None:
        # On stdout, --json asks for the one JSON document, which is the JSON export.
        format_ = "json" if json_ and to_stdout else "csv"
    fmt = format_.strip().lower()
    if fmt not in FORMATS:
        raise ValidationError(f"--format {format_!r} is not valid: expected csv or json")
    ctx = state.current().context
    if to_stdout:
        if json_ and fmt != "json":
            raise ValidationError("--json without --output prints the JSON export: drop --format csv or add --output")
        run_export(ctx, sys.stdout, fmt)
        return
    assert output is not None  # None means stdout, handled above
    result = export_to_file(ctx, output, fmt, force=force)
    emit(
        {"format": fmt, "records": result.records, "output": str(output)},
        json_,
        lambda: say(
            f"Exported {result.records} record{'s' if result.records != 1 else ''} to {printable(str(output))}"
        ),
    )


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command("export")(export)
