"""A small pool of guarded daemon threads.

`concurrent.futures.ThreadPoolExecutor` joins its threads at interpreter exit, so a worker
inside a 30 s request would hold a stopped sync's exit for that long; and an exception in a
task only reaches whoever looks at its future. Here every task runs under the sync's
guard (`Stop.guard`), tasks queued after a stop are skipped, and the threads are daemons.
The queue holds at most what the write window holds, so it needs no bound of its own.
"""

from __future__ import annotations

import queue
from collections.abc import Callable

from destination_propexo.stop import Stop

Task = tuple[Callable[[], object], str]


class WorkerPool:
    """Runs submitted tasks on `size` guarded daemon threads."""

    def __init__(self, stop: Stop, size: int, name: str) -> None:
        self._stop = stop
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._threads = [
            stop.start_thread(self._work, f"{name}-{number}") for number in range(size)
        ]

    def submit(self, task: Callable[[], object], what: str) -> None:
        self._tasks.put((task, what))

    def close(self) -> None:
        """Let the threads finish what is queued (skipped once stopped) and end."""
        for _ in self._threads:
            self._tasks.put(None)

    def _work(self) -> None:
        while (item := self._tasks.get()) is not None:
            task, what = item
            self._stop.guard(task, what)
