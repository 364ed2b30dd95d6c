"""`add`, `list`, `edit`, `delete`: one user's expenses and income."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption, NumbersAreArguments, is_negative_number
from finbuddy.cli.output import emit, printable, say, warn
from finbuddy.errors import FinbuddyError, UsageError, ValidationError

if TYPE_CHECKING:
    from finbuddy.ledger.records import Record, RecordPage

DEFAULT_TABLE_LIMIT = 50
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class Cancelled(FinbuddyError):
    kind = "cancelled"
    exit_code = 1


def _describe(record: Record) -> str:
    merchant = f" at {printable(record.merchant)}" if record.merchant else ""
    note = f" ({printable(record.note)})" if record.note else ""
    return (
        f"#{record.id} {record.kind} {record.amount:,.2f} {printable(record.category)}"
        f"{merchant} on {record.date.isoformat()}{note}"
    )


def _amount(text: str, adding: bool) -> Decimal:
    """A positive amount; a negative one added is usually meant as income, so say how to record that."""
    from finbuddy.money import parse_amount

    stripped = text.strip()
    if stripped.startswith("-"):
        positive = printable(stripped.lstrip("-").strip()) or "12.50"
        how = (
            f"an expense is `finbuddy add {positive} CATEGORY`, income is `finbuddy add {positive} CATEGORY --income`"
            if adding
            else f"e.g. {positive}"
        )
        raise ValidationError(f"amount {printable(text)!r} is negative: amounts are positive; {how}")
    return parse_amount(text)


class AddCommand(NumbersAreArguments):
    def check_arguments(self, arguments: list[str]) -> None:
        # `add -12 food`: the amount is the mistake, whatever else is missing.
        if arguments and is_negative_number(arguments[0]):
            _amount(arguments[0], adding=True)


def _tell_where_it_went(day: dt.date | None, today: dt.date) -> None:
    """A future date is kept as typed (a planned payment, or a typo): say which month's figures it is in."""
    if day is None or day <= today:
        return
    if (day.year, day.month) == (today.year, today.month):
        where = f" (today is {today.isoformat()}): it counts in this month's summary"
    else:
        where = f": it shows in {MONTHS[day.month - 1]} {day.year}'s summary, not this month's"
    warn(f"dated {day.isoformat()}, in the future{where}")


def _tell_near_miss(record: Record) -> None:
    if record.did_you_mean is None:
        return
    import shlex

    warn(
        f"new category {printable(record.category)!r} — did you mean {printable(record.did_you_mean)!r}? "
        f"(`finbuddy edit {record.id} --category {printable(shlex.quote(record.did_you_mean))}` moves it)"
    )


def _record_id(text: str) -> int:
    from finbuddy.ledger.fields import parse_count

    return parse_count(text, "record id", 2**31 - 1)


def add(
    amount: Annotated[
        str,
        typer.Argument(
            help="Positive amount, at most two decimals: 12, 12.50, 1,234.56. Or, alone, a quick entry in plain "
            'words: "coffee 4.50 at Starbucks yesterday".'
        ),
    ],
    category: Annotated[
        str | None, typer.Argument(help="Category, e.g. groceries (case-insensitive); needed after an AMOUNT.")
    ] = None,
    note: Annotated[str | None, typer.Argument(help="Optional note, up to 1,000 characters.")] = None,
    date: Annotated[str | None, typer.Option("--date", "-d", help="YYYY-MM-DD, today or yesterday.")] = None,
    merchant: Annotated[str | None, typer.Option("--merchant", "-m", help="Where the money went.")] = None,
    income: Annotated[bool, typer.Option("--income", help="Record income instead of an expense.")] = False,
    json_: JsonOption = False,
) -> None:
    """Record an expense (or income with --income) and print it.

    Or quick entry, one quoted line in plain words: finbuddy add "coffee 4.50 at Starbucks yesterday".
    """
    from finbuddy.dates import parse_date
    from finbuddy.ledger.records import record_entry

    ctx = state.current().context
    day = parse_date(date, ctx.today()) if date is not None else None
    if category is None:
        if _looks_like_amount(amount):
            _amount(amount, adding=True)  # a bad amount is the first mistake
            raise UsageError(
                f"missing CATEGORY after {printable(amount.strip())!r}: expected `finbuddy add AMOUNT CATEGORY`, "
                'e.g. finbuddy add 12.50 groceries, or one quoted line such as "coffee 4.50 at Starbucks"'
            )
        _quick_add(amount, day, merchant, income, json_)
        return
    value = _amount(amount, adding=True)
    record = record_entry(
        ctx, value, category, note=note, date=day, merchant=merchant, kind="income" if income else "expense"
    )
    emit(record.to_json(), json_, lambda: say(f"Added {_describe(record)}"))
    _tell_near_miss(record)
    _tell_where_it_went(day, ctx.today())


def _looks_like_amount(text: str) -> bool:
    """An AMOUNT as the structured form takes it (so the missing CATEGORY is the mistake), not a quick entry."""
    from finbuddy.money import parse_amount

    try:
        parse_amount(text)
    except ValidationError:
        return len(text.split()) == 1 and any(ch.isdigit() for ch in text) and not any(ch.isalpha() for ch in text)
    return True


def _quick_add(text: str, day: dt.date | None, merchant: str | None, income: bool, json_: bool) -> None:
    from finbuddy.ledger.quick_entry import quick_add

    ctx = state.current().context
    entry, record = quick_add(ctx, text, date=day, merchant=merchant, income=income)
    emit(record.to_json(), json_, lambda: say(f"Added {_describe(record)}"))
    choice = entry.choice
    if choice.source == "rule" and choice.rule_merchant is not None:
        warn(f"category {printable(record.category)!r} from your rule for {printable(choice.rule_merchant)}")
    elif choice.new:
        warn(f"new category {printable(record.category)!r} (none of your records or budgets uses it yet)")
    elif choice.typed is not None and choice.typed != record.category:
        warn(f"{printable(choice.typed)!r} read as your category {printable(record.category)!r}")
    _tell_where_it_went(record.date, ctx.today())


def list_(
    month: Annotated[str | None, typer.Option("--month", help="Only this month, YYYY-MM.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="From this day (YYYY-MM-DD, today, yesterday).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Up to and including this day.")] = None,
    category: Annotated[str | None, typer.Option("--category", "-c", help="Only this category.")] = None,
    limit: Annotated[
        str | None,
        typer.Option(
            "--limit", "-n", help="At most this many records (1-100,000). Default: 50 in the table, all with --json."
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """List records, newest first (a table that is cut says "50 of 55")."""
    from finbuddy.dates import month_bounds, parse_date, parse_month
    from finbuddy.ledger.fields import parse_count
    from finbuddy.ledger.records import MAX_LIST_LIMIT, list_records

    ctx = state.current().context
    if limit is not None:
        count: int | None = parse_count(limit, "--limit", MAX_LIST_LIMIT)
    else:
        # Scripts get every matching record; a person gets a screenful and is told what was left out.
        count = None if json_ else DEFAULT_TABLE_LIMIT
    if month is not None and (from_ is not None or to is not None):
        raise ValidationError("--month cannot be combined with --from/--to: expected one or the other")
    start = end = None
    if month is not None:
        start, end = month_bounds(parse_month(month))
    if from_ is not None:
        start = parse_date(from_, ctx.today(), what="--from")
    if to is not None:
        end = parse_date(to, ctx.today(), what="--to")
    page = list_records(ctx, start=start, end=end, category=category, limit=count)
    filtered = start is not None or end is not None or category is not None
    emit([r.to_json() for r in page.records], json_, lambda: _render_list(page, ctx.currency, filtered))


def _render_list(page: RecordPage, currency: str, filtered: bool) -> None:
    records = page.records
    if not records:
        if filtered:
            say("No records match these filters (`finbuddy list` shows all of yours).")
        else:
            say("No records yet. Add one with: finbuddy add 12.50 groceries")
        return
    from rich.table import Table
    from rich.text import Text

    from finbuddy.cli.output import console

    noun = "record" if page.total == 1 else "records"
    title = f"{page.total} {noun}"
    if page.cut:
        title = f"{len(records)} of {page.total} {noun}, newest first (--limit {page.total} shows them all)"
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("date")
    table.add_column(f"amount ({currency})", justify="right")
    table.add_column("category")
    table.add_column("merchant")
    table.add_column("note", overflow="fold")
    for r in records:
        sign, style = ("+", "green") if r.kind == "income" else ("", "")
        table.add_row(
            str(r.id),
            r.date.isoformat(),
            Text(f"{sign}{r.amount:,.2f}", style=style),
            Text(printable(r.category)),
            Text(printable(r.merchant)),
            Text(printable(r.note)),
        )
    console().print(table)


def edit(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The record number shown by `list`.")],
    amount: Annotated[str | None, typer.Option("--amount", help="New amount.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="New category.")] = None,
    date: Annotated[str | None, typer.Option("--date", help="New date (YYYY-MM-DD, today, yesterday).")] = None,
    note: Annotated[str | None, typer.Option("--note", help='New note ("" removes it).')] = None,
    merchant: Annotated[str | None, typer.Option("--merchant", help='New merchant ("" removes it).')] = None,
    json_: JsonOption = False,
) -> None:
    """Change one of your records."""
    from finbuddy.dates import parse_date
    from finbuddy.ledger.records import edit_record

    ctx = state.current().context
    day = parse_date(date, ctx.today()) if date is not None else None
    record = edit_record(
        ctx,
        _record_id(record_id),
        amount=_amount(amount, adding=False) if amount is not None else None,
        category=category,
        date=day,
        note=note,
        merchant=merchant,
    )
    emit(record.to_json(), json_, lambda: say(f"Updated {_describe(record)}"))
    _tell_near_miss(record)
    _tell_where_it_went(day, ctx.today())


def delete(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The record number shown by `list`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_: JsonOption = False,
) -> None:
    """Remove one of your records (asks first unless --yes)."""
    from finbuddy.cli.output import confirm
    from finbuddy.ledger.records import delete_record, get_record

    ctx = state.current().context
    number = _record_id(record_id)
    if not yes:
        record = get_record(ctx, number)
        if json_:
            raise Cancelled(f"not deleted: record {number} needs confirmation; pass --yes with --json")
        if not confirm(f"Delete {_describe(record)}?"):
            raise Cancelled(f"not deleted: record {number} kept (pass --yes to delete without asking)")
    record = delete_record(ctx, number)
    emit({"deleted": record.to_json()}, json_, lambda: say(f"Deleted {_describe(record)}"))


def register(app: typer.Typer) -> None:
    app.command("add", cls=AddCommand)(add)
    app.command("list")(list_)
    app.command("edit")(edit)
    app.command("delete")(delete)
