"""The booking ledger: per lead, what this sync knows for certain, and whose turn it is.

Every create-if-absent decision and every one-upcoming-tour decision reads it, and only
final outcomes are written to it.

Create if absent (append_dedup on lead + date + time), per appointment slot:
- booked: write status SUCCESS (or PENDING at the bound, or untracked: counted accepted),
  adopted by a read-back after an unclear answer, or found already in Propexo;
- failed: the PMS refused the job, Propexo refused the request, or retries ran out; a
  repeat of the booking is sent again (it may succeed now);
- unknown: an unclear answer that no read-back could settle; a repeat is not sent (it
  could book the tour twice) and is reported as unknown too.
A slot whose first row is still being sent is held as a claim (the first row's outcome
future): a repeat waits for it, then asks again.

Per lead, the ledger also holds the appointments Propexo had when the lead was first seen,
kept up to date with what this sync's own writes did: from the integration's pages
(`appointment_view.py`) when they cover what the row needs (then `known_from` says from
when), completed by one read of the lead when a later row needs older ones; otherwise read
once per lead per sync. Every write this sync makes is recorded in the view too (`wrote`,
`moved`), so the pages stay right for this sync's own writes to leads the ledger does not
hold (or has dropped).

One upcoming tour per lead (append_dedup on `lead_id`): the lead's records take turns in
input order (`queue_turn`, called as records are read); in its turn a record is judged by
`reschedule.plan_for_lead` against the lead's appointments (`claim_upcoming`), and its final
outcome updates them (`settle_upcoming`) before the next record's turn. An outcome that
leaves the lead's appointments unknown (an unclear create or move) makes the lead's later
records of the sync rejected as unknown too: acting on a guess could book twice or move the
wrong way. Every other row naming the lead takes the same turn, in any stream and mode (an
`update` row without `lead_id` takes its event id's turn), and its final write updates the
lead's appointments (`settle`, `booked`, `moved`), so every stream sees the others' bookings.

The head of a run (`found_before`, append mode): a row whose lead had an appointment at its
time before this sync, not yet matched by another row, was booked by an earlier attempt.

Memory: entries are kept per lead, least recently used first out, once more than
`capacity` slots are held; a lead with a claim or a turn in flight is never dropped.
Dropping a lead is safe: when the lead comes again its appointments are read from Propexo
again (or from the view, which holds this sync's writes), and that read shows every booking
whose job succeeded (Propexo reads back a written appointment at once; at Entrata and Yardi
REST only after its next data sync, where create-if-absent across syncs is documented as
weaker: docs/reliability.md). Claims are bounded by the write window (one per record in it).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import NoReturn

from destination_propexo.errors import (
    ConfigError,
    LookupUnavailable,
    Owner,
    Request,
    RequestFailure,
    owner,
)
from destination_propexo.propexo.client import BookedAppointment
from destination_propexo.records import outcomes
from destination_propexo.records.mapping import AppointmentRequest, MoveRequest
from destination_propexo.records.outcomes import Accepted, Outcome, Rejected
from destination_propexo.stop import Stop
from destination_propexo.sync.appointment_view import AppointmentView
from destination_propexo.sync.recent_writes import RecentWrites
from destination_propexo.sync.reschedule import (
    Create,
    Move,
    Nothing,
    Refuse,
    plan_for_lead,
    utc_instant,
)

DEFAULT_CAPACITY = 100_000
LOAD_RECHECK_SECONDS = 0.1

LeadKey = tuple[str, str]
SlotKey = tuple[str, str]
# Whose turn: a lead (integration id, lead id), or an appointment (event id,).
TurnKey = tuple[str, ...]


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
    # Every appointment of the lead, duplicates included; an id is "" while unconfirmed.
    in_propexo: list[BookedAppointment] = field(default_factory=list)
    final: dict[SlotKey, Outcome] = field(default_factory=dict)
    in_flight: dict[SlotKey, Future[Outcome]] = field(default_factory=dict)
    # An earlier write of the lead whose outcome is unknown (one-upcoming-tour streams).
    unsure: Rejected | None = None
    # Propexo refused to read this lead (400/404: the row's, see errors.owner): every row
    # of the lead in this sync is rejected with it, and the sync goes on.
    refused: Rejected | None = None
    # Appointments the lead had before this sync, per slot, not yet matched by a row at the
    # head of the run (`found_before`): each stands for one row an earlier attempt booked.
    before: Counter[SlotKey] = field(default_factory=Counter)
    # Read from the integration's view: appointments before this instant are not known
    # yet (None: every appointment of the lead is known).
    known_from: dt.datetime | None = None

    def at(self, slot: SlotKey) -> BookedAppointment | None:
        return next((a for a in self.in_propexo if (a.date, a.time) == slot), None)

    @property
    def size(self) -> int:
        return len(self.in_propexo) + len(self.final)


class BookingLedger:
    """Booking decisions (create if absent, one upcoming tour per lead) and the turns of
    records of one lead or event, for one sync; thread-safe."""

    def __init__(
        self,
        read_lead: Callable[[str, str], list[BookedAppointment]],
        stop: Stop,
        *,
        capacity: int = DEFAULT_CAPACITY,
        sync_start: dt.datetime | None = None,
        view: AppointmentView | None = None,
        recent: RecentWrites | None = None,
    ) -> None:
        """`sync_start` (aware; now by default) is what "upcoming" is measured from; `view`
        answers leads from the integration's pages where that is cheaper (appointment_view.py);
        `recent` gives a lead's creates done but not yet readable, at vendors whose
        appointments show after Propexo's next data sync (recent_writes.py)."""
        self._read_lead = read_lead
        self._recent = recent
        self._view = view
        self._stop = stop
        self._capacity = capacity
        self.sync_start = sync_start or dt.datetime.now(dt.UTC)
        self._lock = threading.Lock()
        self._leads: OrderedDict[LeadKey, _Lead] = OrderedDict()
        self._turns: dict[TurnKey, Future[Outcome]] = {}
        self._size = 0

    def claim(self, request: AppointmentRequest, outcome: Future[Outcome]) -> Claim:
        """Decide for one record; on `Granted`, `outcome` holds the slot until it is final."""
        slot = (request.appointment_date, request.appointment_time)
        lead = self._lead((request.integration_id, request.lead_id), utc_instant(*slot), request)
        if lead.refused is not None:
            return Settled(lead.refused)
        with self._lock:
            first = lead.in_flight.get(slot)
            if first is not None:
                return Wait(first)
            known = _repeat_of(lead.final.get(slot))
            if known is not None:
                return Settled(known)
            existing = lead.at(slot)
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
            self._add_booking(lead, request, outcome)
            self._evict()

    def found_before(self, request: AppointmentRequest) -> Settled | None:
        """At the head of a run in append mode: the row is settled as already booked when
        its lead had an appointment at its time before this sync that no earlier row of the
        run has matched (an earlier attempt booked it, and Airbyte re-sent it); None: create.

        Each appointment found matches one row, so rows repeating a booking on purpose are
        created as often as they were not booked yet."""
        slot = (request.appointment_date, request.appointment_time)
        lead = self._lead((request.integration_id, request.lead_id), utc_instant(*slot), request)
        if lead.refused is not None:
            return Settled(lead.refused)
        with self._lock:
            if lead.before[slot] <= 0:
                return None
            lead.before[slot] -= 1
            existing = lead.at(slot)
        return Settled(
            Accepted(
                how=outcomes.EXISTING,
                write_status="EXISTING",
                created_record_id=existing.id if existing is not None and existing.id else None,
            )
        )

    def booked(self, request: AppointmentRequest, outcome: Outcome) -> None:
        """A plain create's final outcome: the lead's appointments show it (if the lead is
        held), so every stream's later rows of the lead see it."""
        with self._lock:
            lead = self._leads.get((request.integration_id, request.lead_id))
            if lead is not None and lead.ready.is_set():
                self._add_booking(lead, request, outcome)
                self._evict()
            else:
                self._view_wrote(request, outcome)

    def moved(self, request: MoveRequest, outcome: Outcome) -> None:
        """A move by event id's final outcome: the lead's appointment is at its new time."""
        if request.lead_id is None or not isinstance(outcome, Accepted):
            return
        if self._view is not None and request.event_id:
            self._view.moved(
                request.integration_id,
                request.lead_id,
                request.event_id,
                request.appointment_date,
                request.appointment_time,
            )
        with self._lock:
            lead = self._leads.get((request.integration_id, request.lead_id))
            if lead is None or not lead.ready.is_set():
                return
            for index, appointment in enumerate(lead.in_propexo):
                if appointment.id and appointment.id == request.event_id:
                    lead.in_propexo[index] = BookedAppointment(
                        appointment.id, request.appointment_date, request.appointment_time
                    )
                    return

    def _add_booking(self, lead: _Lead, request: AppointmentRequest, outcome: Outcome) -> None:
        """A booking this sync made, added to the lead's appointments (lock held)."""
        if not isinstance(outcome, Accepted) or outcome.how not in (
            outcomes.CREATED,
            outcomes.ADOPTED,
        ):
            return
        lead.in_propexo.append(
            BookedAppointment(
                outcome.created_record_id or "", request.appointment_date, request.appointment_time
            )
        )
        self._size += 1
        self._view_wrote(request, outcome)

    def _view_wrote(self, request: AppointmentRequest, outcome: Outcome) -> None:
        """Keep the view right for a booking this sync made (lock held)."""
        if self._view is None or not isinstance(outcome, Accepted):
            return
        if outcome.how not in (outcomes.CREATED, outcomes.ADOPTED):
            return
        self._view.wrote(
            request.integration_id,
            request.lead_id,
            BookedAppointment(
                outcome.created_record_id or "", request.appointment_date, request.appointment_time
            ),
        )

    def queue_turn(self, key: TurnKey, outcome: Future[Outcome]) -> Future[Outcome] | None:
        """Queue a record behind the earlier records of its lead or event (call in input
        order); returns the outcome to wait for before its turn, or None to go now.

        The outcome of each record is set only after its `settle_upcoming`, so the next
        record's turn sees what the earlier one did."""
        with self._lock:
            before = self._turns.get(key)
            self._turns[key] = outcome
        outcome.add_done_callback(lambda done: self._end_turn(key, done))
        return before if before is not None and not before.done() else None

    def claim_upcoming(self, request: AppointmentRequest) -> Settled | Create | Move:
        """In the record's turn: settled without a request, or the create or move to send."""
        record = utc_instant(request.appointment_date, request.appointment_time)
        # The rule needs the lead's upcoming tours and any at the record's instant.
        lead = self._lead(
            (request.integration_id, request.lead_id), min(record, self.sync_start), request
        )
        if lead.refused is not None:
            return Settled(lead.refused)
        with self._lock:
            if lead.unsure is not None:
                return Settled(_after_unsure(lead.unsure))
            plan = plan_for_lead(record, self.sync_start, list(lead.in_propexo))
        if isinstance(plan, Move) and not plan.appointment.id:
            # Booked earlier in this sync without a confirmed id (write status PENDING or
            # not tracked): Propexo may show it by now.
            plan = Move(self._confirmed(request, lead, plan.appointment), plan.to)
        if isinstance(plan, Nothing):
            return Settled(
                Accepted(
                    how=outcomes.EXISTING,
                    write_status="EXISTING",
                    created_record_id=plan.appointment.id or None,
                )
            )
        if isinstance(plan, Refuse):
            return Settled(Rejected(outcomes.SEVERAL_UPCOMING, plan.reason))
        return plan

    def settle_upcoming(
        self, request: AppointmentRequest, plan: Create | Move, outcome: Outcome
    ) -> None:
        """Record what a granted create or move did to the lead's appointments."""
        with self._lock:
            lead = self._leads.get((request.integration_id, request.lead_id))
            if lead is None:  # never dropped in its turn; kept defensive for clarity
                return
            if isinstance(outcome, Rejected):
                if outcome.category == outcomes.OUTCOME_UNKNOWN:
                    lead.unsure = outcome
                return
            booked = BookedAppointment(
                id=outcome.created_record_id or "",
                date=request.appointment_date,
                time=request.appointment_time,
            )
            if isinstance(plan, Move):
                moved = plan.appointment
                if moved in lead.in_propexo:
                    lead.in_propexo.remove(moved)
                booked = BookedAppointment(moved.id or booked.id, booked.date, booked.time)
                if self._view is not None and booked.id:
                    self._view.moved(
                        request.integration_id, request.lead_id, booked.id, booked.date, booked.time
                    )
            else:
                self._size += 1
                if self._view is not None:
                    self._view.wrote(request.integration_id, request.lead_id, booked)
            lead.in_propexo.append(booked)
            self._evict()

    @property
    def slots(self) -> int:
        """How many slots are held (for the bound and its tests)."""
        with self._lock:
            return self._size

    def _lead(
        self, key: LeadKey, need: dt.datetime | None, request: AppointmentRequest | None = None
    ) -> _Lead:
        """The lead, with every appointment at or after `need` known (all of them, read on
        their own and never from the view, when `need` is None); `request`, the row asking,
        tells its vendor's reading of time for creates not yet readable."""
        with self._lock:
            lead = self._leads.get(key)
            loader = lead is None
            if lead is None:
                lead = self._leads[key] = _Lead()
            else:
                self._leads.move_to_end(key)
        if loader:
            self._load(key, lead, need, request)
        while not lead.ready.is_set():
            self._stop.wait_for(lead.ready, LOAD_RECHECK_SECONDS)
        if lead.load_error is not None:
            raise _lookup_unavailable(key, lead.load_error)
        with self._lock:
            known_from = lead.known_from
        if known_from is not None and (need is None or need <= known_from) and not lead.refused:
            self._read_older(key, lead)
        return lead

    def _read_older(self, key: LeadKey, lead: _Lead) -> None:
        """Complete a lead read from the view with its own read: older appointments join."""
        try:
            found = self._read_lead(*key)
        except RequestFailure as failure:
            if owner(failure, Request.LEAD_READ) is not Owner.ROW:
                raise _lookup_unavailable(key, failure) from None
            with self._lock:
                lead.refused = _refused(key, failure)
            return
        with self._lock:
            if lead.known_from is None:
                return
            held = {a.id for a in lead.in_propexo}
            # This sync's own bookings without a confirmed id are held as "": not twice.
            unconfirmed = {(a.date, a.time) for a in lead.in_propexo if not a.id}
            older = [a for a in found if a.id not in held and (a.date, a.time) not in unconfirmed]
            lead.in_propexo.extend(older)
            lead.before.update((a.date, a.time) for a in older)
            self._size += len(older)
            lead.known_from = None

    def _load(
        self,
        key: LeadKey,
        lead: _Lead,
        need: dt.datetime | None,
        request: AppointmentRequest | None = None,
    ) -> None:
        try:
            view = self._view if need is not None else None
            viewed = view.lead(*key, need) if view is not None and need is not None else None
            if viewed is not None:
                found, lead.known_from = viewed
            else:
                found = self._read_lead(*key)
            found = [*found, *self._not_yet_readable(key, found, request)]
        except RequestFailure as failure:
            if owner(failure, Request.LEAD_READ) is not Owner.ROW:
                self._load_failed(key, lead, failure)
            with self._lock:
                lead.refused = _refused(key, failure)
                lead.ready.set()
            return
        except BaseException as exc:
            self._load_failed(key, lead, exc)
        with self._lock:
            lead.in_propexo.extend(found)
            lead.before.update((a.date, a.time) for a in found)
            self._size += lead.size
            lead.ready.set()
            self._evict()

    def _not_yet_readable(
        self,
        key: LeadKey,
        found: list[BookedAppointment],
        request: AppointmentRequest | None,
    ) -> list[BookedAppointment]:
        """At a vendor whose new appointments show only after Propexo's next data sync: the
        lead's creates its write logs show done (an earlier attempt's), beyond those `found`
        already shows, each as an appointment without an id."""
        if (
            self._recent is None
            or request is None
            or request.vendor.readable_at_once
            or request.sent is None
        ):
            return []
        return self._recent.not_yet_readable(*key, request.sent.zone, found)

    def _load_failed(self, key: LeadKey, lead: _Lead, exc: BaseException) -> NoReturn:
        """The service's (or a bug's) failure to read a lead: stops the sync."""
        with self._lock:
            lead.load_error = exc
            self._leads.pop(key, None)
        lead.ready.set()
        raise _lookup_unavailable(key, exc) from None

    def _evict(self) -> None:
        """Drop least recently used leads past the capacity (caller holds the lock)."""
        if self._size <= self._capacity:
            return
        # The newest lead is kept whatever its size: the caller is about to use it.
        for key in list(self._leads)[:-1]:
            lead = self._leads[key]
            if lead.in_flight or not lead.ready.is_set() or key in self._turns:
                continue
            del self._leads[key]
            self._size -= lead.size
            if self._size <= self._capacity:
                return

    def _confirmed(
        self, request: AppointmentRequest, lead: _Lead, unconfirmed: BookedAppointment
    ) -> BookedAppointment:
        """The appointment with its id read back from Propexo, or as it was if not shown."""
        try:
            found = self._read_lead(request.integration_id, request.lead_id)
        except RequestFailure:
            return unconfirmed
        slot = (unconfirmed.date, unconfirmed.time)
        with self._lock:
            known = {a.id for a in lead.in_propexo}
            for appointment in found:
                if (appointment.date, appointment.time) == slot and appointment.id not in known:
                    lead.in_propexo.remove(unconfirmed)
                    lead.in_propexo.append(appointment)
                    return appointment
        return unconfirmed

    def _end_turn(self, key: TurnKey, done: Future[Outcome]) -> None:
        with self._lock:
            if self._turns.get(key) is done:
                del self._turns[key]


def _refused(key: LeadKey, failure: RequestFailure) -> Rejected:
    return Rejected(
        outcomes.REFUSED_BY_PROPEXO,
        f"lead_id: Propexo would not read the appointments of lead {key[1]!r} "
        f"({failure}), so whether it is booked cannot be checked; nothing was sent",
    )


def _after_unsure(earlier: Rejected) -> Rejected:
    return Rejected(
        outcomes.OUTCOME_UNKNOWN,
        "not sent: an earlier row of this lead in this sync has an unknown outcome, so where "
        f"the lead's tour stands is not known ({earlier.reason})",
        job_id=earlier.job_id,
    )


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
    if owner(error, Request.LEAD_READ) is Owner.CONFIGURATION:
        return ConfigError(
            f"Propexo answered the read of lead {lead_id}'s appointments with {error}: the "
            "request went to the wrong place. Check api_url (the API's base URL only, such as "
            "https://api.propexo.com)."
        )
    return LookupUnavailable(
        f"Could not read the appointments of lead {lead_id} (integration {integration_id}) "
        f"to check for an existing booking: {error}. Nothing was sent for it; the next "
        "attempt re-sends from the last confirmed state."
    )
