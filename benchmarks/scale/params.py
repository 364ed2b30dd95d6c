"""The lab's workload model: every parameter of the population and of a day's usage, in this one place.

The population generator (population.py), the day's replay and the breaking points (replay.py) and the AI bill
(aibill.py) read these; docs/SCALING.md prints them beside the figures. Change a figure here, rerun, and the
report says what was assumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SEED = 7

# The sizes the report covers; --quick runs QUICK_USERS.
SIZES = (10_000, 100_000, 1_000_000)
QUICK_USERS = 300


@dataclass(frozen=True)
class Category:
    """One spending category: its share of a user's expenses and the log-normal law of one amount."""

    name: str
    share: float  # of a user's expense records
    median_eur: float  # exp(mu) of the amount's log-normal
    sigma: float


@dataclass(frozen=True)
class PopulationModel:
    """Who the users are and what their ledgers hold."""

    seed: int = SEED
    # Records per user: log-normal, most users few, some thousands (clipped to [min, max]).
    records_median: float = 12.0
    records_sigma: float = 1.3
    records_min: int = 1
    records_max: int = 5_000
    # Records spread over this many days before the replayed day.
    history_days: int = 365
    income_share: float = 0.06  # of a user's records: salary-like income
    income_median_eur: float = 1_900.0
    recurring_share: float = 0.6  # of users: 1-4 monthly charges at a merchant (rent, phone, streaming)
    budget_share: float = 0.35  # of users: 1-4 monthly budgets
    holdings_share: float = 0.12  # of users: 1-5 holdings with a dated price
    categories: tuple[Category, ...] = (
        Category("groceries", 0.30, 24.0, 0.7),
        Category("eating out", 0.16, 18.0, 0.6),
        Category("transport", 0.14, 9.0, 0.9),
        Category("shopping", 0.12, 35.0, 1.0),
        Category("bills", 0.08, 60.0, 0.6),
        Category("entertainment", 0.08, 15.0, 0.8),
        Category("health", 0.05, 30.0, 0.9),
        Category("travel", 0.04, 180.0, 0.9),
        Category("gifts", 0.03, 40.0, 0.8),
    )
    merchants: tuple[str, ...] = ("Rent Co", "PhoneNet", "StreamFlix", "Gym One", "PowerGrid", "CloudBox")
    tickers: tuple[str, ...] = ("VWCE", "AAPL", "MSFT", "BTC", "IWDA", "NVDA", "EUNL", "TSLA")
    # Added for the generator (population.py): the laws the comments above name without a figure.
    income_sigma: float = 0.35  # of an income amount's log-normal (median income_median_eur)
    recurring_max: int = 4  # merchants with a monthly charge, per recurring user (1..this)
    recurring_category: str = "bills"  # category of the monthly charges; their amount follows its law
    income_category: str = "salary"
    budgets_max: int = 4  # budgets per budgeting user (1..this, distinct categories)
    budget_median_eur: float = 250.0  # a monthly budget's log-normal (rounded to 10 EUR)
    budget_sigma: float = 0.6
    holdings_max: int = 5  # holdings per investing user (1..this, distinct tickers), each with one dated price


@dataclass(frozen=True)
class DayModel:
    """One day of usage: who is active and what they do."""

    active_share: float = 0.15  # of all users, active on the day
    adds_per_active: float = 2.5  # mean `add`s per active user
    views_per_active: float = 4.0  # mean `summary` views per active user (dashboards: the cache's work)
    askers_share: float = 0.25  # of active users, who ask the advisor at least once
    asks_per_asker: float = 2.2  # mean asks per asker (the per-user quota of 5 caps it)
    repeated_question_share: float = 0.65  # of asks: a question this user already asked with unchanged data
    insights_share: float = 1.0  # of all users with data: the daily insight (the daemon's batch)
    # The loopback fake's answer time for one chat completion (a realistic provider latency).
    provider_latency_s: float = 1.2
    # Provider tiers (requests per minute) the daily batch's duration is reported for.
    provider_tiers_rpm: tuple[int, ...] = (500, 5_000, 30_000)
    # When a phase "breaks": p95 of `summary` above this, or any error.
    summary_p95_limit_ms: float = 200.0
    # The replayed day (ISO): the population's history ends the day before; FINBUDDY_FAKE_NOW is on it.
    replay_day: str = "2026-11-29"
    # The busiest hour's share of a day's requests: the rate a deployment must carry is the peak hour's.
    peak_hour_share: float = 0.1


POPULATION = PopulationModel()
DAY = DayModel()


def as_dict() -> dict[str, Any]:
    """The whole model, for a results file and the report."""
    return {"population": asdict(POPULATION), "day": asdict(DAY), "sizes": list(SIZES)}


__all__ = ["DAY", "POPULATION", "QUICK_USERS", "SEED", "SIZES", "Category", "DayModel", "PopulationModel", "as_dict"]
