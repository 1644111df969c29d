"""The one request budget shared by every call the connector makes.

Propexo counts requests per minute per customer, slows answers past 80 % of the minute's
budget and answers 429 past 100 %. Sending the minute's budget in a burst would hit both,
so requests are paced evenly: one every `60 / limit` seconds. The limit starts at the
configured `requests_per_minute`, is lowered (never raised) by the `x-ratelimit-limit`
header, and a 429 or an exhausted `x-ratelimit-remaining` pauses everyone until the window
has passed.

Hand-written (some twenty lines, unit-tested with a fake clock) rather than pyrate-limiter,
which the CDK already installs: pyrate-limiter 3.1 paces with `Rate(1, interval)` and a
blocking `max_delay`, but measured with 8 threads it let 4.25 requests a second through a
150-a-minute pace (429s) and only 17 a second through a 3,600-a-minute one (its wait adds
50 ms while holding its lock); it has no pause for a 429's Retry-After; and a rate learnt
from a header would mean swapping its bucket mid-sync. `limits` only answers yes or no for
a window, which allows the burst that triggers Propexo's slow-down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

WINDOW_SECONDS = 60.0
# Pacing exactly at the limit lets latency jitter put one request too many into a server
# window now and then; 2 % headroom keeps 429s away at almost no cost in throughput.
HEADROOM = 0.98
# A spent minute resets within 60 s, at a moment the headers do not tell; a quarter window
# at a time finds it without hammering: at most four rounds of refused requests.
PAUSE_SECONDS = WINDOW_SECONDS / 4


@dataclass
class BudgetStats:
    requests: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0


class RateBudget:
    """Paces requests to a per-minute limit; thread-safe."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._configured = requests_per_minute
        self._limit = requests_per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = clock()
        self._paused_until = 0.0
        self.stats = BudgetStats()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def interval(self) -> float:
        return WINDOW_SECONDS / (self._limit * HEADROOM)

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot, self._paused_until)
            self._next_slot = slot + self.interval
            self.stats.requests += 1
            wait = slot - now
            self.stats.waited_seconds += wait
        if wait > 0:
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's `x-ratelimit-*` headers."""
        limit = _header_int(headers, "x-ratelimit-limit")
        remaining = _header_int(headers, "x-ratelimit-remaining")
        with self._lock:
            if limit is not None and 0 < limit < self._limit:
                self._limit = limit
            if remaining == 0:
                # The server's minute is spent (another client may share it). When it resets
                # is unknown, so wait as after a 429 rather than walk into 429s.
                self._pause(PAUSE_SECONDS)

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429 arrived: pause every sender until the window resets."""
        with self._lock:
            self.stats.rate_limited += 1
            self._pause(retry_after if retry_after is not None else PAUSE_SECONDS)

    def _pause(self, seconds: float) -> None:
        until = self._clock() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self._next_slot = max(self._next_slot, until)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
