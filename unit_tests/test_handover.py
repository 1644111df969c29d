"""The reader-to-pipeline inbox and the emitter's batched outcome lines."""

from __future__ import annotations

import io
import threading

import orjson
import pytest

from destination_propexo.airbyte.inbox import Inbox
from destination_propexo.airbyte.protocol import Emitter


def test_the_inbox_hands_over_everything_waiting_in_order() -> None:
    inbox: Inbox[int] = Inbox(5)
    for number in range(3):
        assert inbox.put([number], timeout=0)
    assert inbox.take_all(timeout=0) == [0, 1, 2]
    assert inbox.take_all(timeout=0) == []


def test_a_full_inbox_refuses_until_the_consumer_takes() -> None:
    inbox: Inbox[int] = Inbox(2)
    assert inbox.put([1], timeout=0) and inbox.put([2], timeout=0)
    assert not inbox.put([3], timeout=0.01)
    inbox.take_all(timeout=0)
    assert inbox.put([3], timeout=0)


def test_a_batch_is_put_whole_once_there_is_room_and_counts_toward_the_capacity() -> None:
    # What one read of stdin brought goes in as one batch, never split: the inbox then holds
    # at most capacity - 1 items plus one batch, and takes nothing more until it is emptied.
    inbox: Inbox[int] = Inbox(2)
    assert inbox.put([1], timeout=0)
    assert inbox.put([2, 3, 4], timeout=0)
    assert not inbox.put([5], timeout=0.01)
    assert inbox.take_all(timeout=0) == [1, 2, 3, 4]
    assert inbox.put([5, 6], timeout=0)


def test_a_waiting_reader_resumes_when_the_consumer_takes() -> None:
    inbox: Inbox[int] = Inbox(2)
    received: list[int] = []

    def produce() -> None:
        for number in range(100):
            while not inbox.put([number], timeout=1):
                continue

    producer = threading.Thread(target=produce)
    producer.start()
    while len(received) < 100:
        received += inbox.take_all(timeout=1)
    producer.join()
    assert received == list(range(100))


def test_an_inbox_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Inbox(0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(out: io.BytesIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_batched_lines_wait_for_the_next_state_and_precede_it() -> None:
    out, clock = io.BytesIO(), Clock()
    emitter = Emitter(out, clock=clock)
    emitter.log("WARN", "record outcome: 1", batch=True)
    emitter.log("WARN", "record outcome: 2", batch=True)
    assert out.getvalue() == b""
    emitter.state({"type": "LEGACY", "data": {}}, accepted=0, rejected=2)
    assert [m["type"] for m in lines(out)] == ["LOG", "LOG", "STATE"]


def test_batched_lines_leave_after_a_second_at_most() -> None:
    out, clock = io.BytesIO(), Clock()
    emitter = Emitter(out, clock=clock)
    emitter.log("INFO", "record outcome: 1", batch=True)
    clock.now += Emitter.BATCH_SECONDS
    emitter.log("INFO", "record outcome: 2", batch=True)
    assert len(lines(out)) == 2


def test_batched_lines_leave_once_the_buffer_is_full() -> None:
    out, clock = io.BytesIO(), Clock()
    emitter = Emitter(out, clock=clock)
    for _ in range(Emitter.BATCH_BYTES // 1000):
        emitter.log("INFO", "record outcome: " + "x" * 1000, batch=True)
    written = len(out.getvalue())
    assert written >= Emitter.BATCH_BYTES
    assert out.getvalue().endswith(b"\n")


def test_flush_writes_what_is_left() -> None:
    out = io.BytesIO()
    emitter = Emitter(out)
    emitter.log("INFO", "record outcome: 1", batch=True)
    emitter.flush()
    assert len(lines(out)) == 1
