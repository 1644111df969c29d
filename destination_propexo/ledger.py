"""The booking ledger: per appointment slot, what this sync knows for certain.

Every create-if-absent decision reads it, and only final outcomes are written to it:
- booked: write status SUCCESS (or PENDING at the bound, or untracked: counted accepted),
  adopted by a read-back after an unclear answer, or found already in Propexo;
- failed: ResMan refused the job, Propexo refused the request, or retries ran out; a
  repeat of the booking is sent again (it may succeed now);
- unknown: an unclear answer that no read-back could settle; a repeat is not sent (it
  could book the tour twice) and is reported as unknown too.
A slot whose first row is still being sent is held as a claim (the first row's outcome
future): a repeat waits for it, then asks again.

Per lead, the ledger also holds the appointments Propexo had when the lead was first seen,
read once per lead per sync.

Memory: entries are kept per lead, least recently used first out, once more than
`capacity` slots are held; a lead with a claim in flight is never dropped. Dropping a lead
is safe: when the lead comes again its appointments are read from Propexo again, and that
read shows every booking whose job succeeded (Propexo reads back a written appointment
at once). Claims are bounded by the write window (one per record in it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from destination_propexo import outcomes
from destination_propexo.client import BookedAppointment
from destination_propexo.errors import LookupUnavailable, RequestFailure
from destination_propexo.mapping import AppointmentRequest
from destination_propexo.outcomes import Accepted, Outcome, Rejected
from destination_propexo.stop import Stop

DEFAULT_CAPACITY = 100_000
LOAD_RECHECK_SECONDS = 0.1

LeadKey = tuple[str, str]
SlotKey = tuple[str, str]


@dataclass(frozen=True)
class Settled:
    """The record's outcome is known without a request."""

    outcome: Outcome


@dataclass(frozen=True)
class Wait:
    """The same booking is being sent by an earlier row: claim again once it is final."""

    first: Future[Outcome]


@dataclass(frozen=True)
class Granted:
    """Send it; the caller's outcome future is the claim, and settles the ledger when done."""


Claim = Settled | Wait | Granted


@dataclass
class _Lead:
    ready: threading.Event = field(default_factory=threading.Event)
    load_error: BaseException | None = None
    in_propexo: dict[SlotKey, BookedAppointment] = field(default_factory=dict)
    final: dict[SlotKey, Outcome] = field(default_factory=dict)
    in_flight: dict[SlotKey, Future[Outcome]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.in_propexo) + len(self.final)


class BookingLedger:
    """Create-if-absent decisions for one sync; thread-safe."""

    def __init__(
        self,
        read_lead: Callable[[str, str], list[BookedAppointment]],
        stop: Stop,
        *,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._read_lead = read_lead
        self._stop = stop
        self._capacity = capacity
        self._lock = threading.Lock()
        self._leads: OrderedDict[LeadKey, _Lead] = OrderedDict()
        self._size = 0

    def claim(self, request: AppointmentRequest, outcome: Future[Outcome]) -> Claim:
        """Decide for one record; on `Granted`, `outcome` holds the slot until it is final."""
        lead = self._lead((request.integration_id, request.lead_id))
        slot = (request.appointment_date, request.appointment_time)
        with self._lock:
            first = lead.in_flight.get(slot)
            if first is not None:
                return Wait(first)
            known = _repeat_of(lead.final.get(slot))
            if known is not None:
                return Settled(known)
            existing = lead.in_propexo.get(slot)
            if existing is not None:
                found = Accepted(
                    how=outcomes.EXISTING,
                    write_status="EXISTING",
                    created_record_id=existing.id or None,
                )
                # Final for this sync: a later row of the same booking is its duplicate.
                lead.final[slot] = found
                self._size += 1
                return Settled(found)
            lead.in_flight[slot] = outcome
            return Granted()

    def settle(self, request: AppointmentRequest, outcome: Outcome) -> None:
        """Record the final outcome of a granted claim."""
        key = (request.integration_id, request.lead_id)
        slot = (request.appointment_date, request.appointment_time)
        with self._lock:
            lead = self._leads.get(key)
            if lead is None:  # never dropped while claimed; kept defensive for clarity
                return
            lead.in_flight.pop(slot, None)
            if slot not in lead.final:
                self._size += 1
            lead.final[slot] = outcome
            self._evict()

    @property
    def slots(self) -> int:
        """How many slots are held (for the bound and its tests)."""
        with self._lock:
            return self._size

    def _lead(self, key: LeadKey) -> _Lead:
        with self._lock:
            lead = self._leads.get(key)
            loader = lead is None
            if lead is None:
                lead = self._leads[key] = _Lead()
            else:
                self._leads.move_to_end(key)
        if loader:
            self._load(key, lead)
        while not lead.ready.is_set():
            self._stop.wait_for(lead.ready, LOAD_RECHECK_SECONDS)
        if lead.load_error is not None:
            raise _lookup_unavailable(key, lead.load_error)
        return lead

    def _load(self, key: LeadKey, lead: _Lead) -> None:
        try:
            found = self._read_lead(*key)
        except BaseException as exc:
            with self._lock:
                lead.load_error = exc
                self._leads.pop(key, None)
            lead.ready.set()
            raise _lookup_unavailable(key, exc) from None
        with self._lock:
            for appointment in found:
                lead.in_propexo[(appointment.date, appointment.time)] = appointment
            self._size += lead.size
            lead.ready.set()
            self._evict()

    def _evict(self) -> None:
        """Drop least recently used leads past the capacity (caller holds the lock)."""
        if self._size <= self._capacity:
            return
        # The newest lead is kept whatever its size: the caller is about to use it.
        for key in list(self._leads)[:-1]:
            lead = self._leads[key]
            if lead.in_flight or not lead.ready.is_set():
                continue
            del self._leads[key]
            self._size -= lead.size
            if self._size <= self._capacity:
                return


def _repeat_of(first: Outcome | None) -> Outcome | None:
    """What a repeat of a booking with this final outcome gets; None means send it."""
    if isinstance(first, Accepted):
        return Accepted(
            how=outcomes.DUPLICATE_ROW,
            job_id=first.job_id,
            write_status=first.write_status,
            created_record_id=first.created_record_id,
        )
    if isinstance(first, Rejected) and first.category == outcomes.OUTCOME_UNKNOWN:
        return Rejected(
            outcomes.OUTCOME_UNKNOWN,
            "same booking as an earlier row whose outcome is unknown, so it was not sent "
            f"again: {first.reason}",
            job_id=first.job_id,
        )
    return None


def _lookup_unavailable(key: LeadKey, error: BaseException) -> BaseException:
    if not isinstance(error, RequestFailure):
        return error
    integration_id, lead_id = key
    return LookupUnavailable(
        f"Could not read the appointments of lead {lead_id} (integration {integration_id}) "
        f"to check for an existing booking: {error}. Nothing was sent for it; the next "
        "attempt re-sends from the last confirmed state."
    )
