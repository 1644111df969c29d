"""Sending one appointment: create, retry what is safe, read back what is unclear.

A create whose answer was lost may have queued a job. Before such a request is sent
again, the lead's appointments are read back; one at the same UTC date and time means the
first send worked. The read-back is repeated for a while (the settle window), since a
queued job becomes visible only once ResMan has taken it.
"""

from __future__ import annotations

import random
import threading
import time

from destination_propexo import outcomes
from destination_propexo.client import BookedAppointment, PropexoClient
from destination_propexo.errors import FailureKind, RequestFailure, SyncStopped
from destination_propexo.mapping import AppointmentRequest
from destination_propexo.outcomes import Accepted, Queued, Rejected
from destination_propexo.retry import Action, RetryPolicy

# Seconds after an unclear answer at which the lead's appointments are read back.
READ_BACK_SCHEDULE = (0.0, 2.0, 5.0, 10.0, 20.0, 30.0)
# The settle window never drops below this: a job takes a moment to become visible.
MIN_SETTLE_SECONDS = 2.0


def read_back_schedule(settle_seconds: float) -> tuple[float, ...]:
    """Read-back times within a settle window, clamped to MIN_SETTLE_SECONDS..30 s."""
    bound = min(READ_BACK_SCHEDULE[-1], max(MIN_SETTLE_SECONDS, settle_seconds))
    return (*(at for at in READ_BACK_SCHEDULE if at < bound), bound)


class LeadAppointments:
    """Booked (date, time) slots per lead, read once per lead and kept for the sync."""

    def __init__(self, client: PropexoClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def booked(self, request: AppointmentRequest) -> bool:
        lead = (request.integration_id, request.lead_id)
        with self._lock:
            loading = self._loading.setdefault(lead, threading.Lock())
        with loading:
            with self._lock:
                slots = self._slots.get(lead)
            if slots is None:
                found = self._client.lead_appointments(*lead)
                slots = {(a.date, a.time) for a in found}
                with self._lock:
                    self._slots[lead] = slots
        return (request.appointment_date, request.appointment_time) in slots

    def remember(self, request: AppointmentRequest) -> None:
        lead = (request.integration_id, request.lead_id)
        with self._lock:
            self._slots.setdefault(lead, set()).add(
                (request.appointment_date, request.appointment_time)
            )


class AppointmentSender:
    """Runs the create lifecycle of one request; thread-safe."""

    def __init__(
        self,
        client: PropexoClient,
        policy: RetryPolicy,
        *,
        existing: LeadAppointments | None = None,
        stopping: threading.Event | None = None,
        settle_seconds: float = READ_BACK_SCHEDULE[-1],
    ) -> None:
        self._client = client
        self._policy = policy
        self._existing = existing
        self._stopping = stopping or threading.Event()
        self._schedule = read_back_schedule(settle_seconds)

    def send(self, request: AppointmentRequest) -> Accepted | Rejected | Queued:
        if self._existing is not None and self._existing.booked(request):
            return Accepted(how=outcomes.EXISTING, write_status="EXISTING")
        result = self._create(request)
        if self._existing is not None and not isinstance(result, Rejected):
            self._existing.remember(request)
        return result

    def _create(self, request: AppointmentRequest) -> Accepted | Rejected | Queued:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and self._stopping.is_set():
                raise SyncStopped("the sync stopped before this record was sent again")
            try:
                job_id = self._client.create_appointment(request.body())
            except RequestFailure as failure:
                decision = self._policy.decide(
                    failure,
                    attempt=attempt,
                    elapsed=time.monotonic() - started,
                    idempotent=False,
                    rand=random.random(),
                )
                if decision.action is Action.GIVE_UP:
                    return _given_up(failure, attempt)
                if decision.action is Action.READ_BACK:
                    settled = self._read_back(request, failure)
                    if settled is not None:
                        return settled
                    if not decision.may_resend:
                        return _not_booked(failure, attempt)
                self._stopping.wait(decision.delay)
                continue
            return Queued(job_id) if job_id else Accepted(write_status="UNTRACKED")

    def _read_back(
        self, request: AppointmentRequest, failure: RequestFailure
    ) -> Accepted | Rejected | None:
        """Adopt a booking the unclear send made; None means none exists, send again."""
        started = time.monotonic()
        for at in self._schedule:
            # Stopping is no evidence that nothing was booked: never fall through to a re-send.
            if self._stopping.wait(max(0.0, started + at - time.monotonic())):
                raise SyncStopped("the sync stopped while this record's outcome was unclear")
            try:
                match = _same_slot(
                    self._client.lead_appointments(request.integration_id, request.lead_id),
                    request,
                )
            except RequestFailure as read_failure:
                return Rejected(
                    outcomes.OUTCOME_UNKNOWN,
                    f"the create got no clear answer ({failure}) and reading the lead's "
                    f"appointments back failed ({read_failure}); check GET /v1/appointments/"
                    f"?lead_id={request.lead_id}&integration_id={request.integration_id} for "
                    f"{request.appointment_date} {request.appointment_time} UTC before re-sending",
                )
            if match is not None:
                return Accepted(
                    how=outcomes.ADOPTED, write_status="SUCCESS", created_record_id=match.id
                )
        return None


def _same_slot(
    booked: list[BookedAppointment], request: AppointmentRequest
) -> BookedAppointment | None:
    for appointment in booked:
        if (appointment.date, appointment.time) == (
            request.appointment_date,
            request.appointment_time,
        ):
            return appointment
    return None


def _given_up(failure: RequestFailure, attempt: int) -> Rejected:
    if failure.kind is FailureKind.BAD_REQUEST:
        return Rejected(outcomes.REFUSED_BY_PROPEXO, f"Propexo refused the record: {failure}")
    if failure.kind is FailureKind.NOT_FOUND:
        return Rejected(outcomes.REFUSED_BY_PROPEXO, f"Propexo answered {failure}")
    return _not_booked(failure, attempt)


def _not_booked(failure: RequestFailure, attempt: int) -> Rejected:
    return Rejected(
        outcomes.NOT_BOOKED, f"not booked after {attempt} attempts; last answer: {failure}"
    )
