"""The simulation's own checks can fail: hand-made runs that break each promise are caught,
and a clean one passes. Also Airbyte's re-send rule and the rule numbering of the sandbox."""

from __future__ import annotations

import copy
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
