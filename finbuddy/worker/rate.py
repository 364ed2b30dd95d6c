"""One AI request rate for every worker on every machine: evenly spaced start slots handed out by Redis.

The idea of daemon/pacing.py's Pacer, made global: a Lua script keeps the next free slot in one Redis key and
hands slots out `interval` apart, on Redis's clock (one clock for every machine). A slot is only handed out when
it is near (within `horizon`): a caller further back in line is told when to ask again instead, so no worker
holds a slot for minutes, a stop request never strands a far slot, and a worker that dies loses at most one.
Slots are spaced for HEADROOM (95 %) of ai.requests_per_minute. A request leaves some time after its slot (the
claim, the quota reservation and the prompt's queries come first), and that time varies most on a loaded worker
machine: at 97 % (daemon/pacing.py's in-process headroom), 4 processes of 8 threads on 2 busy cores let the
server see 607 requests in one 60 s window of a 600 cap (benchmarks/phase2.py); at 95 % a window takes 3 s of
such jitter before it sees one too many. The prototype had measured 607-621 in 60 s through a bucket limiter set
to 600: hence even spacing, and a cap a few percent under the provider's.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from typing import Any

from finbuddy.config import mask_url
from finbuddy.errors import QueueError

# KEYS[1]: the next free slot (microseconds on Redis's clock); KEYS[2]: slots handed out (for status and
# benchmarks). ARGV[1]: interval, ARGV[2]: horizon (microseconds). Returns {1, wait, slot} for the slot `slot`,
# `wait` µs from now, or {0, later, 0}: ask again in `later` µs. Lua numbers are doubles: µs since 1970
# (~1.8e15) are exact, and '%.0f' writes them back without an exponent.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
if slot - now > horizon then
  return {0, slot - now - horizon, 0}
end
local free = slot + interval
redis.call('SET', KEYS[1], string.format('%.0f', free), 'PX', math.floor((free - now) / 1000) + 60000)
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 172800000)
return {1, slot - now, slot}
"""

HEADROOM = 0.95

# Redis answers in well under a millisecond; a second means it is down or hung.
REDIS_TIMEOUT_S = 1.0


class GlobalRate:
    """Start slots at most `per_minute` × HEADROOM a minute, shared by every process using the same Redis `key`."""

    def __init__(self, url: str, key: str, per_minute: int, headroom: float = HEADROOM) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.key = key
        self.per_minute = per_minute
        self.interval_us = int(60_000_000 / (per_minute * headroom)) + 1  # rounded up: never faster
        # Near enough to hand out: a second's worth of slots, and at least two (a slow rate's next two).
        self.horizon_us = max(2 * self.interval_us, 1_000_000)
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(_SCRIPT)
        self._lock = threading.Lock()
        self.granted = 0  # slots this process was handed (its share of the decisions)
        self.abandoned = 0  # slots handed out but not used: a stop came while waiting for them
        # The latest slots handed to this process (µs on Redis's clock): what the limiter decided, which no load on
        # the machine changes (tests and benchmarks check their spacing across processes).
        self.slots: deque[int] = deque(maxlen=10_000)

    @property
    def interval(self) -> float:
        """Seconds between two slots."""
        return self.interval_us / 1_000_000

    def _ask(self, horizon_us: int) -> tuple[bool, float, int]:
        from redis.exceptions import RedisError

        try:
            granted, micros, slot = self._script(
                keys=[f"{self.key}:next", f"{self.key}:granted"], args=[self.interval_us, horizon_us]
            )
        except RedisError as exc:
            raise QueueError(
                f"the global AI rate's Redis at {mask_url(self.url)} did not answer ({type(exc).__name__}: {exc}); "
                "no AI call starts without a slot"
            ) from None
        return bool(granted), int(micros) / 1_000_000, int(slot)

    def acquire(self, stop: threading.Event, deadline: float | None = None) -> bool:
        """Wait for this caller's slot. False, without a call started, when `stop` is set or the slot would come
        after `deadline` (time.monotonic()); QueueError when Redis does not answer."""
        while True:
            if stop.is_set():
                return False
            horizon = self.horizon_us
            if deadline is not None:  # never take a slot this caller would not use in time
                horizon = max(0, min(horizon, int((deadline - time.monotonic()) * 1_000_000)))
            granted, seconds, slot = self._ask(horizon)
            if granted:
                with self._lock:
                    self.granted += 1
                    self.slots.append(slot)
                if seconds > 0 and stop.wait(seconds):
                    with self._lock:
                        self.abandoned += 1
                    return False
                return True
            # Further back in line: ask again when the horizon reaches us, spread out so waiting callers do not
            # all ask at once.
            pause = seconds + random.uniform(0.0, min(self.interval, 1.0))
            if deadline is not None and time.monotonic() + pause > deadline:
                return False
            if stop.wait(pause):
                return False

    def granted_total(self) -> int | None:
        """Slots handed out to every worker within the last two days of activity (None: not known)."""
        from redis.exceptions import RedisError

        try:
            value: Any = self._client.get(f"{self.key}:granted")
        except RedisError:
            return None
        return int(value) if value is not None else 0

    def close(self) -> None:
        self._client.close()
