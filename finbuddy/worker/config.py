"""What a queue needs, checked before anything connects, and the names derived from queue.name."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from finbuddy.config import Settings
from finbuddy.errors import ConfigError

INSTALL_HINT = "pip install 'finbuddy[scale]'"


def insights_queue(settings: Settings) -> str:
    """The RabbitMQ queue of the daily insights (Dramatiq adds `.DQ` for delayed retries, `.XQ` for dead letters)."""
    return f"{settings.queue.name}.insights"


def rate_key(settings: Settings) -> str:
    """The Redis key of the global AI rate: every worker configured with this queue.name shares it."""
    return f"{settings.queue.name}:ai-rate"


def check_queue_settings(settings: Settings) -> None:
    """ConfigError (exit 2) unless the queue can work: queue.url and cache.url set, the `scale` extra installed."""
    if settings.queue.url is None:
        raise ConfigError(
            "queue.url is not set: `finbuddy worker` runs the jobs queued on RabbitMQ; set queue.url "
            "(FINBUDDY_QUEUE_URL), e.g. amqp://guest:guest@127.0.0.1:5672/%2F"
        )
    if settings.cache.url is None:
        raise ConfigError(
            "queue.url is set but cache.url is not: the workers share one ai.requests_per_minute through Redis; "
            "set cache.url (FINBUDDY_CACHE_URL), e.g. redis://127.0.0.1:6379/0"
        )
    require_scale_extra()


def require_scale_extra() -> None:
    """ConfigError naming the extra to install when dramatiq, pika or redis cannot be imported."""
    missing = []
    for name in ("dramatiq", "pika", "redis"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(f"queue.url needs {', '.join(missing)}, which {verb} not installed: {INSTALL_HINT}")


def worker_settings(settings: Settings) -> Settings:
    """The settings a worker calls the AI with: one request per attempt (ai.max_retries 0).

    Every request must start in a slot of the global rate, and the openai SDK's own retries would send requests
    that took none. A failed attempt is retried through the queue instead, with a backoff and a slot of its own
    (at most MAX_ATTEMPTS a day, as for the in-process batch).
    """
    ai = dataclasses.replace(settings.ai, max_retries=0)
    sources = MappingProxyType({**settings.sources, "ai.max_retries": "worker"})
    return dataclasses.replace(settings, ai=ai, sources=sources)
