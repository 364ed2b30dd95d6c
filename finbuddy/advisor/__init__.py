"""The advisor: the only place that imports openai; every AI call, from `ask` or the daemon, goes through one guard.

Callers (the CLI, the daemon) import from here, not from the submodules.
"""

from finbuddy.advisor.guard import Answer, ask, generate_insight, quota_status, sweep_stale_reservations
from finbuddy.advisor.providers import longest_call_seconds
from finbuddy.advisor.quota import QuotaStatus
from finbuddy.advisor.usage import UsageDay, UsageReport, format_usd, usage_report

__all__ = [
    "Answer",
    "QuotaStatus",
    "UsageDay",
    "UsageReport",
    "ask",
    "format_usd",
    "generate_insight",
    "longest_call_seconds",
    "quota_status",
    "sweep_stale_reservations",
    "usage_report",
]
