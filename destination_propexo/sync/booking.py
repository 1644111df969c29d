"""One record's request to its final outcome: the booking decision, the send, and the
follow-up of its write job.

    book(request)          -> [ledger: settled / wait for the same booking / granted]
    book_upcoming(request) -> [ledger: the lead's turn, then settled / create / move]
    move(request)          -> [ledger: the appointment's turn]
      -> sender (create or move, retries, read-back) -> Queued(job) | Accepted | Rejected
      -> status tracker (job) -> Accepted | Rejected
      -> the ledger (what the write did), then the record's outcome future

Nothing here blocks a worker on another record: a repeat of a booking in flight, or a
record waiting for its turn, is queued again when the earlier row's outcome is final.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

import msgspec

from destination_propexo.records import outcomes
from destination_propexo.records.mapping import AppointmentRequest, MoveRequest
from destination_propexo.records.outcomes import Accepted, Outcome, Queued, Rejected, Reschedule
from destination_propexo.stop import Stop
from destination_propexo.sync.appointment_ids import AppointmentIds
from destination_propexo.sync.ledger import BookingLedger, Granted, Settled
from destination_propexo.sync.reschedule import Create, Move
from destination_propexo.sync.status import StatusTracker
from destination_propexo.workers import WorkerPool

Resolve = Callable[[Outcome], None]


class RequestSender(Protocol):
    """What gets one request to Propexo (or, in a dry run, pretends to)."""

    def send(self, request: AppointmentRequest) -> Accepted | Rejected | Queued: ...

    def move(self, request: MoveRequest) -> Accepted | Rejected | Queued: ...


class Booker:
    """Books requests on a pool of workers; thread-safe."""

    def __init__(
        self,
        *,
        sender: RequestSender,
        stop: Stop,
        workers: int,
        ledger: BookingLedger | None = None,
        tracker: StatusTracker | None = None,
        check_head: bool = True,
        ids: AppointmentIds | None = None,
        inline: bool = False,
    ) -> None:
        """`check_head`: read whether the head of a run is booked already (off in a dry
        run, which sends nothing); `ids` looks up the appointment id of creates confirmed
        without one; `inline`: the sender makes no request (a dry run), so a plain create is
        sent in the caller's thread and its future is done when `book` returns (a worker's
        hand-offs would cost more than the create itself)."""
        self._check_head = check_head
        self._sender = sender
        self._ids = ids
        self._inline = inline
        self._stop = stop
        self._ledger = ledger
        self._tracker = tracker
        self._pool = WorkerPool(stop, workers, "create")
        self._unsent_lock = threading.Lock()
        self._unsent = 0
        self._began = 0

    @property
    def unsent(self) -> int:
        """Write tasks queued or running whose request has not been answered yet: the jobs
        still to come (a record waiting for another's outcome is not one of them)."""
        with self._unsent_lock:
            return self._unsent

    @property
    def began(self) -> int:
        """Records whose booking began on a worker (the rejection brake's records started)."""
        with self._unsent_lock:
            return self._began

    def _begun(self, task: Callable[[], None]) -> Callable[[], None]:
        """`task`, counted as a record begun when it first runs."""

        def begin() -> None:
            with self._unsent_lock:
                self._began += 1
            task()

        return begin

    def book(
        self, request: AppointmentRequest, *, dedup: bool, head: bool = False
    ) -> Future[Outcome]:
        """Start booking in the lead's turn; the future gets the record's final outcome (none
        if the sync stops). `dedup`: create if absent (lead + date + time); `head`: a plain
        create at the head of a run, created only if an earlier attempt did not book it."""
        outcome: Future[Outcome] = Future()
        task = self._begun(lambda: self._book(request, dedup, head, outcome))
        if self._inline and not dedup:
            # Nothing is sent: no turn to keep, no booking to see.
            self._begun(
                lambda: self._follow(
                    self._sender.send(request), outcome.set_result, request.integration_id
                )
            )()
        elif self._ledger is None:
            self._submit(task, "a create")
        else:
            before = self._ledger.queue_turn((request.integration_id, request.lead_id), outcome)
            self._in_turn(before, task, "a create")
        return outcome

    def book_upcoming(self, request: AppointmentRequest) -> Future[Outcome]:
        """One upcoming tour per lead: a create, a move or nothing, decided in the lead's turn
        (records of one lead in input order, different leads at once)."""
        ledger = self._needed_ledger()
        outcome: Future[Outcome] = Future()
        before = ledger.queue_turn((request.integration_id, request.lead_id), outcome)
        upcoming = self._begun(lambda: self._upcoming(ledger, request, outcome))
        self._in_turn(before, upcoming, "a lead's tour")
        return outcome

    def move(self, request: MoveRequest) -> Future[Outcome]:
        """Move appointment `request.event_id`, in the turn of the row's lead (every stream's
        rows of one lead go in input order), or of the appointment when the row names none."""
        ledger = self._needed_ledger()
        outcome: Future[Outcome] = Future()
        turn = (
            (request.integration_id, request.lead_id)
            if request.lead_id is not None
            else (request.event_id or "",)
        )
        before = ledger.queue_turn(turn, outcome)

        def finish(result: Outcome) -> None:
            ledger.moved(request, result)
            outcome.set_result(result)

        self._in_turn(before, self._begun(lambda: self._move(request, finish)), "a move")
        return outcome

    def close(self) -> None:
        self._pool.close()

    def _needed_ledger(self) -> BookingLedger:
        if self._ledger is None:
            raise RuntimeError("append_dedup and update streams need the booking ledger")
        return self._ledger

    def _in_turn(self, before: Future[Outcome] | None, task: Callable[[], None], what: str) -> None:
        if before is None:
            self._submit(task, what)
        else:
            before.add_done_callback(
                self._stop.guarded(lambda _: self._submit(task, what, first=True), "a turn")
            )

    def _submit(self, task: Callable[[], None], what: str, *, first: bool = False) -> None:
        """Run `task` on the pool, counted unsent until it has sent (and its job is tracked);
        `first` for a record already under way, ahead of records not yet started."""
        with self._unsent_lock:
            self._unsent += 1

        def counted() -> None:
            try:
                task()
            finally:
                with self._unsent_lock:
                    self._unsent -= 1

        self._pool.submit(counted, what, first=first)

    def _upcoming(
        self, ledger: BookingLedger, request: AppointmentRequest, outcome: Future[Outcome]
    ) -> None:
        plan = ledger.claim_upcoming(request)
        if isinstance(plan, Settled):
            outcome.set_result(plan.outcome)
            return
        granted: Create | Move = plan

        def finish(result: Outcome) -> None:
            # The ledger first: the lead's next record may start once the outcome is set.
            ledger.settle_upcoming(request, granted, result)
            outcome.set_result(result)

        if isinstance(granted, Create):
            self._follow(
                self._sender.send(request), self._with_id(request, finish), request.integration_id
            )
        else:
            self._move(moving(request, granted), finish)

    def _move(self, request: MoveRequest, resolve: Resolve) -> None:
        self._follow(
            self._sender.move(request),
            lambda result: resolve(as_move(result, request)),
            request.integration_id,
        )

    def _book(
        self, request: AppointmentRequest, dedup: bool, head: bool, outcome: Future[Outcome]
    ) -> None:
        ledger = self._ledger
        if ledger is None:
            resolve = self._with_id(request, outcome.set_result)
            self._follow(self._sender.send(request), resolve, request.integration_id)
            return
        if dedup:
            claim = ledger.claim(request, outcome)
            if isinstance(claim, Settled):
                outcome.set_result(claim.outcome)
                return
            if not isinstance(claim, Granted):
                claim.first.add_done_callback(
                    self._stop.guarded(
                        lambda _: self._retry_claim(request, head, outcome), "a repeat"
                    )
                )
                return
            record: Callable[[AppointmentRequest, Outcome], None] = ledger.settle
        else:
            if head and self._check_head:
                found = ledger.found_before(request)
                if found is not None:
                    outcome.set_result(found.outcome)
                    return
            record = ledger.booked

        def finish(result: Outcome) -> None:
            # The ledger first: the lead's next record may start once the outcome is set.
            record(request, result)
            outcome.set_result(result)

        resolve = self._with_id(request, finish)
        self._follow(self._sender.send(request), resolve, request.integration_id)

    def _with_id(self, request: AppointmentRequest, resolve: Resolve) -> Resolve:
        """`resolve`, first looking up the appointment id of a create confirmed without one."""
        if self._ids is None:
            return resolve
        key = (
            request.integration_id,
            request.lead_id,
            request.appointment_date,
            request.appointment_time,
        )
        return self._ids.completing(key, resolve)

    def _retry_claim(
        self, request: AppointmentRequest, head: bool, outcome: Future[Outcome]
    ) -> None:
        self._submit(
            lambda: self._book(request, True, head, outcome), "a repeated booking", first=True
        )

    def _follow(
        self, result: Accepted | Rejected | Queued, resolve: Resolve, integration_id: str
    ) -> None:
        """Resolve with the sender's result, or with its write job's once it is known."""
        if not isinstance(result, Queued):
            resolve(result)
        elif self._tracker is not None:
            self._tracker.track(result.job_id, resolve, integration_id=integration_id)
        else:
            resolve(Accepted(job_id=result.job_id, write_status="UNTRACKED"))


def moving(request: AppointmentRequest, plan: Move) -> MoveRequest:
    """The move of the lead's one upcoming appointment to the record's time."""
    return MoveRequest(
        event_id=plan.appointment.id or None,
        integration_id=request.integration_id,
        lead_id=request.lead_id,
        appointment_date=request.appointment_date,
        appointment_time=request.appointment_time,
        unit_id=request.unit_id,
        notes=request.notes,
        moved_from=plan.moved_from,
        time_notes=request.time_notes,
        vendor=request.vendor,
        # Mapped for the vendor's update with the record (one-upcoming-tour streams).
        body_fields=request.move_fields or (),
        sent=request.sent,
        time_rule=request.time_rule,
    )


def as_move(outcome: Outcome, request: MoveRequest) -> Outcome:
    """A move's outcome, saying which appointment moved from when to when."""
    moved = Reschedule(request.event_id, request.moved_from, request.moved_to)
    if isinstance(outcome, Accepted):
        how = outcomes.RESCHEDULED if outcome.how == outcomes.CREATED else outcome.how
        return msgspec.structs.replace(outcome, how=how, reschedule=moved)
    if outcome.category == outcomes.FAILED_IN_PMS:
        # The tracker words a failed job as a create's; this one was a move.
        reason = f"{request.vendor.name} did not move appointment {request.event_id}: " + (
            "; ".join(outcome.errors) or "no error text given"
        )
        return msgspec.structs.replace(outcome, reason=reason, reschedule=moved)
    return msgspec.structs.replace(outcome, reschedule=moved)
