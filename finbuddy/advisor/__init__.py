"""The advisor: the only place that imports openai; every AI call, from `ask` or the daemon, goes through one guard."""

from finbuddy.advisor.guard import Answer, ask, generate_insight, quota_status, sweep_stale_reservations
from finbuddy.advisor.quota import QuotaStatus
from finbuddy.advisor.usage import UsageDay, UsageReport, usage_report

__all__ = [
    "Answer",
    "QuotaStatus",
    "UsageDay",
    "UsageReport",
    "ask",
    "generate_insight",
    "quota_status",
    "sweep_stale_reservations",
    "usage_report",
]
