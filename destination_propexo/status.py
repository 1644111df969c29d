"""Following queued write jobs until ResMan has answered (or a bound passes).

A 200 from the create only means "job queued". Each job's write status is polled after a
delay that adapts to how long jobs take: it grows when the first poll finds the job still
PENDING and shrinks when it finds it done, so most jobs are settled by their first poll.
Polls share the rate budget with creates, so fewer polls is more throughput.

A poll whose answer cannot be read (an error, or an answer of the wrong shape) is no news:
the job is polled again, with the same back-off, until the bound. Only a job whose status
could never be read by then ends "outcome unknown"; one still PENDING is counted accepted.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from destination_propexo import outcomes
from destination_propexo.client import ONE_ATTEMPT, PropexoClient, WriteStatus
from destination_propexo.errors import RequestFailure
from destination_propexo.outcomes import Accepted, Outcome, Rejected
from destination_propexo.stop import Stop
from destination_propexo.workers import WorkerPool

FIRST_DELAY = 1.0
MIN_FIRST_DELAY = 0.25
MAX_DELAY = 10.0
BACKOFF = 1.5
# The scheduler sleeps on a condition, which a stop cannot wake; it looks this often.
STOP_RECHECK_SECONDS = 0.25


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    job_id: str = field(compare=False)
    deadline: float = field(compare=False)
    resolve: Callable[[Outcome], None] = field(compare=False)
    delay: float = field(compare=False)
    polls: int = field(default=0, compare=False)
    last: WriteStatus | None = field(default=None, compare=False)
    unread: RequestFailure | None = field(default=None, compare=False)


class StatusTracker:
    """Polls write status for many jobs at once on a small pool; thread-safe."""

    def __init__(
        self,
        client: PropexoClient,
        stop: Stop,
        *,
        timeout_seconds: float,
        workers: int,
        first_delay: float = FIRST_DELAY,
    ) -> None:
        self._client = client
        self._stop = stop
        self._clock = stop.clock
        self._timeout = timeout_seconds
        self._pool = WorkerPool(stop, workers, "status")
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._closed = False
        self._first_delay = first_delay
        self._stats_lock = threading.Lock()
        self.jobs = 0
        self.polls = 0
        self._thread = stop.start_thread(self._schedule, "status-scheduler")

    @property
    def polls_per_job(self) -> float:
        return self.polls / self.jobs if self.jobs else 0.0

    def track(self, job_id: str, resolve: Callable[[Outcome], None]) -> None:
        """Follow `job_id`; `resolve` gets the record's final outcome."""
        now = self._clock.now()
        with self._stats_lock:
            self.jobs += 1
            delay = min(self._first_delay, self._timeout)
        self._push(_Job(now + delay, next(self._seq), job_id, now + self._timeout, resolve, delay))

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._pool.close()

    def _push(self, job: _Job) -> None:
        with self._wake:
            heapq.heappush(self._heap, job)
            self._wake.notify()

    def _schedule(self) -> None:
        while not self._stop.stopped:
            with self._wake:
                if self._closed:
                    return
                now = self._clock.now()
                if not self._heap or self._heap[0].due > now:
                    wait = self._heap[0].due - now if self._heap else STOP_RECHECK_SECONDS
                    self._wake.wait(min(wait, STOP_RECHECK_SECONDS))
                    continue
                job = heapq.heappop(self._heap)
            self._pool.submit(functools.partial(self._poll, job), "a write-status poll")

    def _poll(self, job: _Job) -> None:
        job.polls += 1
        with self._stats_lock:
            self.polls += 1
        try:
            # One exchange per poll: the tracker's own schedule is the retry.
            job.last = self._client.write_status(job.job_id, policy=ONE_ATTEMPT)
            job.unread = None
        except RequestFailure as failure:
            job.unread = failure
        self._learn(job)
        now = self._clock.now()
        if (job.last is None or job.last.pending) and now < job.deadline:
            job.delay = min(MAX_DELAY, job.delay * BACKOFF)
            job.due = min(now + job.delay, job.deadline)
            self._push(job)
            return
        job.resolve(settled(job.job_id, job.last, job.unread, self._timeout))

    def _learn(self, job: _Job) -> None:
        if job.polls != 1 or job.last is None:
            return
        with self._stats_lock:
            if job.last.pending:
                self._first_delay = min(MAX_DELAY, self._first_delay * 1.25)
            else:
                self._first_delay = max(MIN_FIRST_DELAY, self._first_delay * 0.9)


def settled(
    job_id: str,
    status: WriteStatus | None,
    unread: RequestFailure | None = None,
    bound_seconds: float = 0.0,
) -> Outcome:
    """The record's outcome once its job's status is known, still PENDING at the bound, or
    never readable."""
    if status is None:
        return Rejected(
            outcomes.OUTCOME_UNKNOWN,
            f"the appointment was queued as job {job_id}, but its write status could not be "
            f"read within {bound_seconds:g} s (last: {unread}); check GET "
            f"/v1/admin/write-status/{job_id} before re-sending",
            job_id=job_id,
        )
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
