"""A small pool of guarded daemon threads, started as tasks need them.

`concurrent.futures.ThreadPoolExecutor` joins its threads at interpreter exit, so a worker
inside a 30 s request would hold a stopped sync's exit for that long; and an exception in a
task only reaches whoever looks at its future. Here every task runs under the sync's
guard (`Stop.guard`), tasks queued after a stop are skipped, and the threads are daemons.
The queue holds at most what the write window holds, so it needs no bound of its own.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from destination_propexo.stop import Stop

Task = tuple[Callable[[], object], str]


class WorkerPool:
    """Runs submitted tasks on up to `size` guarded daemon threads, each started when a task
    finds no idle one (a pool sized for the busiest minute costs nothing in a quiet one)."""

    def __init__(self, stop: Stop, size: int, name: str) -> None:
        self._stop = stop
        self._size = size
        self._name = name
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        # Threads back from a task and not yet promised to a newer one.
        self._idle = 0

    def submit(self, task: Callable[[], object], what: str) -> None:
        with self._lock:
            start = self._idle == 0 and self._threads < self._size
            if start:
                self._threads += 1
                number = self._threads
            elif self._idle:
                self._idle -= 1
        self._tasks.put((task, what))
        if start:
            self._stop.start_thread(self._work, f"{self._name}-{number}")

    def close(self) -> None:
        """Let the threads finish what is queued (skipped once stopped) and end."""
        with self._lock:
            threads = self._threads
        for _ in range(threads):
            self._tasks.put(None)

    def _work(self) -> None:
        while (item := self._tasks.get()) is not None:
            task, what = item
            self._stop.guard(task, what)
            with self._lock:
                self._idle += 1
