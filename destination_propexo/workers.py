"""A small pool of guarded daemon threads, started as tasks need them.

`concurrent.futures.ThreadPoolExecutor` joins its threads at interpreter exit, so a worker
inside a 30 s request would hold a stopped sync's exit for that long; and an exception in a
task only reaches whoever looks at its future. Here every task runs under the sync's
guard (`Stop.run_task`, which counts it while it runs, so a stop can await its request),
tasks still queued at a stop are skipped, and the threads are daemons.
The queue holds at most what the write window holds, so it needs no bound of its own.

A task that continues a record already under way (a repeat whose first row is now final, a
lead's next record in its turn) is submitted `first`: queued behind every record not yet
started, it would hold the window's head, and so every STATE, until they had all been sent.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from destination_propexo.stop import Stop

Task = tuple[Callable[[], object], str]
# An idle thread looks at the stop event this often.
IDLE_RECHECK_SECONDS = 0.5


class WorkerPool:
    """Runs submitted tasks on up to `size` guarded daemon threads, each started when a task
    finds no idle one (a pool sized for the busiest minute costs nothing in a quiet one)."""

    def __init__(self, stop: Stop, size: int, name: str) -> None:
        self._stop = stop
        self._size = size
        self._name = name
        self._tasks: deque[Task | None] = deque()
        self._changed = threading.Condition()
        self._threads = 0
        # Threads back from a task and not yet promised to a newer one.
        self._idle = 0

    def submit(self, task: Callable[[], object], what: str, *, first: bool = False) -> None:
        """Queue `task`; `first` puts it ahead of every task still waiting."""
        with self._changed:
            start = self._idle == 0 and self._threads < self._size
            if start:
                self._threads += 1
                number = self._threads
            elif self._idle:
                self._idle -= 1
            if first:
                self._tasks.appendleft((task, what))
            else:
                self._tasks.append((task, what))
            self._changed.notify()
        if start:
            self._stop.start_thread(self._work, f"{self._name}-{number}")

    def close(self) -> None:
        """Let the threads finish what is queued (skipped once stopped) and end."""
        with self._changed:
            self._tasks.extend([None] * self._threads)
            self._changed.notify_all()

    def _work(self) -> None:
        while (item := self._next()) is not None:
            task, what = item
            self._stop.run_task(task, what)
            with self._changed:
                self._idle += 1

    def _next(self) -> Task | None:
        with self._changed:
            while not self._tasks:
                if self._stop.stopped:
                    return None
                self._changed.wait(IDLE_RECHECK_SECONDS)
            return self._tasks.popleft()
