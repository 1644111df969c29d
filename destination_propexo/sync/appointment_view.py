"""An integration's appointments read in pages, so lead look-ups need not read each lead.

Create-if-absent and one-upcoming-tour decisions, and the head of an append run, need a
lead's appointments: at the row's instant, and (one upcoming tour per lead) every upcoming
one. Read per lead, that is one
request per distinct lead, as many as the bookings. Read for the whole integration,

    GET /v1/appointments/?integration_id=…&order-by=appointment_datetime:desc&limit=250

one page holds 250 appointments, latest first, so the first pages hold every upcoming tour
and a sync of upcoming tours is usually answered by one or two pages.

- **Coverage.** After k pages the view holds every appointment at or after the oldest
  instant read (`floor`; all of them once the last page is read). A lead whose rows need
  nothing older (the row's instant, and the sync's start for one-upcoming-tour rows) is
  answered from the view with no request; the ledger reads a lead whose rows need older
  appointments on its own (`BookingLedger`), once.
- **Cost.** The first page's `meta.total` tells what a complete read costs
  (ceil(total / 250) requests). Pages are read only while they cost no more than the
  per-lead reads they replace: the next page is read when fewer pages than distinct leads
  asked have been read; otherwise the lead is read on its own. So the view never costs more
  than twice the per-lead reads, and a sync of upcoming tours costs about one page.
- **Memory.** At most `capacity` appointments per integration (50,000 by default, some
  5 MB); past it the view stops growing and leads it does not cover are read on their own.
- **Staleness.** A page shows what Propexo held when it was read, like a per-lead read at
  that moment; the view is dropped and read again after `MAX_AGE_SECONDS` (15 min). What
  this sync itself books or moves, the ledger records here (`wrote`, `moved`), so a lead
  first asked about after this sync wrote to it is answered with those writes; past
  `capacity` such writes the view stops answering (every lead is then read on its own).
  An appointment made in ResMan meanwhile shows once Propexo's cache has it (its ~12 h
  sync, or a write through Propexo), as for a per-lead read, plus at most the view's age.
- **Failures.** A page Propexo refuses as it would refuse a lead's read (400, 404) turns the
  view off: every lead is then read on its own, and that read's failure is judged as ever.
  Any other failure (the service's past the retries, or the configuration's) is judged as a
  lead read's is (`errors.owner`).
- **Consistency while paging.** Offsets shift when appointments are created or moved during
  the read: pages overlap by one row and rows are kept by id, so a shift by one repeats a
  row and never skips one.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass, field

from destination_propexo.errors import Owner, Request, RequestFailure, owner
from destination_propexo.propexo.client import READ_BACK_PAGE, BookedAppointment, PropexoClient
from destination_propexo.stop import Stop

DEFAULT_CAPACITY = 50_000
MAX_AGE_SECONDS = 900.0
ORDER = "appointment_datetime:desc"
WAIT_RECHECK_SECONDS = 0.1

# (the lead's appointments, the instant they are known from: None when all are known)
LeadView = tuple[list[BookedAppointment], dt.datetime | None]


@dataclass
class _Pages:
    read_at: float
    by_lead: dict[str, list[BookedAppointment]] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    pages: int = 0
    offset: int = 0
    total: int | None = None
    floor: dt.datetime | None = None
    complete: bool = False
    full: bool = False
    asks: int = 0
    reading: threading.Event | None = None

    def covers(self, need: dt.datetime) -> bool:
        if self.complete:
            return True
        return self.floor is not None and need > self.floor


@dataclass
class ViewStats:
    pages: int = 0
    answered: int = 0
    not_covered: int = 0


@dataclass
class _Writes:
    """This sync's own bookings in one integration, by lead (kept across page re-reads)."""

    by_lead: dict[str, list[BookedAppointment]] = field(default_factory=dict)
    count: int = 0


class AppointmentView:
    """Per integration, its appointments latest first, read in pages as leads need them;
    thread-safe. Raises the client's RequestFailure when a page cannot be read."""

    def __init__(
        self,
        client: PropexoClient,
        stop: Stop,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_age: float = MAX_AGE_SECONDS,
    ) -> None:
        self._client = client
        self._stop = stop
        self._clock = stop.clock
        self._capacity = capacity
        self._max_age = max_age
        self._lock = threading.Lock()
        self._views: dict[str, _Pages] = {}
        self._writes: dict[str, _Writes] = {}
        self._off = False
        self.stats = ViewStats()

    def lead(self, integration_id: str, lead_id: str, need: dt.datetime) -> LeadView | None:
        """The lead's appointments at or after `need` (aware), and from when they are all
        known; None when the view does not cover `need` and another page is not worth its
        request (read the lead on its own). Call once per distinct lead: each call counts as
        a lead asked about, what pages are weighed against."""
        with self._lock:
            self._view(integration_id).asks += 1
        while True:
            with self._lock:
                if self._off:
                    self.stats.not_covered += 1
                    return None
                view = self._view(integration_id)
                if view.covers(need):
                    self.stats.answered += 1
                    known_from = None if view.complete else view.floor
                    return self._of_lead(integration_id, lead_id, view), known_from
                reading = view.reading
                if reading is None:
                    if not self._worth_a_page(view):
                        self.stats.not_covered += 1
                        return None
                    view.reading = reading = threading.Event()
                    mine = True
                else:
                    mine = False
            if mine:
                try:
                    self._read_page(integration_id, view)
                except RequestFailure as failure:
                    if owner(failure, Request.LEAD_READ) is not Owner.ROW:
                        raise  # the service's or the configuration's, as for a lead's read
                    # Pages this integration will not serve (an order Propexo refuses, say):
                    # every lead is read on its own, and that read's failure is judged.
                    with self._lock:
                        self._off = True
                finally:
                    with self._lock:
                        view.reading = None
                    reading.set()
            else:
                self._stop.wait_for(reading, WAIT_RECHECK_SECONDS)

    def wrote(self, integration_id: str, lead_id: str, booked: BookedAppointment) -> None:
        """Record a booking this sync made (its id "" when not known)."""
        with self._lock:
            writes = self._writes.setdefault(integration_id, _Writes())
            writes.by_lead.setdefault(lead_id, []).append(booked)
            writes.count += 1
            if writes.count > self._capacity:
                self._off = True  # cannot keep every write: answer no lead any more

    def moved(self, integration_id: str, lead_id: str, event_id: str, date: str, time: str) -> None:
        """Record that this sync moved appointment `event_id` of the lead to date and time."""
        with self._lock:
            sources = [self._writes.get(integration_id, _Writes()).by_lead]
            view = self._views.get(integration_id)
            if view is not None:
                sources.append(view.by_lead)
            for by_lead in sources:
                held = by_lead.get(lead_id, [])
                for index, appointment in enumerate(held):
                    if appointment.id == event_id:
                        held[index] = BookedAppointment(event_id, date, time)

    def _of_lead(self, integration_id: str, lead_id: str, view: _Pages) -> list[BookedAppointment]:
        """The lead's appointments from the pages and this sync's writes (lock held)."""
        found = list(view.by_lead.get(lead_id, ()))
        for booked in self._writes.get(integration_id, _Writes()).by_lead.get(lead_id, ()):
            same = [
                a
                for a in found
                if (booked.id and a.id == booked.id)
                or (not booked.id and (a.date, a.time) == (booked.date, booked.time))
            ]
            if not same:
                found.append(booked)
        return found

    def summary(self) -> dict[str, int]:
        with self._lock:
            return {
                "pages": self.stats.pages,
                "leads_answered": self.stats.answered,
                "leads_read_on_their_own": self.stats.not_covered,
            }

    def _view(self, integration_id: str) -> _Pages:
        # Caller holds the lock.
        view = self._views.get(integration_id)
        now = self._clock.now()
        if view is None or (view.reading is None and now - view.read_at > self._max_age):
            asks = view.asks if view is not None else 0
            view = self._views[integration_id] = _Pages(read_at=now, asks=asks)
        return view

    def _worth_a_page(self, view: _Pages) -> bool:
        # Caller holds the lock.
        if view.complete or view.full:
            return False
        if view.pages == 0:
            return True
        left = math.ceil(max(0, (view.total or 0) - view.offset) / READ_BACK_PAGE)
        return left > 0 and view.pages < max(1, view.asks)

    def _read_page(self, integration_id: str, view: _Pages) -> None:
        page = self._client.integration_appointments(
            integration_id, order_by=ORDER, offset=view.offset, counter="integration_read"
        )
        with self._lock:
            self.stats.pages += 1
            view.pages += 1
            if view.total is None:
                view.total = page.total
            for listed in page.appointments:
                if listed.id in view.ids:
                    continue
                view.ids.add(listed.id)
                booked = BookedAppointment(listed.id, listed.date, listed.time)
                for lead_id in listed.lead_ids:
                    view.by_lead.setdefault(lead_id, []).append(booked)
                instant = dt.datetime.fromisoformat(f"{listed.date}T{listed.time}").replace(
                    tzinfo=dt.UTC
                )
                if view.floor is None or instant < view.floor:
                    view.floor = instant
            if not page.more or not page.size:
                view.complete = True
            # Overlap one row, in case one above moves down past the offset meanwhile.
            view.offset += max(1, page.size - 1)
            if len(view.ids) >= self._capacity:
                view.full = True
