"""`categorize` and `rules list|add|rm`: fill uncategorised records from merchant rules, and see and correct them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from finbuddy.cli import state
from finbuddy.cli.options import JsonOption
from finbuddy.cli.output import emit, printable, say, warn

if TYPE_CHECKING:
    from finbuddy.ledger.rules import CategorizeResult, Rule, RuleUse

rules_app = typer.Typer(
    help="Merchant → category rules: learned from your records, set by you, or answered by the model.",
    no_args_is_help=True,
)

SHOWN_USES = 5
SOURCE_WORDS = {"user": "yours", "learned": "learned", "ai": "model", "blocked": "blocked"}


def describe_fills(rows: int, uses: Sequence[RuleUse]) -> str:
    """ "34 rows by 5 rules: netflix → subscriptions (12), …" for people."""
    noun = "row" if rows == 1 else "rows"
    kinds = sorted({use.source for use in uses})
    what = "learned rule" if kinds == ["learned"] else "rule"
    shown = ", ".join(
        f"{printable(use.merchant)} → {printable(use.category)} ({use.records})" for use in uses[:SHOWN_USES]
    )
    more = f", and {len(uses) - SHOWN_USES} more" if len(uses) > SHOWN_USES else ""
    return f"{rows} {noun} by {len(uses)} {what}{'s' if len(uses) != 1 else ''}: {shown}{more}"


def categorize(
    ai: Annotated[
        bool,
        typer.Option(
            "--ai",
            help="Also ask the model about the merchants no rule covers (one call for all of them, against your "
            "daily AI quota); each answer becomes a rule, so no merchant is asked about twice.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing, ask nothing: show what would be filled.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Fill your `uncategorized` records from your merchant rules (and, with --ai, the model).

    A category you chose yourself (add with a category, edit --category) is never changed.
    """
    from finbuddy.advisor.categorize import categorize as run

    result = run(state.current().context, use_model=ai, dry_run=dry_run)
    emit(result.to_json(), json_, lambda: _render_categorize(result))
    if result.model is not None and result.model.note and result.model.provider == "offline":
        warn(result.model.note)


def _render_categorize(result: CategorizeResult) -> None:
    model = result.model
    if model is not None and model.provider == "openai" and model.merchants:
        if result.dry_run:
            calls = f"{model.calls} AI call{'s' if model.calls != 1 else ''}"
            say(f"Would ask the model about {model.merchants} merchants in {calls} (dry run: nothing was sent).")
        else:
            cached = f", {model.cached_calls} from the cache" if model.cached_calls else ""
            say(
                f"Asked the model about {model.merchants} merchant{'s' if model.merchants != 1 else ''} "
                f"({model.calls} AI call{'s' if model.calls != 1 else ''}{cached}): {model.answered} categorised, "
                f"{model.unknown} it could not tell; each is now a rule (`finbuddy rules list`)."
            )
    if result.filled:
        verb = "Would categorise" if result.dry_run else "Categorised"
        say(f"{verb} {describe_fills(result.filled, result.uses)}")
    else:
        say("Nothing to categorise from your rules." if not result.dry_run else "Would categorise nothing.")
    if result.left:
        hint = "" if model is not None else " (`finbuddy categorize --ai` asks the model about them)"
        merchants = len(result.left_merchants)
        say(
            f"{result.left} uncategorised record{'s' if result.left != 1 else ''} of {merchants} "
            f"merchant{'s' if merchants != 1 else ''} {'has' if result.left == 1 else 'have'} no rule{hint}."
        )
    if result.without_merchant:
        one = result.without_merchant == 1
        say(
            f"{result.without_merchant} uncategorised record{'' if one else 's'} {'has' if one else 'have'} "
            "no merchant: `finbuddy edit ID --category C` files them."
        )


@rules_app.command("list")
def list_(json_: JsonOption = False) -> None:
    """Show your merchant rules: category, where each comes from (yours, learned, model) and how often it filled."""
    from finbuddy.ledger.rules import list_rules

    rules = list_rules(state.current().context)
    emit([rule.to_json() for rule in rules], json_, lambda: _render_rules(rules))


def _render_rules(rules: list[Rule]) -> None:
    if not rules:
        say(
            "No rules yet. They are learned once a merchant has 2 or more records in one category; "
            "set one with: finbuddy rules add Netflix subscriptions"
        )
        return
    from rich.table import Table
    from rich.text import Text

    from finbuddy.cli.output import console

    table = Table(title=f"{len(rules)} merchant rule{'s' if len(rules) != 1 else ''}", title_justify="left")
    table.add_column("merchant", overflow="fold")
    table.add_column("category")
    table.add_column("source")
    table.add_column("filled", justify="right")
    for rule in rules:
        if rule.source == "blocked":
            category = Text("(blocked: not learned, not asked)", style="dim")
        elif rule.category is None:
            category = Text("(the model could not tell)", style="dim")
        else:
            category = Text(printable(rule.category))
        source = SOURCE_WORDS[rule.source]
        if rule.source == "learned":
            source = f"learned ({rule.evidence} of {rule.of})"
        table.add_row(Text(printable(rule.merchant)), category, source, str(rule.hits))
    console().print(table)


@rules_app.command("add")
def add(
    merchant: Annotated[
        str, typer.Argument(help="Merchant as on your records, e.g. Netflix (case and spaces ignored).")
    ],
    category: Annotated[str, typer.Argument(help="Category its records get, e.g. subscriptions.")],
    json_: JsonOption = False,
) -> None:
    """Set your own rule for a merchant: it wins over learned and model rules, and re-files the records rules filled."""
    from finbuddy.ledger.rules import add_rule

    change = add_rule(state.current().context, merchant, category)
    after = change.after

    def render() -> None:
        assert after is not None and after.category is not None  # a rule was just set
        refiled = ""
        if change.refiled:
            refiled = f"; {change.refiled} record{'s' if change.refiled != 1 else ''} filed under it now"
        say(f"Rule: {printable(after.merchant)} → {printable(after.category)} (yours){refiled}")

    emit(change.to_json(), json_, render)
    if change.did_you_mean is not None:
        warn(f"new category {printable(category.strip().lower())!r} — did you mean {printable(change.did_you_mean)!r}?")


@rules_app.command("rm")
def rm(
    merchant: Annotated[str, typer.Argument(help="Merchant whose rule to remove (case and spaces ignored).")],
    json_: JsonOption = False,
) -> None:
    """Remove a rule: yours is deleted; a learned or model rule is blocked (it does not come back); a block is lifted.

    Records keep the category a rule gave them."""
    from finbuddy.ledger.rules import remove_rule

    change = remove_rule(state.current().context, merchant)

    def render() -> None:
        name = printable(change.merchant)
        assert change.before is not None  # rm of a merchant without a rule is NotFound
        if change.action == "blocked":
            say(
                f"Blocked {name}: its {SOURCE_WORDS[change.before.source]} rule is gone and will not be learned or "
                "asked about again (`finbuddy rules rm` again lifts the block; records keep their category)."
            )
        elif change.action == "unblocked":
            say(f"Unblocked {name}: its rule may be learned again.")
        else:
            say(f"Removed your rule for {name} (records keep their category).")
        after = change.after
        if change.action != "blocked" and after is not None and after.active:
            assert after.category is not None
            say(f"Now {name} → {printable(after.category)} ({SOURCE_WORDS[after.source]}).")

    emit(change.to_json(), json_, render)


def register(app: typer.Typer) -> None:
    app.command("categorize")(categorize)
    app.add_typer(rules_app, name="rules")
