"""`ask`, `quota`, `usage`: advice within a daily AI quota, and what the AI has cost."""

from __future__ import annotations

from typing import Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, printable, say


def ask(
    question: Annotated[str, typer.Argument(help='Your question, e.g. "Can I afford a 1,200 laptop this month?"')],
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Ignore a cached answer and ask again (costs one AI call).")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Ask the advisor about your finances (uses one of your daily AI calls unless the answer is cached)."""
    from finbuddy.advisor import ask as ask_advisor

    answer = ask_advisor(state.current().context, question, fresh=fresh)

    def render() -> None:
        from rich.panel import Panel
        from rich.text import Text

        from finbuddy.cli.output import console

        quota = answer.quota
        if answer.source == "local":
            where = "from your own records (no AI call, no quota used)"
        elif answer.source == "offline":
            where = "offline rules (no AI call, no quota used)"
        elif answer.cached:
            where = f"{answer.model}, cached answer (no AI call used)"
        else:
            where = f"{answer.model} via {answer.source}"
        footer = f"{where} · {quota.remaining} of {quota.limit} AI calls left today"
        console().print(
            Panel(
                Text(printable(answer.text, keep_newlines=True)),
                title=Text(printable(answer.question)[:80]),
                title_align="left",
                subtitle=Text(footer),
                subtitle_align="right",
            )
        )
        if answer.unverified_numbers:
            named = ", ".join(printable(n) for n in answer.unverified_numbers)
            # One line, never wrapped: the model worked these out or made them up.
            console().print(Text(f"Check: not in the figures finbuddy sent: {named}"), soft_wrap=True)

    emit(answer.to_json(), json_, render)


def quota(json_: JsonOption = False) -> None:
    """Show how many AI calls you have left today, and when the count resets."""
    from finbuddy.advisor import quota_status

    status = quota_status(state.current().context)

    def render() -> None:
        say(
            f"{status.remaining} of {status.limit} AI calls left today for {printable(status.user)} "
            f"({status.used} used); resets at {status.resets_at.isoformat(timespec='minutes')}."
        )
        say(f"All users today: {status.global_used} of {status.global_limit} AI calls.")

    emit(status.to_json(), json_, render)


def usage(
    days: Annotated[int, typer.Option("--days", "-d", help="How many days back, today included.")] = 7,
    all_users: Annotated[bool, typer.Option("--all", help="Every user together (per UTC day), not just you.")] = False,
    json_: JsonOption = False,
) -> None:
    """AI calls, cache hits, tokens and estimated cost per day."""
    from finbuddy.advisor import usage_report

    report = usage_report(state.current().context, days=days, all_users=all_users)

    def render() -> None:
        from rich.table import Table

        from finbuddy.advisor import format_usd
        from finbuddy.cli.output import console

        who = "all users" if report.user is None else printable(report.user)
        table = Table(title=f"AI usage, {who}, {report.start} to {report.end}", title_justify="left")
        for name in ("date", "calls", "failed", "cache hits", "tokens in", "tokens out", "est. cost (USD)"):
            table.add_column(name, justify="left" if name == "date" else "right")
        for day in [*report.days, report.total]:
            table.add_row(
                "total" if day is report.total else day.day.isoformat(),
                str(day.calls),
                str(day.failed),
                str(day.cache_hits),
                f"{day.tokens_in:,}",
                f"{day.tokens_out:,}",
                format_usd(day.cost_micro_usd, 4),
                end_section=day is report.days[-1],
            )
        console().print(table)

    emit(report.to_json(), json_, render)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
    app.command("quota")(quota)
    app.command("usage")(usage)
