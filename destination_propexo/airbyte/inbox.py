"""The bounded hand-over of input messages from the reader thread to the pipeline.

`queue.Queue` wakes the waiting reader on every `get`, so once the queue is full the two
threads trade the GIL once per message; that hand-off cost more than parsing, mapping and
logging a record together. Here the reader puts a batch at a time (what one read of stdin
brought), the pipeline takes everything waiting in one call, and the reader, once the inbox
is full, sleeps until that happens: one hand-off per batch, with no added delay, since a
batch is put as soon as it is read.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Inbox(Generic[Item]):
    """Holds at most `capacity` items between one producer and one consumer."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._items: deque[Item] = deque()
        # Entered as the bare lock (a C call) rather than as the Condition (two Python
        # calls): a put is made for every message.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Who is waiting on `_changed`, so a hand-over wakes only a side that sleeps.
        self._putter_waits = False
        self._taker_waits = False

    def put(self, items: Sequence[Item], timeout: float) -> bool:
        """Add `items` (a batch, in order) once there is room, waiting up to `timeout`
        seconds for it; False if there was none. Room is the inbox holding fewer than
        `capacity` items: a batch is never split, so the inbox may hold `capacity` - 1 items
        plus one batch."""
        with self._lock:
            if len(self._items) >= self._capacity:
                self._putter_waits = True
                self._changed.wait(timeout)
                self._putter_waits = False
                if len(self._items) >= self._capacity:
                    return False
            self._items.extend(items)
            if self._taker_waits:
                self._changed.notify()
            return True

    def take_all(self, timeout: float) -> list[Item]:
        """Everything waiting, oldest first; waits up to `timeout` seconds when empty."""
        with self._lock:
            if not self._items:
                self._taker_waits = True
                self._changed.wait(timeout)
                self._taker_waits = False
            items = list(self._items)
            self._items.clear()
            if items and self._putter_waits:
                self._changed.notify()
            return items
