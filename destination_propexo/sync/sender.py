"""Sending one appointment: create or move, retry what is safe, read back what is unclear.

A create whose answer was lost may have queued a job. Before such a request is sent
again, the lead's appointments are read back; one at the same UTC date and time means the
first send worked. The read-back is repeated for a while (the settle window), since a
queued job becomes visible only once the PMS has taken it. At Entrata and Yardi REST a new
appointment shows only after Propexo's next data sync, so an unclear create there is not read
back at all: it is never sent again in this sync (an outage stops the sync, and the next
attempt checks Propexo's write logs first; otherwise it ends "outcome unknown"). A move
(PUT) is handled like a create: its effect is harmless to repeat, but a lost answer is still
read back (the appointment at its new time) before any re-send, so each move is one job that
is followed.
Whether to book or move at all is the ledger's (`ledger.py`), not the sender's.

Whose failure a request's last failure is comes from `errors.owner`; a failure that is the
service's rejects the row only when Propexo answered another write (2xx) after this row's
first failure (the service works, this row is what it cannot process), and never when the
last failure reached no handler (a 429, a refused connection: the row was never looked
at). Otherwise it is an outage, and the sync stops with `ServiceUnavailable` (transient): no
row is rejected for it.
"""

from __future__ import annotations

from collections.abc import Callable

from destination_propexo.errors import (
    ConfigError,
    FailureKind,
    Owner,
    Request,
    RequestFailure,
    ServiceUnavailable,
    Unresolved,
    owner,
)
from destination_propexo.propexo.client import BookedAppointment, PropexoClient
from destination_propexo.propexo.retry import SAFE_KINDS, RetryPolicy, retrying
from destination_propexo.records import outcomes
from destination_propexo.records.mapping import AppointmentRequest, MoveRequest
from destination_propexo.records.outcomes import Accepted, Queued, Rejected
from destination_propexo.records.vendors import LEADS_PATH
from destination_propexo.stop import Stop

# Seconds after an unclear answer at which the lead's appointments are read back.
READ_BACK_SCHEDULE = (0.0, 2.0, 5.0, 10.0, 20.0, 30.0)
# The settle window never drops below this: a job takes a moment to become visible.
MIN_SETTLE_SECONDS = 2.0


def read_back_schedule(settle_seconds: float) -> tuple[float, ...]:
    """Read-back times within a settle window, clamped to MIN_SETTLE_SECONDS..30 s."""
    bound = min(READ_BACK_SCHEDULE[-1], max(MIN_SETTLE_SECONDS, settle_seconds))
    return (*(at for at in READ_BACK_SCHEDULE if at < bound), bound)


class AppointmentSender:
    """Runs the create lifecycle of one request; thread-safe."""

    def __init__(
        self,
        client: PropexoClient,
        policy: RetryPolicy,
        stop: Stop,
        *,
        settle_seconds: float = READ_BACK_SCHEDULE[-1],
    ) -> None:
        self._client = client
        self._policy = policy
        self._stop = stop
        self._schedule = read_back_schedule(settle_seconds)

    def send(self, request: AppointmentRequest) -> Accepted | Rejected | Queued:
        watch = _Watch(self._client)

        def create() -> Accepted | Rejected | Queued:
            return Queued(
                watch.exchange(
                    lambda: self._client.create_appointment(request.body(), vendor=request.vendor)
                )
            )

        if not request.vendor.readable_at_once:
            return self._send_unreadable(request, create, watch)

        try:
            return retrying(
                create,
                policy=self._policy,
                stop=self._stop,
                idempotent=False,
                read_back=lambda failure: self._read_back(
                    request.integration_id,
                    request.lead_id,
                    lambda a: (
                        (a.date, a.time) == (request.appointment_date, request.appointment_time)
                    ),
                    failure,
                    what="the create",
                    hint=_check_hint(request),
                    watch=watch,
                ),
            )
        except Unresolved as unresolved:
            return self._verdict(
                unresolved,
                Request.CREATE,
                watch,
                Rejected(
                    outcomes.OUTCOME_UNKNOWN,
                    f"the create got no clear answer after {unresolved.attempts} attempts "
                    f"(last: {unresolved}), and the lead's appointments, read back for "
                    f"{self._schedule[-1]:g} s, do not show it yet; it may still appear. "
                    f"{_check_hint(request)} before re-sending",
                ),
            )
        except RequestFailure as failure:
            return self._verdict(failure, Request.CREATE, watch, _given_up(failure, "booked"))

    def _send_unreadable(
        self,
        request: AppointmentRequest,
        create: Callable[[], Accepted | Rejected | Queued],
        watch: _Watch,
    ) -> Accepted | Rejected | Queued:
        """A create at a vendor whose new appointment cannot be read back at once (it shows
        after Propexo's next data sync): an unclear answer cannot be checked now, so it is
        never sent again in this sync; it ends "outcome unknown" when Propexo answers other
        writes within the settle window, and otherwise (an outage) stops the sync like any
        other create: the next attempt checks Propexo's write logs for it before sending it
        again (`recent_writes.py`). A clear failure is judged as elsewhere."""
        try:
            return retrying(create, policy=self._policy, stop=self._stop, idempotent=False)
        except Unresolved as unresolved:
            # Whose failure it is: wait the settle window (as a read-back would) for Propexo
            # to answer other writes; a stop raises here, leaving the row to the next attempt.
            started = self._stop.clock.now()
            for at in self._schedule:
                if watch.answered_elsewhere():
                    break
                self._stop.sleep_until(started + at)
            return self._verdict(
                unresolved,
                Request.CREATE,
                watch,
                Rejected(
                    outcomes.OUTCOME_UNKNOWN,
                    f"the create got no clear answer (last: {unresolved}), and "
                    f"{request.vendor.name} shows a new appointment only after Propexo's next data "
                    "sync, so it cannot be read back now; it was not sent again, as it may have "
                    f"been booked. {_check_hint(request)} after Propexo's next sync before "
                    "re-sending",
                ),
            )
        except RequestFailure as failure:
            return self._verdict(failure, Request.CREATE, watch, _given_up(failure, "booked"))

    def move(self, request: MoveRequest) -> Accepted | Rejected | Queued:
        event_id = request.event_id
        if event_id is None:
            return Rejected(
                outcomes.NOT_CONFIRMED_YET,
                f"not moved: the lead's tour at {request.moved_from} was booked by an earlier "
                "row of this sync (or, at a PMS whose new appointments show only after "
                "Propexo's next data sync, by a recent sync) and the PMS has not confirmed it "
                "yet, so its appointment id is not known; nothing was changed. Send this row "
                "again in a later sync",
            )

        watch = _Watch(self._client)

        def put() -> Accepted | Rejected | Queued:
            return Queued(
                watch.exchange(
                    lambda: self._client.update_appointment(
                        event_id, request.body(), vendor=request.vendor
                    )
                )
            )

        try:
            return retrying(
                put,
                policy=self._policy,
                stop=self._stop,
                idempotent=False,
                read_back=self._move_read_back(request, event_id, watch),
            )
        except Unresolved as unresolved:
            checked = (
                f"the lead's appointments, read back for {self._schedule[-1]:g} s, do not show "
                "it yet; it may still happen"
                if request.lead_id is not None
                else "without a lead_id column it cannot be read back"
            )
            return self._verdict(
                unresolved,
                Request.MOVE,
                watch,
                Rejected(
                    outcomes.OUTCOME_UNKNOWN,
                    f"the move of appointment {event_id} got no clear answer after "
                    f"{unresolved.attempts} attempts (last: {unresolved}), and {checked}. "
                    f"{_move_hint(request, event_id)} before re-sending",
                ),
            )
        except RequestFailure as failure:
            if failure.kind is FailureKind.NOT_FOUND:
                return Rejected(
                    outcomes.REFUSED_BY_PROPEXO,
                    f"event_id: Propexo has no appointment {event_id!r} ({failure})",
                )
            return self._verdict(failure, Request.MOVE, watch, _given_up(failure, "moved"))

    def _verdict(
        self, failure: RequestFailure, request: Request, watch: _Watch, rejected: Rejected
    ) -> Rejected:
        """`rejected` if the failure is the row's; raises if it is the configuration's or an
        outage (`errors.owner`, then: did Propexo answer other writes meanwhile?)."""
        who = owner(failure, request)
        if who is Owner.CONFIGURATION:
            raise ConfigError(
                f"Propexo answered the {request.value} request with {failure}: nothing at "
                f"{self._client.base_url}{LEADS_PATH}... takes it. Check api_url (the API's "
                "base URL only, such as https://api.propexo.com)."
            )
        if who is Owner.ROW:
            return rejected
        # A failure that reached no handler (429, a refused connection) says nothing about
        # the row, however many other rows got through: only the service's.
        if failure.kind not in SAFE_KINDS and watch.answered_elsewhere():
            return Rejected(
                rejected.category,
                f"{rejected.reason} (Propexo answered other rows meanwhile, so it is this row "
                "it cannot process)",
                job_id=rejected.job_id,
            )
        why = (
            "before any handler saw it"
            if failure.kind in SAFE_KINDS
            else "and no other write succeeded meanwhile"
        )
        raise ServiceUnavailable(
            f"Propexo is not answering: a {request.value} request failed {failure.attempts} "
            f"times (last: {failure}) {why}. The sync stopped; the next attempt re-sends from "
            "the last confirmed state, checking first what this one may have booked."
        )

    def _move_read_back(
        self, request: MoveRequest, event_id: str, watch: _Watch
    ) -> Callable[[RequestFailure], Accepted | Rejected | None] | None:
        """How an unclear move is read back: the appointment at its new time among the
        lead's. Propexo reads appointments per lead, so a row without lead_id cannot be."""
        lead_id = request.lead_id
        if lead_id is None:
            return None
        slot = (request.appointment_date, request.appointment_time)
        return lambda failure: self._read_back(
            request.integration_id,
            lead_id,
            lambda a: a.id == event_id and (a.date, a.time) == slot,
            failure,
            what="the move",
            hint=_move_hint(request, event_id),
            watch=watch,
        )

    def _read_back(
        self,
        integration_id: str,
        lead_id: str,
        matches: Callable[[BookedAppointment], bool],
        failure: RequestFailure,
        *,
        what: str,
        hint: str,
        watch: _Watch,
    ) -> Accepted | Rejected | None:
        """Adopt what the unclear send did; None means it did nothing, send again."""
        started = self._stop.clock.now()
        for at in self._schedule:
            # A stop raises here: stopping is no evidence that nothing was written.
            self._stop.sleep_until(started + at)
            try:
                booked = self._client.lead_appointments(integration_id, lead_id)
            except RequestFailure as read_failure:
                return self._verdict(
                    read_failure,
                    Request.LEAD_READ,
                    watch,
                    Rejected(
                        outcomes.OUTCOME_UNKNOWN,
                        f"{what} got no clear answer ({failure}) and reading the lead's "
                        f"appointments back failed ({read_failure}); {hint} before re-sending",
                    ),
                )
            for appointment in booked:
                if matches(appointment):
                    return Accepted(
                        how=outcomes.ADOPTED,
                        write_status="SUCCESS",
                        created_record_id=appointment.id or None,
                    )
        return None


class _Watch:
    """One row's sends: marks how many writes Propexo had answered at its first failure, so
    its verdict can ask whether Propexo answered other rows' writes since."""

    def __init__(self, client: PropexoClient) -> None:
        self._client = client
        self._mark: int | None = None

    def exchange(self, send: Callable[[], str]) -> str:
        try:
            return send()
        except RequestFailure:
            if self._mark is None:
                self._mark = self._client.write_mark()
            raise

    def answered_elsewhere(self) -> bool:
        return self._mark is not None and self._client.writes_answered_since(self._mark)


def _check_hint(request: AppointmentRequest) -> str:
    return (
        f"check GET /v1/appointments/?lead_id={request.lead_id}&integration_id="
        f"{request.integration_id} for {request.appointment_date} "
        f"{request.appointment_time} UTC"
    )


def _move_hint(request: MoveRequest, event_id: str) -> str:
    where = (
        f"GET /v1/appointments/?lead_id={request.lead_id}&integration_id={request.integration_id}"
        if request.lead_id is not None
        else "the lead's appointments"
    )
    return f"check {where} for appointment {event_id} at {request.moved_to}"


def _given_up(failure: RequestFailure, done: str) -> Rejected:
    if failure.kind is FailureKind.BAD_REQUEST:
        return Rejected(outcomes.REFUSED_BY_PROPEXO, f"Propexo refused the record: {failure}")
    if failure.kind is FailureKind.NOT_FOUND:
        return Rejected(outcomes.REFUSED_BY_PROPEXO, f"Propexo answered {failure}")
    # Only failures that reached no handler are retried until the policy gives up, so
    # nothing was created: "not booked" is the truth.
    return Rejected(
        outcomes.NOT_BOOKED,
        f"not {done} after {failure.attempts} attempts; last answer: {failure}",
    )
