"""`summary`: the monthly dashboard (Rich for people, one JSON document with --json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.money import format_cents_grouped as _money

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from rich.console import RenderableType

    from finbuddy.ledger.summary import CategoryTotal, Summary

_EIGHTHS = " ▁▂▃▄▅▆▇█"
_CHART_ROWS = 5


def summary(
    month: Annotated[
        str | None, typer.Option("--month", help="The month to show, YYYY-MM (default: this month).")
    ] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Recompute from the database, bypassing the cache.")] = False,
    json_: JsonOption = False,
) -> None:
    """Your month at a glance: spending, income, budgets, daily spending and top merchants."""
    from finbuddy.cli.output import emit
    from finbuddy.dates import parse_month
    from finbuddy.ledger.summary import monthly_summary

    ctx = state.current().context
    first = parse_month(month, what="--month") if month is not None else None
    result = monthly_summary(ctx, first, fresh=fresh)
    emit(result.to_json(), json_, lambda: render(result, ctx.today()))


# --- rendering ------------------------------------------------------------------


def _used_style(pct: float) -> str:
    if pct < 80:
        return "green"
    if pct < 100:
        return "yellow"
    return "red"


def _bar(fraction: float, width: int) -> str:
    """A horizontal bar of `width` cells filled to `fraction` (0..1), in eighths of a cell."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    partial = "▏▎▍▌▋▊▉"[rest - 1] if rest else ""
    return ("█" * full + partial).ljust(width, "·") if fraction < 1 else "█" * width


def _header(s: Summary) -> RenderableType:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from finbuddy.cli.output import printable

    # Like with like: the compared part of this month (up to today) against the same days of last month.
    compared = s.comparison
    current, previous = compared.expenses_cents, compared.previous_expenses_cents
    this_label, prev_label = compared.labels()
    if previous and current != previous:
        change = (current - previous) * 100 / previous
        arrow, style, word = ("▲", "red", "more") if change > 0 else ("▼", "green", "less")
        trend = Text(f"{arrow} {abs(change):.0f}% {word} than {prev_label}", style=style)
    elif previous:
        trend = Text(f"= the same as {prev_label}", style="dim")
    else:
        trend = Text(f"nothing spent in {prev_label}", style="dim")
    if previous:
        trend.append(f" ({_money(previous)})", style="dim")
    if current != s.expenses_cents:  # spending dated after today is not compared yet
        trend.append(f" · {this_label}: {_money(current)}", style="dim")

    net_style = "green" if s.net_cents > 0 else ("red" if s.net_cents < 0 else "")
    if s.savings_rate_pct is None:
        rate = Text("—", style="dim")
    else:
        rate = Text(f"{s.savings_rate_pct:.1f} %", style="bold " + ("green" if s.savings_rate_pct >= 0 else "red"))

    grid = Table.grid(expand=True, padding=(0, 2))
    for _ in range(4):
        grid.add_column(ratio=1)
    grid.add_row(*(Text(label, style="dim") for label in ("Spent", "Income", "Net", "Savings rate")))
    grid.add_row(
        Text(_money(s.expenses_cents), style="bold"),
        Text(_money(s.income_cents), style="bold"),
        Text(_money(s.net_cents, signed=True), style="bold " + net_style),
        rate,
    )
    title = Text.assemble(
        (f"{_month_name(s.start)} {s.start.year}", "bold"), " · ", printable(s.user), " · ", s.currency
    )
    body = Group(grid, trend)
    return Panel(body, title=title, title_align="left", border_style="blue", padding=(0, 1))


def _month_name(day: dt.date, previous_month: bool = False) -> str:
    import calendar

    month = day.month - 1 if previous_month else day.month
    return calendar.month_abbr[month or 12] if previous_month else calendar.month_name[month]


def _categories(s: Summary, width: int) -> RenderableType:
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    from finbuddy.cli.output import printable

    def widest(header: str, values: Iterable[str]) -> int:
        return max([cell_len(header), *(cell_len(v) for v in values)])

    rows = s.by_category
    spent_w = widest("spent", (_money(c.total_cents) for c in rows))
    budget_w = widest("budget", (_money(c.budget_cents) for c in rows if c.budget_cents is not None))
    left_w = widest("left", (_left(c)[0] for c in rows))
    count_w = widest("#", (str(c.count) for c in rows))
    pct_w = widest("%", (f"{c.budget_used_pct:.0f}%" for c in rows if c.budget_used_pct is not None))
    category_w = min(24, widest("category", (printable(c.category) for c in rows)))
    # Money is never cut short: the bar takes what the figures leave (7 columns: 12 cells of padding
    # and 8 of edges and dividers), then the category name folds.
    figures_w = spent_w + count_w + budget_w + pct_w + left_w + 20
    bar_width = max(9, min(30, width - figures_w - category_w))
    table = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False, title_justify="left")
    table.title = Text("Categories", style="bold")
    table.add_column("category", overflow="fold")
    table.add_column("spent", justify="right", no_wrap=True, min_width=spent_w)
    table.add_column("#", justify="right", style="dim", no_wrap=True, min_width=count_w)
    table.add_column("budget", justify="right", no_wrap=True, min_width=budget_w)
    table.add_column("used", no_wrap=True, width=bar_width)
    table.add_column("%", justify="right", no_wrap=True, min_width=pct_w)
    table.add_column("left", justify="right", no_wrap=True, min_width=left_w)
    for c in s.by_category:
        name = Text(printable(c.category))
        spent = Text(_money(c.total_cents))
        if c.budget_cents is None or c.budget_used_pct is None:
            table.add_row(
                name,
                spent,
                str(c.count),
                Text("—", style="dim"),
                Text("no budget", style="dim"),
                Text(""),
                Text(""),
            )
            continue
        style = _used_style(c.budget_used_pct)
        left_text = Text(_left(c)[0], style=_left(c)[1])
        table.add_row(
            name,
            spent,
            str(c.count),
            Text(_money(c.budget_cents)),
            Text(_bar(c.budget_used_pct / 100, bar_width), style=style),
            Text(f"{c.budget_used_pct:.0f}%", style=style),
            left_text,
        )
    return table


def _left(c: CategoryTotal) -> tuple[str, str]:
    """What is left of a category's budget, or by how much it is over."""
    if c.budget_cents is None:
        return "", ""
    left = c.budget_cents - c.total_cents
    return (_money(left), "") if left >= 0 else (f"over {_money(-left)}", "bold red")


def _daily_chart(s: Summary, width: int, today: dt.date) -> RenderableType:
    from rich.text import Text

    days = s.daily
    totals = sorted((d.total_cents for d in days), reverse=True)
    peak = totals[0] if totals else 0
    # One huge day (rent) would flatten every other bar: scale to the next largest and mark it clipped.
    scale = totals[1] if len(totals) > 1 and totals[1] and peak > 3 * totals[1] else peak
    label_width = len(_money(scale)) + 1
    cell = 2 if label_width + len(days) * 2 <= width - 2 else 1
    chart = Text()
    chart.append("Daily spending", style="bold")
    if peak:
        busiest = max(days, key=lambda d: d.total_cents)
        chart.append(f"   busiest: {busiest.date.day} {_month_name(busiest.date)[:3]} ({_money(peak)})", style="dim")
        if scale != peak:
            chart.append("   ↑ off the scale", style="dim")
    chart.append("\n")
    if not peak:
        chart.append("nothing spent this month", style="dim")
        return chart
    for row in range(_CHART_ROWS, 0, -1):
        label = _money(scale) if row == _CHART_ROWS else ("0" if row == 1 else "")
        chart.append(label.rjust(label_width - 1) + " ", style="dim")
        chart.append("┤" if label else "│", style="dim")
        for d in days:
            filled = d.total_cents * _CHART_ROWS * 8 / scale - (row - 1) * 8
            if d.total_cents > scale and row == _CHART_ROWS:
                glyph = "↑"
            elif filled >= 8:
                glyph = "█"
            elif filled > 0:
                glyph = _EIGHTHS[max(1, round(filled))]
            else:
                glyph = " "
            style = "bold bright_cyan" if today == d.date else "cyan"
            if d.date > today:
                glyph, style = ("·" if row == 1 else " "), "dim"
            chart.append(glyph.ljust(cell), style=style)
        chart.append("\n")
    # Day numbers under the bars: 1, 5, 10, ... at their columns.
    axis = [" "] * (len(days) * cell + 1)
    for d in days:
        if d.date.day == 1 or d.date.day % 5 == 0:
            text = str(d.date.day)
            position = (d.date.day - 1) * cell
            if position + len(text) <= len(axis) and all(ch == " " for ch in axis[max(0, position - 1) : position]):
                axis[position : position + len(text)] = list(text)
    chart.append(" " * label_width + "".join(axis).rstrip(), style="dim")
    return chart


def _merchants(s: Summary, width: int) -> RenderableType:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from finbuddy.cli.output import printable

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.title = Text("Top merchants", style="bold")
    spent_w = max([5, *(len(_money(m.total_cents)) for m in s.top_merchants)])
    table.add_column("merchant", overflow="fold", max_width=32)
    table.add_column("spent", justify="right", no_wrap=True, min_width=spent_w)
    table.add_column("visits", justify="right", style="dim")
    table.add_column("", no_wrap=True)
    top = max((m.total_cents for m in s.top_merchants), default=1)
    bar_width = max(6, min(24, width - 62))
    for m in s.top_merchants:
        table.add_row(
            Text(printable(m.merchant)),
            Text(_money(m.total_cents)),
            str(m.count),
            Text(_bar(m.total_cents / top, bar_width).rstrip("·"), style="magenta"),
        )
    return table


def _forecast(s: Summary) -> RenderableType:
    from rich.text import Text

    from finbuddy.cli.output import printable

    f = s.forecast
    assert f is not None
    text = Text()
    text.append("Forecast", style="bold")
    text.append(f"  month-end ≈ {_money(f.projected_cents)} at this pace", style="bold")
    parts = [f"{_money(f.spent_to_date_cents)} spent"]
    if f.days_after_today:
        parts.append(f"{f.days_after_today} days × {_money(f.daily_pace_cents)}")
    if f.recurring_due_cents:
        parts.append(f"{_money(f.recurring_due_cents)} recurring due")
    if f.scheduled_cents:
        parts.append(f"{_money(f.scheduled_cents)} dated later")
    text.append("\n  " + " + ".join(parts), style="dim")
    if f.recurring_to_date_cents and f.days_after_today:
        text.append(f" (the pace leaves out {_money(f.recurring_to_date_cents)} of recurring charges)", style="dim")
    if f.recurring_due:
        text.append("\n  still due: ")
        text.append(
            " · ".join(
                f"{printable(c.merchant)} {_money(c.cents)} ({c.date.day} {_month_name(c.date)[:3]})"
                for c in f.recurring_due
            )
        )
    text.append("\n  safe to spend: ")
    if f.safe_per_day_cents is None:
        text.append("set a budget or record this month's income to see it", style="dim")
    else:
        style = "bold green" if f.safe_per_day_cents > 0 else "bold red"
        days = "today, the month's last day" if f.safe_days == 1 else f"a day for the {f.safe_days} days left"
        text.append(f"{_money(f.safe_per_day_cents)}", style=style)
        text.append(f" {days}")
        left = []
        if f.budget_left_cents is not None:
            left.append(f"budgets {_money(f.budget_left_cents)}")
        if f.income_left_cents is not None:
            left.append(f"income {_money(f.income_left_cents)}")
        text.append(f"\n  left this month after what is still due: {' · '.join(left)}", style="dim")
    return text


def _alerts(s: Summary) -> RenderableType:
    from rich.text import Text

    from finbuddy.cli.output import printable

    text = Text()
    text.append("Budget alerts", style="bold")
    for alert in s.alerts:
        style = "red" if alert.threshold >= 100 else "yellow"
        text.append("\n  " + ("!! " if alert.threshold >= 100 else "!  "), style=style)
        text.append(printable(alert.short_text))
    return text


def render(s: Summary, today: dt.date) -> None:
    from rich.console import Group
    from rich.text import Text

    from finbuddy.cli.output import console

    out = console()
    width = min(out.width, 100)
    parts: list[RenderableType] = [_header(s)]
    if s.forecast is not None:
        parts += [Text(""), _forecast(s)]
    if s.alerts:
        parts += [Text(""), _alerts(s)]
    if s.by_category:
        parts += [Text(""), _categories(s, width)]
    else:
        parts += [
            Text(""),
            Text(
                f"No spending in {_month_name(s.start)} {s.start.year} yet. "
                "Add some with: finbuddy add 12.50 groceries --merchant 'Corner shop'",
                style="dim",
            ),
        ]
    if s.expenses_cents:
        parts += [Text(""), _daily_chart(s, width, today)]
    if s.top_merchants:
        parts += [Text(""), _merchants(s, width)]
    stamp = s.as_of.strftime("%H:%M")
    footer = Text(f"as of {stamp}" + (" (cached)" if s.cached else ""), style="dim")
    if s.as_of.date() != today:
        footer = Text(f"as of {s.as_of.strftime('%Y-%m-%d %H:%M')}" + (" (cached)" if s.cached else ""), style="dim")
    if s.cached:
        footer.append(" · --fresh to recompute", style="dim")
    parts += [Text(""), footer]
    out.print(Group(*parts), width=width)


def register(app: typer.Typer) -> None:
    app.command("summary")(summary)
