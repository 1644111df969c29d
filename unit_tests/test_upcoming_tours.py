"""One upcoming tour per lead through the booker and the ledger, against a scripted Propexo.

The sandbox tests cover each rule over real sockets; these cover what only a scripted answer
provokes at an exact point: a move whose outcome stays unknown, a refused move, a tour booked
earlier in the sync whose id was not confirmed.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
import requests

from destination_propexo.propexo.client import PropexoClient
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.propexo.retry import RetryPolicy
from destination_propexo.records import outcomes
from destination_propexo.records.mapping import AppointmentRequest
from destination_propexo.records.outcomes import Accepted, Outcome, Rejected
from destination_propexo.stop import Stop
from destination_propexo.sync.booking import Booker
from destination_propexo.sync.ledger import BookingLedger
from destination_propexo.sync.sender import AppointmentSender
from unit_tests.support import Answer, FakeClock, ScriptedTransport, appointments, event, job

START = dt.datetime(2041, 7, 1, tzinfo=dt.UTC)
BOOKED = "2041-07-21T15:00:00Z"


def row(date: str, time: str, lead_id: str = "lead-1") -> AppointmentRequest:
    return AppointmentRequest("intg-1", lead_id, "src-1", date, time)


@pytest.fixture
def stop() -> Iterator[Stop]:
    stop = Stop(FakeClock())
    yield stop
    stop.stop(RuntimeError("test over"))


def booker(transport: ScriptedTransport, stop: Stop) -> Booker:
    """Untracked writes (no status polls), one attempt per write: each answer is final."""
    budget = RateBudget(60_000, stop=stop)
    client = PropexoClient("https://propexo.test", "t0ken", budget, stop=stop, adapter=transport)
    return Booker(
        sender=AppointmentSender(client, RetryPolicy(max_attempts=1), stop, settle_seconds=2),
        stop=stop,
        workers=4,
        ledger=BookingLedger(client.lead_appointments, stop, sync_start=START),
    )


def results(futures: list[Future[Outcome]]) -> list[Outcome]:
    return [future.result(timeout=10) for future in futures]


def put_paths(transport: ScriptedTransport) -> list[str]:
    return [str(request.path_url) for name, request in transport.sent if name == "update"]


def test_after_a_move_with_an_unknown_outcome_the_leads_later_rows_are_not_sent(
    stop: Stop,
) -> None:
    # Propexo answers another lead's create while this move stays unclear (the move's
    # read-back waits for it), so the unknown outcome is this row's, not an outage.
    other_answered = threading.Event()

    def read_back(sent: requests.PreparedRequest) -> Answer:
        if "lead_id=lead-1" not in (sent.url or ""):
            return appointments()
        if transport.count("update"):
            other_answered.wait(10)
        return appointments(event("appt-1", "lead-1", BOOKED))

    transport = ScriptedTransport(
        read_back=read_back,
        update=[Answer(raises=requests.exceptions.ReadTimeout("lost"))],
        create=[job("job-2")],
    )
    books = booker(transport, stop)
    pending = [
        books.book_upcoming(row("2041-07-22", "16:30:00")),
        books.book_upcoming(row("2041-07-23", "10:00:00")),
    ]
    while transport.count("read_back") < 2:  # the lead's load, then the move's read-back
        time.sleep(0.01)
    other = books.book_upcoming(row("2041-07-25", "10:00:00", "lead-2"))
    assert isinstance(other.result(timeout=10), Accepted)
    other_answered.set()
    first, second = results(pending)
    assert isinstance(first, Rejected) and first.category == outcomes.OUTCOME_UNKNOWN
    assert first.reason.startswith("the move of appointment appt-1 got no clear answer")
    assert first.reschedule is not None and first.reschedule.event_id == "appt-1"
    assert isinstance(second, Rejected) and second.category == outcomes.OUTCOME_UNKNOWN
    assert second.reason.startswith("not sent: an earlier row of this lead")
    assert transport.count("update") == 1


def test_a_refused_move_leaves_the_tour_where_it_was_for_the_next_row(stop: Stop) -> None:
    refused = Answer(400, {"error": {"code": "invalid_request", "message": "Unit not found"}})
    transport = ScriptedTransport(
        read_back=[appointments(event("appt-1", "lead-1", BOOKED))],
        update=[refused, job("job-2")],
    )
    books = booker(transport, stop)
    first, second = results(
        [
            books.book_upcoming(row("2041-07-22", "16:30:00")),
            books.book_upcoming(row("2041-07-23", "10:00:00")),
        ]
    )
    assert isinstance(first, Rejected) and first.category == outcomes.REFUSED_BY_PROPEXO
    assert isinstance(second, Accepted) and second.how == outcomes.RESCHEDULED
    assert second.reschedule is not None
    assert second.reschedule.moved_from == "2041-07-21T15:00:00Z"
    assert put_paths(transport) == ["/v1/events/appointments/leads/resman/appt-1"] * 2
    body = json.loads(transport.sent[-1][1].body or b"{}")
    assert body == {"appointment_date": "2041-07-23T10:00:00Z", "appointment_time": "10:00:00"}


def test_a_tour_created_earlier_in_the_sync_is_moved_by_the_id_propexo_now_shows(
    stop: Stop,
) -> None:
    transport = ScriptedTransport(
        read_back=[
            appointments(),
            appointments(event("appt-new", "lead-1", "2041-07-22T16:30:00Z")),
        ],
        create=[job("job-1")],
        update=[job("job-2")],
    )
    books = booker(transport, stop)
    first, second = results(
        [
            books.book_upcoming(row("2041-07-22", "16:30:00")),
            books.book_upcoming(row("2041-07-23", "10:00:00")),
        ]
    )
    assert isinstance(first, Accepted) and first.how == outcomes.CREATED
    assert first.write_status == "UNTRACKED" and first.created_record_id is None
    assert isinstance(second, Accepted) and second.how == outcomes.RESCHEDULED
    assert second.reschedule == outcomes.Reschedule(
        "appt-new", "2041-07-22T16:30:00Z", "2041-07-23T10:00:00Z"
    )
    assert put_paths(transport) == ["/v1/events/appointments/leads/resman/appt-new"]
    # Once when the lead was first seen, once for the id of the tour this sync created.
    assert transport.count("read_back") == 2


def test_leads_are_read_once_and_a_third_row_needs_no_new_read(stop: Stop) -> None:
    transport = ScriptedTransport(
        read_back=[appointments(event("appt-1", "lead-1", BOOKED))],
        update=[job("job-2"), job("job-3")],
    )
    books = booker(transport, stop)
    outcomes_ = results(
        [
            books.book_upcoming(row("2041-07-22", "16:30:00")),
            books.book_upcoming(row("2041-07-23", "10:00:00")),
            books.book_upcoming(row("2041-07-23", "10:00:00")),
        ]
    )
    assert [getattr(o, "how", None) for o in outcomes_] == [
        outcomes.RESCHEDULED,
        outcomes.RESCHEDULED,
        outcomes.EXISTING,
    ]
    assert transport.count("read_back") == 1
    assert transport.count("update") == 2
