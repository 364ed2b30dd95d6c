"""A pacer shared by the batch's worker threads: calls start evenly spaced, never faster than the configured rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Providers count requests in windows that are not aligned with ours, and a request
# leaves our process a few milliseconds after its slot: aiming this far under the
# configured rate keeps jitter from ever putting N+1 requests in the provider's minute.
HEADROOM = 0.97


class Pacer:
    """Hands out start slots `interval` seconds apart (no bursts), to any number of threads.

    It keeps what it decided (`slots`, `first_slot`, `last_slot`, `min_spacing`), so a benchmark or a test can
    check the pace the code chose, which a loaded machine cannot change, rather than the pace it observed.
    """

    def __init__(
        self,
        per_minute: int,
        monotonic: Callable[[], float] = time.monotonic,
        headroom: float = HEADROOM,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.interval = 60.0 / (per_minute * headroom)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._next_slot: float | None = None
        self.slots = 0
        self.first_slot: float | None = None
        self.last_slot: float | None = None
        self.min_spacing: float | None = None  # the smallest gap between two consecutive slots handed out

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for this caller's slot; False if `stop` is set meanwhile (the slot stays used)."""
        with self._lock:
            now = self._monotonic()
            slot = now if self._next_slot is None else max(now, self._next_slot)
            self._next_slot = slot + self.interval
            if self.last_slot is None:
                self.first_slot = slot
            else:
                gap = slot - self.last_slot
                self.min_spacing = gap if self.min_spacing is None else min(self.min_spacing, gap)
            self.last_slot = slot
            self.slots += 1
        delay = slot - self._monotonic()
        if delay > 0:
            if stop is not None:
                if stop.wait(delay):
                    return False
            else:
                time.sleep(delay)
        return not (stop is not None and stop.is_set())

    def decided_per_minute(self) -> float | None:
        """The rate the slots handed out so far amount to (None before two slots)."""
        if self.slots < 2 or self.first_slot is None or self.last_slot is None or self.last_slot <= self.first_slot:
            return None
        return (self.slots - 1) * 60.0 / (self.last_slot - self.first_slot)
