"""How many requests may await an answer at once: Little's law on the rate and the answer time.

Paced at λ requests a second, each answered after W seconds, λ·W requests are on the wire
(Little's law). A fixed bound fits one contract and one latency only: 16 in flight fill
150 a minute with room to spare, but at 3,600 a minute, through Propexo's ~2 s slow-down
past 80 % of the minute, they send 7 a second of the 59 allowed. A bound far above λ·W
does not send faster either: the extra requests wait in the rate budget's queue, where a
feed read or a write-status poll then waits behind them. So the bound follows the budget's
rate (which the rate-limit headers may lower) and the answer time observed, with some
slack, within `max_requests_in_flight` when the user sets it.

The answer time is a moving average of answers, raised at once by what is still on the
wire: at the onset of a slow-down no slow answer has come back yet, but the requests out
there are already older than the average, and waiting for them to answer would leave the
budget unused for those seconds.

Requests that confirm work already done (feed reads, write-status polls) take the next free
place before creates: hundreds of create workers wait for places, and a read among them
would otherwise wait its turn for seconds while the jobs it would confirm hold their STATE
back and fill the write window.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from collections import deque
from collections.abc import Callable

from destination_propexo.stop import Stop

# Without a user's bound: enough for 6,000 requests a minute answered in 2.25 s.
MAX_IN_FLIGHT = 256
MIN_IN_FLIGHT = 2
# A quarter above λ·W absorbs jitter in the answer times; two more cover a request that has
# its answer but has not yet handed back its place.
SLACK = 1.25
SPARE = 2
# Before the first answer: a guess between Propexo's usual 0.25 s and its slowed ~2.25 s.
INITIAL_ANSWER_SECONDS = 1.0
# Weight of each new answer in the average: about the last ten answers count.
SMOOTHING = 0.1
# How often a request waiting for a place looks at the stop event and the bound.
RECHECK_SECONDS = 0.1
# The bound is worked out at most this often: hundreds of waiting requests re-check it.
BOUND_FRESH_SECONDS = 0.02


def in_flight_bound(rate_per_second: float, answer_seconds: float, cap: int) -> int:
    """Requests to allow in flight for `rate_per_second` answered in `answer_seconds`."""
    wanted = math.ceil(rate_per_second * answer_seconds * SLACK) + SPARE
    return max(1, min(cap, max(MIN_IN_FLIGHT, wanted)))


def answer_estimate(average: float, on_the_wire: list[float]) -> float:
    """The answer time to plan with: the running average, or what the requests still out
    say if more (their median age is half the answer time when sends are evenly paced)."""
    if not on_the_wire:
        return average
    return max(average, 2 * statistics.median(on_the_wire))


class InFlightLimit:
    """Places for requests awaiting an answer, as many as `in_flight_bound` allows now, handed
    out in the order asked for (the write window releases records in input order, so a
    create passed over again and again would hold the whole window up); thread-safe. `rate`
    gives the budget's requests per second."""

    def __init__(self, stop: Stop, rate: Callable[[], float], cap: int = MAX_IN_FLIGHT) -> None:
        self._stop = stop
        self._clock = stop.clock
        self._rate = rate
        self._cap = cap
        self._lock = threading.Lock()
        self._waiting_first: deque[threading.Event] = deque()
        self._waiting: deque[threading.Event] = deque()
        self._taken = 0
        self._average = INITIAL_ANSWER_SECONDS
        self._sent: dict[int, float] = {}
        self._tickets = itertools.count()
        self._bound_value = MIN_IN_FLIGHT
        self._bound_at = -math.inf

    @property
    def bound(self) -> int:
        with self._lock:
            return self._bound()

    def take(self, *, first: bool = False) -> int:
        """Wait for a place (SyncStopped once the sync stops); a ticket for `sent`/`give_back`.
        `first`: ahead of every request waiting without it."""
        admitted = threading.Event()
        with self._lock:
            (self._waiting_first if first else self._waiting).append(admitted)
            self._admit()
        try:
            while not admitted.wait(RECHECK_SECONDS):
                self._stop.check()
                with self._lock:  # the bound may have grown since
                    self._admit()
        except BaseException:
            with self._lock:
                if admitted.is_set():
                    self._taken -= 1
                    self._admit()
                else:
                    (self._waiting_first if first else self._waiting).remove(admitted)
            raise
        return next(self._tickets)

    def sent(self, ticket: int) -> None:
        """The request holding `ticket` leaves now (after its wait in the rate budget)."""
        with self._lock:
            self._sent[ticket] = self._clock.now()

    def give_back(self, ticket: int) -> None:
        """The request is answered (or failed, or never sent); its answer time is learnt."""
        with self._lock:
            self._taken -= 1
            started = self._sent.pop(ticket, None)
            if started is not None:
                answered = self._clock.now() - started
                self._average += SMOOTHING * (answered - self._average)
            self._admit()

    def _admit(self) -> None:
        """Hand free places to the longest waiting, the `first` lane before the other."""
        while self._waiting_first or self._waiting:
            if self._taken >= self._bound():
                return
            lane = self._waiting_first or self._waiting
            lane.popleft().set()
            self._taken += 1

    def _bound(self) -> int:
        now = self._clock.now()
        if now - self._bound_at >= BOUND_FRESH_SECONDS:
            ages = [now - started for started in self._sent.values()]
            estimate = answer_estimate(self._average, ages)
            self._bound_value = in_flight_bound(self._rate(), estimate, self._cap)
            self._bound_at = now
        return self._bound_value
