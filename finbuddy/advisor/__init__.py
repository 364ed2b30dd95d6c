"""The advisor: the only place that imports openai; every AI call, from `ask` or the daemon, goes through one guard.

Callers (the CLI, the daemon) import from here, not from the submodules.
"""

from finbuddy.advisor.batch import (
    MAX_FILE_BYTES,
    MAX_LINES,
    SUBMIT_DEADLINE,
    WINDOW,
    BatchClient,
    BatchGone,
    BatchInfo,
    BatchResults,
    custom_id,
    parse_custom_id,
    request_line,
    split_lines,
)
from finbuddy.advisor.guard import (
    Answer,
    ask,
    finish_batch_line,
    generate_insight,
    insight_line,
    quota_status,
    refund_batch_line,
    reserve_batch_lines,
    sweep_stale_reservations,
)
from finbuddy.advisor.providers import ProviderFailure, longest_call_seconds
from finbuddy.advisor.quota import QuotaStatus
from finbuddy.advisor.usage import UsageDay, UsageReport, format_usd, usage_report

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_LINES",
    "SUBMIT_DEADLINE",
    "WINDOW",
    "Answer",
    "BatchClient",
    "BatchGone",
    "BatchInfo",
    "BatchResults",
    "ProviderFailure",
    "QuotaStatus",
    "UsageDay",
    "UsageReport",
    "ask",
    "custom_id",
    "finish_batch_line",
    "format_usd",
    "generate_insight",
    "insight_line",
    "longest_call_seconds",
    "parse_custom_id",
    "quota_status",
    "refund_batch_line",
    "request_line",
    "reserve_batch_lines",
    "split_lines",
    "sweep_stale_reservations",
    "usage_report",
]
