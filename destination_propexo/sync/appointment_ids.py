"""The ResMan appointment id of each booking, found cheaply after its job is confirmed.

A job confirmed from the write-logs feed carries no `created_record_id`, yet the id is what
a later `update` stream needs to move the tour, and what the outcomes dataset hands back to
the warehouse. Asking each job's write status would cost a request per booking. Instead:

    GET /v1/appointments/?integration_id=…&order-by=created_at:desc&limit=250

lists the integration's newest appointments first; one page can name up to 250 bookings.
Each booking is matched by (integration, lead, UTC date and time) to an appointment made
since the sync started (less `CLOCK_MARGIN_SECONDS` for clock skew), each id given once.

- **As a stream**: a read pages down only to what the last complete read saw (its newest
  `created_at`, less `OVERLAP_SECONDS`), or to the sync's start, and no further once every
  waiting booking has its id (the next read then goes down to the same place); usually
  one page. An
  appointment seen before its booking is waiting (the feed confirms in batches) is kept,
  up to `UNCLAIMED_CAPACITY`, and given the moment the booking comes.
- **Paced** (`ID_READS`, by the pure `ratelimit.batched_read_wait`): a read waits until
  `READ_BATCH` bookings wait, or the oldest has waited as long as the budget takes to send
  that many requests (0.25..30 s); it goes at once when nothing more is coming, so the last
  STATE is not held back.
- **Fall-back**: a booking no complete read showed after `READS_BEFORE_FALLBACK` reads (or a
  failed read; after `FAILED_READS_TO_GIVE_UP` failed reads in a row, every booking of the
  sync) is asked for by its job's write status, whose `created_record_id` is the
  id; if that fails too, the outcome goes on without an id. The outcome itself is never
  changed otherwise: the id is looked up, the booking is already confirmed.

Memory: waiting bookings are bounded by the write window; unclaimed appointments by
`UNCLAIMED_CAPACITY` (oldest out), ids given by `GIVEN_CAPACITY` (oldest out).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from destination_propexo.errors import RequestFailure
from destination_propexo.propexo.client import ListedAppointment, PropexoClient
from destination_propexo.propexo.ratelimit import ReadBatch, batched_read_wait
from destination_propexo.records.outcomes import Accepted, Outcome
from destination_propexo.stop import Stop
from destination_propexo.workers import WorkerPool

READ_BATCH = 100
MIN_HOLD_SECONDS = 0.25
MAX_HOLD_SECONDS = 30.0
READS_BEFORE_FALLBACK = 2
# Reads failing in a row before the look-up is given up for the sync (write status after).
FAILED_READS_TO_GIVE_UP = 3
MAX_PAGES = 20
CLOCK_MARGIN_SECONDS = 15.0
OVERLAP_SECONDS = 5.0
UNCLAIMED_CAPACITY = 5_000
GIVEN_CAPACITY = 100_000
FALLBACK_WORKERS = 4
RECHECK_SECONDS = 0.25
ORDER = "created_at:desc"

# (integration id, lead id, UTC date, UTC time)
BookingKey = tuple[str, str, str, str]


# The pacing of id reads (`ratelimit.batched_read_wait`): the items are bookings waiting for
# their id; those coming, writes not answered and jobs not confirmed.
ID_READS = ReadBatch(READ_BATCH, MIN_HOLD_SECONDS, MAX_HOLD_SECONDS)


@dataclass
class _Waiting:
    key: BookingKey
    outcome: Accepted
    resolve: Callable[[Outcome], None]
    since: float
    reads: int = 0


@dataclass
class IdStats:
    """How bookings got their ids: from the look-up, by write status, or not at all."""

    waited: int = 0
    from_lookup: int = 0
    from_write_status: int = 0
    without: int = 0
    reads: int = 0
    pages: int = 0


class AppointmentIds:
    """Finds the appointment ids of confirmed bookings; thread-safe.

    `since`: epoch seconds of the sync's start; `coming`: bookings still on their way;
    `start=False` leaves the schedule to `pump` (tests)."""

    def __init__(
        self,
        client: PropexoClient,
        stop: Stop,
        *,
        since: float,
        coming: Callable[[], int] = lambda: 0,
        start: bool = True,
    ) -> None:
        self._client = client
        self._stop = stop
        self._clock = stop.clock
        self._since = since - CLOCK_MARGIN_SECONDS
        self._coming = coming
        self._lock = threading.Condition()
        self._waiting: dict[BookingKey, deque[_Waiting]] = {}
        self._count = 0
        # Appointments seen before their booking waited: id -> key, oldest first, and by key.
        self._unclaimed: OrderedDict[str, BookingKey] = OrderedDict()
        self._unclaimed_by_key: dict[BookingKey, list[str]] = {}
        self._given: OrderedDict[str, None] = OrderedDict()
        self._landmark: dict[str, float] = {}
        self._closed = False
        self._failed_in_a_row = 0
        self._off = False
        self.stats = IdStats()
        self._pool: WorkerPool | None = None
        if start:
            self._pool = WorkerPool(stop, FALLBACK_WORKERS, "id fall-back")
            stop.start_thread(self._schedule, "id-look-up")

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._count

    def summary(self) -> dict[str, int]:
        """The counts for the sync's summary."""
        with self._lock:
            return dataclasses.asdict(self.stats)

    def completing(
        self, key: BookingKey, resolve: Callable[[Outcome], None]
    ) -> Callable[[Outcome], None]:
        """`resolve`, first finding the id of a booking confirmed without one."""

        def complete(outcome: Outcome) -> None:
            if (
                not isinstance(outcome, Accepted)
                or outcome.created_record_id is not None
                or outcome.write_status != "SUCCESS"
                or outcome.job_id is None
            ):
                resolve(outcome)
                return
            self.add(key, outcome, resolve)

        return complete

    def add(self, key: BookingKey, outcome: Accepted, resolve: Callable[[Outcome], None]) -> None:
        """Find the id of `outcome`'s booking, then `resolve` it (with the id when found)."""
        with self._lock:
            self.stats.waited += 1
            off = self._off
            found = None if off else self._take_unclaimed(key)
            if off:
                pass
            elif found is None:
                self._waiting.setdefault(key, deque()).append(
                    _Waiting(key, outcome, resolve, self._clock.now())
                )
                self._count += 1
                self._lock.notify()
            else:
                self.stats.from_lookup += 1
        if off:
            self._fall_back(_Waiting(key, outcome, resolve, self._clock.now()))
        elif found is not None:
            resolve(msgspec.structs.replace(outcome, created_record_id=found))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._pool is not None:
            self._pool.close()

    def pump(self) -> float:
        """Run the read that is due now, inline (tests); seconds until the next is due."""
        wait = self._due()
        if wait <= 0:
            self._read_all()
            return self._due()
        return wait

    # -- the schedule ------------------------------------------------------------------------

    def _due(self) -> float:
        with self._lock:
            if not self._count:
                return math.inf
            oldest = min(w.since for queue in self._waiting.values() for w in queue)
            waiting = self._count
        return batched_read_wait(
            ID_READS,
            waiting,
            self._clock.now() - oldest,
            self._coming(),
            self._client.request_interval,
        )

    def _schedule(self) -> None:
        while True:
            with self._lock:
                if self._closed or self._stop.stopped:
                    return
            wait = self._due()
            if wait > 0:
                with self._lock:
                    self._lock.wait(min(wait, RECHECK_SECONDS))
                continue
            self._read_all()

    def _read_all(self) -> None:
        with self._lock:
            integrations = sorted({key[0] for key in self._waiting})
        for integration_id in integrations:
            self._read(integration_id)

    def _read(self, integration_id: str) -> None:
        """Page the integration's newest appointments down to the last complete read."""
        floor = max(self._since, self._landmark.get(integration_id, -math.inf) - OVERLAP_SECONDS)
        newest: float | None = None
        complete = failed = False
        offset = 0
        try:
            for _ in range(MAX_PAGES):
                page = self._client.integration_appointments(
                    integration_id, order_by=ORDER, offset=offset, counter="id_lookup"
                )
                with self._lock:
                    self.stats.pages += 1
                made = [a.created_at for a in page.appointments if a.created_at is not None]
                if made and newest is None:
                    newest = max(made)
                self._offer(integration_id, page.appointments)
                if not page.more or not page.size or (made and min(made) < floor):
                    complete = True
                    break
                if not self._waits_in(integration_id):
                    break  # every booking has its id: the rest waits for the next read
                offset += page.size - 1  # overlap one row, in case one above is dropped
        except RequestFailure:
            failed = True
        with self._lock:
            self.stats.reads += 1
            self._failed_in_a_row = self._failed_in_a_row + 1 if failed else 0
            if self._failed_in_a_row >= FAILED_READS_TO_GIVE_UP:
                self._off = True
            if complete and newest is not None:
                self._landmark[integration_id] = max(newest, floor)
            late = self._after_read(integration_id, failed=failed)
        for waiting in late:
            self._fall_back(waiting)

    def _offer(self, integration_id: str, appointments: tuple[ListedAppointment, ...]) -> None:
        """Give each new appointment to the booking waiting for it, or keep it unclaimed."""
        given: list[tuple[_Waiting, str]] = []
        with self._lock:
            for appointment in appointments:
                if appointment.created_at is not None and appointment.created_at < self._since:
                    continue
                if appointment.id in self._given or appointment.id in self._unclaimed:
                    continue
                for lead_id in appointment.lead_ids:
                    key = (integration_id, lead_id, appointment.date, appointment.time)
                    queue = self._waiting.get(key)
                    if queue:
                        waiting = queue.popleft()
                        if not queue:
                            del self._waiting[key]
                        self._count -= 1
                        self._give(appointment.id)
                        self.stats.from_lookup += 1
                        given.append((waiting, appointment.id))
                        break
                else:
                    lead_id = appointment.lead_ids[0]
                    key = (integration_id, lead_id, appointment.date, appointment.time)
                    self._unclaimed[appointment.id] = key
                    self._unclaimed_by_key.setdefault(key, []).append(appointment.id)
                    while len(self._unclaimed) > UNCLAIMED_CAPACITY:
                        dropped, old = self._unclaimed.popitem(last=False)
                        self._forget_unclaimed(old, dropped)
        for waiting, appointment_id in given:
            waiting.resolve(
                msgspec.structs.replace(waiting.outcome, created_record_id=appointment_id)
            )

    def _waits_in(self, integration_id: str) -> bool:
        with self._lock:
            return any(key[0] == integration_id for key in self._waiting)

    def _after_read(self, integration_id: str, *, failed: bool) -> list[_Waiting]:
        """Count a read against the integration's waiting bookings; those read for long
        enough (or all, after a failed read) go to write status. Caller holds the lock."""
        late: list[_Waiting] = []
        for key in [key for key in self._waiting if key[0] == integration_id]:
            queue = self._waiting[key]
            for waiting in list(queue):
                waiting.reads += 1
                if failed or waiting.reads >= READS_BEFORE_FALLBACK:
                    queue.remove(waiting)
                    self._count -= 1
                    late.append(waiting)
            if not queue:
                del self._waiting[key]
        return late

    def _take_unclaimed(self, key: BookingKey) -> str | None:
        # Caller holds the lock.
        ids = self._unclaimed_by_key.get(key)
        if not ids:
            return None
        appointment_id = ids[0]
        del self._unclaimed[appointment_id]
        self._forget_unclaimed(key, appointment_id)
        self._give(appointment_id)
        return appointment_id

    def _forget_unclaimed(self, key: BookingKey, appointment_id: str) -> None:
        ids = self._unclaimed_by_key.get(key, [])
        if appointment_id in ids:
            ids.remove(appointment_id)
        if not ids:
            self._unclaimed_by_key.pop(key, None)

    def _give(self, appointment_id: str) -> None:
        self._given[appointment_id] = None
        while len(self._given) > GIVEN_CAPACITY:
            self._given.popitem(last=False)

    def _fall_back(self, waiting: _Waiting) -> None:
        if self._pool is None:
            self._poll(waiting)
        else:
            self._pool.submit(lambda: self._poll(waiting), "an id by write status")

    def _poll(self, waiting: _Waiting) -> None:
        job_id = waiting.outcome.job_id or ""
        try:
            found = self._client.write_status(job_id).created_record_id
        except RequestFailure:
            found = None
        with self._lock:
            if found is None:
                self.stats.without += 1
            else:
                self.stats.from_write_status += 1
                self._give(found)
        waiting.resolve(msgspec.structs.replace(waiting.outcome, created_record_id=found))
