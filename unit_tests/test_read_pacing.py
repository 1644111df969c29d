"""The one pacing of reads that serve many waiting items at once (`batched_read_wait`): the
write-logs feed (jobs due) and the appointment-id look-up (bookings waiting for their id),
each with its own `ReadBatch`. Driven by a fake clock: no test sleeps."""

from __future__ import annotations

import math

import pytest

from destination_propexo.propexo.ratelimit import ReadBatch, batched_read_wait
from destination_propexo.sync.appointment_ids import ID_READS
from destination_propexo.sync.feed import FEED_READS
from unit_tests.support import FakeClock

INTERVAL_150 = 60 / (150 * 0.98)  # the budget's pace at 150 a minute
INTERVAL_3600 = 60 / (3600 * 0.98)
BATCHES = pytest.mark.parametrize("batch", [FEED_READS, ID_READS], ids=["feed", "ids"])


@BATCHES
def test_nothing_waiting_means_no_read(batch: ReadBatch) -> None:
    assert batched_read_wait(batch, 0, 5.0, 10, INTERVAL_150) == math.inf
    assert batched_read_wait(batch, -1, 0.0, 0, INTERVAL_150) == math.inf


@BATCHES
def test_a_full_batch_or_nothing_more_coming_reads_at_once(batch: ReadBatch) -> None:
    assert batched_read_wait(batch, batch.size, 0.0, 50, INTERVAL_150) == 0.0
    assert batched_read_wait(batch, batch.size + 7, 0.0, 50, INTERVAL_3600) == 0.0
    # Nothing more on its way: waiting would only hold the STATE back.
    assert batched_read_wait(batch, 1, 0.0, 0, INTERVAL_150) == 0.0


@BATCHES
def test_with_more_coming_a_read_waits_as_long_as_the_budget_takes_to_send_a_batch(
    batch: ReadBatch,
) -> None:
    fast = batch.size * INTERVAL_3600
    assert batch.min_hold < fast < batch.max_hold
    assert batched_read_wait(batch, 3, 0.0, 4, INTERVAL_3600) == pytest.approx(fast)
    assert batched_read_wait(batch, 3, 0.2, 4, INTERVAL_3600) == pytest.approx(fast - 0.2)
    # At most max_hold at a slow pace, at least min_hold at a very fast one,
    assert batched_read_wait(batch, 3, 0.0, 4, INTERVAL_150) == batch.max_hold
    assert batched_read_wait(batch, 3, 4.0, 4, INTERVAL_150) == pytest.approx(batch.max_hold - 4)
    assert batched_read_wait(batch, 3, 0.0, 4, 0.0001) == batch.min_hold
    # and never longer than the oldest has already waited.
    assert batched_read_wait(batch, 3, batch.max_hold + 1, 4, INTERVAL_150) == 0.0


def reads_over_time(
    batch: ReadBatch, *, arrivals: list[float], interval: float, clock: FakeClock
) -> list[tuple[float, int]]:
    """Items arriving at the (fake) times `arrivals` are read as `batched_read_wait` says:
    each read's time and how many items it served. The clock moves only to the next arrival
    or the read's due time, whichever is first, as a scheduler waiting on both would."""
    pending = sorted(arrivals)
    waiting: list[float] = []
    reads: list[tuple[float, int]] = []
    while pending or waiting:
        while pending and pending[0] <= clock.now():
            waiting.append(pending.pop(0))
        oldest_for = clock.now() - waiting[0] if waiting else 0.0
        wait = batched_read_wait(batch, len(waiting), oldest_for, len(pending), interval)
        if wait <= 0:
            reads.append((clock.now(), len(waiting)))
            waiting = []
            continue
        next_arrival = pending[0] - clock.now() if pending else math.inf
        clock.time += min(wait, next_arrival)
    return reads


@BATCHES
def test_a_trickle_is_read_once_per_hold_and_the_last_items_at_once(batch: ReadBatch) -> None:
    clock = FakeClock(start=0.0)
    start = clock.now()
    # One item a second at a slow budget: each read waits the whole max_hold for company.
    count = int(batch.max_hold) * 3
    arrivals = [start + n for n in range(count)]
    reads = reads_over_time(batch, arrivals=arrivals, interval=INTERVAL_150, clock=clock)
    assert sum(served for _, served in reads) == count
    hold = int(batch.max_hold)
    # Every read but the last goes exactly when its oldest item has waited max_hold.
    assert [(at, served) for at, served in reads[:-1]] == [
        (start + n * (hold + 1) + hold, hold + 1) for n in range(len(reads) - 1)
    ]
    # The last item is read the moment it arrives: nothing else is coming.
    assert reads[-1][0] == arrivals[-1]


@BATCHES
def test_a_flood_is_read_a_full_batch_at_a_time(batch: ReadBatch) -> None:
    clock = FakeClock(start=0.0)
    # Ten items a millisecond: a batch fills long before any hold passes.
    arrivals = [n / 10_000 for n in range(batch.size * 4)]
    reads = reads_over_time(batch, arrivals=arrivals, interval=INTERVAL_3600, clock=clock)
    assert [served for _, served in reads] == [batch.size] * 4
    assert all(at - arrivals[n * batch.size] < batch.min_hold for n, (at, _) in enumerate(reads))


@pytest.mark.parametrize("per_minute", [150, 600, 3600, 6000])
def test_from_the_standard_contract_up_feed_reads_take_under_5_percent_of_the_budget(
    per_minute: int,
) -> None:
    interval = 60 / (per_minute * 0.98)
    hold = batched_read_wait(FEED_READS, 1, 0.0, 1, interval)
    # While creates flow, at most one read per hold (or per batch of due jobs, sooner).
    assert interval / hold <= 0.05
