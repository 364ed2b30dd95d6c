"""Dramatiq's RabbitMQ broker, built from the settings; publishing chunks of users; the queue's depth.

Dramatiq declares three durable queues for `<queue>`: the queue itself, `<queue>.DQ` (delayed messages:
retries waiting for their backoff) and `<queue>.XQ` (dead letters: messages that failed every retry, kept
7 days). Messages are persistent and acknowledged after the actor returns (late acks): a worker that dies
mid-message leaves it to RabbitMQ, which hands it to another consumer.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from finbuddy.config import Settings, mask_url
from finbuddy.errors import QueueError
from finbuddy.worker.config import insights_queue

log = logging.getLogger("finbuddy.worker")

ACTOR_NAME = "daily_insights"

# Dramatiq's own retries, for what fails a whole message (the database or Redis away, a bug): then the message
# goes to the dead letters, and its users are planned again by a later run of the daily job. A user's failed AI
# call is not one of these: it is recorded on the user's row and retried in a message of its own (chunks.py).
MAX_RETRIES = 5
MIN_BACKOFF_MS = 5_000
MAX_BACKOFF_MS = 300_000

# pika's defaults wait long on a dead host and retry; fail fast instead (Dramatiq retries its own publishes).
_PIKA_DEFAULTS = {"connection_attempts": "1", "socket_timeout": "5", "stack_timeout": "10"}


def _url_with_defaults(url: str, defaults: dict[str, str]) -> str:
    """The AMQP URL with pika connection options added where the URL does not set them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in defaults.items():
        query.setdefault(name, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def make_broker(settings: Settings) -> Any:
    """A RabbitmqBroker for queue.url with publisher confirms (a publish returns once RabbitMQ has the message)
    and only the Retries middleware (an actor bounds its own time, see chunks.CHUNK_BUDGET_S, so Dramatiq's
    TimeLimit, which raises inside the thread wherever it is, is not used)."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq.middleware import Retries

    assert settings.queue.url is not None
    retries = Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS)
    broker = RabbitmqBroker(
        url=_url_with_defaults(settings.queue.url, _PIKA_DEFAULTS), confirm_delivery=True, middleware=[retries]
    )
    broker.declare_queue(insights_queue(settings))
    return broker


def unreachable(settings: Settings, exc: BaseException) -> QueueError:
    return QueueError(
        f"RabbitMQ at {mask_url(settings.queue.url or '')} refused or did not answer "
        f"({type(exc).__name__}: {str(exc) or 'no detail'})"
    )


class Publisher:
    """Sends chunks of users for one day to the insights queue (from the thread that made it)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue = insights_queue(settings)
        self.broker = make_broker(settings)
        self.sent = 0

    def send(self, day: dt.date, users: list[str], delay_ms: int | None = None) -> None:
        import dramatiq
        from dramatiq.errors import DramatiqError
        from pika.exceptions import AMQPError

        message: Any = dramatiq.Message(
            queue_name=self.queue, actor_name=ACTOR_NAME, args=(day.isoformat(), users), kwargs={}, options={}
        )
        try:
            self.broker.enqueue(message, delay=delay_ms)
        except (DramatiqError, AMQPError, OSError) as exc:
            raise unreachable(self.settings, exc) from None
        self.sent += 1

    def close(self) -> None:
        self.broker.close()


@dataclass(frozen=True)
class QueueDepth:
    """The insights queue as `daemon status` shows it (counts are None when RabbitMQ could not be asked)."""

    url: str  # masked
    queue: str
    waiting: int | None = None  # ready to be taken by a worker (not those a worker holds now)
    delayed: int | None = None  # retries waiting for their backoff
    dead_letters: int | None = None  # failed every retry; their users are planned again by a later run
    consumers: int | None = None  # worker threads' consumers attached to the queue
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "queue": self.queue,
            "waiting": self.waiting,
            "delayed": self.delayed,
            "dead_letters": self.dead_letters,
            "consumers": self.consumers,
            "error": self.error,
        }


def queue_depth(settings: Settings, timeout: float = 2.0) -> QueueDepth:
    """Ask RabbitMQ for the insights queue's counts with passive declares (which change nothing; a queue not
    declared yet counts 0). Never raises: an unreachable broker is reported in `error`."""
    url = settings.queue.url
    assert url is not None
    queue = insights_queue(settings)
    shown = mask_url(url)
    try:
        import pika
        from pika.exceptions import AMQPError, ChannelClosedByBroker
    except ImportError:
        from finbuddy.worker.config import INSTALL_HINT

        return QueueDepth(shown, queue, error=f"pika is not installed: {INSTALL_HINT}")
    try:
        params = pika.URLParameters(url)
        params.connection_attempts = 1
        params.socket_timeout = timeout
        params.stack_timeout = timeout
        params.blocked_connection_timeout = timeout
        connection = pika.BlockingConnection(params)
    except (AMQPError, OSError, ValueError) as exc:
        return QueueDepth(shown, queue, error=f"RabbitMQ unreachable ({type(exc).__name__}: {str(exc) or 'no detail'})")
    counts: dict[str, tuple[int, int]] = {}
    try:
        channel = connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            try:
                frame = channel.queue_declare(queue=name, passive=True)
                counts[name] = (frame.method.message_count, frame.method.consumer_count)
            except ChannelClosedByBroker as exc:  # 404: not declared yet (nothing planned so far)
                if exc.reply_code != 404:
                    raise
                counts[name] = (0, 0)
                channel = connection.channel()
    except (AMQPError, OSError) as exc:
        return QueueDepth(shown, queue, error=f"RabbitMQ failed to answer ({type(exc).__name__}: {exc})")
    finally:
        try:
            connection.close()
        except (AMQPError, OSError):
            pass
    return QueueDepth(
        shown,
        queue,
        waiting=counts[queue][0],
        delayed=counts[f"{queue}.DQ"][0],
        dead_letters=counts[f"{queue}.XQ"][0],
        consumers=counts[queue][1],
    )
