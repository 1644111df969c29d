"""Whose failure it is (the row's, the service's, the configuration's), decided by one rule
(`errors.owner`), over scripted answers and a fake clock: a service failure stops the sync
with a transient error and never rejects a row; a row's failure rejects only that row."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pytest
import requests
from urllib3.exceptions import NewConnectionError

from destination_propexo.airbyte.catalog import configured_streams
from destination_propexo.airbyte.protocol import Emitter
from destination_propexo.config import load_config
from destination_propexo.errors import (
    ConfigError,
    FailureKind,
    Owner,
    Request,
    RequestFailure,
    TooManyRejected,
    TransientError,
    owner,
)
from destination_propexo.sync.session import write_sync
from unit_tests.support import (
    Answer,
    FakeClock,
    ScriptedTransport,
    appointments,
    job,
    status,
)


def tour(lead: str, time_of_day: str = "14:00", stream: str = "tours") -> dict[str, Any]:
    data = {
        "lead_id": lead,
        "lead_source_id": "src-1",
        "appointment_date": "2024-07-20",
        "appointment_time": time_of_day,
    }
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}}


def state(cursor: int) -> dict[str, Any]:
    return {"type": "STATE", "state": {"type": "LEGACY", "data": {"cursor": cursor}}}


def lines(*messages: dict[str, Any]) -> list[list[bytes]]:
    """The messages as input lines, in one batch (as one read of stdin brings them)."""
    return [[orjson.dumps(m) for m in messages]]


def config(api_url: str = "http://127.0.0.1:1", **extra: Any) -> Any:
    return load_config(
        {"token": "t", "integration_id": "intg-1", "api_url": api_url}
        | {"requests_per_minute": 60_000, "write_status_timeout_seconds": 5}
        | {"use_write_logs_feed": False}
        | extra
    )


def streams(mode: str = "append") -> Any:
    return configured_streams(
        {"streams": [{"stream": {"name": "tours"}, "destination_sync_mode": mode}]}
    )


def run(
    transport: ScriptedTransport | None, *messages: dict[str, Any], mode: str = "append", **kw: Any
) -> tuple[list[dict[str, Any]], BaseException | None]:
    out = io.BytesIO()
    error: BaseException | None = None
    try:
        write_sync(
            config(**kw),
            streams(mode),
            lines(*messages),
            Emitter(out),
            adapter=transport,
            clock=FakeClock(),
        )
    except BaseException as exc:  # the error that stopped the sync, as run.py sees it
        error = exc
    return [orjson.loads(line) for line in out.getvalue().splitlines()], error


def outcome_lines(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prefix = "record outcome: "
    return [
        orjson.loads(m["log"]["message"][len(prefix) :])
        for m in messages
        if m["type"] == "LOG" and m["log"]["message"].startswith(prefix)
    ]


def states(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["state"] for m in messages if m["type"] == "STATE"]


# -- the rule itself (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status_", "request_", "expected"),
    [
        (FailureKind.BAD_REQUEST, 400, Request.CREATE, Owner.ROW),
        (FailureKind.BAD_REQUEST, 422, Request.MOVE, Owner.ROW),
        (FailureKind.NOT_FOUND, 404, Request.MOVE, Owner.ROW),
        (FailureKind.NOT_FOUND, 404, Request.LEAD_READ, Owner.ROW),
        (FailureKind.BAD_REQUEST, 400, Request.LEAD_READ, Owner.ROW),
        (FailureKind.NOT_FOUND, 404, Request.CREATE, Owner.CONFIGURATION),
        (FailureKind.NOT_FOUND, 404, Request.INTEGRATION, Owner.CONFIGURATION),
        (FailureKind.UNEXPECTED, 307, Request.CREATE, Owner.CONFIGURATION),
        (FailureKind.UNEXPECTED, 405, Request.CREATE, Owner.CONFIGURATION),
        (FailureKind.UNEXPECTED, 413, Request.CREATE, Owner.ROW),
        (FailureKind.CONNECT, None, Request.CREATE, Owner.SERVICE),
        (FailureKind.READ_TIMEOUT, None, Request.LEAD_READ, Owner.SERVICE),
        (FailureKind.DROPPED, None, Request.MOVE, Owner.SERVICE),
        (FailureKind.SERVER_ERROR, 503, Request.CREATE, Owner.SERVICE),
        (FailureKind.RATE_LIMITED, 429, Request.CREATE, Owner.SERVICE),
        (FailureKind.GARBLED, 200, Request.WRITE_STATUS, Owner.SERVICE),
        (FailureKind.UNEXPECTED, None, Request.CREATE, Owner.SERVICE),
    ],
)
def test_whose_failure_is_decided_by_the_failure_and_the_request_alone(
    kind: FailureKind, status_: int | None, request_: Request, expected: Owner
) -> None:
    assert owner(RequestFailure(kind, "x", status=status_), request_) is expected


# -- case 1: Propexo down -------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_propexo_down_stops_the_sync_as_transient_and_rejects_no_row() -> None:
    # A real closed port (connection refused), with a fake clock for the back-off.
    messages, error = run(
        None,
        tour("lead-1"),
        tour("lead-2"),
        tour("lead-3"),
        state(1),
        api_url=f"http://127.0.0.1:{closed_port()}",
    )
    assert isinstance(error, TransientError), error
    assert "could not connect" in str(error)
    assert outcome_lines(messages) == []
    assert states(messages) == []


def test_every_create_answered_503_stops_the_sync_as_transient_and_rejects_no_row() -> None:
    transport = ScriptedTransport(create=[Answer(503)], read_back=[appointments()])
    messages, error = run(transport, tour("lead-1"), tour("lead-2"), tour("lead-3"), state(1))
    assert isinstance(error, TransientError), error
    assert outcome_lines(messages) == []
    assert states(messages) == []


def test_a_row_that_keeps_failing_while_other_rows_are_booked_is_rejected_not_an_outage() -> None:
    leads = ["lead-poison", *(f"lead-{n}" for n in range(8))]
    # The other rows are answered only once the poison row has failed (its read-back comes
    # after its first failure), and its next attempt waits until one of them was answered.
    failed, others = threading.Event(), threading.Semaphore(0)

    def create(sent: requests.PreparedRequest) -> Answer:
        lead = orjson.loads(sent.body or b"{}")["lead_id"]
        if lead == "lead-poison":
            if failed.is_set():
                others.acquire(timeout=10)
                time.sleep(0.5)  # the client counts an answer just after the transport's
            return Answer(503)
        failed.wait(10)
        others.release()
        return job(f"job-{lead}")

    def read_back(sent: requests.PreparedRequest) -> Answer:
        # The poison row's read-back after its failed create (not the head's first lookup).
        if "lead_id=lead-poison" in (sent.url or "") and transport.count("create"):
            failed.set()
        return appointments()

    transport = ScriptedTransport(create=create, read_back=read_back)
    messages, error = run(
        transport, *(tour(lead) for lead in leads), state(1), track_write_status=False
    )
    assert error is None, error
    by_lead = {o["lead_id"]: o for o in outcome_lines(messages)}
    assert by_lead["lead-poison"]["outcome"] == "rejected"
    assert "other rows" in by_lead["lead-poison"]["reason"]
    assert all(by_lead[lead]["outcome"] == "accepted" for lead in leads[1:])
    assert states(messages)[0]["destinationStats"] == {"recordCount": 8, "rejectedRecordCount": 1}


# -- case 5: a lead Propexo will not read is that row's problem ------------------------------------


@pytest.mark.parametrize("refusal", [Answer(400, {"error": {"message": "bad lead"}}), Answer(404)])
def test_a_lead_whose_appointments_cannot_be_read_is_rejected_and_the_sync_goes_on(
    refusal: Answer,
) -> None:
    def read_back(sent: requests.PreparedRequest) -> Answer:
        # The integration's pages are refused too, so each lead is read on its own.
        url = sent.url or ""
        return refusal if "lead_id=lead-odd" in url or "order-by" in url else appointments()

    transport = ScriptedTransport(
        read_back=read_back, create=[job("job-1")], write_status=[status("SUCCESS")]
    )
    # Jobs untracked: on the fake clock nothing else moves time for the tracker.
    messages, error = run(
        transport,
        tour("lead-odd"),
        tour("lead-2"),
        state(1),
        mode="append_dedup",
        track_write_status=False,
    )
    assert error is None, error
    by_lead = {o["lead_id"]: o for o in outcome_lines(messages)}
    assert by_lead["lead-odd"]["outcome"] == "rejected"
    assert "lead-odd" in by_lead["lead-odd"]["reason"]
    assert by_lead["lead-2"]["outcome"] == "accepted"
    assert states(messages)[0]["destinationStats"] == {"recordCount": 1, "rejectedRecordCount": 1}


def test_a_lead_read_the_service_cannot_answer_still_stops_the_sync() -> None:
    transport = ScriptedTransport(read_back=[Answer(503)], create=[job("job-1")])
    messages, error = run(transport, tour("lead-1"), state(1), mode="append_dedup")
    assert isinstance(error, TransientError), error
    assert outcome_lines(messages) == [] and states(messages) == []


# -- case 8 and a 404 on the create path: the configuration's -------------------------------------


def test_a_404_on_the_create_path_is_a_config_error_not_a_rejected_row() -> None:
    transport = ScriptedTransport(
        create=[Answer(404, {"error": {"message": "no route"}})], read_back=[appointments()]
    )
    messages, error = run(transport, tour("lead-1"), tour("lead-2"), state(1))
    assert isinstance(error, ConfigError), error
    assert "api_url" in str(error)
    assert outcome_lines(messages) == [] and states(messages) == []


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("https://api.propexo.com/v1", "/v1"),
        ("https://api.propexo.com/v1/", "/v1"),
        ("https://api.propexo.com?x=1", "?x=1"),
        ("https://api.propexo.com/v1?x=1", "/v1?x=1"),
    ],
)
def test_an_api_url_with_a_path_or_query_is_refused_naming_the_part_to_remove(
    url: str, part: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        config(api_url=url)
    assert f"remove {part!r}" in str(refused.value)


# -- bounded memory: STATE messages count toward the window -------------------------------------


def test_states_queued_behind_a_pending_record_count_toward_the_window() -> None:
    release, read = threading.Event(), [0]

    def create(sent: requests.PreparedRequest) -> Answer:
        release.wait(10)
        return job("job-1")

    def messages() -> Iterator[list[bytes]]:  # a line a read, as a slow source sends them
        yield [orjson.dumps(tour("lead-1"))]
        for cursor in range(5_000):
            read[0] += 1
            yield [orjson.dumps(state(cursor))]

    out = io.BytesIO()
    done = threading.Thread(
        target=lambda: write_sync(
            config(track_write_status=False),
            streams(),
            messages(),
            Emitter(out),
            adapter=ScriptedTransport(create=create, read_back=[appointments()]),
            window_size=20,
        )
    )
    done.start()
    seen = -1
    while seen != read[0]:  # until reading has stopped: the window is full
        seen = read[0]
        time.sleep(0.3)
    release.set()
    done.join(10)
    # The window (20) and the reader's inbox (half a window) hold every message read ahead.
    assert seen <= 20 + 10 + 2, f"{seen} states were read behind one pending record"
    assert len(states(orjson.loads(line) for line in out.getvalue().splitlines())) == 5_000


# -- a failure that reached no handler says nothing about the row ---------------------------------


@pytest.mark.parametrize(
    "refusal",
    [
        Answer(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"}),
        Answer(raises=requests.exceptions.ConnectionError(NewConnectionError(None, "refused"))),
    ],
    ids=["429", "refused"],
)
def test_a_row_refused_before_any_handler_while_others_are_booked_stops_the_sync(
    refusal: Answer,
) -> None:
    # A 429 storm (or refused connections) that happens to hit one row on every try while
    # other rows get through: the row was never looked at, so it is the service's failure;
    # the sync stops as transient and the row is not rejected (its STATE is not echoed).
    leads = ["lead-unlucky", *(f"lead-{n}" for n in range(4))]
    # The others are answered only after the unlucky row's first refusal, and its next tries
    # wait until one of them was answered (as in the poison-row test above).
    failed, others = threading.Event(), threading.Semaphore(0)

    def create(sent: requests.PreparedRequest) -> Answer:
        lead = orjson.loads(sent.body or b"{}")["lead_id"]
        if lead == "lead-unlucky":
            if failed.is_set():
                others.acquire(timeout=10)
                time.sleep(0.5)  # the client counts an answer just after the transport's
            failed.set()
            return refusal
        failed.wait(10)
        others.release()
        return job(f"job-{lead}")

    transport = ScriptedTransport(create=create, read_back=[appointments()])
    messages, error = run(
        transport, *(tour(lead) for lead in leads), state(1), track_write_status=False
    )
    assert isinstance(error, TransientError), error
    assert "before any handler saw it" in str(error)
    assert all(o["outcome"] != "rejected" for o in outcome_lines(messages))
    assert states(messages) == []


def test_a_create_whose_answer_breaks_off_mid_body_is_read_back_not_given_up() -> None:
    # The connection resets while the 200's body is coming: the job may be queued, so the
    # lead is read back (and the booking adopted), like any answer lost after the send.
    booked = appointments({"id": "evt-1", "associated_lead_ids": ["lead-1"],
                           "appointment_datetime": "2024-07-20T14:00:00Z"})  # fmt: skip
    transport = ScriptedTransport(
        create=[Answer(raises=requests.exceptions.ChunkedEncodingError("reset mid-body"))],
        read_back=[appointments(), booked],
    )
    messages, error = run(transport, tour("lead-1"), state(1), track_write_status=False)
    assert error is None, error
    (outcome,) = outcome_lines(messages)
    assert outcome["outcome"] == "accepted", outcome
    assert transport.count("create") == 1


# -- the rejection brake and STATEs --------------------------------------------------------------


def test_with_a_brake_a_state_read_among_rejected_rows_is_not_echoed_before_it_judges() -> None:
    # Every row is rejected (a day the calendar does not have): the brake stops the sync, and
    # the STATE read among the first rows must not commit them first; once the operator fixes
    # the mapping, the retry re-sends every row. Read in one batch, as a fast source sends them.
    bad = [tour(f"lead-{n}") for n in range(150)]
    for row in bad:
        row["record"]["data"]["appointment_date"] = "2024-02-30"
    messages, error = run(
        ScriptedTransport(read_back=[appointments()]),
        *bad[:10],
        state(1),
        *bad[10:],
        max_rejected_percent=50,
    )
    assert isinstance(error, TooManyRejected)
    assert "max_rejected_percent (50 %)" in str(error)
    assert states(messages) == []
