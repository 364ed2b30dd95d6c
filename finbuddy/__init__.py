"""finbuddy: an AI-assisted personal finance buddy for the terminal, usable as a library without the CLI.

    import finbuddy
    from decimal import Decimal

    with finbuddy.open_context("alice") as ctx:
        finbuddy.record_entry(ctx, Decimal("12.50"), "groceries", merchant="Aldi")
        print(finbuddy.monthly_summary(ctx).to_json()["expenses"])
        print(finbuddy.ask(ctx, "How am I doing this month?").text)
        finbuddy.run_insight_batch(ctx)

Every function takes the Context first, returns dataclasses (each with `to_json()` giving the shapes of
docs/json.md) and raises FinbuddyError subclasses (finbuddy.errors) for anything a user could get wrong.
The names below are imported on first use, so `import finbuddy` stays cheap for the command line.
"""

from __future__ import annotations

from importlib import import_module

# Not typing.TYPE_CHECKING: importing typing (and what it imports) costs every command ~9 ms of start-up,
# and the warm client (cli/client.py) imports this package before anything else.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "Context": "finbuddy.context",
    "open_context": "finbuddy.context",
    "Settings": "finbuddy.config",
    "load_settings": "finbuddy.config",
    "Clock": "finbuddy.clock",
    "FinbuddyError": "finbuddy.errors",
    "ValidationError": "finbuddy.errors",
    "NotFound": "finbuddy.errors",
    "QuotaExceeded": "finbuddy.errors",
    "AdvisorUnavailable": "finbuddy.errors",
    "StorageError": "finbuddy.errors",
    "record_entry": "finbuddy.ledger.records",
    "list_records": "finbuddy.ledger.records",
    "edit_record": "finbuddy.ledger.records",
    "delete_record": "finbuddy.ledger.records",
    "set_budget": "finbuddy.ledger.budgets",
    "list_budgets": "finbuddy.ledger.budgets",
    "monthly_summary": "finbuddy.ledger.summary",
    "portfolio_valuation": "finbuddy.ledger.portfolio",
    "add_holding": "finbuddy.ledger.portfolio",
    "set_price": "finbuddy.ledger.portfolio",
    "ask": "finbuddy.advisor",
    "quota_status": "finbuddy.advisor",
    "usage_report": "finbuddy.advisor",
    "run_insight_batch": "finbuddy.daemon.insights",
    "latest_insight": "finbuddy.daemon.insights",
}

__all__ = [
    "__version__",
    "Context",
    "open_context",
    "Settings",
    "load_settings",
    "Clock",
    "FinbuddyError",
    "ValidationError",
    "NotFound",
    "QuotaExceeded",
    "AdvisorUnavailable",
    "StorageError",
    "record_entry",
    "list_records",
    "edit_record",
    "delete_record",
    "set_budget",
    "list_budgets",
    "monthly_summary",
    "portfolio_valuation",
    "add_holding",
    "set_price",
    "ask",
    "quota_status",
    "usage_report",
    "run_insight_batch",
    "latest_insight",
]

if TYPE_CHECKING:
    from finbuddy.advisor import ask, quota_status, usage_report
    from finbuddy.clock import Clock
    from finbuddy.config import Settings, load_settings
    from finbuddy.context import Context, open_context
    from finbuddy.daemon.insights import latest_insight, run_insight_batch
    from finbuddy.errors import (
        AdvisorUnavailable,
        FinbuddyError,
        NotFound,
        QuotaExceeded,
        StorageError,
        ValidationError,
    )
    from finbuddy.ledger.budgets import list_budgets, set_budget
    from finbuddy.ledger.portfolio import add_holding, portfolio_valuation, set_price
    from finbuddy.ledger.records import delete_record, edit_record, list_records, record_entry
    from finbuddy.ledger.summary import monthly_summary


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'finbuddy' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
