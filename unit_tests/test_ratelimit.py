"""The shared rate budget, on a fake clock: pacing, header refinement, pauses after 429s."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from destination_propexo.errors import RateLimitedTooLong
from destination_propexo.propexo.ratelimit import (
    HEADROOM,
    PAUSE_SECONDS,
    RETRY_AFTER_CAP_SECONDS,
    RateBudget,
    parse_retry_after,
)
from destination_propexo.stop import Stop
from unit_tests.support import FakeClock


def budget(per_minute: int) -> tuple[RateBudget, FakeClock]:
    clock = FakeClock()
    return RateBudget(per_minute, stop=Stop(clock)), clock


def send_times(rate: RateBudget, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        rate.acquire()
        times.append(clock.time)
    return times


def test_requests_are_paced_evenly_just_below_the_limit() -> None:
    rate, clock = budget(150)
    times = send_times(rate, clock, 5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([60 / (150 * HEADROOM)] * 4)


def test_a_full_minute_of_demand_stays_within_the_limit() -> None:
    rate, clock = budget(3600)
    times = send_times(rate, clock, 4000)
    in_first_minute = [t for t in times if t < times[0] + 60]
    assert 0.97 * 3600 <= len(in_first_minute) <= 3600


def test_the_first_request_and_one_after_a_quiet_spell_go_at_once() -> None:
    rate, clock = budget(60)
    rate.acquire()
    clock.time += 30
    rate.acquire()
    assert clock.waits == []


def test_a_lower_limit_in_the_headers_slows_the_pace() -> None:
    rate, clock = budget(150)
    rate.observe({"x-ratelimit-limit": "60", "x-ratelimit-remaining": "59"})
    assert rate.limit == 60
    times = send_times(rate, clock, 3)
    assert times[2] - times[1] == pytest.approx(60 / (60 * HEADROOM))


@pytest.mark.parametrize("header", ["600", "0", "-5", "not a number", ""])
def test_the_headers_never_raise_the_configured_limit_nor_break_it(header: str) -> None:
    rate, _ = budget(150)
    rate.observe({"x-ratelimit-limit": header})
    assert rate.limit == 150


def test_no_remaining_requests_pauses_every_sender() -> None:
    rate, clock = budget(150)
    rate.acquire()
    rate.observe({"x-ratelimit-limit": "150", "x-ratelimit-remaining": "0"})
    start = clock.time
    rate.acquire()
    assert clock.time - start == pytest.approx(PAUSE_SECONDS)


def test_a_429_without_retry_after_pauses_for_a_quarter_minute() -> None:
    rate, clock = budget(150)
    rate.acquire()
    rate.rate_limited(None)
    start = clock.time
    rate.acquire()
    assert clock.time - start == pytest.approx(PAUSE_SECONDS)
    assert rate.stats.rate_limited == 1


def test_a_429_with_retry_after_pauses_that_long() -> None:
    rate, clock = budget(150)
    rate.acquire()
    rate.rate_limited(42.0)
    start = clock.time
    rate.acquire()
    assert clock.time - start == pytest.approx(42.0)


def test_after_a_pause_requests_are_paced_again_not_sent_in_a_burst() -> None:
    rate, clock = budget(150)
    rate.acquire()
    rate.rate_limited(5.0)
    times = send_times(rate, clock, 3)
    assert times[2] - times[1] == pytest.approx(60 / (150 * HEADROOM))


def test_a_later_shorter_retry_after_does_not_cut_a_pause_short() -> None:
    rate, clock = budget(150)
    rate.acquire()
    rate.rate_limited(30.0)
    rate.rate_limited(1.0)
    start = clock.time
    rate.acquire()
    assert clock.time - start == pytest.approx(30.0)


def test_threads_share_one_pace() -> None:
    rate = RateBudget(6000)  # the real clock: one slot every ~10 ms
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [rate.acquire() for _ in range(5)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 20 requests from 4 threads take 19 slots, as from one thread: never a burst.
    assert rate.stats.requests == 20
    assert time.monotonic() - started >= 19 * 60 / (6000 * HEADROOM) * 0.95


class PausingClock(FakeClock):
    """A fake clock on which a 429 arrives while the first request waits for its turn."""

    def __init__(self, on_first_wait: Callable[[], None]) -> None:
        super().__init__()
        self._on_first_wait: Callable[[], None] | None = on_first_wait

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if self._on_first_wait is not None:
            hook, self._on_first_wait = self._on_first_wait, None
            hook()
        return super().wait(event, seconds)


def test_a_429_pause_holds_a_request_that_had_already_reserved_its_turn() -> None:
    rate: RateBudget | None = None
    clock = PausingClock(lambda: rate.rate_limited(30.0) if rate else None)
    rate = RateBudget(6, stop=Stop(clock))  # one request every ~10 s
    rate.acquire()
    start = clock.time
    rate.acquire()  # reserved at +10 s; the 429 arrives while it waits
    assert clock.time - start >= 30.0


def test_a_day_long_retry_after_pauses_for_the_cap_only() -> None:
    rate, clock = budget(150)
    rate.acquire()
    rate.rate_limited(86_400.0)
    start = clock.time
    rate.acquire()
    assert clock.time - start == pytest.approx(RETRY_AFTER_CAP_SECONDS)


def test_an_api_asking_again_and_again_for_waits_beyond_the_cap_ends_the_sync() -> None:
    rate, _ = budget(150)
    rate.rate_limited(86_400.0)
    rate.rate_limited(86_400.0)
    with pytest.raises(RateLimitedTooLong, match="86400 s 3 times"):
        rate.rate_limited(86_400.0)


def test_an_answer_between_long_waits_starts_the_count_again() -> None:
    rate, _ = budget(150)
    for _ in range(5):
        rate.rate_limited(86_400.0)
        rate.rate_limited(86_400.0)
        rate.observe({})
    assert rate.stats.rate_limited == 10


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("-3", None),
        ("Fri, 27 Nov 2026 14:01:30 GMT", 90.0),
        ("Fri, 27 Nov 2026 13:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == seconds


def test_a_confirming_request_takes_the_next_send_time_of_a_waiting_create() -> None:
    rate = RateBudget(600)  # the real clock: one slot every ~0.1 s
    interval = 60 / (600 * HEADROOM)
    rate.acquire()  # the pace starts now
    creates = [threading.Thread(target=rate.acquire) for _ in range(5)]
    for create in creates:
        create.start()
    while rate.stats.requests < 6:  # every create holds a send time, up to 0.5 s ahead
        time.sleep(0.001)
    started = time.monotonic()
    rate.acquire(first=True)
    # It went out at the first create's time, not after all five.
    assert time.monotonic() - started < 2 * interval
    for create in creates:
        create.join()
    # And the pace held: seven requests took six intervals.
    assert time.monotonic() - started >= 5 * interval * 0.95


ODD_VALUES = ["inf", "-inf", "nan", "NaN", "-5", "1e400", "-1e400", "abc", "12abc", "  "]


def test_rate_limit_headers_of_any_odd_value_are_ignored_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rate, clock = budget(150)
    for value in ODD_VALUES:
        rate.observe({"x-ratelimit-limit": value, "x-ratelimit-remaining": value})
    assert rate.limit == 150
    before = clock.time
    send_times(rate, clock, 2)
    assert clock.time - before < 1.0, "an odd remaining count paused the sync"
    warnings = [r for r in caplog.records if "rate-limit header" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-3", "1e400", "abc"])
def test_an_odd_retry_after_is_read_as_absent(value: str) -> None:
    assert parse_retry_after(value, datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC)) is None
