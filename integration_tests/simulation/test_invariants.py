"""The simulation's own checks can fail: hand-made runs that break each promise are caught,
and a clean one passes. Also Airbyte's re-send rule and the rule numbering of the sandbox."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from typing import Any

import requests

from integration_tests.simulation.airbyte import Run, SyncHistory, remaining
from integration_tests.simulation.invariants import check, fired_rules
from integration_tests.simulation.model import (
    Case,
    Faults,
    Row,
    State,
    StreamSpec,
    message_json,
)
from propexo_sandbox import CreateFault, FaultPlan, FaultRule, Sandbox
from propexo_sandbox.stats import LoggedRequest

TOURS = StreamSpec("tours", None, "append")
ROW = Row(stream=0, lead="lead-a", date="2041-03-01", time="14:30")
SLOT = "2041-03-01T14:30:00.000Z"


def test_an_unclear_create_whose_leads_read_back_is_refused_may_end_outcome_unknown() -> None:
    # Propexo refused the lead's read-back with a 400 (the row's fault, docs/reliability.md):
    # the create's outcome is then unknown, and the row is rejected so, not the sync stopped.
    # (Soak seed 878509283: create 503, then read-back 400.)
    rule = FaultRule("read_back", CreateFault.BAD_REQUEST)
    case = Case(
        streams=(TOURS,), state_type="STREAM", messages=(ROW,), faults=Faults(rules=(rule,))
    )
    history = history_of(case)
    reason = "the create got no clear answer (HTTP 503) and reading the lead back failed"
    rejected = outcome(1, "rejected", category="outcome unknown", reason=reason)
    history.runs.append(run_of([0], [rejected]))
    with Sandbox(token="t", faults=FaultPlan(rules=(rule,))) as sandbox:
        answer = requests.get(
            f"{sandbox.url}/v1/appointments/?lead_id=lead-a",
            headers={"Authorization": "Bearer t"},
            timeout=5,
        )
        logged = sandbox.requests()
    assert answer.status_code == 400
    assert not any("no row fault" in p for p in check(history, logged, [], {}, []))
    # Without the refused read-back, the same rejection has nothing to justify it.
    assert any("no row fault" in p for p in check(history, [], [], {}, []))


def case_of(*messages: Row | State, streams: tuple[StreamSpec, ...] = (TOURS,)) -> Case:
    return Case(streams=streams, state_type="STREAM", messages=messages)


def log(message: str) -> dict[str, Any]:
    return {"type": "LOG", "log": {"level": "INFO", "message": message}}


def outcome(line: int, verdict: str = "accepted", **extra: Any) -> dict[str, Any]:
    fields = {"stream": "tours", "line": line, "lead_id": "lead-a", "outcome": verdict, **extra}
    return log("record outcome: " + json.dumps(fields))


def echoed(history: SyncHistory, index: int, accepted: int, rejected: int) -> dict[str, Any]:
    state = copy.deepcopy(history.sent_messages[index]["state"])
    state["destinationStats"] = {"recordCount": accepted, "rejectedRecordCount": rejected}
    return {"type": "STATE", "state": state}


def run_of(sent: list[int | None], out: list[dict[str, Any]], returncode: int = 0) -> Run:
    now = time.time()
    run = Run(job=1, attempt=0, sent=sent, returncode=returncode, started=now - 1, ended=now)
    run.lines = [(now - 0.5, json.dumps(message)) for message in out]
    return run


def history_of(case: Case) -> SyncHistory:
    return SyncHistory(case, [message_json(case, m, [], i) for i, m in enumerate(case.messages)])


def appointment(
    lead: str = "lead-a", when: str = SLOT, integration: str = "intg-sandbox-resman"
) -> dict[str, Any]:
    return {
        "associated_lead_ids": [lead],
        "appointment_datetime": when,
        "integration_id": integration,
    }


def test_a_clean_sync_passes() -> None:
    history = history_of(case_of(ROW, State(0, cursor="ü")))
    history.runs.append(run_of([0, 1], [outcome(1), echoed(history, 1, 1, 0)]))
    assert check(history, [], [appointment()], {}, ["secret-token"]) == []


def test_a_row_booked_twice_is_caught() -> None:
    history = history_of(case_of(ROW, State(0)))
    history.runs.append(run_of([0, 1], [outcome(1), echoed(history, 1, 1, 0)]))
    (problem,) = check(history, [], [appointment(), appointment()], {}, [])
    assert "booked twice" in problem


def test_state_counts_that_miss_their_window_and_a_changed_state_are_caught() -> None:
    history = history_of(case_of(ROW, ROW, State(0, cursor=1)))
    wrong = echoed(history, 2, 1, 0)
    wrong["state"]["stream"]["stream_state"] = {"cursor": 2}
    history.runs.append(
        run_of([0, 1, 2], [outcome(1), outcome(2, "rejected", category="invalid record"), wrong])
    )
    problems = check(history, [], [appointment()], {}, [])
    assert any("echoed changed" in p for p in problems)
    assert any("counts" in p and "'rejectedRecordCount': 1" in p for p in problems)


def test_a_second_outcome_and_a_missing_one_are_caught() -> None:
    history = history_of(case_of(ROW, ROW))
    history.runs.append(run_of([0, 1], [outcome(1), outcome(1)]))
    problems = check(history, [], [appointment()], {}, [])
    assert any("got 2 outcomes" in p for p in problems)
    assert any("got no outcome" in p for p in problems)


def test_a_service_fault_that_rejects_a_row_is_caught() -> None:
    history = history_of(case_of(ROW))
    rejected = outcome(1, "rejected", category="outcome unknown", reason="no answer")
    history.runs.append(run_of([0], [rejected]))
    (problem,) = check(history, [], [], {}, [])
    assert "no row fault to justify it" in problem


def test_a_request_after_the_trace_and_an_unjustified_stop_are_caught() -> None:
    history = history_of(case_of(ROW))
    trace = {
        "type": "TRACE",
        "trace": {"type": "ERROR", "error": {"failure_type": "system_error", "message": "x"}},
    }
    run = run_of([0], [trace], returncode=1)
    history.runs.append(run)
    trace_at = run.lines[0][0]
    late = LoggedRequest("create", "POST", "/v1/", started=trace_at + 0.5)
    problems = check(history, [late], [], {}, [])
    assert any("requests started after the TRACE" in p for p in problems)
    assert any("stopped with system_error" in p for p in problems)


def test_a_state_is_owed_at_a_sigterm_only_once_the_connector_took_input() -> None:
    history = history_of(case_of(State(0, cursor=0), ROW))
    trace = {
        "type": "TRACE",
        "trace": {"type": "ERROR", "error": {"failure_type": "transient_error", "message": "x"}},
    }
    run = run_of([0, 1], [trace], returncode=1)
    run.sigterm_at = run.started + 0.2
    history.runs.append(run)
    startup = LoggedRequest("integration", "GET", "/v1/admin/integrations/i/", run.started + 0.1)
    create = LoggedRequest("create", "POST", "/v1/", started=run.started + 0.15)
    owed = "the STATE on line 1 was not echoed"
    assert not any(owed in p for p in check(history, [startup], [], {}, []))
    assert any(owed in p for p in check(history, [startup, create], [], {}, []))


def test_a_state_is_owed_at_an_error_stop_only_once_the_connector_took_input() -> None:
    history = history_of(case_of(State(0, cursor=0), ROW))
    trace = {
        "type": "TRACE",
        "trace": {"type": "ERROR", "error": {"failure_type": "config_error", "message": "401"}},
    }
    run = run_of([0, 1], [trace], returncode=1)
    history.runs.append(run)
    trace_at = run.lines[0][0]
    startup = LoggedRequest("integration", "GET", "/v1/admin/integrations/i/", trace_at - 0.2)
    create = LoggedRequest("create", "POST", "/v1/", started=trace_at - 0.1)
    owed = "the STATE on line 1 was not echoed"
    assert not any(owed in p for p in check(history, [startup], [], {}, []))
    assert any(owed in p for p in check(history, [startup, create], [], {}, []))


def test_a_first_attempt_that_fails_with_no_stopping_fault_planned_is_caught() -> None:
    case = case_of(ROW)
    bounded = Faults(rules=(FaultRule("create", CreateFault.RATE_503, count=2),))
    history = history_of(Case(case.streams, case.state_type, case.messages, faults=bounded))
    trace = {
        "type": "TRACE",
        "trace": {"type": "ERROR", "error": {"failure_type": "transient_error", "message": "x"}},
    }
    history.runs.append(run_of([0], [trace], returncode=1))
    problems = check(history, [], [], {}, [])
    assert any("no fault in the plan stops a sync" in p for p in problems)


def test_an_exit_without_a_trace_and_a_secret_in_any_output_are_caught() -> None:
    history = history_of(case_of(ROW))
    run = run_of([0], [], returncode=-15)
    run.stderr = "Authorization: Bearer secret-token"
    history.runs.append(run)
    problems = check(history, [], [], {"rejected records file": "secret-token"}, ["secret-token"])
    assert any("without an error TRACE" in p for p in problems)
    assert sum("secret" in p for p in problems) == 2


def test_a_lead_keyed_lead_must_end_at_its_last_accepted_rows_time() -> None:
    keyed = StreamSpec("tours", None, "dedup_lead")
    later = Row(stream=0, lead="lead-a", date="2041-04-01", time="10:00")
    history = history_of(case_of(ROW, later, streams=(keyed,)))
    history.runs.append(run_of([0, 1], [outcome(1), outcome(2)]))
    (problem,) = check(history, [], [appointment()], {}, [])
    assert "its last accepted row" in problem


def test_a_later_runs_verdict_on_a_row_replaces_an_earlier_one() -> None:
    keyed = StreamSpec("tours", None, "dedup_lead")
    later = Row(stream=0, lead="lead-a", date="2041-04-01", time="10:00")
    history = history_of(case_of(ROW, later, streams=(keyed,)))
    history.runs.append(run_of([0, 1], [outcome(1), outcome(2, write_status="QUEUED")], 1))
    history.runs.append(run_of([1], [outcome(1, "rejected", category="write failed in the PMS")]))
    problems = check(history, [], [appointment()], {}, [])
    assert not any("last accepted row" in p for p in problems)
    history.runs[1] = run_of([1], [outcome(1)])
    problems = check(history, [], [appointment()], {}, [])
    assert any("its last accepted row" in p for p in problems)


def test_airbyte_resends_each_stream_after_its_own_last_state() -> None:
    streams = (TOURS, StreamSpec("visits", "crm", "append"))
    other = Row(stream=1, lead="lead-b", date="2041-03-01", time="10:00")
    case = case_of(ROW, other, State(0), ROW, State(1), other, streams=streams)
    assert remaining(case, {}) == [0, 1, 2, 3, 4, 5]
    # Stream 0's state at 2 is committed: stream 1's row 1 is still sent again.
    assert remaining(case, {0: 2}) == [1, 3, 4, 5]
    global_case = Case(streams=streams, state_type="GLOBAL", messages=case.messages)
    assert remaining(global_case, {None: 2}) == [3, 4, 5]


def test_fired_rules_number_requests_as_the_sandbox_does() -> None:
    rule = FaultRule("read_back", CreateFault.RATE_503, first=2, count=2)
    case = Case(
        streams=(TOURS,), state_type="STREAM", messages=(ROW,), faults=Faults(rules=(rule,))
    )
    with Sandbox(token="t", faults=FaultPlan(rules=(rule,))) as sandbox:
        headers = {"Authorization": "Bearer t"}
        statuses = [
            requests.get(f"{sandbox.url}{path}", headers=headers, timeout=5).status_code
            for path in [
                "/v1/appointments/",
                "/v1/admin/write-status/x",
                *["/v1/appointments/"] * 3,
            ]
        ]
        fired = fired_rules(case, sandbox.requests())
    assert statuses == [200, 404, 503, 503, 200]
    assert [hit.request.status for hit in fired] == [503, 503]


# --- each PMS on its own terms ----------------------------------------------------------------

# The sandbox's zone rows for Rent Manager: Central integration-wide, Eastern at prop-east.
ZONES: list[dict[str, object]] = [
    {"integration_id": "intg-sandbox-rentmanager", "property_id": None, "offset": "-06:00"}
    | {"observes_daylight_savings": True},
    {"integration_id": "intg-sandbox-rentmanager", "property_id": "prop-east", "offset": "-05:00"}
    | {"observes_daylight_savings": True},
]
ENTRATA = Row(stream=0, lead="lead-a", date="2041-03-01", time="14:30", vendor="entrata")
# 14:30 UTC on 2041-03-01 is 07:30 in Denver (MST), the wall clock Entrata reads.
ENTRATA_BODY = {
    "integration_id": "intg-sandbox-entrata",
    "lead_id": "lead-a",
    "appointment_date": "2041-03-01",
    "appointment_time": "07:30:00",
    "appointment_duration_minutes": 30,
    "appointment_type": "TOUR",
    "notes": "Meet at the front desk [row 0]",
}


def write(
    run: Run,
    body: dict[str, Any],
    *,
    slug: str = "entrata",
    status: int | None = 200,
    at: float = 0.1,
    endpoint: str = "create",
) -> LoggedRequest:
    """A create (or a PUT, `endpoint` "update") as the sandbox logs it, `at` s into `run`."""
    path = f"/v1/events/appointments/leads/{slug}/" + ("appt-1" if endpoint == "update" else "")
    method = "POST" if endpoint == "create" else "PUT"
    started = run.started + at
    return LoggedRequest(
        endpoint, method, path, started, started + 0.01, status, body=json.dumps(body).encode()
    )


def booked_once(row: Row = ENTRATA, body: dict[str, Any] = ENTRATA_BODY, **changes: Any) -> Any:
    """A clean run of one row, its create logged with `changes` to the body (None: left out)."""
    history = history_of(case_of(row, State(0)))
    run = run_of([0, 1], [outcome(1), echoed(history, 1, 1, 0)])
    history.runs.append(run)
    sent = {k: v for k, v in (body | changes).items() if v is not None}
    return history, run, sent


def test_a_booking_at_its_vendors_terms_passes() -> None:
    history, run, body = booked_once()
    entrata = appointment(integration="intg-sandbox-entrata")
    assert check(history, [write(run, body)], [entrata], {}, []) == []


def test_a_booking_at_another_vendors_endpoint_is_caught() -> None:
    history, run, body = booked_once()
    (problem,) = check(history, [write(run, body, slug="resman")], [], {}, [])
    assert "sent to the 'resman' endpoint; Entrata books at 'entrata'" in problem


def test_a_field_the_vendor_does_not_take_and_one_it_requires_are_caught() -> None:
    history, run, body = booked_once(lead_source_id="src-web", appointment_type=None)
    problems = check(history, [write(run, body)], [], {}, [])
    assert any("does not take: ['lead_source_id']" in p for p in problems)
    assert any("requires: ['appointment_type']" in p for p in problems)


def test_a_request_asking_propexo_to_ignore_unknown_fields_is_caught() -> None:
    history, run, body = booked_once()
    request = write(run, body)
    ignoring = LoggedRequest(**{**request.__dict__, "query": "ignore_unknown_fields=true"})
    (problem,) = check(history, [ignoring], [], {}, [])
    assert "ignore unknown fields" in problem


def test_a_utc_time_sent_to_entrata_is_caught() -> None:
    history, run, body = booked_once(appointment_time="14:30:00")
    (problem,) = check(history, [write(run, body)], [], {}, [])
    assert "Entrata was sent 2041-03-01 14:30:00; it reads America/Denver" in problem
    assert "is 2041-03-01 07:30:00" in problem


def test_rent_manager_gets_the_wall_clock_of_the_leads_property_zone() -> None:
    # lead-b is at prop-east: Eastern, 09:30 EST for 14:30 UTC; Central would be 08:30.
    row = Row(stream=0, lead="lead-b", date="2041-03-01", time="14:30", vendor="rentmanager")
    body = {
        "integration_id": "intg-sandbox-rentmanager",
        "lead_id": "lead-b",
        "appointment_date": "2041-03-01",
        "appointment_time": "09:30:00",
        "appointment_duration_minutes": 30,
        "title": "Tour",
        "notes": "x [row 0]",
    }
    history, run, eastern = booked_once(row, body)
    assert (
        check(history, [write(run, eastern, slug="rentmanager")], [], {}, [], timezones=ZONES) == []
    )
    history, run, central = booked_once(row, body, appointment_time="08:30:00")
    # Without the zone rows the row names no zone Rent Manager can read: it must be refused.
    problems = check(history, [write(run, eastern, slug="rentmanager")], [], {}, [])
    assert any("must be refused (property_id)" in p for p in problems)
    problems = check(
        history, [write(run, central, slug="rentmanager")], [], {}, [], timezones=ZONES
    )
    assert any("it reads America/New_York" in p for p in problems)


def test_the_second_time_a_wall_clock_happens_must_be_refused_not_sent() -> None:
    # 08:30 UTC on 2041-11-03 is 01:30 MST in Denver, the second 01:30 of that night.
    row = Row(stream=0, lead="lead-a", date="2041-11-03", time="08:30", vendor="entrata")
    history, run, body = booked_once(
        row, appointment_date="2041-11-03", appointment_time="01:30:00"
    )
    problems = check(history, [write(run, body)], [], {}, [])
    assert any("should be rejected as invalid (appointment_time)" in p for p in problems)
    assert any("sent, though the row must be refused (appointment_time)" in p for p in problems)


def refused_with(row: Row, reason: str, streams: tuple[StreamSpec, ...] = (TOURS,)) -> list[str]:
    history = history_of(case_of(row, streams=streams))
    given = outcome(1, "rejected", category="invalid record", reason=reason)
    history.runs.append(run_of([0], [given]))
    return check(history, [], [], {}, [])


def test_a_row_missing_a_vendors_field_is_rejected_naming_the_field_and_the_vendor() -> None:
    row = Row(stream=0, lead="lead-a", date="2041-03-01", time="14:30", vendor="entrata")
    lacking = Row(**{**row.__dict__, "missing": "notes"})
    assert refused_with(lacking, "notes: Entrata requires it; the row has no value") == []
    (vague,) = refused_with(lacking, "notes: required")
    assert "names neither one of ['notes'] nor Entrata" in vague
    assert refused_with(lacking, "appointment_type: Entrata requires it")
    (accepted,) = check(history_with(lacking, outcome(1)), [], [], {}, [])
    assert "should be rejected as invalid (notes)" in accepted


def history_with(
    row: Row, given: dict[str, Any], streams: tuple[StreamSpec, ...] = (TOURS,)
) -> Any:
    history = history_of(case_of(row, streams=streams))
    history.runs.append(run_of([0], [given]))
    return history


def test_mri_realpage_without_a_zone_and_a_yardi_move_must_be_refused() -> None:
    mri = Row(stream=0, lead="lead-a", date="2041-03-01", time="14:30", vendor="mri")
    realpage = Row(stream=0, lead="lead-a", date="2041-03-01", time="14:30", vendor="realpage-rpx")
    unzoned = Row(**{**realpage.__dict__, "missing": "property_timezone"})
    moves = (StreamSpec("tours", None, "update"),)
    yardi = Row(stream=0, lead="lead-a", date="2041-03-01", time="14:30", vendor="yardi", event=-1)
    for row, field, streams in [
        (mri, "appointment_time", (TOURS,)),
        (unzoned, "property_timezone", (TOURS,)),
        (yardi, "event_id", moves),
    ]:
        problems = check(history_with(row, outcome(1), streams), [], [], {}, [])
        assert any("should be rejected as invalid (" in p and field in p for p in problems)
    assert check(history_with(realpage, outcome(1)), [], [], {}, []) == []


def unclear_run(*statuses: int | None, verdict: dict[str, Any]) -> list[str]:
    """One Entrata row whose creates got `statuses` (None: dropped) and ended `verdict`."""
    history = history_of(case_of(ENTRATA))
    run = run_of([0], [verdict])
    history.runs.append(run)
    requests = [write(run, ENTRATA_BODY, status=s, at=0.1 * n) for n, s in enumerate(statuses, 1)]
    return check(history, requests, [], {}, [])


def test_an_unclear_create_at_entrata_ends_outcome_unknown_and_is_not_sent_again() -> None:
    unknown = outcome(1, "rejected", category="outcome unknown", reason="no clear answer")
    assert unclear_run(500, verdict=unknown) == []
    assert unclear_run(None, verdict=unknown) == []
    resent = unclear_run(None, 200, verdict=outcome(1))
    assert any("it was sent again 1 time(s) in the same run" in p for p in resent)
    assert any("its create got no clear answer, yet it ended accepted" in p for p in resent)
    # Without an unclear create, "outcome unknown" has nothing to justify it.
    (unjustified,) = unclear_run(200, verdict=unknown)
    assert "no row fault to justify it" in unjustified


def test_a_row_booked_twice_across_retries_is_caught_at_once_readable_vendors_only() -> None:
    def twice(vendor: Any, bookings: int) -> list[str]:
        row = Row(stream=0, lead="lead-a", date="2041-03-01", time="14:30", vendor=vendor)
        history = history_of(case_of(row, State(0)))
        history.runs.append(run_of([0, 1], [], returncode=-15))
        history.runs[0].sigterm_at = history.runs[0].ended
        history.runs.append(run_of([0, 1], [outcome(1), echoed(history, 1, 1, 0)]))
        booked = [appointment(integration=row.integration_id)] * bookings
        return [p for p in check(history, [], booked, {}, []) if "booked twice" in p]

    assert twice("appfolio", 2)
    # Entrata cannot show the first run's booking to the second (docs/reliability.md) ...
    assert twice("entrata", 2) == []
    # ... but each run books a row at most once.
    assert twice("entrata", 3)


def test_an_appointment_where_no_row_puts_one_is_caught() -> None:
    history = history_of(case_of(ROW, State(0)))
    history.runs.append(run_of([0, 1], [outcome(1), echoed(history, 1, 1, 0)]))
    hour_off = appointment(when="2041-03-01T15:30:00.000Z")
    problems = check(history, [], [appointment(), hour_off], {}, [])
    assert any("where no input row or seeded appointment puts one" in p for p in problems)


def refused_configuration(configured: Any, mode: Any, message: str, returncode: int = 1) -> Any:
    case = case_of(ROW, State(0), streams=(StreamSpec("tours", None, mode),))
    history = history_of(dataclasses.replace(case, configured=configured))
    trace = {
        "type": "TRACE",
        "trace": {"type": "ERROR", "error": {"failure_type": "config_error", "message": message}},
    }
    run = run_of([0, 1], [trace] if returncode else [outcome(1), echoed(history, 1, 1, 0)])
    run.returncode = returncode
    history.runs.append(run)
    return history, run


def test_a_configured_integration_that_must_be_refused_stops_before_any_write() -> None:
    said = "Integration 'intg-sandbox-yardi' is a Yardi one: Yardi has no documented update"
    history, run = refused_configuration("yardi", "dedup_lead", said)
    assert check(history, [], [], {}, []) == []
    history, run = refused_configuration("yardi", "append", "", returncode=0)
    assert check(history, [], [appointment()], {}, []) == []  # no stream moves tours
    history, run = refused_configuration("mri", "append", "", returncode=0)
    body = ENTRATA_BODY | {"notes": "x [row 0]"}
    problems = check(history, [write(run, body, slug="mri")], [appointment()], {}, [])
    assert any("1 writes were sent, though the configuration is refused" in p for p in problems)
    assert any("exit 0, though the configuration is refused" in p for p in problems)
    history, run = refused_configuration("mri", "append", "The configured integration failed")
    (vague,) = check(history, [], [], {}, [])
    assert "the config_error does not name MRI" in vague


def test_a_stop_is_justified_when_every_poll_of_a_job_met_a_planned_failure() -> None:
    # The write status is polled a few times within its bound (2 s in the harness): a fault
    # that ends after two requests may still take every poll of one job, which stops the sync.
    rule = FaultRule("write_status", CreateFault.RATE_503, first=1, count=2)
    history = history_of(Case((TOURS,), "STREAM", (ROW,), faults=Faults(rules=(rule,))))
    trace = {
        "type": "TRACE",
        "trace": {"type": "ERROR", "error": {"failure_type": "transient_error", "message": "x"}},
    }
    run = run_of([0], [trace], returncode=1)
    history.runs.append(run)
    create = LoggedRequest("create", "POST", "/v1/events/appointments/leads/resman/", run.started)

    def poll(job: str, at: float) -> LoggedRequest:
        path = f"/v1/admin/write-status/{job}"
        return LoggedRequest("write_status", "GET", path, run.started + at, status=503)

    stopped = "no fault in the plan stops a sync"
    every_poll = [create, poll("job-1", 0.1), poll("job-1", 0.2)]
    assert not any(stopped in p for p in check(history, every_poll, [], {}, []))
    answered_once = [*every_poll, poll("job-1", 0.3)]
    assert any(stopped in p for p in check(history, answered_once, [], {}, []))


def test_a_stop_is_justified_when_an_unclear_create_at_a_late_pms_met_no_answered_write() -> None:
    # Entrata and Yardi REST cannot read a new tour back: an unclear create with no other
    # write answered 2xx after it looks like an outage, and the connector stops
    # (docs/reliability.md); once a later write is answered, the row is its own.
    rule = FaultRule("create", CreateFault.CREATED_THEN_500, first=1, count=1)
    history = history_of(Case((TOURS,), "STREAM", (ROW,), faults=Faults(rules=(rule,))))
    trace = {
        "type": "TRACE",
        "trace": {"type": "ERROR", "error": {"failure_type": "transient_error", "message": "x"}},
    }
    run = run_of([0], [trace], returncode=1)
    history.runs.append(run)

    def create(vendor: str, at: float, status: int) -> LoggedRequest:
        path = f"/v1/events/appointments/leads/{vendor}/"
        return LoggedRequest("create", "POST", path, run.started + at, status=status)

    stopped = "no fault in the plan stops a sync"
    unclear = [create("entrata", 0.1, 500)]
    assert not any(stopped in p for p in check(history, unclear, [], {}, []))
    answered_after = [*unclear, create("resman", 0.2, 202)]
    assert any(stopped in p for p in check(history, answered_after, [], {}, []))
    at_resman = [create("resman", 0.1, 500)]
    assert any(stopped in p for p in check(history, at_resman, [], {}, []))
