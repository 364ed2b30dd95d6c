"""`trend`: spending per category and month, with averages and sparklines, laid out for the terminal's width."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Sequence

    from finbuddy.ledger.trend import Trend

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_GAP = "  "
_MIN_NAME = 8
_SHORT_NAME = 12  # names are cut to this before a month column goes
_MAX_NAME = 18


def trend(
    months: Annotated[
        str, typer.Option("--months", help="How many months, ending with this one (1-120).", show_default=True)
    ] = "6",
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    json_: JsonOption = False,
) -> None:
    """Spending per category and month (the last N months) with each row's average and a sparkline."""
    from finbuddy.cli.output import emit
    from finbuddy.ledger.fields import parse_count
    from finbuddy.ledger.trend import MAX_MONTHS, spending_trend

    count = parse_count(months, "--months", MAX_MONTHS)
    result = spending_trend(state.current().context, count, category)
    emit(result.to_json(), json_, lambda: render(result))


def _labels(months: Sequence[dt.date]) -> list[str]:
    """Month names; where the columns span two years, the first column and each January carry the year."""
    years = months[0].year != months[-1].year
    return [
        f"{_MONTHS[m.month - 1]}'{m.year % 100:02d}" if years and (i == 0 or m.month == 1) else _MONTHS[m.month - 1]
        for i, m in enumerate(months)
    ]


def _span(t: Trend) -> str:
    first, last = t.months[0], t.months[-1]
    if first == last:
        return f"{_MONTHS[last.month - 1]} {last.year}"
    if first.year == last.year:
        return f"{_MONTHS[first.month - 1]}–{_MONTHS[last.month - 1]} {last.year}"
    return f"{_MONTHS[first.month - 1]} {first.year}–{_MONTHS[last.month - 1]} {last.year}"


def _whole(cents: int) -> str:
    return f"{(cents + 50) // 100:,}"  # to the nearest unit, halves up (never negative)


def layout(t: Trend, width: int) -> tuple[list[str], int]:
    """The table's lines, at most `width` cells wide where that is possible: amounts lose their cents first,
    then long names are cut to 12 cells, then the oldest month columns go (the sparkline still covers every
    month), then names are cut to 8.
    Returns the lines and how many months have a column."""
    from rich.cells import cell_len, set_cell_size

    from finbuddy.cli.output import printable
    from finbuddy.money import format_cents_grouped

    rows = list(t.rows)
    with_total = t.category is None and len(rows) > 1
    if with_total:
        rows.append(t.total)
    names = [printable(r.category) for r in rows]
    spark_w = max(len("trend"), len(t.months))

    def plan(money: Callable[[int], str], shown: int, name_w: int) -> tuple[int, list[int], int]:
        first = len(t.months) - shown
        labels = _labels(t.months[first:])
        columns = [max(len(labels[i]), *(len(money(r.totals_cents[first + i])) for r in rows)) for i in range(shown)]
        avg_w = max(len("avg"), *(len(money(r.average_cents)) for r in rows))
        total = name_w + sum(len(_GAP) + w for w in columns) + len(_GAP) + avg_w + len(_GAP) + spark_w
        return total, columns, avg_w

    name_w = min(_MAX_NAME, max(cell_len("category"), *(cell_len(n) for n in names)))
    choice = None
    for money in (format_cents_grouped, _whole):
        if plan(money, len(t.months), name_w)[0] <= width:
            choice = (money, len(t.months), name_w)
            break
    if choice is None:
        money, shown = _whole, len(t.months)
        while name_w > _SHORT_NAME and plan(money, shown, name_w)[0] > width:
            name_w -= 1
        while shown > 1 and plan(money, shown, name_w)[0] > width:
            shown -= 1
        while name_w > _MIN_NAME and plan(money, shown, name_w)[0] > width:
            name_w -= 1
        choice = (money, shown, name_w)
    money, shown, name_w = choice
    _, columns, avg_w = plan(money, shown, name_w)
    first = len(t.months) - shown

    def cell(text: str) -> str:
        if cell_len(text) > name_w:  # cut, never through a wide character
            text = set_cell_size(text, name_w - 1).rstrip(" ") + "…"
        return set_cell_size(text, name_w)

    lines = []
    header = [cell("category")]
    header += [label.rjust(w) for label, w in zip(_labels(t.months[first:]), columns, strict=True)]
    header += ["avg".rjust(avg_w), "trend".ljust(spark_w)]
    lines.append(_GAP.join(header).rstrip())
    lines.append("─" * min(width, cell_len(lines[0]) + max(0, spark_w - len("trend"))))
    for index, (row, name) in enumerate(zip(rows, names, strict=True)):
        if with_total and index == len(rows) - 1:
            lines.append(lines[1])
        parts = [cell(name)]
        parts += [money(row.totals_cents[first + i]).rjust(w) for i, w in enumerate(columns)]
        parts += [money(row.average_cents).rjust(avg_w), row.sparkline]
        lines.append(_GAP.join(parts).rstrip())
    return lines, shown


def render(t: Trend) -> None:
    from finbuddy.cli.output import console, printable, say

    what = f"Spending on {printable(t.category)}" if t.category else "Spending by category"
    say(f"{what}, {_span(t)} ({t.currency})")
    if not t.rows:
        say(f"No spending in {_span(t)}. Add some with: finbuddy add 12.50 groceries")
        return
    width = console().width
    lines, shown = layout(t, width)
    say("")
    for line in lines:
        say(line)
    notes = []
    if shown < len(t.months):
        notes.append(f"the last {shown} of {len(t.months)} months shown; trend and --json cover all {len(t.months)}")
    notes.append(f"avg: over all {len(t.months)} months, empty ones included")
    today = t.today
    notes.append(f"{_MONTHS[today.month - 1]} is to date ({today.day} {_MONTHS[today.month - 1]})")
    say("")
    for note in notes:
        say(note)


def register(app: typer.Typer) -> None:
    app.command("trend")(trend)
