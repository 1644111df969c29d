"""The local Propexo sandbox, spoken to over real sockets the way the connector speaks to it."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from propexo_sandbox import FaultPlan, Sandbox
from propexo_sandbox.faults import CreateFault, FaultDice

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CREATE = "/v1/events/appointments/leads/resman/"
DELAY = 0.1


def appointment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration_id": "intg-sandbox-resman",
        "lead_id": "lead-1",
        "lead_source_id": "source-1",
        "appointment_date": "2024-07-20T14:00:00Z",
        "appointment_time": "14:00:00",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(token=TOKEN, write_status_delay=DELAY) as running:
        yield running


def post(
    sb: Sandbox, body: object, path: str = CREATE, timeout: float = 5, **kwargs: Any
) -> requests.Response:
    return requests.post(sb.url + path, json=body, headers=AUTH, timeout=timeout, **kwargs)


def get(sb: Sandbox, path: str, **params: Any) -> requests.Response:
    return requests.get(sb.url + path, params=params, headers=AUTH, timeout=5)


def final_status(sb: Sandbox, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        status: dict[str, Any] = get(sb, f"/v1/admin/write-status/{job_id}").json()
        if status["write_status"] != "PENDING":
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still PENDING")


def issues_of(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"]["name"] == "ZodError"
    issues: list[dict[str, Any]] = error["details"]["issues"]
    return issues


def wait_for_a_fresh_minute_if_near_its_end(margin: float = 3.0) -> None:
    # The budget window is the wall-clock minute; do not let it roll over mid-test.
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


# Auth and routing


def test_integration_lookup_returns_the_seeded_resman_integration(sandbox: Sandbox) -> None:
    response = get(sandbox, "/v1/admin/integrations/intg-sandbox-resman/")
    assert response.status_code == 200
    assert response.json() == {
        "meta": {},
        "results": {
            "id": "intg-sandbox-resman",
            "name": "Sandbox ResMan",
            "vendor": "RESMAN",
            "active": True,
            "system": "SANDBOX",
        },
    }


def test_integration_lookup_shows_other_vendors_and_inactive_ones(sandbox: Sandbox) -> None:
    entrata = get(sandbox, "/v1/admin/integrations/intg-sandbox-entrata/").json()["results"]
    inactive = get(sandbox, "/v1/admin/integrations/intg-sandbox-inactive").json()["results"]
    assert (entrata["vendor"], entrata["active"]) == ("ENTRATA", True)
    assert (inactive["vendor"], inactive["active"]) == ("RESMAN", False)


def test_unknown_integration_is_404(sandbox: Sandbox) -> None:
    response = get(sandbox, "/v1/admin/integrations/intg-nope/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_a_missing_or_wrong_token_is_401(sandbox: Sandbox, headers: dict[str, str]) -> None:
    response = requests.post(
        sandbox.url + CREATE, json=appointment_body(), headers=headers, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert sandbox.appointments() == []


def test_an_unknown_path_is_a_json_404(sandbox: Sandbox) -> None:
    response = get(sandbox, "/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_revoked_token_is_refused_from_then_on(sandbox: Sandbox) -> None:
    assert get(sandbox, "/v1/admin/integrations/intg-sandbox-resman/").status_code == 200
    sandbox.revoke_token()
    assert get(sandbox, "/v1/admin/integrations/intg-sandbox-resman/").status_code == 401
    assert post(sandbox, appointment_body()).status_code == 401


def test_the_admin_revoke_endpoint_revokes_the_token(sandbox: Sandbox) -> None:
    assert requests.post(sandbox.url + "/_sandbox/revoke", timeout=5).json() == {"revoked": True}
    assert get(sandbox, "/v1/appointments/").status_code == 401


# Create and write status


def test_create_echoes_the_fields_and_queues_a_pending_job(sandbox: Sandbox) -> None:
    body = appointment_body(unit_id="unit-1", notes="first tour")
    response = post(sandbox, body)
    assert response.status_code == 200
    payload = response.json()
    assert payload["result"] == body
    assert payload["meta"]["job_id"].startswith("job-")
    status = get(sandbox, f"/v1/admin/write-status/{payload['meta']['job_id']}").json()
    assert status == {"write_status": "PENDING", "errors": [], "created_record_id": None}


def test_a_job_succeeds_after_the_delay_with_the_new_appointment_id(sandbox: Sandbox) -> None:
    queued = time.time()
    job_id = post(sandbox, appointment_body(notes="hi")).json()["meta"]["job_id"]
    status = final_status(sandbox, job_id)
    [appointment] = sandbox.appointments()
    # Propexo's row is made when the job succeeds: after it was queued, by now.
    made = dt.datetime.fromisoformat(str(appointment.pop("created_at"))).timestamp()
    assert queued - 0.001 <= made <= time.time()
    assert status == {
        "write_status": "SUCCESS",
        "errors": [],
        "created_record_id": appointment["id"],
    }
    assert str(appointment["id"]).startswith("appt-")
    assert appointment == {
        "id": appointment["id"],
        "integration_id": "intg-sandbox-resman",
        "property_id": "prop-sandbox-1",
        "appointment_datetime": "2024-07-20T14:00:00.000Z",
        "event_datetime": "2024-07-20T14:00:00.000Z",
        "associated_lead_ids": ["lead-1"],
        "notes": "hi",
        "type_raw": "Appointment",
        "x_id": "1",
        "unit_id": None,
        "lead_source_id": "source-1",
    }


def test_a_plain_date_and_the_path_without_trailing_slash_are_accepted(sandbox: Sandbox) -> None:
    body = appointment_body(appointment_date="2024-03-10", appointment_time="08:30:00")
    job_id = post(sandbox, body, path=CREATE.rstrip("/")).json()["meta"]["job_id"]
    final_status(sandbox, job_id)
    assert sandbox.appointments()[0]["appointment_datetime"] == "2024-03-10T08:30:00.000Z"


def test_posting_the_same_body_twice_books_twice(sandbox: Sandbox) -> None:
    jobs = [post(sandbox, appointment_body()).json()["meta"]["job_id"] for _ in range(2)]
    for job_id in jobs:
        final_status(sandbox, job_id)
    assert len(sandbox.appointments()) == 2


def test_an_unknown_job_is_404(sandbox: Sandbox) -> None:
    assert get(sandbox, "/v1/admin/write-status/job-nope").status_code == 404


def test_a_missing_lead_ends_failure_and_books_nothing(sandbox: Sandbox) -> None:
    job_id = post(sandbox, appointment_body(lead_id="lead-missing-1")).json()["meta"]["job_id"]
    assert final_status(sandbox, job_id) == {
        "write_status": "FAILURE",
        "errors": ["ResMan: Lead lead-missing-1 was not found"],
        "created_record_id": None,
    }
    assert sandbox.appointments() == []


def test_a_slow_lead_stays_pending(sandbox: Sandbox) -> None:
    job_id = post(sandbox, appointment_body(lead_id="lead-slow-1")).json()["meta"]["job_id"]
    time.sleep(DELAY * 2)
    assert get(sandbox, f"/v1/admin/write-status/{job_id}").json()["write_status"] == "PENDING"


# Validation (400 bodies)


def test_an_unknown_key_is_rejected_as_zod_unrecognized_keys(sandbox: Sandbox) -> None:
    response = post(sandbox, appointment_body(foo="x"))
    assert issues_of(response) == [
        {
            "code": "unrecognized_keys",
            "keys": ["foo"],
            "path": [],
            "message": "Unrecognized key(s) in object: 'foo'",
        }
    ]
    assert "Unrecognized key(s) in object: 'foo'" in response.json()["error"]["message"]


def test_ignore_unknown_fields_drops_the_unknown_keys(sandbox: Sandbox) -> None:
    response = post(sandbox, appointment_body(foo="x"), params={"ignore_unknown_fields": "true"})
    assert response.status_code == 200
    assert response.json()["result"] == appointment_body()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"appointment_time": "24:00:00"},
            {
                "validation": "regex",
                "code": "invalid_string",
                "message": "Invalid",
                "path": ["appointment_time"],
            },
        ),
        (
            {"appointment_time": "9:00:00"},
            {
                "validation": "regex",
                "code": "invalid_string",
                "message": "Invalid",
                "path": ["appointment_time"],
            },
        ),
        (
            {"appointment_date": "2024-02-30"},
            {"code": "invalid_date", "message": "Invalid date", "path": ["appointment_date"]},
        ),
        (
            {"appointment_date": "2024-07-20T14:00:00+02:00"},
            {"code": "invalid_date", "message": "Invalid date", "path": ["appointment_date"]},
        ),
        (
            {"lead_id": 42},
            {
                "code": "invalid_type",
                "expected": "string",
                "received": "number",
                "path": ["lead_id"],
                "message": "Expected string, received number",
            },
        ),
        (
            {"notes": None},
            {
                "code": "invalid_type",
                "expected": "string",
                "received": "null",
                "path": ["notes"],
                "message": "Expected string, received null",
            },
        ),
        (
            {"lead_source_id": ...},
            {
                "code": "invalid_type",
                "expected": "string",
                "received": "undefined",
                "path": ["lead_source_id"],
                "message": "Required",
            },
        ),
    ],
)
def test_an_invalid_field_is_one_zod_issue(
    sandbox: Sandbox, overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert issues_of(post(sandbox, appointment_body(**overrides))) == [expected]
    assert sandbox.appointments() == []


def test_a_body_that_is_not_an_object_is_one_issue(sandbox: Sandbox) -> None:
    [issue] = issues_of(post(sandbox, ["not", "an", "object"]))
    assert (issue["code"], issue["expected"], issue["received"]) == (
        "invalid_type",
        "object",
        "array",
    )


def test_a_body_that_is_not_json_is_400(sandbox: Sandbox) -> None:
    response = requests.post(sandbox.url + CREATE, data=b"{nope", headers=AUTH, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "integration_id", ["intg-nope", "intg-sandbox-entrata", "intg-sandbox-inactive"]
)
def test_only_an_active_resman_integration_takes_appointments(
    sandbox: Sandbox, integration_id: str
) -> None:
    response = post(sandbox, appointment_body(integration_id=integration_id))
    assert response.status_code == 400
    assert integration_id in response.json()["error"]["message"]


# Read-back


def test_read_back_shows_an_appointment_only_once_its_job_finished(sandbox: Sandbox) -> None:
    job_id = post(sandbox, appointment_body(lead_id="lead-7")).json()["meta"]["job_id"]
    before = get(sandbox, "/v1/appointments/", lead_id="lead-7").json()
    final_status(sandbox, job_id)
    after = get(
        sandbox, "/v1/appointments/", lead_id="lead-7", integration_id="intg-sandbox-resman"
    )
    assert before == {
        "meta": {
            "offset": 0,
            "limit": 100,
            "orderBy": ["created_at:desc"],
            "hasMore": False,
            "total": 0,
        },
        "results": [],
    }
    assert [event["associated_lead_ids"] for event in after.json()["results"]] == [["lead-7"]]


def test_read_back_filters_by_lead_and_pages(sandbox: Sandbox) -> None:
    jobs = [
        post(sandbox, appointment_body(lead_id=lead)).json()["meta"]["job_id"] for lead in "aab"
    ]
    for job_id in jobs:
        final_status(sandbox, job_id)
    first = get(sandbox, "/v1/appointments/", lead_id="a", limit=1).json()
    second = get(sandbox, "/v1/appointments/", lead_id="a", limit=1, offset=1).json()
    order = {"orderBy": ["created_at:desc"]}
    assert first["meta"] == {"offset": 0, "limit": 1, **order, "hasMore": True, "total": 2}
    assert second["meta"] == {"offset": 1, "limit": 1, **order, "hasMore": False, "total": 2}
    assert first["results"][0]["id"] != second["results"][0]["id"]
    assert get(sandbox, "/v1/appointments/", integration_id="intg-other").json()["results"] == []


def test_read_back_orders_by_created_at_desc_by_default_and_by_any_order_field(
    sandbox: Sandbox,
) -> None:
    old = sandbox.seed_appointment(
        lead_id="a", utc="2030-01-05T10:00:00Z", created_at="2026-01-01T00:00:00Z"
    )
    mid = sandbox.seed_appointment(
        lead_id="b", utc="2020-01-05T10:00:00Z", created_at="2026-02-01T00:00:00Z"
    )
    job_id = post(sandbox, appointment_body(lead_id="c")).json()["meta"]["job_id"]
    final_status(sandbox, job_id)
    new = get(sandbox, "/v1/appointments/", lead_id="c").json()["results"][0]
    assert new["created_at"] >= dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")

    def ids(**params: Any) -> list[str]:
        answer = get(sandbox, "/v1/appointments/", **params).json()
        return [event["id"] for event in answer["results"]]

    assert ids() == [new["id"], mid, old]
    assert ids(**{"order-by": "created_at"}) == [old, mid, new["id"]]
    assert ids(**{"order-by": "appointment_datetime:desc"})[-1] == mid
    assert ids(**{"order-by": "appointment_datetime:asc"})[0] == mid
    meta = get(sandbox, "/v1/appointments/", **{"order-by": "created_at:asc"}).json()["meta"]
    assert meta == {
        "offset": 0,
        "limit": 100,
        "orderBy": ["created_at:asc"],
        "hasMore": False,
        "total": 3,
    }
    for bad in ("updated:desc", "created_at:down", ""):
        if bad:
            assert get(sandbox, "/v1/appointments/", **{"order-by": bad}).status_code == 400


@pytest.mark.parametrize("limit", ["0", "251", "x"])
def test_read_back_limit_outside_1_to_250_is_400(sandbox: Sandbox, limit: str) -> None:
    assert get(sandbox, "/v1/appointments/", limit=limit).status_code == 400


# Write-logs feed


def test_write_logs_list_finished_jobs_most_recent_first(sandbox: Sandbox) -> None:
    ok = post(sandbox, appointment_body()).json()["meta"]["job_id"]
    time.sleep(0.01)
    failed = post(sandbox, appointment_body(lead_id="lead-missing-2")).json()["meta"]["job_id"]
    slow = post(sandbox, appointment_body(lead_id="lead-slow-2")).json()["meta"]["job_id"]
    final_status(sandbox, ok)
    final_status(sandbox, failed)
    query = {
        "integration_id": "intg-sandbox-resman",
        "write_category": "events",
        "time_range": "hour",
    }
    logs = get(sandbox, "/v1/admin/logs/writes/", limit=100, offset=0, **query).json()["results"][
        "logs"
    ]
    assert [log["job_id"] for log in logs] == [failed, ok]
    assert slow not in {log["job_id"] for log in logs}
    assert logs[0]["status"] == "FAILURE"
    assert logs[0]["error"] == "ResMan: Lead lead-missing-2 was not found"
    assert logs[1]["status"] == "SUCCESS"
    assert logs[1]["error"] is None
    assert logs[1]["parameters"] == appointment_body()
    assert (logs[1]["job_type"], logs[1]["vendor"]) == ("CREATE_LEAD_APPOINTMENT", "RESMAN")
    assert set(logs[1]) == {
        "id", "created_at", "job_id", "job_log_id", "status", "integration_id", "job_type",
        "parameters", "error", "name", "vendor",
    }  # fmt: skip
    only_failed = get(sandbox, "/v1/admin/logs/writes/", status="FAILURE", **query).json()
    assert [log["job_id"] for log in only_failed["results"]["logs"]] == [failed]
    assert get(sandbox, "/v1/admin/logs/writes/", limit=101).status_code == 400


# Rate limit, latency, concurrency


def test_the_rate_limit_slows_past_80_percent_and_refuses_past_100() -> None:
    wait_for_a_fresh_minute_if_near_its_end()
    with Sandbox(rate_limit_per_minute=5, slowdown_seconds=0.3) as sb:
        timed = []
        for _ in range(6):
            started = time.monotonic()
            response = get(sb, "/v1/admin/integrations/intg-sandbox-resman/")
            timed.append((response, time.monotonic() - started))
        statuses = [response.status_code for response, _ in timed]
        remaining = [response.headers["x-ratelimit-remaining"] for response, _ in timed]
        assert statuses == [200, 200, 200, 200, 200, 429]
        assert remaining == ["4", "3", "2", "1", "0", "0"]
        assert all(response.headers["x-ratelimit-limit"] == "5" for response, _ in timed)
        assert max(elapsed for _, elapsed in timed[:4]) < 0.3 <= timed[4][1]
        assert timed[5][0].json()["error"]["code"] == "rate_limited"
        assert "Retry-After" not in timed[5][0].headers
        assert sb.stats()["status_429"] == 1


def test_no_rate_limit_headers_without_a_limit(sandbox: Sandbox) -> None:
    assert "x-ratelimit-limit" not in get(sandbox, "/v1/appointments/").headers


def test_latency_overlaps_across_concurrent_requests() -> None:
    with Sandbox(latency=0.3) as sb:
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: get(sb, "/v1/appointments/").status_code, range(8)))
        elapsed = time.monotonic() - started
        stats = sb.stats()
    assert codes == [200] * 8
    assert 0.3 <= elapsed < 1.2
    assert stats["max_in_flight"] >= 4
    assert (stats["read_back"], stats["total"], stats["peak_per_minute"]) == (8, 8, 8)


# Faults


def create_with_script(fault: str, **plan: Any) -> tuple[Sandbox, requests.Response | Exception]:
    sb = Sandbox(write_status_delay=DELAY, faults=FaultPlan(create_script=(fault,), **plan)).start()
    try:
        return sb, post(sb, appointment_body(), timeout=0.5)
    except requests.RequestException as exc:
        return sb, exc


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("429", 429, "rate_limited"),
        ("503", 503, "service_unavailable"),
        ("500", 500, "internal_error"),
    ],
)
def test_an_error_fault_creates_nothing(fault: str, status: int, code: str) -> None:
    sb, outcome = create_with_script(fault, retry_after=7)
    try:
        assert isinstance(outcome, requests.Response)
        assert outcome.status_code == status
        assert outcome.json()["error"]["code"] == code
        if status != 500:
            assert outcome.headers["Retry-After"] == "7"
        time.sleep(DELAY * 2)
        assert sb.appointments() == []
        assert post(sb, appointment_body()).status_code == 200  # the script is used up
    finally:
        sb.stop()


def test_a_drop_closes_the_connection_and_creates_nothing() -> None:
    sb, outcome = create_with_script("drop")
    try:
        assert isinstance(outcome, requests.ConnectionError)
        time.sleep(DELAY * 2)
        assert sb.appointments() == []
        assert sb.stats()["dropped"] == 1
    finally:
        sb.stop()


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        ("created_then_500", requests.HTTPError),
        ("created_then_hang", requests.ReadTimeout),
        ("created_then_drop", requests.ConnectionError),
    ],
)
def test_a_lost_answer_still_books_the_appointment(fault: str, failure: type[Exception]) -> None:
    sb, outcome = create_with_script(fault, hang_seconds=5)
    try:
        if isinstance(outcome, requests.Response):
            with pytest.raises(failure):
                outcome.raise_for_status()
        else:
            assert isinstance(outcome, failure)
        time.sleep(DELAY * 3)
        assert len(sb.appointments()) == 1
    finally:
        started = time.monotonic()
        sb.stop()
        assert time.monotonic() - started < 1, "stop() waits for a hanging answer"


def test_a_job_failure_fault_accepts_then_fails_the_job() -> None:
    sb, outcome = create_with_script("job_failure")
    try:
        assert isinstance(outcome, requests.Response)
        status = final_status(sb, outcome.json()["meta"]["job_id"])
        assert status["write_status"] == "FAILURE"
        assert status["errors"][0].startswith("ResMan:")
        assert sb.appointments() == []
    finally:
        sb.stop()


def test_read_back_and_status_faults_answer_503(sandbox: Sandbox) -> None:
    job_id = post(sandbox, appointment_body()).json()["meta"]["job_id"]
    sandbox.set_faults(FaultPlan(read_back_503_rate=1.0, status_503_rate=1.0, retry_after=1))
    assert get(sandbox, "/v1/appointments/").status_code == 503
    status = get(sandbox, f"/v1/admin/write-status/{job_id}")
    assert (status.status_code, status.headers["Retry-After"]) == (503, "1")
    assert sandbox.stats()["status_5xx"] == 2


def test_fault_rates_are_repeatable_for_a_seed() -> None:
    plan = FaultPlan(rate_503=0.3, rate_drop=0.2, seed=11)
    sequences = [[dice.create() for _ in range(200)] for dice in (FaultDice(plan), FaultDice(plan))]
    assert sequences[0] == sequences[1]
    assert {CreateFault.OK, CreateFault.RATE_503, CreateFault.DROP} == set(sequences[0])
    assert 40 < sequences[0].count(CreateFault.RATE_503) < 80


def test_the_script_runs_before_the_rates() -> None:
    dice = FaultDice(FaultPlan(create_script=("drop", "ok"), rate_500=1.0))
    assert [dice.create() for _ in range(3)] == [
        CreateFault.DROP,
        CreateFault.OK,
        CreateFault.RATE_500,
    ]


def test_the_token_is_revoked_after_the_planned_number_of_creates(sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultPlan(revoke_after_creates=2))
    answers = [post(sandbox, appointment_body(lead_id=f"lead-{i}")).status_code for i in range(4)]
    assert answers == [200, 200, 401, 401]
    assert get(sandbox, "/v1/appointments/", lead_id="lead-0").status_code == 401


@pytest.mark.parametrize(
    "plan",
    [
        {"rate_500": 1.5},
        {"rate_500": 0.6, "rate_drop": 0.6},
        {"create_script": ["explode"]},
        {"no_such_field": 1},
        {"revoke_after_creates": -1},
        {"revoke_after_creates": 1.5},
    ],
)
def test_an_invalid_fault_plan_is_refused(plan: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        FaultPlan.from_json(plan)


def test_the_admin_endpoints_set_faults_and_report(sandbox: Sandbox) -> None:
    plan = requests.post(
        sandbox.url + "/_sandbox/faults", json={"create_script": ["500"]}, timeout=5
    )
    assert plan.json()["faults"]["create_script"] == ["500"]
    assert post(sandbox, appointment_body()).status_code == 500
    final_status(sandbox, post(sandbox, appointment_body()).json()["meta"]["job_id"])
    stats = requests.get(sandbox.url + "/_sandbox/stats", timeout=5).json()
    booked = requests.get(sandbox.url + "/_sandbox/appointments", timeout=5).json()
    bad = requests.post(sandbox.url + "/_sandbox/faults", json={"rate_500": 2}, timeout=5)
    assert (stats["create"], stats["status_5xx"]) == (2, 1)
    assert len(booked["appointments"]) == 1
    assert bad.status_code == 400


# Lifecycle and CLI


def test_the_sandbox_refuses_a_non_loopback_host() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")


def test_stop_cuts_idle_keep_alive_connections() -> None:
    sb = Sandbox().start()
    session = requests.Session()
    assert session.get(sb.url + "/v1/appointments/", headers=AUTH, timeout=5).status_code == 200
    url = sb.url
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/v1/appointments/", headers=AUTH, timeout=2)


def test_the_cli_prints_its_url_serves_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "propexo_sandbox",
            "--port",
            "0",
            "--write-status-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.removeprefix("sandbox listening on ")
        response = requests.get(
            url + "/v1/admin/integrations/intg-sandbox-resman/", headers=AUTH, timeout=5
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()


def test_the_cli_refuses_a_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "propexo_sandbox", "--host", "10.0.0.1"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_iso_dates_in_logs_are_utc_milliseconds(sandbox: Sandbox) -> None:
    final_status(sandbox, post(sandbox, appointment_body()).json()["meta"]["job_id"])
    [log] = get(sandbox, "/v1/admin/logs/writes/").json()["results"]["logs"]
    created = dt.datetime.strptime(log["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.UTC
    )
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 5
