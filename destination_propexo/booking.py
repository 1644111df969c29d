"""One record's request to its final outcome: the create-if-absent decision, the send, and
the follow-up of its write job.

    book(request) -> [ledger: settled / wait for the same booking / granted]
                  -> sender (create, retries, read-back) -> Queued(job) | Accepted | Rejected
                  -> status tracker (job) -> Accepted | Rejected
                  -> the record's outcome future (and, on dedup streams, the ledger)

Nothing here blocks a worker on another record: a repeat of a booking in flight is
re-queued when the first row's outcome is final.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from destination_propexo.ledger import BookingLedger, Granted, Settled
from destination_propexo.mapping import AppointmentRequest
from destination_propexo.outcomes import Accepted, Outcome, Queued, Rejected
from destination_propexo.status import StatusTracker
from destination_propexo.stop import Stop
from destination_propexo.workers import WorkerPool


class RequestSender(Protocol):
    """What gets one request to Propexo (or, in a dry run, pretends to)."""

    def send(self, request: AppointmentRequest) -> Accepted | Rejected | Queued: ...


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
    ) -> None:
        self._sender = sender
        self._stop = stop
        self._ledger = ledger
        self._tracker = tracker
        self._pool = WorkerPool(stop, workers, "create")

    def book(self, request: AppointmentRequest, *, dedup: bool) -> Future[Outcome]:
        """Start booking; the future gets the record's final outcome (none if the sync stops)."""
        outcome: Future[Outcome] = Future()
        self._pool.submit(lambda: self._book(request, dedup, outcome), "a create")
        return outcome

    def close(self) -> None:
        self._pool.close()

    def _book(self, request: AppointmentRequest, dedup: bool, outcome: Future[Outcome]) -> None:
        if dedup:
            if self._ledger is None:
                raise RuntimeError("a dedup stream needs the booking ledger")
            ledger = self._ledger
            claim = ledger.claim(request, outcome)
            if isinstance(claim, Settled):
                outcome.set_result(claim.outcome)
                return
            if not isinstance(claim, Granted):
                claim.first.add_done_callback(
                    self._stop.guarded(lambda _: self._retry_claim(request, outcome), "a repeat")
                )
                return
            outcome.add_done_callback(
                self._stop.guarded(lambda done: ledger.settle(request, done.result()), "ledger")
            )
        self._send(request, outcome)

    def _retry_claim(self, request: AppointmentRequest, outcome: Future[Outcome]) -> None:
        self._pool.submit(lambda: self._book(request, True, outcome), "a repeated booking")

    def _send(self, request: AppointmentRequest, outcome: Future[Outcome]) -> None:
        result = self._sender.send(request)
        if not isinstance(result, Queued):
            outcome.set_result(result)
        elif self._tracker is not None:
            self._tracker.track(result.job_id, outcome.set_result)
        else:
            outcome.set_result(Accepted(job_id=result.job_id, write_status="UNTRACKED"))
