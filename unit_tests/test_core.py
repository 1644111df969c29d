"""The concurrent core with scripted HTTP answers (the client's transport seam) and a fake
clock: the ledger, the sender, the status tracker, the stop rule and the worker guard."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import orjson
import pytest
import requests

from destination_propexo.airbyte.catalog import configured_streams
from destination_propexo.airbyte.protocol import Emitter
from destination_propexo.config import load_config
from destination_propexo.errors import (
    FailureKind,
    RequestFailure,
    ServiceUnavailable,
    SyncStopped,
    TokenRefused,
)
from destination_propexo.propexo.client import PropexoClient
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.propexo.retry import RetryPolicy
from destination_propexo.records import outcomes
from destination_propexo.records.mapping import AppointmentRequest
from destination_propexo.records.outcomes import Accepted, Outcome, Queued, Rejected
from destination_propexo.stop import Stop
from destination_propexo.sync.booking import Booker
from destination_propexo.sync.ledger import BookingLedger
from destination_propexo.sync.sender import AppointmentSender
from destination_propexo.sync.session import write_sync
from destination_propexo.sync.status import StatusTracker
from destination_propexo.workers import WorkerPool
from unit_tests.support import (
    Answer,
    FakeClock,
    ScriptedTransport,
    appointments,
    event,
    job,
    ok,
    status,
)

TIMEOUT = 10.0


def request(lead: str = "lead-1", time_of_day: str = "14:00:00") -> AppointmentRequest:
    return AppointmentRequest("intg-1", lead, "src-1", "2024-07-20", time_of_day)


def client_for(transport: ScriptedTransport, stop: Stop) -> PropexoClient:
    return PropexoClient(
        "http://127.0.0.1:1",
        "a-token",
        RateBudget(60_000, stop=stop),
        stop=stop,
        adapter=transport,
        policy=RetryPolicy(max_attempts=3, backoff_initial=0.01),
    )


@pytest.fixture
def stop() -> Iterator[Stop]:
    stop = Stop()
    yield stop
    stop.stop(SyncStopped("test over"))


# -- the booking ledger -------------------------------------------------------------------


def booker(
    transport: ScriptedTransport, stop: Stop, *, track: bool = True
) -> tuple[Booker, BookingLedger]:
    client = client_for(transport, stop)
    ledger = BookingLedger(client.lead_appointments, stop)
    tracker = (
        StatusTracker(client, stop, timeout_seconds=5, workers=2, first_delay=0.05)
        if track
        else None
    )
    sender = AppointmentSender(client, RetryPolicy(max_attempts=3), stop, settle_seconds=2)
    return Booker(sender=sender, stop=stop, workers=4, ledger=ledger, tracker=tracker), ledger


def test_a_booking_whose_job_failed_is_sent_again_and_never_counted_booked(stop: Stop) -> None:
    transport = ScriptedTransport(
        read_back=[appointments()],
        create=[job("job-1"), job("job-2")],
        write_status=[status("FAILURE", "no unit"), status("FAILURE", "no unit")],
    )
    book, _ = booker(transport, stop)
    first = book.book(request(), dedup=True).result(TIMEOUT)
    repeat = book.book(request(), dedup=True).result(TIMEOUT)

    assert isinstance(first, Rejected) and first.category == outcomes.FAILED_IN_PMS
    assert isinstance(repeat, Rejected) and repeat.category == outcomes.FAILED_IN_PMS
    assert transport.count("create") == 2


def test_a_repeat_waits_for_the_first_row_in_flight_and_shares_its_booking(
    stop: Stop,
) -> None:
    release = threading.Event()

    def slow_status(_: Any) -> Answer:
        release.wait(TIMEOUT)
        return status("SUCCESS", record_id="evt-1")

    transport = ScriptedTransport(
        read_back=[appointments()], create=[job("job-1")], write_status=slow_status
    )
    book, _ = booker(transport, stop)
    first = book.book(request(), dedup=True)
    repeat = book.book(request(), dedup=True)
    time.sleep(0.3)
    assert not repeat.done() and transport.count("create") == 1
    release.set()

    assert first.result(TIMEOUT) == Accepted(
        job_id="job-1", write_status="SUCCESS", created_record_id="evt-1"
    )
    shared = repeat.result(TIMEOUT)
    assert isinstance(shared, Accepted) and shared.how == outcomes.DUPLICATE_ROW
    assert transport.count("create") == 1


def answered_meanwhile(failing_lead: str) -> tuple[ScriptedTransport, threading.Event]:
    """Creates of `failing_lead` answer 500, its read-backs find nothing and wait (once its
    first create failed) for the event: set it once another lead's create was answered, so
    the row fails while Propexo answers other rows (the row's problem, not an outage)."""
    other_answered = threading.Event()

    def create(sent: requests.PreparedRequest) -> Answer:
        lead = orjson.loads(sent.body or b"{}")["lead_id"]
        return Answer(500) if lead == failing_lead else job(f"job-{lead}")

    def read_back(sent: requests.PreparedRequest) -> Answer:
        if f"lead_id={failing_lead}" in (sent.url or ""):
            other_answered.wait(TIMEOUT)
        return appointments()

    return ScriptedTransport(create=create, read_back=read_back), other_answered


def test_a_booking_of_unknown_outcome_is_not_sent_again(stop: Stop) -> None:
    clock = FakeClock()
    stop = Stop(clock)
    transport, other_answered = answered_meanwhile("lead-1")
    book, _ = booker(transport, stop, track=False)
    pending = book.book(request(), dedup=True)
    while transport.count("read_back") < 2:  # the lead's load, then the first read-back
        time.sleep(0.01)
    book.book(request("lead-2"), dedup=True).result(TIMEOUT)
    other_answered.set()
    first = pending.result(TIMEOUT)
    repeat = book.book(request(), dedup=True).result(TIMEOUT)
    stop.stop(SyncStopped("test over"))

    assert isinstance(first, Rejected) and first.category == outcomes.OUTCOME_UNKNOWN
    assert isinstance(repeat, Rejected) and repeat.category == outcomes.OUTCOME_UNKNOWN
    assert "not sent again" in repeat.reason
    assert transport.count("create") == 4  # the first row's 3 attempts, and lead-2's


def test_an_appointment_already_in_propexo_is_found_without_a_create(stop: Stop) -> None:
    transport = ScriptedTransport(
        read_back=[appointments(event("evt-9", "lead-1", "2024-07-20T14:00:00.000Z"))]
    )
    book, _ = booker(transport, stop)
    found = book.book(request(), dedup=True).result(TIMEOUT)
    assert found == Accepted(
        how=outcomes.EXISTING, write_status="EXISTING", created_record_id="evt-9"
    )
    assert transport.count("create") == 0


def test_the_ledger_stays_within_its_capacity_and_rereads_a_dropped_lead(stop: Stop) -> None:
    reads: list[str] = []

    def read_lead(integration: str, lead: str) -> list[Any]:
        reads.append(lead)
        return []

    ledger = BookingLedger(read_lead, stop, capacity=50)
    for number in range(200):
        ticket: Future[Outcome] = Future()
        ledger.claim(request(f"lead-{number}"), ticket)
        ledger.settle(request(f"lead-{number}"), Accepted())
        assert ledger.slots <= 51
    ledger.claim(request("lead-0"), Future())
    assert reads.count("lead-0") == 2


# -- the sender and the status tracker ------------------------------------------------------


def test_an_unclear_create_never_found_by_read_back_is_outcome_unknown_not_not_booked() -> None:
    clock = FakeClock()
    stop = Stop(clock)
    transport, other_answered = answered_meanwhile("lead-1")
    sender = AppointmentSender(
        client_for(transport, stop), RetryPolicy(max_attempts=2), stop, settle_seconds=5
    )
    sent: Future[Any] = Future()
    thread = threading.Thread(target=lambda: sent.set_result(sender.send(request())))
    thread.start()
    while transport.count("read_back") < 1:
        time.sleep(0.01)
    assert sender.send(request("lead-2")) == Queued("job-lead-2")
    other_answered.set()
    outcome = sent.result(TIMEOUT)

    assert isinstance(outcome, Rejected) and outcome.category == outcomes.OUTCOME_UNKNOWN
    assert "check GET /v1/appointments/?lead_id=lead-1&integration_id=intg-1" in outcome.reason
    assert transport.count("create") == 3


def test_an_unclear_create_while_propexo_answers_no_other_write_is_an_outage() -> None:
    stop = Stop(FakeClock())
    transport = ScriptedTransport(create=[Answer(503)], read_back=[appointments()])
    sender = AppointmentSender(
        client_for(transport, stop), RetryPolicy(max_attempts=2), stop, settle_seconds=5
    )
    with pytest.raises(ServiceUnavailable, match="Propexo is not answering"):
        sender.send(request())


@pytest.mark.parametrize(
    "garbled",
    [
        Answer(200, text="<html>oops</html>"),
        ok([{"meta": {"job_id": "job-1"}}]),
        ok({"meta": {}}),
        ok({"meta": {"job_id": 7}}),
    ],
)
def test_a_create_answered_in_the_wrong_shape_is_read_back_and_adopted(garbled: Answer) -> None:
    stop = Stop(FakeClock())
    transport = ScriptedTransport(
        create=[garbled],
        read_back=[appointments(event("evt-1", "lead-1", "2024-07-20T14:00:00Z"))],
    )
    sender = AppointmentSender(client_for(transport, stop), RetryPolicy(), stop)
    outcome = sender.send(request())
    assert outcome == Accepted(
        how=outcomes.ADOPTED, write_status="SUCCESS", created_record_id="evt-1"
    )
    assert transport.count("create") == 1


def track(transport: ScriptedTransport, stop: Stop, timeout: float = 3.0) -> Outcome:
    tracker = StatusTracker(
        client_for(transport, stop), stop, timeout_seconds=timeout, workers=2, first_delay=0.05
    )
    settled: Future[Outcome] = Future()
    tracker.track("job-1", settled.set_result)
    try:
        return settled.result(TIMEOUT)
    finally:
        tracker.close()


def test_unreadable_write_status_answers_are_polled_again_until_one_can_be_read(
    stop: Stop,
) -> None:
    transport = ScriptedTransport(
        write_status=[
            Answer(200, text="not json"),
            ok([]),
            ok({"write_status": 3}),
            Answer(503),
            status("SUCCESS", record_id="evt-1"),
        ]
    )
    outcome = track(transport, stop, timeout=30.0)
    assert outcome == Accepted(job_id="job-1", write_status="SUCCESS", created_record_id="evt-1")


def test_a_write_status_never_readable_stops_the_sync_naming_the_job(stop: Stop) -> None:
    # An answer of the wrong shape until the bound is the service's (errors.owner): the sync
    # stops as transient; no outcome is made up for the row (the stop releases it as queued).
    transport = ScriptedTransport(write_status=[ok({"write_status": "MAYBE"})])
    tracker = StatusTracker(
        client_for(transport, stop), stop, timeout_seconds=1.0, workers=2, first_delay=0.05
    )
    settled: Future[Outcome] = Future()
    tracker.track("job-1", settled.set_result)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not stop.stopped and time.monotonic() < deadline:
            time.sleep(0.05)
        assert isinstance(stop.error, ServiceUnavailable)
        assert "job job-1" in str(stop.error)
        assert not settled.done()
        tracker.release_at_stop()
        assert settled.result(0) == Accepted(job_id="job-1", write_status="QUEUED")
    finally:
        tracker.close()


def test_a_job_still_pending_at_the_bound_is_accepted_as_pending(stop: Stop) -> None:
    outcome = track(ScriptedTransport(write_status=[status("PENDING")]), stop, timeout=0.5)
    assert outcome == Accepted(job_id="job-1", write_status="PENDING")


def test_write_status_errors_given_as_null_or_a_string_are_read() -> None:
    stop = Stop()
    transport = ScriptedTransport(
        write_status=[
            ok({"write_status": "FAILURE", "errors": "unit taken", "created_record_id": None})
        ]
    )
    answer = client_for(transport, stop).write_status("job-1")
    assert (answer.status, answer.errors) == ("FAILURE", ("unit taken",))


def test_a_refused_token_is_not_a_request_failure(stop: Stop) -> None:
    transport = ScriptedTransport(integration=[Answer(401, {"error": {"message": "no"}})])
    with pytest.raises(TokenRefused):
        client_for(transport, stop).get_integration("intg-1")
    assert transport.count("integration") == 1


def test_reads_are_retried_within_the_policy_then_fail() -> None:
    stop = Stop(FakeClock())
    transport = ScriptedTransport(read_back=[Answer(503)])
    with pytest.raises(RequestFailure) as failed:
        client_for(transport, stop).lead_appointments("intg-1", "lead-1")
    assert failed.value.kind is FailureKind.SERVER_ERROR
    assert failed.value.attempts == 3 == transport.count("read_back")


# -- stop and guard -------------------------------------------------------------------------


def test_a_stop_wakes_a_request_waiting_on_the_rate_budget_and_nothing_is_sent() -> None:
    stop = Stop()
    transport = ScriptedTransport(create=[job("job-1")])
    client = PropexoClient(
        "http://127.0.0.1:1", "t", RateBudget(1, stop=stop), stop=stop, adapter=transport
    )
    client.create_appointment(request().body())  # takes the minute's only slot
    raised: list[BaseException] = []

    def second() -> None:
        try:
            client.create_appointment(request().body())
        except BaseException as exc:
            raised.append(exc)

    waiting = threading.Thread(target=second)
    waiting.start()
    time.sleep(0.2)
    stopped_at = time.monotonic()
    stop.stop(RuntimeError("a broken input line"))
    waiting.join(TIMEOUT)

    assert time.monotonic() - stopped_at < 0.5
    assert [type(exc) for exc in raised] == [SyncStopped]
    assert transport.count("create") == 1


def test_a_stop_wakes_a_retry_back_off() -> None:
    stop = Stop()
    transport = ScriptedTransport(read_back=[Answer(503)])
    client = PropexoClient(
        "http://127.0.0.1:1",
        "t",
        RateBudget(60_000, stop=stop),
        stop=stop,
        adapter=transport,
        policy=RetryPolicy(backoff_initial=30, jitter=0),
    )
    threading.Timer(0.2, lambda: stop.stop(RuntimeError("token refused"))).start()
    started = time.monotonic()
    with pytest.raises(SyncStopped):
        client.lead_appointments("intg-1", "lead-1")
    assert time.monotonic() - started < 1.0
    assert transport.count("read_back") == 1


def test_an_unexpected_error_in_a_worker_stops_the_sync_with_that_error() -> None:
    stop = Stop()
    pool = WorkerPool(stop, 2, "test")
    ran: list[str] = []
    pool.submit(lambda: 1 / 0, "a broken task")
    deadline = time.monotonic() + TIMEOUT
    while not stop.stopped and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.submit(lambda: ran.append("after the stop"), "a late task")
    time.sleep(0.1)
    pool.close()

    assert isinstance(stop.error, ZeroDivisionError)
    assert "raised in a broken task" in (stop.error.__notes__ or [])
    assert ran == []


# -- the whole write, over the transport seam --------------------------------------------------


def lines(*messages: dict[str, Any]) -> list[list[bytes]]:
    """The messages as input lines, in one batch (as one read of stdin brings them)."""
    return [[orjson.dumps(message) for message in messages]]


def tour(lead: str) -> dict[str, Any]:
    data = {
        "lead_id": lead,
        "lead_source_id": "src",
        "appointment_date": "2024-07-20",
        "appointment_time": "14:00",
    }
    return {"type": "RECORD", "record": {"stream": "tours", "data": data, "emitted_at": 0}}


def state(cursor: int) -> dict[str, Any]:
    return {"type": "STATE", "state": {"type": "LEGACY", "data": {"cursor": cursor}}}


def test_a_write_over_scripted_answers_counts_every_record_once_in_its_state() -> None:
    def create(sent: requests.PreparedRequest) -> Answer:
        return job(f"job-{orjson.loads(sent.body or b'{}')['lead_id']}")

    def write_status(sent: requests.PreparedRequest) -> Answer:
        # ResMan refuses every booking of lead-1, so its repeat is refused again.
        failing = (sent.path_url or "").endswith("job-lead-1")
        return status("FAILURE", "no unit") if failing else status("SUCCESS")

    transport = ScriptedTransport(
        read_back=[appointments()], create=create, write_status=write_status
    )
    out = io.BytesIO()
    write_sync(
        load_config(
            {"token": "t", "integration_id": "intg-1", "api_url": "http://127.0.0.1:1"}
            | {"requests_per_minute": 60_000, "write_status_timeout_seconds": 5}
            # Each job's write status is scripted (the feed's tests are in test_status.py).
            | {"use_write_logs_feed": False}
        ),
        configured_streams(
            {"streams": [{"stream": {"name": "tours"}, "destination_sync_mode": "append_dedup"}]}
        ),
        lines(tour("lead-1"), tour("lead-2"), state(1), tour("lead-1"), state(2)),
        Emitter(out),
        adapter=transport,
    )
    messages = [orjson.loads(line) for line in out.getvalue().splitlines()]
    stats = [m["state"]["destinationStats"] for m in messages if m["type"] == "STATE"]
    assert stats == [
        {"recordCount": 1, "rejectedRecordCount": 1},
        {"recordCount": 0, "rejectedRecordCount": 1},
    ]
    assert transport.count("create") == 3


def test_work_that_continues_a_started_record_goes_ahead_of_records_not_yet_started() -> None:
    stop = Stop()
    pool = WorkerPool(stop, 1, "test")
    busy, ran = threading.Event(), []
    pool.submit(lambda: busy.wait(TIMEOUT), "the running task")
    for name in ("record 1", "record 2"):
        pool.submit(lambda name=name: ran.append(name), name)
    pool.submit(lambda: ran.append("repeat of record 0"), "a repeat", first=True)
    busy.set()
    pool.close()
    deadline = time.monotonic() + TIMEOUT
    while len(ran) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == ["repeat of record 0", "record 1", "record 2"]
