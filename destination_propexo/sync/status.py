"""Following queued write jobs until the PMS has answered (or a bound passes).

A 200 from the create only means "job queued". A job is confirmed one of two ways, both
spending the shared rate budget:
- from the write-logs feed (`feed.py`), many jobs per request: an integration's feed is read
  when enough of its jobs are due (expected finished), and every job it shows is settled;
- by its write status, one request per job: for a job the feed has not shown within
  `FEED_BOUND_SECONDS` (at most half the time-out), for every job once the feed is given up
  for the sync (said once in the log), and for every job when the feed is not used.
When a job is due is learnt: `expected` grows when a first look finds a job unfinished,
and shrinks when a job turns out finished before it was due.

The rules of an outcome do not depend on the way: SUCCESS (or PARTIAL_SUCCESS) is accepted,
FAILURE rejected with the PMS's errors; a job still PENDING at `timeout_seconds` is accepted
as PENDING. One whose status could never be read (the feed never showed it and no poll got
an answer) is judged by `errors.owner`: Propexo saying it has no such job (404) is the row's
("outcome unknown"); a service that never answered (resets, time-outs, 5xx, 429, garbled
answers) stops the sync as `ServiceUnavailable` (transient), never a rejected row. When
the sync stops, no request follows any job: every job still followed is accepted as
`QUEUED` (`release_at_stop`), so the STATEs before the stop are echoed. A poll that cannot
be read is no news: the job is polled again, with the same back-off, until the bound. The
feed carries no `created_record_id`: jobs it confirms are logged without one.

The schedule is one thread (`_schedule`) running `_plan`, which hands feed reads and polls
to small guarded pools; `pump` runs the same plan inline, for tests on a fake clock.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from destination_propexo.errors import (
    ConfigError,
    FailureKind,
    Owner,
    PropexoError,
    Request,
    RequestFailure,
    ServiceUnavailable,
    owner,
)
from destination_propexo.propexo.client import ONE_ATTEMPT, PropexoClient, WriteLog, WriteStatus
from destination_propexo.propexo.ratelimit import batched_read_wait
from destination_propexo.records import outcomes
from destination_propexo.records.outcomes import Accepted, Outcome, Rejected
from destination_propexo.stop import Stop
from destination_propexo.sync.feed import (
    CLOCK_MARGIN_SECONDS,
    FEED_READS,
    FEED_TRIES,
    FeedCursor,
    FeedRead,
    feed_verdict,
    read_new,
)
from destination_propexo.workers import WorkerPool

# How long after its create's answer a job is first looked for; learnt as jobs settle.
EXPECTED_SECONDS = 1.0
MIN_EXPECTED_SECONDS = 0.25
MAX_DELAY = 10.0
BACKOFF = 1.5
# A job the feed has not shown by then is followed by its write status.
FEED_BOUND_SECONDS = 30.0
# Reads of one integration's feed awaiting an answer at once: through a 2 s slow-down at
# thousands of jobs a minute, one read at a time could not keep up.
READS_IN_FLIGHT = 3
# The write status of a job queued before a stop and not followed after it.
QUEUED_AT_STOP = "QUEUED"
# The scheduler sleeps on a condition, which a stop cannot wake; it looks this often.
STOP_RECHECK_SECONDS = 0.25

Task = Callable[[], None]
_Entry = tuple[float, int, "_Job"]


@dataclass(eq=False)
class _Job:
    job_id: str
    integration_id: str | None
    resolve: Callable[[Outcome], None]
    queued_at: float  # wall clock, against the feed's times
    deadline: float
    fallback_at: float
    due: float
    delay: float
    in_feed: bool
    fresh: bool  # looked for in the feed, but not yet due
    busy: bool = False  # a feed read or a poll is looking for it now
    done: bool = False
    looks: int = 0
    polls: int = 0
    last: WriteStatus | None = None
    unread: RequestFailure | None = None


@dataclass
class _Integration:
    """One integration's feed: how far it was read, its due jobs, its jobs not yet due."""

    cursor: FeedCursor = field(default_factory=FeedCursor)
    due: list[_Job] = field(default_factory=list)
    coming: int = 0
    reads: int = 0


@dataclass
class TrackerStats:
    jobs: int = 0
    polls: int = 0
    feed_reads: int = 0
    from_feed: int = 0
    from_status: int = 0


class StatusTracker:
    """Confirms write jobs by write status, or from the feed with `feed`; thread-safe.

    `first_delay`: when a job is first looked for, until one is learnt; `coming` counts jobs
    on their way (writes not yet answered); `say` logs a line for the operator; `wall` is the
    clock the feed's times are compared with; `start=False` leaves the schedule to `pump`."""

    def __init__(
        self,
        client: PropexoClient,
        stop: Stop,
        *,
        timeout_seconds: float,
        workers: int,
        feed: bool = False,
        first_delay: float = EXPECTED_SECONDS,
        coming: Callable[[], int] = lambda: 0,
        say: Callable[[str], None] = lambda text: None,
        wall: Callable[[], float] = time.time,
        start: bool = True,
    ) -> None:
        self._client = client
        self._stop = stop
        self._clock = stop.clock
        self._timeout = timeout_seconds
        self._coming = coming
        self._say = say
        self._wall = wall
        self._feed_on = feed
        self._wake = threading.Condition()
        self._closed = False
        self._jobs: dict[str, _Job] = {}
        self._integrations: dict[str | None, _Integration] = {}
        self._feed_due: list[_Entry] = []
        self._fallbacks: list[_Entry] = []
        self._polls: list[_Entry] = []
        self._order = itertools.count()
        self._expected = first_delay
        self._fruitless = 0
        self._failed_in_a_row = 0
        self._finished_unseen = 0
        self._probes = 0
        self.stats = TrackerStats()
        self._pools: list[WorkerPool] = []
        if start:
            polls = WorkerPool(stop, workers, "status")
            reads = WorkerPool(stop, READS_IN_FLIGHT, "feed")
            self._pools += [polls, reads]
            stop.start_thread(lambda: self._schedule(reads, polls), "status-scheduler")

    @property
    def polls_per_job(self) -> float:
        return self.stats.polls / self.stats.jobs if self.stats.jobs else 0.0

    @property
    def outstanding(self) -> int:
        """Jobs followed and not yet final."""
        with self._wake:
            return len(self._jobs)

    @property
    def feed_on(self) -> bool:
        with self._wake:
            return self._feed_on

    def track(
        self, job_id: str, resolve: Callable[[Outcome], None], *, integration_id: str | None = None
    ) -> None:
        """Follow `job_id` (queued in `integration_id`); `resolve` gets the final outcome.
        Once the sync is stopping, no request may follow it: it is accepted as queued."""
        if self._stop.stopped:
            resolve(queued_at_stop(job_id))
            return
        now = self._clock.now()
        known: WriteLog | None = None
        with self._wake:
            self.stats.jobs += 1
            first = min(self._expected, self._timeout)
            job = _Job(
                job_id,
                integration_id,
                resolve,
                queued_at=self._wall(),
                deadline=now + self._timeout,
                fallback_at=now + min(FEED_BOUND_SECONDS, self._timeout / 2),
                due=now + first,
                delay=first,
                in_feed=self._feed_on,
                fresh=self._feed_on,
            )
            if job.in_feed:
                feed = self._integration(integration_id)
                known = feed.cursor.claim(job_id)
                if known is not None:
                    # Finished before its create's answer came: read already, no request.
                    self.stats.from_feed += 1
                    self._shorter_expected()
                else:
                    self._jobs[job_id] = job
                    feed.coming += 1
                    self._push(self._feed_due, job.due, job)
                    self._push(self._fallbacks, job.fallback_at, job)
            else:
                self._jobs[job_id] = job
                self._push(self._polls, job.due, job)
            self._wake.notify()
        if known is not None:
            resolve(from_feed(known))

    def pump(self) -> float:
        """Run every read and poll that is due now, inline; seconds until the next is due."""
        while True:
            with self._wake:
                reads, polls, wait = self._plan(self._clock.now())
            if not reads and not polls:
                return wait
            for task in reads + polls:
                task()

    def release_at_stop(self) -> None:
        """The sync stopped: every job still followed is accepted as queued (its create was
        answered with a job; no request may ask how it ended), so its STATE can be echoed."""
        with self._wake:
            jobs = [job for job in self._jobs.values() if not job.done]
            for job in jobs:
                self._finish(job)
        for job in jobs:
            job.resolve(queued_at_stop(job.job_id))

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        for pool in self._pools:
            pool.close()

    # -- the schedule ------------------------------------------------------------------------

    def _schedule(self, readers: WorkerPool, pollers: WorkerPool) -> None:
        while True:
            with self._wake:
                if self._closed or self._stop.stopped:
                    return
                reads, polls, wait = self._plan(self._clock.now())
                if not reads and not polls:
                    self._wake.wait(min(wait, STOP_RECHECK_SECONDS))
                    continue
            for task in reads:
                readers.submit(task, "a write-logs read")
            for task in polls:
                pollers.submit(task, "a write-status poll")

    def _plan(self, now: float) -> tuple[list[Task], list[Task], float]:
        """What is due at `now` (feed reads, polls), and seconds until the next thing is due.
        Called with the lock held."""
        while self._fallbacks and self._fallbacks[0][0] <= now:
            job = self._pop(self._fallbacks)
            if job is not None and job.in_feed:
                self._to_polls(job, now)
        while self._feed_due and self._feed_due[0][0] <= now:
            job = self._pop(self._feed_due)
            if job is not None and job.in_feed and not job.busy:
                self._unfresh(job)
                self._integration(job.integration_id).due.append(job)
        polls: list[Task] = []
        while self._polls and self._polls[0][0] <= now:
            job = self._pop(self._polls)
            if job is not None and not job.busy:
                job.busy = True
                polls.append(functools.partial(self._poll, job))
        reads: list[Task] = []
        wake = min(
            (heap[0][0] for heap in (self._fallbacks, self._feed_due, self._polls) if heap),
            default=math.inf,
        )
        if self._feed_on:
            coming = self._coming()
            for key, feed in self._integrations.items():
                feed.due = [job for job in feed.due if job.in_feed and not job.done]
                if not feed.due or feed.reads >= READS_IN_FLIGHT:
                    continue
                wait = batched_read_wait(
                    FEED_READS,
                    len(feed.due),
                    now - feed.due[0].due,
                    feed.coming + coming,
                    self._client.request_interval,
                )
                if wait > 0:
                    wake = min(wake, now + wait)
                    continue
                looked_for, feed.due = feed.due, []
                for job in looked_for:
                    job.busy = True
                    job.looks += 1
                feed.reads += 1
                reads.append(functools.partial(self._read, key, looked_for))
        return reads, polls, max(0.0, wake - now)

    # -- the feed ----------------------------------------------------------------------------

    def _read(self, key: str | None, looked_for: list[_Job]) -> None:
        feed = self._integrations[key]
        with self._wake:
            cutoff = self._cutoff(key)
        read = read_new(
            lambda offset: self._client.write_logs(key, offset=offset, policy=ONE_ATTEMPT),
            feed.cursor,
            cutoff=cutoff,
        )
        settled_now: list[tuple[_Job, Outcome]] = []
        with self._wake:
            self.stats.feed_reads += 1
            feed.reads -= 1
            early = False
            for entry in read.entries:
                job = self._jobs.get(entry.job_id)
                if job is None:
                    feed.cursor.keep_unclaimed(entry)
                    continue
                early = early or job.fresh
                self._finish(job)
                settled_now.append((job, from_feed(entry)))
            self.stats.from_feed += len(settled_now)
            now = self._clock.now()
            missed_first_look = False
            for job in looked_for:
                job.busy = False
                if job.done:
                    continue
                if not job.in_feed:  # its bound passed, or the feed was given up, meanwhile
                    self._push(self._polls, now, job)
                    continue
                missed_first_look = missed_first_look or job.looks == 1
                job.delay = min(MAX_DELAY, job.delay * BACKOFF)
                job.due = now + job.delay
                self._push(self._feed_due, job.due, job)
            if missed_first_look:
                self._expected = min(MAX_DELAY, self._expected * 1.25)
            elif early:
                self._shorter_expected()
            self._count_read(read, matched=len(settled_now), looked_for=len(looked_for))
            verdict = self._judge_feed(now)
            self._wake.notify()
        if verdict is not None:
            self._say(verdict)
        for job, outcome in settled_now:
            job.resolve(outcome)

    def _cutoff(self, key: str | None) -> float | None:
        """Before this (POSIX seconds), none of the integration's jobs in the feed finished."""
        queued = [j.queued_at for j in self._jobs.values() if j.integration_id == key]
        return min(queued) - CLOCK_MARGIN_SECONDS if queued else None

    def _count_read(self, read: FeedRead, *, matched: int, looked_for: int) -> None:
        refused = read.failure is not None and read.failure.kind is FailureKind.RATE_LIMITED
        if read.failure is not None and read.pages == 0 and not refused:
            self._failed_in_a_row += 1
        elif read.pages:
            self._failed_in_a_row = 0
        if looked_for and matched == 0:
            self._fruitless += 1

    def _judge_feed(self, now: float) -> str | None:
        """Give the feed up if it proved no use (the line to log), or probe it; lock held."""
        if not self._feed_on:
            return None
        reason = feed_verdict(
            matched=self.stats.from_feed,
            fruitless=self._fruitless,
            failed_in_a_row=self._failed_in_a_row,
            finished_unseen=self._finished_unseen,
        )
        if reason is None:
            if self.stats.from_feed == 0 and self._fruitless >= FEED_TRIES * (self._probes + 1):
                self._probe(now)
            return None
        self._feed_on = False
        for job in self._jobs.values():
            if job.in_feed:
                self._to_polls(job, now)
        for feed in self._integrations.values():
            feed.due.clear()
            feed.coming = 0
        return (
            f"write-logs feed turned off for the rest of this sync: {reason}; each write job "
            "is confirmed by its own write status instead"
        )

    def _probe(self, now: float) -> None:
        """The feed matched nothing yet: ask one looked-for job's write status now, so that a
        feed that never shows this sync's jobs is told from jobs that are merely slow."""
        looked = [job for job in self._jobs.values() if job.in_feed and job.looks]
        if looked:
            self._probes += 1
            self._to_polls(min(looked, key=lambda job: job.due), now)

    # -- write status --------------------------------------------------------------------------

    def _poll(self, job: _Job) -> None:
        try:
            # One exchange per poll: the tracker's own schedule is the retry.
            status: WriteStatus | None = self._client.write_status(job.job_id, policy=ONE_ATTEMPT)
            unread = None
        except RequestFailure as failure:
            status, unread = None, failure
        verdict = None
        with self._wake:
            self.stats.polls += 1
            job.polls += 1
            job.busy = False
            if job.done:  # the feed showed it meanwhile
                return
            if status is not None:
                job.last, job.unread = status, None
                if job.looks == 0 and job.polls == 1:
                    self._learn_from_first_poll(status)
                if job.looks and not status.pending and self._feed_on:
                    self._finished_unseen += 1
                    verdict = self._judge_feed(self._clock.now())
            else:
                job.unread = unread
            now = self._clock.now()
            stopping: PropexoError | None = None
            if (job.last is None or job.last.pending) and now < job.deadline:
                job.delay = min(MAX_DELAY, job.delay * BACKOFF)
                self._push(self._polls, min(now + job.delay, job.deadline), job)
                outcome = None
            elif (
                job.last is None
                and job.unread is not None
                and (stopping := never_read(job.job_id, job.polls, job.unread, self._timeout))
            ):
                # Not the row's: the job stays followed, so the stop releases it as queued.
                outcome = None
            else:
                self._finish(job)
                self.stats.from_status += 1
                outcome = settled(job.job_id, job.last, job.unread, self._timeout)
            self._wake.notify()
        if verdict is not None:
            self._say(verdict)
        if stopping is not None:
            self._stop.stop(stopping)
        if outcome is not None:
            job.resolve(outcome)

    def _learn_from_first_poll(self, status: WriteStatus) -> None:
        if status.pending:
            self._expected = min(MAX_DELAY, self._expected * 1.25)
        else:
            self._shorter_expected()

    # -- bookkeeping (lock held) -------------------------------------------------------------

    def _integration(self, key: str | None) -> _Integration:
        feed = self._integrations.get(key)
        if feed is None:
            feed = self._integrations[key] = _Integration()
        return feed

    def _shorter_expected(self) -> None:
        self._expected = max(MIN_EXPECTED_SECONDS, self._expected * 0.9)

    def _to_polls(self, job: _Job, now: float) -> None:
        """From now on, follow `job` by its write status (a read looking for it hands it over)."""
        self._unfresh(job)
        job.in_feed = False
        if not job.busy:
            self._push(self._polls, now, job)

    def _unfresh(self, job: _Job) -> None:
        if job.fresh:
            job.fresh = False
            self._integration(job.integration_id).coming -= 1

    def _finish(self, job: _Job) -> None:
        self._unfresh(job)
        job.done = True
        self._jobs.pop(job.job_id, None)

    def _push(self, heap: list[_Entry], when: float, job: _Job) -> None:
        # A job has at most one entry per heap: it is pushed again only after its pop, and
        # an entry it left behind (moved to polls, settled) is skipped when it comes up.
        heapq.heappush(heap, (when, next(self._order), job))

    def _pop(self, heap: list[_Entry]) -> _Job | None:
        """The job at the top of `heap`, or None if it is settled already."""
        _, _, job = heapq.heappop(heap)
        return None if job.done else job


def queued_at_stop(job_id: str) -> Accepted:
    """A job queued before the sync stopped, whose end no request may follow any more."""
    return Accepted(job_id=job_id, write_status=QUEUED_AT_STOP)


def from_feed(entry: WriteLog) -> Outcome:
    """The record's outcome from its job's entry in the feed (which has no created_record_id)."""
    return settled(entry.job_id, WriteStatus(entry.status, (entry.error,) if entry.error else ()))


def never_read(
    job_id: str, polls: int, unread: RequestFailure, bound_seconds: float
) -> PropexoError | None:
    """What stops the sync when a job's write status got no answer by the bound, or None
    when the last failure is the job's own (a 404: Propexo has no such job), which ends the
    row "outcome unknown". Whose failure it is comes from `errors.owner`: a service that
    never answered is an outage (transient), never a rejected row."""
    who = owner(unread, Request.WRITE_STATUS)
    if who is Owner.ROW:
        return None
    said = (
        f"the write status of job {job_id} could not be read within {bound_seconds:g} s "
        f"({polls} polls, last: {unread})"
    )
    if who is Owner.CONFIGURATION:
        return ConfigError(
            f"{said}: nothing at /v1/admin/write-status/ answers it. Check api_url (the API's "
            "base URL only, such as https://api.propexo.com)."
        )
    return ServiceUnavailable(
        f"Propexo is not answering: {said}. The sync stopped; the job stays queued in "
        "Propexo, and the next attempt re-sends from the last confirmed state, checking first "
        "what this one may have booked."
    )


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
            outcomes.FAILED_IN_PMS,
            "the PMS did not book the appointment: "
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
