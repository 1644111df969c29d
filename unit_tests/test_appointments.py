"""The appointment-id look-up and the integration view, on scripted HTTP answers."""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import Future
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from destination_propexo.propexo.client import PropexoClient
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.records import outcomes
from destination_propexo.records.mapping import AppointmentRequest
from destination_propexo.records.outcomes import Accepted, Outcome
from destination_propexo.stop import Stop
from destination_propexo.sync.appointment_ids import (
    AppointmentIds,
)
from destination_propexo.sync.appointment_view import AppointmentView
from destination_propexo.sync.ledger import BookingLedger, Granted, Settled
from unit_tests.support import Answer, FakeClock, ScriptedTransport, ok, status

INTEGRATION = "intg-1"
SINCE = 1_800_000_000.0  # the sync's start, epoch seconds
MADE = "2027-01-15T08:00:10.000Z"  # after SINCE
BEFORE = "2020-01-01T00:00:00.000Z"


def client_for(transport: ScriptedTransport, stop: Stop) -> PropexoClient:
    return PropexoClient(
        "https://propexo.test", "token", RateBudget(60_000, stop=stop), stop=stop,
        adapter=transport,
    )  # fmt: skip


def row(event_id: str, lead: str, utc: str, made: str = MADE) -> dict[str, Any]:
    return {
        "id": event_id,
        "associated_lead_ids": [lead],
        "appointment_datetime": utc,
        "created_at": made,
    }


def page(*rows: dict[str, Any], more: bool = False, total: int | None = None) -> Answer:
    meta: dict[str, Any] = {"hasMore": more}
    if total is not None:
        meta["total"] = total
    return ok({"meta": meta, "results": list(rows)})


def query(request: requests.PreparedRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url or "").query).items()}


class Resolved:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def __call__(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    @property
    def ids(self) -> list[str | None]:
        return [o.created_record_id for o in self.outcomes if isinstance(o, Accepted)]


def confirmed(job: str) -> Accepted:
    return Accepted(job_id=job, write_status="SUCCESS")


def test_one_read_names_every_waiting_booking_by_lead_and_instant_each_id_once() -> None:
    transport = ScriptedTransport(
        read_back=[
            page(
                row("appt-3", "lead-2", "2041-07-21T15:00:00.000Z"),
                row("appt-2", "lead-1", "2041-07-21T15:00:00.000Z"),
                row("appt-1", "lead-1", "2041-07-21T15:00:00.000Z"),
                row("appt-0", "lead-1", "2041-07-21T15:00:00.000Z", made=BEFORE),
            )
        ]
    )
    stop = Stop(FakeClock())
    ids = AppointmentIds(client_for(transport, stop), stop, since=SINCE, start=False)
    resolved = Resolved()
    key = (INTEGRATION, "lead-1", "2041-07-21", "15:00:00")
    # Two bookings of the same lead and instant (append mode books both), and another lead.
    ids.add(key, confirmed("job-a"), resolved)
    ids.add(key, confirmed("job-b"), resolved)
    ids.add((INTEGRATION, "lead-2", "2041-07-21", "15:00:00"), confirmed("job-c"), resolved)
    assert ids.pump() == math.inf  # nothing is coming: read at once
    assert transport.count("read_back") == 1
    ((_, sent),) = transport.sent
    assert query(sent) == {
        "integration_id": INTEGRATION,
        "order-by": "created_at:desc",
        "offset": "0",
        "limit": "250",
    }
    # Each id once; the appointment made before the sync is not this sync's.
    assert sorted(resolved.ids) == ["appt-1", "appt-2", "appt-3"]
    assert ids.summary()["from_lookup"] == 3


def test_a_read_stops_paging_once_every_waiting_booking_has_its_id() -> None:
    transport = ScriptedTransport(
        read_back=[page(row("appt-1", "lead-1", "2041-07-21T15:00:00.000Z"), more=True)]
    )
    stop = Stop(FakeClock())
    ids = AppointmentIds(client_for(transport, stop), stop, since=SINCE, start=False)
    resolved = Resolved()
    ids.add((INTEGRATION, "lead-1", "2041-07-21", "15:00:00"), confirmed("job-1"), resolved)
    ids.pump()
    assert resolved.ids == ["appt-1"]
    assert transport.count("read_back") == 1


def test_an_appointment_seen_before_its_booking_waits_is_given_without_a_request() -> None:
    transport = ScriptedTransport(
        read_back=[page(row("appt-9", "lead-9", "2041-07-21T16:00:00.000Z"))]
    )
    stop = Stop(FakeClock())
    ids = AppointmentIds(client_for(transport, stop), stop, since=SINCE, start=False)
    resolved = Resolved()
    ids.add((INTEGRATION, "lead-1", "2041-07-21", "15:00:00"), confirmed("job-1"), resolved)
    ids.pump()
    assert resolved.ids == []
    ids.add((INTEGRATION, "lead-9", "2041-07-21", "16:00:00"), confirmed("job-9"), resolved)
    assert resolved.ids == ["appt-9"]
    assert transport.count("read_back") == 1


def test_a_booking_two_reads_did_not_show_is_asked_for_by_its_write_status() -> None:
    transport = ScriptedTransport(
        read_back=[page()], write_status=[status("SUCCESS", record_id="appt-77")]
    )
    stop = Stop(FakeClock())
    ids = AppointmentIds(client_for(transport, stop), stop, since=SINCE, start=False)
    resolved = Resolved()
    ids.add((INTEGRATION, "lead-7", "2041-07-21", "15:00:00"), confirmed("job-7"), resolved)
    ids.pump()
    assert resolved.outcomes == []
    ids.pump()
    assert resolved.ids == ["appt-77"]
    assert (transport.count("read_back"), transport.count("write_status")) == (2, 1)


def test_a_later_read_pages_only_down_to_what_the_last_complete_read_saw() -> None:
    newest = "2027-01-15T09:00:00.000Z"
    transport = ScriptedTransport(
        read_back=[
            page(row("appt-1", "lead-1", "2041-07-21T15:00:00.000Z"), more=True),
            page(
                row("appt-3", "lead-3", "2041-07-21T15:00:00.000Z"),
                row("appt-0", "x", "2041-01-01T00:00:00.000Z", made=BEFORE),
            ),
            # Down to a row older than the first read's newest (less the overlap): one page.
            page(
                row("appt-2", "lead-2", "2041-07-21T15:00:00.000Z", made=newest),
                row("appt-1", "lead-1", "2041-07-21T15:00:00.000Z"),
                # Made since the sync started, but before the first read's newest.
                row("appt-5", "x", "2041-01-01T00:00:00.000Z", made="2027-01-15T08:00:01.000Z"),
                more=True,
            ),
        ]
    )
    stop = Stop(FakeClock())
    ids = AppointmentIds(client_for(transport, stop), stop, since=SINCE, start=False)
    resolved = Resolved()
    ids.add((INTEGRATION, "lead-1", "2041-07-21", "15:00:00"), confirmed("job-1"), resolved)
    ids.add((INTEGRATION, "lead-3", "2041-07-21", "15:00:00"), confirmed("job-3"), resolved)
    ids.pump()  # two pages: down to the sync's start
    ids.add((INTEGRATION, "lead-2", "2041-07-21", "15:00:00"), confirmed("job-2"), resolved)
    ids.pump()
    assert resolved.ids == ["appt-1", "appt-3", "appt-2"]
    assert transport.count("read_back") == 3


UPCOMING = dt.datetime(2041, 7, 21, tzinfo=dt.UTC)


def test_the_view_answers_upcoming_rows_from_one_page_whatever_the_integration_holds() -> None:
    first = page(
        row("appt-1", "lead-1", "2041-07-21T15:00:00.000Z"),
        row("appt-old", "lead-2", "2030-01-01T10:00:00.000Z"),
        more=True,
        total=2012,
    )
    transport = ScriptedTransport(read_back=[first])
    stop = Stop(FakeClock())
    view = AppointmentView(client_for(transport, stop), stop)
    one = view.lead(INTEGRATION, "lead-1", UPCOMING)
    assert one is not None
    appointments, known_from = one
    assert [a.id for a in appointments] == ["appt-1"]
    assert known_from == dt.datetime(2030, 1, 1, 10, tzinfo=dt.UTC)
    for n in range(300):
        assert view.lead(INTEGRATION, f"lead-{n + 10}", UPCOMING) == ([], known_from)
    assert transport.count("read_back") == 1
    ((_, sent),) = transport.sent
    assert query(sent)["order-by"] == "appointment_datetime:desc"


def test_the_view_reads_no_more_pages_than_distinct_leads_asked() -> None:
    def endless(request: requests.PreparedRequest) -> Answer:
        offset = int(query(request)["offset"])
        # Each page goes one day further back: rows in 2020 are never covered.
        day = dt.date(2041, 1, 1) - dt.timedelta(days=offset)
        return page(row(f"appt-{offset}", "x", f"{day}T10:00:00.000Z"), more=True, total=10**6)

    transport = ScriptedTransport(read_back=endless)
    stop = Stop(FakeClock())
    view = AppointmentView(client_for(transport, stop), stop)
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    answers = [view.lead(INTEGRATION, f"lead-{n}", past) for n in range(5)]
    assert answers == [None] * 5  # not covered: each lead is read on its own
    assert transport.count("read_back") == 5  # one page per lead asked, no more


def test_the_ledger_keeps_the_view_right_for_this_syncs_own_writes() -> None:
    # The pages were read before this sync booked lead-a, and never show it: once the ledger
    # has dropped lead-a, the view answers with the booking the ledger recorded there.
    def answer(request: requests.PreparedRequest) -> Answer:
        return page(total=0)

    transport = ScriptedTransport(read_back=answer)
    stop = Stop(FakeClock())
    client = client_for(transport, stop)
    ledger = BookingLedger(
        client.lead_appointments, stop, capacity=1, view=AppointmentView(client, stop)
    )
    first = booking("lead-a")
    pending: Future[Outcome] = Future()
    assert isinstance(ledger.claim(first, pending), Granted)
    ledger.settle(first, Accepted(job_id="job-a", write_status="SUCCESS"))
    second = booking("lead-b")
    ledger.claim(second, Future())
    ledger.settle(second, Accepted(job_id="job-b", write_status="SUCCESS"))  # lead-a dropped
    again = ledger.claim(booking("lead-a"), Future())
    assert isinstance(again, Settled) and again.outcome.how == outcomes.EXISTING
    assert [query(sent).get("lead_id") for _, sent in transport.sent] == [None]


def booking(lead: str) -> AppointmentRequest:
    return AppointmentRequest(
        integration_id=INTEGRATION,
        lead_id=lead,
        lead_source_id="src",
        appointment_date="2041-07-21",
        appointment_time="15:00:00",
    )


def test_pages_the_integration_will_not_serve_turn_the_view_off() -> None:
    transport = ScriptedTransport(read_back=[Answer(400, {"error": {"message": "order-by"}})])
    stop = Stop(FakeClock())
    view = AppointmentView(client_for(transport, stop), stop)
    assert view.lead(INTEGRATION, "lead-1", UPCOMING) is None
    assert view.lead(INTEGRATION, "lead-2", UPCOMING) is None
    assert transport.count("read_back") == 1  # each lead is then read on its own


def test_reads_failing_three_times_in_a_row_leave_every_id_to_write_status() -> None:
    transport = ScriptedTransport(
        read_back=[Answer(400, {"error": {"message": "order-by"}})],
        write_status=[status("SUCCESS", record_id="appt-w")],
    )
    stop = Stop(FakeClock())
    ids = AppointmentIds(client_for(transport, stop), stop, since=SINCE, start=False)
    resolved = Resolved()
    for n in range(3):
        ids.add((INTEGRATION, f"lead-{n}", "2041-07-21", "15:00:00"), confirmed(f"j{n}"), resolved)
        ids.pump()
    ids.add((INTEGRATION, "lead-9", "2041-07-21", "15:00:00"), confirmed("j9"), resolved)
    assert resolved.ids == ["appt-w"] * 4
    assert (transport.count("read_back"), transport.count("write_status")) == (3, 4)
