"""The in-flight bound: Little's law on the budget's rate and the answer time observed, within
the user's cap; and the places it hands out, on a fake clock."""

from __future__ import annotations

import math
import threading
import time

import pytest

from destination_propexo.propexo.inflight import (
    INITIAL_ANSWER_SECONDS,
    MAX_IN_FLIGHT,
    InFlightLimit,
    answer_estimate,
    in_flight_bound,
)
from destination_propexo.stop import Stop
from unit_tests.support import FakeClock

PACE_150 = 150 * 0.98 / 60  # requests a second the budget sends at 150 a minute
PACE_3600 = 3600 * 0.98 / 60
PACE_6000 = 6000 * 0.98 / 60
FAST, SLOWED = 0.25, 2.25  # Propexo's answer time, and with the slow-down past 80 %


@pytest.mark.parametrize(
    ("pace", "answer"),
    [(PACE_150, FAST), (PACE_150, SLOWED), (PACE_3600, FAST), (PACE_3600, SLOWED)],
)
def test_the_bound_lets_the_budgets_pace_through_at_the_answer_time(
    pace: float, answer: float
) -> None:
    bound = in_flight_bound(pace, answer, MAX_IN_FLIGHT)
    # Requests a second that `bound` places carry when each is answered after `answer` s.
    assert bound / answer >= pace


def test_the_bound_carries_6000_a_minute_through_the_slow_down_within_the_default_cap() -> None:
    assert MAX_IN_FLIGHT / SLOWED >= PACE_6000


@pytest.mark.parametrize(("pace", "answer"), [(PACE_150, FAST), (PACE_150, SLOWED)])
def test_at_the_standard_contract_the_bound_stays_small(pace: float, answer: float) -> None:
    # Far more would only queue in the rate budget, ahead of feed reads and polls.
    assert in_flight_bound(pace, answer, MAX_IN_FLIGHT) <= 10


def test_the_users_cap_wins_and_one_means_one() -> None:
    assert in_flight_bound(PACE_3600, SLOWED, 16) == 16
    assert in_flight_bound(PACE_3600, SLOWED, 1) == 1


def test_the_estimate_is_the_average_unless_the_requests_out_are_older() -> None:
    assert answer_estimate(0.25, []) == 0.25
    assert answer_estimate(0.25, [0.1, 0.2]) == pytest.approx(0.3)
    # The slow-down began: what is on the wire has been out longer than answers took.
    assert answer_estimate(0.25, [0.4, 1.0, 1.5]) == pytest.approx(2.0)
    # One hung request among many does not move the median.
    assert answer_estimate(0.25, [0.05, 0.1, 0.1, 0.2, 30.0]) == pytest.approx(0.25)


def test_answers_teach_the_bound_both_ways() -> None:
    clock = FakeClock()
    limit = InFlightLimit(Stop(clock), lambda: PACE_3600)
    assert limit.bound == in_flight_bound(PACE_3600, INITIAL_ANSWER_SECONDS, MAX_IN_FLIGHT)

    def answer_many(seconds: float) -> None:
        for _ in range(60):
            ticket = limit.take()
            limit.sent(ticket)
            clock.time += seconds
            limit.give_back(ticket)

    answer_many(SLOWED)
    slowed = limit.bound
    assert slowed >= math.ceil(PACE_3600 * SLOWED)
    answer_many(FAST)
    assert limit.bound < slowed / 4


def test_requests_still_out_raise_the_bound_before_any_slow_answer_arrives() -> None:
    clock = FakeClock()
    limit = InFlightLimit(Stop(clock), lambda: PACE_3600)
    before = limit.bound
    for _ in range(10):
        limit.sent(limit.take())
        clock.time += 0.2  # sent evenly, none answered yet
    assert limit.bound > before


def test_places_go_in_the_order_asked_for_confirming_requests_first() -> None:
    limit = InFlightLimit(Stop(FakeClock()), lambda: PACE_150, cap=1)
    held = limit.take()
    admitted: list[str] = []

    def take(name: str, first: bool = False) -> threading.Thread:
        def body() -> None:
            ticket = limit.take(first=first)
            admitted.append(name)
            limit.give_back(ticket)

        thread = threading.Thread(target=body)
        lane = limit._waiting_first if first else limit._waiting
        queued = len(lane) + 1
        thread.start()
        while len(lane) < queued:  # in the queue before the next one asks
            time.sleep(0.001)
        return thread

    threads = [take("create 1"), take("create 2"), take("feed read", first=True)]
    limit.give_back(held)
    for thread in threads:
        thread.join()
    assert admitted == ["feed read", "create 1", "create 2"]
