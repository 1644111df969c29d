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

Every wait here is a wait on the sync's stop event (`Stop.sleep`), so a stopped sync never
lets a paced request out. A 429's pause holds every request, including those that had
already reserved a later send time: each checks the pause again when its time comes.

A request that confirms jobs already queued (`acquire(first=True)`: a feed read, a poll)
takes the earliest send time reserved by a waiting create, which moves to the end of the
queue: the pace is unchanged, but the read does not wait behind every create in flight
(after a slow-down ends, that queue is seconds long, while jobs finish by the hundred).
`Retry-After` is parsed once (seconds or an HTTP date) and honoured up to
`RETRY_AFTER_CAP_SECONDS`; an API that asks for longer waits `LONG_WAITS_TO_GIVE_UP` times in
a row ends the sync with a transient error (Airbyte retries the attempt later) rather than
freezing it.

Reads that serve many waiting items at once (the write-logs feed confirms up to a page of
jobs, the id look-up names up to a page of bookings) are paced by one pure function,
`batched_read_wait`, each with its own `ReadBatch`: a read that serves one item where it
could serve a batch wastes budget, one held too long holds a STATE back.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from destination_propexo.errors import RateLimitedTooLong
from destination_propexo.stop import Stop

logger = logging.getLogger("destination_propexo")
# The largest rate-limit count header read as a number; beyond it, it is ignored.
MAX_HEADER_COUNT = 1_000_000_000

WINDOW_SECONDS = 60.0
# Pacing exactly at the limit lets latency jitter put one request too many into a server
# window now and then; 2 % headroom keeps 429s away at almost no cost in throughput.
HEADROOM = 0.98
# A spent minute resets within 60 s, at a moment the headers do not tell; a quarter window
# at a time finds it without hammering: at most four rounds of refused requests.
PAUSE_SECONDS = WINDOW_SECONDS / 4
# Propexo's limit is per minute: a longer Retry-After is not a rate window but an outage or
# a misbehaving proxy, and waiting it out would freeze a scheduled sync for hours.
RETRY_AFTER_CAP_SECONDS = WINDOW_SECONDS
LONG_WAITS_TO_GIVE_UP = 3


@dataclass
class BudgetStats:
    requests: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent
    or unreadable. Uncapped: the budget decides what to do with a long one."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # inf, nan and negative waits are no valid delta-seconds: read as absent.
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(eq=False)
class _Reservation:
    """A send time held by a waiting request; a confirming request may take it over."""

    slot: float


class RateBudget:
    """Paces requests to a per-minute limit; thread-safe."""

    def __init__(self, requests_per_minute: int, *, stop: Stop | None = None) -> None:
        self._configured = requests_per_minute
        self._limit = requests_per_minute
        self._stop = stop or Stop()
        self._clock = self._stop.clock
        self._lock = threading.Lock()
        self._next_slot = self._clock.now()
        self._paused_until = 0.0
        self._long_waits = 0
        self._warned_odd_header = False
        # Reservations of waiting requests that may be moved back, in send-time order.
        self._movable: deque[_Reservation] = deque()
        self.stats = BudgetStats()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def interval(self) -> float:
        return WINDOW_SECONDS / (self._limit * HEADROOM)

    def acquire(self, *, first: bool = False) -> None:
        """Block until this caller may send one request; SyncStopped once the sync stops.
        `first`: take the send time of the next waiting request that was not `first`."""
        with self._lock:
            self.stats.requests += 1
            mine = _Reservation(self._reserve())
            self._enqueue(mine, first)
        try:
            while True:
                self._stop.sleep_until(mine.slot)
                with self._lock:
                    now = self._clock.now()
                    if now < mine.slot:  # a confirming request took this send time
                        continue
                    if now >= self._paused_until:
                        return
                    # A 429 arrived while this request waited for its turn: queue again behind
                    # the pause, paced, rather than go out into the pause or in a burst after.
                    self._discard(mine)
                    mine.slot = self._reserve()
                    self._enqueue(mine, first)
        finally:
            with self._lock:
                self._discard(mine)

    def _enqueue(self, mine: _Reservation, first: bool) -> None:
        if not first:
            self._movable.append(mine)
            return
        now = self._clock.now()
        for index, waiting in enumerate(self._movable):
            if now < waiting.slot < mine.slot:
                # Swap send times: `waiting` now holds the latest one, so it goes last.
                mine.slot, waiting.slot = waiting.slot, mine.slot
                del self._movable[index]
                self._movable.append(waiting)
                return

    def _discard(self, mine: _Reservation) -> None:
        if mine in self._movable:
            self._movable.remove(mine)

    def _reserve(self) -> float:
        now = self._clock.now()
        slot = max(now, self._next_slot, self._paused_until)
        self._next_slot = slot + self.interval
        self.stats.waited_seconds += slot - now
        return slot

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from the `x-ratelimit-*` headers of an answer that was not a 429; a value
        that is no whole number >= 0 (inf, nan, negative, huge, text) is ignored, with one
        warning per sync."""
        limit = self._header_count(headers, "x-ratelimit-limit")
        remaining = self._header_count(headers, "x-ratelimit-remaining")
        with self._lock:
            self._long_waits = 0
            if limit is not None and 0 < limit < self._limit:
                self._limit = limit
            if remaining == 0:
                # The server's minute is spent (another client may share it). When it resets
                # is unknown, so wait as after a 429 rather than walk into 429s.
                self._pause(PAUSE_SECONDS)

    def _header_count(self, headers: Mapping[str, str], name: str) -> int | None:
        value = headers.get(name)
        if value is None:
            return None
        count = _header_count(value)
        if count is None:
            self.odd_header(name, value)
        return count

    def odd_header(self, name: str, value: str) -> None:
        """A rate-limit header that cannot be read: ignored, said once per sync."""
        with self._lock:
            if self._warned_odd_header:
                return
            self._warned_odd_header = True
        logger.warning(
            f"Propexo sent a rate-limit header that cannot be read ({name}: {value[:40]!r}); "
            "it is ignored (said once)"
        )

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429 arrived: pause every sender (for at most the cap), or give up on the API."""
        with self._lock:
            self.stats.rate_limited += 1
            if retry_after is not None and retry_after > RETRY_AFTER_CAP_SECONDS:
                self._long_waits += 1
                if self._long_waits >= LONG_WAITS_TO_GIVE_UP:
                    raise RateLimitedTooLong(
                        f"Propexo answered 429 asking to wait {retry_after:.0f} s "
                        f"{self._long_waits} times in a row, longer than the "
                        f"{RETRY_AFTER_CAP_SECONDS:.0f} s this connector waits; the sync stops "
                        "so that Airbyte retries it later. If this persists, check the rate "
                        "limit of your Propexo contract with Propexo support."
                    )
            else:
                self._long_waits = 0
            wait = PAUSE_SECONDS if retry_after is None else retry_after
            self._pause(min(wait, RETRY_AFTER_CAP_SECONDS))

    def _pause(self, seconds: float) -> None:
        until = self._clock.now() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self._next_slot = max(self._next_slot, until)


def _header_count(value: str) -> int | None:
    """A rate-limit count header as a whole number >= 0 (up to 10^9); None if it is not."""
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0 or number > MAX_HEADER_COUNT:
        return None
    return int(number)


@dataclass(frozen=True)
class ReadBatch:
    """How a read serving many waiting items at once is paced: it waits for `size` items,
    or until the oldest has waited as long as the budget takes to send `size` requests,
    never less than `min_hold` nor more than `max_hold` seconds."""

    size: int
    min_hold: float
    max_hold: float


def batched_read_wait(
    batch: ReadBatch, waiting: int, oldest_for: float, coming: int, request_interval: float
) -> float:
    """Seconds until the next read; 0 means read now, inf that nothing waits (pure).

    `waiting`: items the read would serve now; `oldest_for`: seconds the oldest of them has
    waited; `coming`: items still on their way (writes not answered, jobs not yet due), 0
    when waiting longer could only hold back the STATE behind them; `request_interval`:
    seconds per request of the rate budget (`RateBudget.interval`)."""
    if waiting <= 0:
        return math.inf
    if waiting >= batch.size or coming <= 0:
        return 0.0
    hold = min(batch.max_hold, max(batch.min_hold, batch.size * request_interval))
    return max(0.0, hold - oldest_for)
