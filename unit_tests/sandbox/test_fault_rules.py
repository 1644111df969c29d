"""Faults planned by request number and kind, the request log, revocation and settling."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from propexo_sandbox import CreateFault, FaultPlan, FaultRule, Sandbox
from propexo_sandbox.faults import FaultDice
from unit_tests.sandbox.test_sandbox import AUTH, DELAY, TOKEN, appointment_body, get, post

READ_BACK = "/v1/appointments/"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(token=TOKEN, write_status_delay=DELAY) as running:
        yield running


def plan(*rules: FaultRule, **fields: Any) -> FaultPlan:
    return FaultPlan(rules=rules, **fields)


def test_a_rule_covers_its_run_of_request_numbers_per_endpoint() -> None:
    dice = FaultDice(plan(FaultRule("read_back", CreateFault.RATE_503, first=2, count=2)))
    drawn = [dice.rule_for(endpoint) for endpoint in ["create", *["read_back"] * 4]]
    assert [rule is not None for rule in drawn] == [False, False, True, True, False]


def test_an_any_rule_counts_every_request_and_a_null_count_never_ends() -> None:
    dice = FaultDice(plan(FaultRule("any", CreateFault.DROP, first=3, count=None)))
    drawn = [dice.rule_for(endpoint) for endpoint in ["create", "write_status", "read_back"] * 3]
    assert [rule is not None for rule in drawn] == [False, False, *[True] * 7]


def test_read_faults_are_planned_by_number(sandbox: Sandbox) -> None:
    sandbox.set_faults(
        plan(
            FaultRule("read_back", CreateFault.RATE_429, first=1, retry_after=0.5),
            FaultRule("read_back", CreateFault.RATE_429, first=2),
            FaultRule("read_back", CreateFault.BAD_REQUEST, first=3),
            FaultRule("read_back", CreateFault.NOT_FOUND, first=4),
            FaultRule("write_logs", CreateFault.RATE_500, first=1),
        )
    )
    answers = [get(sandbox, READ_BACK, lead_id="lead-1") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [429, 429, 400, 404, 200]
    assert answers[0].headers["Retry-After"] == "0.5"
    assert "Retry-After" not in answers[1].headers
    assert get(sandbox, "/v1/admin/logs/writes/").status_code == 500
    assert get(sandbox, "/v1/admin/logs/writes/").status_code == 200


def test_a_planned_hang_holds_a_read_and_a_drop_cuts_it(sandbox: Sandbox) -> None:
    sandbox.set_faults(
        plan(
            FaultRule("integration", CreateFault.HANG),
            FaultRule("integration", CreateFault.DROP, first=2),
            hang_seconds=0.6,
        )
    )
    path = "/v1/admin/integrations/intg-sandbox-resman/"
    started = time.monotonic()
    assert get(sandbox, path).status_code == 200
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.ConnectionError):
        get(sandbox, path)


def test_a_write_rule_takes_the_place_of_the_script(sandbox: Sandbox) -> None:
    sandbox.set_faults(
        plan(
            FaultRule("create", CreateFault.CREATED_THEN_500, first=1),
            FaultRule("create", CreateFault.BAD_REQUEST, first=2),
            create_script=("503",),
        )
    )
    lost = post(sandbox, appointment_body(lead_id="lead-a"))
    refused = post(sandbox, appointment_body(lead_id="lead-b"))
    scripted = post(sandbox, appointment_body(lead_id="lead-c"))
    assert (lost.status_code, refused.status_code, scripted.status_code) == (500, 400, 503)
    assert sandbox.settle(timeout=5)
    assert [event["associated_lead_ids"] for event in sandbox.appointments()] == [["lead-a"]]


def test_a_pending_job_stays_pending_for_the_planned_time_then_books(sandbox: Sandbox) -> None:
    sandbox.set_faults(plan(FaultRule("create", CreateFault.JOB_PENDING), pending_seconds=0.8))
    job_id = post(sandbox, appointment_body()).json()["meta"]["job_id"]
    time.sleep(DELAY * 3)
    assert get(sandbox, f"/v1/admin/write-status/{job_id}").json()["write_status"] == "PENDING"
    assert sandbox.appointments() == []
    assert sandbox.settle(timeout=5)
    assert get(sandbox, f"/v1/admin/write-status/{job_id}").json()["write_status"] == "SUCCESS"
    assert len(sandbox.appointments()) == 1


def test_settle_gives_up_at_its_timeout(sandbox: Sandbox) -> None:
    sandbox.set_faults(plan(FaultRule("create", CreateFault.JOB_PENDING), pending_seconds=30))
    post(sandbox, appointment_body())
    assert sandbox.settle(timeout=0.2) is False


def test_jobs_list_each_write_with_its_outcome(sandbox: Sandbox) -> None:
    sandbox.set_faults(plan(FaultRule("create", CreateFault.JOB_FAILURE, first=2)))
    post(sandbox, appointment_body(lead_id="lead-ok"))
    post(sandbox, appointment_body(lead_id="lead-second"))
    assert sandbox.settle(timeout=5)
    now = time.time()
    outcomes = [(job.parameters["lead_id"], job.status(now)) for job in sandbox.jobs()]
    assert outcomes == [("lead-ok", "SUCCESS"), ("lead-second", "FAILURE")]


def test_the_token_is_revoked_after_k_requests_of_any_kind_and_can_be_restored(
    sandbox: Sandbox,
) -> None:
    sandbox.set_faults(FaultPlan(revoke_after_requests=2))
    answers = [get(sandbox, READ_BACK).status_code for _ in range(3)]
    assert answers == [200, 200, 401]
    assert post(sandbox, appointment_body()).status_code == 401
    sandbox.restore_token()
    assert [get(sandbox, READ_BACK).status_code for _ in range(2)] == [200, 200]


def test_a_401_quotes_the_authorization_header_when_planned(sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultPlan(echo_authorization=True))
    wrong = {"Authorization": "Bearer  not-the-token\t"}
    answer = requests.get(sandbox.url + READ_BACK, headers=wrong, timeout=5)
    assert answer.status_code == 401
    assert "Bearer  not-the-token\t" in answer.json()["error"]["message"]
    sandbox.set_faults(FaultPlan())
    answer = requests.get(sandbox.url + READ_BACK, headers=wrong, timeout=5)
    assert "not-the-token" not in answer.text


def test_the_request_log_has_each_request_with_its_times_and_status(sandbox: Sandbox) -> None:
    before = time.time()
    get(sandbox, READ_BACK)
    requests.get(sandbox.url + READ_BACK, timeout=5)  # no token: 401
    post(sandbox, appointment_body())
    log = sandbox.requests()
    assert [(r.endpoint, r.method, r.status) for r in log] == [
        ("read_back", "GET", 200),
        ("read_back", "GET", 401),
        ("create", "POST", 200),
    ]
    assert all(before <= r.started <= (r.finished or 0) <= time.time() for r in log)


def test_wait_for_requests_returns_when_the_count_is_reached(sandbox: Sandbox) -> None:
    assert sandbox.wait_for_requests(1, "create", timeout=0.1) is False
    post(sandbox, appointment_body())
    assert sandbox.wait_for_requests(1, "create", timeout=0.1) is True
    assert sandbox.wait_for_requests(2, timeout=0.1) is False


def test_rules_travel_through_the_admin_endpoint_as_json(sandbox: Sandbox) -> None:
    body = {"rules": [{"endpoint": "create", "fault": "404", "first": 1, "count": None}]}
    answer = requests.post(sandbox.url + "/_sandbox/faults", json=body, timeout=5)
    assert answer.json()["faults"]["rules"] == [
        {"endpoint": "create", "fault": "404", "first": 1, "count": None, "retry_after": None}
    ]
    assert post(sandbox, appointment_body()).status_code == 404
    assert requests.get(sandbox.url + READ_BACK, headers=AUTH, timeout=5).status_code == 200


@pytest.mark.parametrize(
    "rule",
    [
        {"endpoint": "nowhere", "fault": "503"},
        {"endpoint": "read_back", "fault": "job_failure"},
        {"endpoint": "create", "fault": "explode"},
        {"endpoint": "create", "fault": "503", "first": 0},
        {"endpoint": "create", "fault": "503", "count": 0},
        {"endpoint": "create", "fault": "503", "count": 1.5},
        {"endpoint": "create", "fault": "429", "retry_after": -1},
        {"endpoint": "create"},
        {"endpoint": "create", "fault": "503", "when": "now"},
        "503",
    ],
)
def test_an_invalid_rule_is_refused_with_a_reason(rule: object) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        FaultPlan.from_json({"rules": [rule]})
