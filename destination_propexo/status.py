"""Following queued write jobs until ResMan has answered (or a bound passes).

A 200 from the create only means "job queued". Each job's write status is polled after a
delay that adapts to how long jobs take: it grows when the first poll finds the job still
PENDING and shrinks when it finds it done, so most jobs are settled by their first poll.
Polls share the rate budget with creates, so fewer polls is more throughput.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from destination_propexo import outcomes
from destination_propexo.client import PropexoClient, WriteStatus
from destination_propexo.errors import RequestFailure, TokenRefused
from destination_propexo.outcomes import Accepted, Outcome, Rejected

FIRST_DELAY = 1.0
MIN_FIRST_DELAY = 0.25
MAX_DELAY = 10.0
BACKOFF = 1.5


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    job_id: str = field(compare=False)
    deadline: float = field(compare=False)
    resolve: Callable[[Outcome], None] = field(compare=False)
    delay: float = field(compare=False)
    polls: int = field(default=0, compare=False)


class StatusTracker:
    """Polls write status for many jobs at once on a small pool; thread-safe."""

    def __init__(
        self,
        client: PropexoClient,
        *,
        timeout_seconds: float,
        workers: int,
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self._client = client
        self._timeout = timeout_seconds
        self._on_fatal = on_fatal
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="status")
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._closed = False
        self._first_delay = FIRST_DELAY
        self._stats_lock = threading.Lock()
        self.jobs = 0
        self.polls = 0
        self._thread = threading.Thread(target=self._schedule, name="status-scheduler", daemon=True)
        self._thread.start()

    @property
    def polls_per_job(self) -> float:
        return self.polls / self.jobs if self.jobs else 0.0

    def track(self, job_id: str, resolve: Callable[[Outcome], None]) -> None:
        now = time.monotonic()
        with self._stats_lock:
            self.jobs += 1
            delay = min(self._first_delay, self._timeout)
        self._push(_Job(now + delay, next(self._seq), job_id, now + self._timeout, resolve, delay))

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _push(self, job: _Job) -> None:
        with self._wake:
            heapq.heappush(self._heap, job)
            self._wake.notify()

    def _schedule(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._heap or self._heap[0].due > time.monotonic()):
                    timeout = self._heap[0].due - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._closed:
                    return
                job = heapq.heappop(self._heap)
            self._pool.submit(self._poll, job)

    def _poll(self, job: _Job) -> None:
        job.polls += 1
        with self._stats_lock:
            self.polls += 1
        try:
            status = self._client.write_status(job.job_id)
        except TokenRefused as exc:
            self._on_fatal(exc)
            return
        except RequestFailure as failure:
            status = WriteStatus("PENDING", (f"write status unavailable: {failure}",))
        self._learn(job, status)
        now = time.monotonic()
        if status.pending and now < job.deadline:
            job.delay = min(MAX_DELAY, job.delay * BACKOFF)
            job.due = min(now + job.delay, job.deadline)
            self._push(job)
            return
        job.resolve(settled(job.job_id, status))

    def _learn(self, job: _Job, status: WriteStatus) -> None:
        if job.polls != 1:
            return
        with self._stats_lock:
            if status.pending:
                self._first_delay = min(MAX_DELAY, self._first_delay * 1.25)
            else:
                self._first_delay = max(MIN_FIRST_DELAY, self._first_delay * 0.9)


def settled(job_id: str, status: WriteStatus) -> Outcome:
    """The record's outcome once its job's status is known (or still PENDING at the bound)."""
    if status.status == "FAILURE":
        return Rejected(
            outcomes.FAILED_IN_RESMAN,
            "ResMan did not book the appointment: "
            + ("; ".join(status.errors) or "no error text given"),
            job_id=job_id,
            write_status=status.status,
            errors=status.errors,
        )
    return Accepted(
        job_id=job_id,
        write_status=status.status,
        created_record_id=status.created_record_id,
        errors=status.errors,
    )
