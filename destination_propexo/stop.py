"""The sync's one stop event, the clock every wait reads, and the guard around every worker.

Stop rule: once `stop()` is called (a refused token, a broken input line, an outage, a bug
in a worker, too many rejections, SIGTERM), every wait in the connector (rate budget,
back-off, read-back settle, Retry-After pause, the pipeline's own waits) wakes at once and
raises `SyncStopped`, and no request starts: the client checks the event after its budget
wait, right before sending, and no queued task starts. A request already on the wire is
awaited: the tasks running it (`run_task`) are counted, and `wait_for_tasks` lets the
pipeline wait for them (up to the request time-out) so their outcomes are recorded before
the TRACE. Outcome callbacks still run after a stop (`guarded`): an answer that came is
never thrown away.

Worker guard: every thread the connector starts runs its body through `guard`. An
expected stop ends the body quietly; any other exception stops the sync with that error,
so no record is ever left waiting for an outcome that will not come.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from destination_propexo.errors import SyncStopped

Result = TypeVar("Result")


class Clock(Protocol):
    """Time as the connector's waits see it (a fake one in unit tests)."""

    def now(self) -> float: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` for `event`; True if it is set."""
        ...


class SystemClock:
    """Monotonic time and real waits."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class Stop:
    """The stop event of one sync, with the error that set it; thread-safe."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        # Tasks running now (a create, a poll...): what a stop waits for before its TRACE.
        self._tasks = 0
        self._tasks_done = threading.Condition()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()

    @property
    def error(self) -> BaseException | None:
        """The first error that stopped the sync."""
        return self._error

    def stop(self, error: BaseException) -> None:
        """Stop the sync; the first error is the one reported."""
        with self._lock:
            if self._error is None:
                self._error = error
        self._event.set()

    def check(self) -> None:
        """Raise SyncStopped if the sync is stopping (called before every request)."""
        if self._event.is_set():
            raise SyncStopped("the sync stopped")

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or raise SyncStopped as soon as the sync stops."""
        self.check()
        if seconds > 0 and self.clock.wait(self._event, seconds):
            raise SyncStopped("the sync stopped")

    def sleep_until(self, deadline: float) -> None:
        self.sleep(deadline - self.clock.now())

    def wait_for(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` for `event` (real time); False if it is not set by then.

        Used for in-process hand-offs (a record's outcome, a free request slot), whose waits
        are short and re-checked, so a stop is seen within `seconds`."""
        self.check()
        return event.wait(seconds)

    def run_task(self, body: Callable[[], object], what: str) -> None:
        """Run one task under the guard, counted while it runs; skipped once stopped (it
        would start something new)."""
        with self._tasks_done:
            if self._event.is_set():
                return
            self._tasks += 1
        try:
            self.guard(body, what, after_stop=True)
        finally:
            with self._tasks_done:
                self._tasks -= 1
                self._tasks_done.notify_all()

    def wait_for_tasks(self, seconds: float) -> bool:
        """After a stop: wait (real time) up to `seconds` for running tasks to end; True if
        they all did. Their requests on the wire get their answers or time out meanwhile."""
        deadline = time.monotonic() + seconds
        with self._tasks_done:
            while self._tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._tasks_done.wait(left)
        return True

    def guard(self, body: Callable[[], object], what: str, *, after_stop: bool = False) -> None:
        """Run one worker body; an error stops the sync instead of vanishing with the thread.
        Once stopped, a body is skipped unless `after_stop` (it finishes what came)."""
        if self._event.is_set() and not after_stop:
            return
        try:
            body()
        except SyncStopped:
            return
        except BaseException as exc:
            # Reported once, by whoever ends the sync with it (the command line's trace).
            exc.add_note(f"raised in {what}")
            self.stop(exc)

    def guarded(self, body: Callable[[Result], object], what: str) -> Callable[[Result], None]:
        """`body` as a callback run under the guard (e.g. a future's done-callback); it runs
        after a stop too, so an outcome that came is recorded."""
        return lambda value: self.guard(lambda: body(value), what, after_stop=True)

    def start_thread(self, body: Callable[[], object], name: str) -> threading.Thread:
        """A guarded daemon thread: it never outlives the process, nor hides an error."""
        thread = threading.Thread(target=self.guard, args=(body, name), name=name, daemon=True)
        thread.start()
        return thread
