"""The sandbox's reschedule (PUT), seeding and write-logs feed, over real sockets."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from propexo_sandbox import FaultPlan, Sandbox
from propexo_sandbox.api import write_logs
from propexo_sandbox.faults import CreateFault, FaultDice
from propexo_sandbox.state import Store

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CREATE = "/v1/events/appointments/leads/resman/"
LOGS = "/v1/admin/logs/writes/"
RESMAN = "intg-sandbox-resman"
DELAY = 0.1
OLD = "2030-01-02T15:00:00.000Z"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(token=TOKEN, write_status_delay=DELAY) as running:
        yield running


def put(sb: Sandbox, event_id: str, body: object, **params: str) -> requests.Response:
    url = f"{sb.url}{CREATE}{event_id}"
    return requests.put(url, json=body, params=params, headers=AUTH, timeout=5)


def get(sb: Sandbox, path: str, **params: Any) -> requests.Response:
    return requests.get(sb.url + path, params=params, headers=AUTH, timeout=5)


def create(sb: Sandbox, lead_id: str = "lead-1", **overrides: str) -> str:
    body = {
        "integration_id": RESMAN,
        "lead_id": lead_id,
        "lead_source_id": "source-1",
        "appointment_date": "2030-01-02",
        "appointment_time": "15:00:00",
        **overrides,
    }
    response = requests.post(sb.url + CREATE, json=body, headers=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["meta"]["job_id"]
    return job_id


def move(sb: Sandbox, event_id: str, **fields: str) -> str:
    body = {"appointment_date": "2030-01-05", "appointment_time": "16:30:00", **fields}
    response = put(sb, event_id, body)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["meta"]["job_id"]
    return job_id


def final_status(sb: Sandbox, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status: dict[str, Any] = get(sb, f"/v1/admin/write-status/{job_id}").json()
        if status["write_status"] != "PENDING":
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still PENDING")


def read_back(sb: Sandbox, lead_id: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = get(sb, "/v1/appointments/", lead_id=lead_id).json()["results"]
    return results


def logs(sb: Sandbox, **params: Any) -> list[dict[str, Any]]:
    response = get(sb, LOGS, **params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["results"]["logs"]
    return found


def issues_of(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]["name"]) == ("invalid_request", "ZodError")
    issues: list[dict[str, Any]] = error["details"]["issues"]
    return issues


# Reschedule: the happy path


def test_a_reschedule_is_a_job_and_moves_the_tour_only_once_it_succeeded() -> None:
    with Sandbox(token=TOKEN, write_status_delay=1.0) as sb:
        event_id = sb.seed_appointment(lead_id="lead-1", utc="2030-01-02T15:00:00Z", notes="a")
        body = {"appointment_date": "2030-01-05T16:30:00Z", "appointment_time": "16:30:00"}
        response = put(sb, event_id, {**body, "notes": "moved"})
        assert response.status_code == 200
        payload = response.json()
        assert payload["result"] == {"event_id": event_id, **body, "notes": "moved"}
        job_id = payload["meta"]["job_id"]
        assert job_id.startswith("job-")
        # Read back first, status second: a PENDING status proves the read came before the end.
        [before] = read_back(sb, "lead-1")
        pending = get(sb, f"/v1/admin/write-status/{job_id}").json()
        assert pending == {"write_status": "PENDING", "errors": [], "created_record_id": None}
        assert (before["appointment_datetime"], before["notes"]) == (OLD, "a")
        assert final_status(sb, job_id) == {
            "write_status": "SUCCESS",
            "errors": [],
            "created_record_id": event_id,
        }
        [after] = read_back(sb, "lead-1")
    new = "2030-01-05T16:30:00.000Z"
    assert after == {**before, "appointment_datetime": new, "event_datetime": new, "notes": "moved"}


def test_a_booked_appointment_can_be_moved_by_its_created_record_id(sandbox: Sandbox) -> None:
    created = final_status(sandbox, create(sandbox, unit_id="unit-1", notes="first"))
    event_id = created["created_record_id"]
    final_status(sandbox, move(sandbox, event_id, appointment_date="2030-02-01"))
    [event] = read_back(sandbox, "lead-1")
    assert event["id"] == event_id
    assert event["appointment_datetime"] == "2030-02-01T16:30:00.000Z"
    assert (event["unit_id"], event["notes"]) == ("unit-1", "first"), "left-out fields kept"
    assert sandbox.appointment(event_id) == event


def test_a_reschedule_replaces_the_unit_when_given(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD, unit_id="unit-1")
    final_status(sandbox, move(sandbox, event_id, unit_id="unit-2"))
    assert read_back(sandbox, "lead-1")[0]["unit_id"] == "unit-2"


def test_successive_reschedules_end_at_the_last_one(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    first = move(sandbox, event_id, appointment_time="09:00:00")
    second = move(sandbox, event_id, appointment_time="10:00:00")
    final_status(sandbox, first)
    final_status(sandbox, second)
    assert read_back(sandbox, "lead-1")[0]["appointment_datetime"] == "2030-01-05T10:00:00.000Z"


def test_an_appointment_whose_create_is_pending_cannot_be_moved_yet() -> None:
    with Sandbox(token=TOKEN, write_status_delay=1.0) as sb:
        job_id = create(sb)
        # The id the job will report; no API shows it before the job succeeded.
        [event_id] = sb._store._records
        early = put(
            sb, event_id, {"appointment_date": "2030-01-05", "appointment_time": "09:00:00"}
        )
        still_pending = get(sb, f"/v1/admin/write-status/{job_id}").json()["write_status"]
        assert (early.status_code, still_pending) == (404, "PENDING")
        assert final_status(sb, job_id)["created_record_id"] == event_id
        assert (
            put(
                sb, event_id, {"appointment_date": "2030-01-05", "appointment_time": "09:00:00"}
            ).status_code
            == 200
        )


# Reschedule: refusals


def valid_update(**overrides: Any) -> dict[str, Any]:
    body = {"appointment_date": "2030-01-05", "appointment_time": "16:30:00", **overrides}
    return {key: value for key, value in body.items() if value is not ...}


REQUIRED = {
    "code": "invalid_type",
    "expected": "string",
    "received": "undefined",
    "message": "Required",
}
REGEX = {"validation": "regex", "code": "invalid_string", "message": "Invalid"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (valid_update(appointment_date=...), [{**REQUIRED, "path": ["appointment_date"]}]),
        (valid_update(appointment_time=...), [{**REQUIRED, "path": ["appointment_time"]}]),
        (valid_update(appointment_time="24:00:00"), [{**REGEX, "path": ["appointment_time"]}]),
        (valid_update(appointment_time="9:30"), [{**REGEX, "path": ["appointment_time"]}]),
        (
            valid_update(appointment_date="2030-02-30"),
            [{"code": "invalid_date", "message": "Invalid date", "path": ["appointment_date"]}],
        ),
        (
            valid_update(notes=7),
            [
                {
                    "code": "invalid_type",
                    "expected": "string",
                    "received": "number",
                    "path": ["notes"],
                    "message": "Expected string, received number",
                }
            ],
        ),
        (
            valid_update(integration_id=RESMAN, lead_id="lead-1"),
            [
                {
                    "code": "unrecognized_keys",
                    "keys": ["integration_id", "lead_id"],
                    "path": [],
                    "message": "Unrecognized key(s) in object: 'integration_id', 'lead_id'",
                }
            ],
        ),
    ],
)
def test_an_invalid_reschedule_is_a_zod_400_and_moves_nothing(
    sandbox: Sandbox, body: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    response = put(sandbox, event_id, body)
    assert issues_of(response) == expected
    assert response.json()["error"]["message"].startswith("Validation error: ")
    time.sleep(DELAY * 2)
    assert read_back(sandbox, "lead-1")[0]["appointment_datetime"] == OLD
    assert logs(sandbox) == [], "a refused reschedule queued a job"


def test_ignore_unknown_fields_drops_unknown_keys_of_a_reschedule(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    body = valid_update(lead_id="lead-9", lead_source_id="s")
    response = put(sandbox, event_id, body, ignore_unknown_fields="true")
    assert response.status_code == 200
    assert response.json()["result"] == {"event_id": event_id, **valid_update()}
    final_status(sandbox, response.json()["meta"]["job_id"])
    assert read_back(sandbox, "lead-1")[0]["associated_lead_ids"] == ["lead-1"]


def test_a_reschedule_body_that_is_not_a_json_object_is_400(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    [issue] = issues_of(put(sandbox, event_id, ["2030-01-05"]))
    assert (issue["code"], issue["expected"], issue["received"]) == (
        "invalid_type",
        "object",
        "array",
    )
    url = f"{sandbox.url}{CREATE}{event_id}"
    broken = requests.put(url, data=b"{nope", headers=AUTH, timeout=5)
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "invalid_request")


def test_an_unknown_event_is_a_404_with_the_standard_error_body(sandbox: Sandbox) -> None:
    response = put(sandbox, "appt-nope", valid_update())
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Appointment appt-nope not found"}
    }
    assert sandbox.stats()["update"] == 1
    # The body is checked before the id, as Zod runs before the handler.
    assert put(sandbox, "appt-nope", valid_update(foo="x")).status_code == 400


def test_a_put_without_an_event_id_is_no_route(sandbox: Sandbox) -> None:
    response = requests.put(sandbox.url + CREATE, json=valid_update(), headers=AUTH, timeout=5)
    assert (response.status_code, sandbox.stats()["other"]) == (404, 1)


def test_an_appointment_of_another_vendor_cannot_be_moved_here(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(
        lead_id="lead-1", utc=OLD, integration_id="intg-sandbox-entrata"
    )
    response = put(sandbox, event_id, valid_update())
    assert response.status_code == 400
    assert "not RESMAN" in response.json()["error"]["message"]


# Reschedule: faults


def test_a_failed_reschedule_job_leaves_the_tour_where_it_was(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    sandbox.set_faults(FaultPlan(update_script=("job_failure",)))
    status = final_status(sandbox, move(sandbox, event_id))
    assert status["write_status"] == "FAILURE"
    assert status["created_record_id"] is None
    assert status["errors"][0].startswith("ResMan:")
    assert read_back(sandbox, "lead-1")[0]["appointment_datetime"] == OLD
    [log] = logs(sandbox)
    assert (log["status"], log["job_type"]) == ("FAILURE", "UPDATE_LEAD_APPOINTMENT")
    assert log["error"] == status["errors"][0]


def test_a_missing_or_slow_lead_steers_a_reschedule_like_a_create(sandbox: Sandbox) -> None:
    missing = sandbox.seed_appointment(lead_id="lead-missing-1", utc=OLD)
    slow = sandbox.seed_appointment(lead_id="lead-slow-1", utc=OLD)
    failed = final_status(sandbox, move(sandbox, missing))
    assert failed["errors"] == ["ResMan: Lead lead-missing-1 was not found"]
    slow_job = move(sandbox, slow)
    time.sleep(DELAY * 2)
    assert get(sandbox, f"/v1/admin/write-status/{slow_job}").json()["write_status"] == "PENDING"
    assert [event["appointment_datetime"] for event in sandbox.appointments()] == [OLD, OLD]


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("429", 429, "rate_limited"), ("503", 503, "service_unavailable")],
)
def test_a_refused_reschedule_queues_nothing(
    sandbox: Sandbox, fault: str, status: int, code: str
) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    sandbox.set_faults(FaultPlan(update_script=(fault,), retry_after=3))
    response = put(sandbox, event_id, valid_update())
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert response.headers["Retry-After"] == "3"
    time.sleep(DELAY * 2)
    assert logs(sandbox) == []
    assert read_back(sandbox, "lead-1")[0]["appointment_datetime"] == OLD
    final_status(sandbox, move(sandbox, event_id))  # the script is used up
    assert read_back(sandbox, "lead-1")[0]["appointment_datetime"] == "2030-01-05T16:30:00.000Z"


def test_a_reschedule_whose_answer_is_lost_still_moves_the_tour(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    sandbox.set_faults(FaultPlan(update_script=("created_then_500",)))
    assert put(sandbox, event_id, valid_update()).status_code == 500
    time.sleep(DELAY * 3)
    assert read_back(sandbox, "lead-1")[0]["appointment_datetime"] == "2030-01-05T16:30:00.000Z"


def test_the_update_script_leaves_creates_alone(sandbox: Sandbox) -> None:
    sandbox.set_faults(FaultPlan(update_script=("500",)))
    final_status(sandbox, create(sandbox))
    [event] = sandbox.appointments()
    assert put(sandbox, str(event["id"]), valid_update()).status_code == 500


def test_write_fault_rates_apply_to_reschedules_without_shifting_creates() -> None:
    plan = FaultPlan(rate_503=0.5, seed=5)
    alone, mixed = FaultDice(plan), FaultDice(plan)
    creates_alone = [alone.create() for _ in range(50)]
    creates_mixed, updates = [], []
    for _ in range(50):
        creates_mixed.append(mixed.create())
        updates.append(mixed.update())
    assert creates_alone == creates_mixed
    assert {CreateFault.OK, CreateFault.RATE_503} == set(updates)


def test_the_rate_limit_budget_refuses_a_reschedule_too() -> None:
    left = 60 - time.time() % 60
    if left < 3:  # the budget window is the wall-clock minute: keep the test inside one
        time.sleep(left + 0.05)
    with Sandbox(rate_limit_per_minute=2, slowdown_seconds=0) as sb:
        event_id = sb.seed_appointment(lead_id="lead-1", utc=OLD)
        answers = [put(sb, event_id, valid_update()) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 429]
        assert answers[2].json()["error"]["code"] == "rate_limited"
        assert answers[0].headers["x-ratelimit-remaining"] == "1"
        assert sb.stats()["update"] == 3


def test_a_revoked_token_refuses_reschedules(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    sandbox.set_faults(FaultPlan(revoke_after_updates=1))
    codes = [put(sandbox, event_id, valid_update()).status_code for _ in range(2)]
    assert codes == [200, 401]
    assert get(sandbox, "/v1/appointments/").status_code == 401


def test_an_invalid_update_script_or_revoke_count_is_refused() -> None:
    with pytest.raises(ValueError, match="update_script"):
        FaultPlan.from_json({"update_script": ["explode"]})
    with pytest.raises(ValueError, match="revoke_after_updates"):
        FaultPlan.from_json({"revoke_after_updates": -1})


# Seeding


def test_seeded_tours_read_back_at_once_per_lead(sandbox: Sandbox) -> None:
    one = sandbox.seed_appointment(lead_id="lead-one", utc="2030-01-02T15:00:00Z")
    two = [
        sandbox.seed_appointment(lead_id="lead-two", utc=f"2030-03-0{day}T10:00:00Z")
        for day in (1, 2)
    ]
    past = sandbox.seed_appointment(
        lead_id="lead-past", utc="2020-05-01T12:30:00Z", unit_id="unit-3", notes="done"
    )
    assert [event["id"] for event in read_back(sandbox, "lead-one")] == [one]
    # Newest first (`created_at:desc`, Propexo's default order).
    assert [event["id"] for event in read_back(sandbox, "lead-two")] == two[::-1]
    [old] = read_back(sandbox, "lead-past")
    # Seeded after lead-one: made no earlier.
    assert str(old.pop("created_at")) >= str(read_back(sandbox, "lead-one")[0]["created_at"])
    assert old == {
        "id": past,
        "integration_id": RESMAN,
        "property_id": "prop-sandbox-1",
        "appointment_datetime": "2020-05-01T12:30:00.000Z",
        "event_datetime": "2020-05-01T12:30:00.000Z",
        "associated_lead_ids": ["lead-past"],
        "notes": "done",
        "type_raw": "Appointment",
        "x_id": "4",
        "unit_id": "unit-3",
        "lead_source_id": None,
    }
    assert len({one, *two, past}) == 4
    stats = sandbox.stats()
    assert (stats["read_back"], stats["total"]) == (4, 4), "seeding sent no API request"
    assert logs(sandbox) == [], "seeding queued no write job"


def test_seeding_takes_offsets_and_aware_datetimes_and_stores_utc(sandbox: Sandbox) -> None:
    shifted = sandbox.seed_appointment(lead_id="a", utc="2030-01-02T10:00:00-05:00")
    aware = sandbox.seed_appointment(
        lead_id="a", utc=dt.datetime(2030, 1, 2, 15, 0, 0, 250000, tzinfo=dt.UTC)
    )
    other = sandbox.seed_appointment(lead_id="a", utc=OLD, integration_id="intg-sandbox-resman-2")
    times = {str(event["id"]): event["appointment_datetime"] for event in sandbox.appointments()}
    assert times == {shifted: OLD, aware: "2030-01-02T15:00:00.250Z", other: OLD}
    only_first = get(sandbox, "/v1/appointments/", lead_id="a", integration_id=RESMAN).json()
    assert only_first["meta"]["total"] == 2


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"utc": "2030-01-02T15:00:00"}, "offset"),
        ({"utc": "2030-01-02"}, "offset"),
        ({"utc": "next tuesday"}, "ISO 8601"),
        ({"lead_id": ""}, "lead_id"),
        ({"integration_id": "intg-nope"}, "integration_id"),
        ({"notes": 5}, "notes"),
    ],
)
def test_seeding_refuses_bad_values(
    sandbox: Sandbox, arguments: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        sandbox.seed_appointment(**{"lead_id": "lead-1", "utc": OLD, **arguments})
    assert sandbox.appointments() == []


def test_the_admin_endpoint_seeds_a_separately_started_sandbox(sandbox: Sandbox) -> None:
    seed = {"lead_id": "lead-1", "utc": "2030-01-02T15:00:00Z", "notes": "from the CLI"}
    answer = requests.post(sandbox.url + "/_sandbox/appointments", json=seed, timeout=5)
    assert answer.status_code == 200
    event_id = answer.json()["id"]
    assert answer.json()["appointment"] == read_back(sandbox, "lead-1")[0]
    assert read_back(sandbox, "lead-1")[0]["id"] == event_id
    assert read_back(sandbox, "lead-1")[0]["notes"] == "from the CLI"
    listed = requests.get(sandbox.url + "/_sandbox/appointments", timeout=5).json()
    assert [event["id"] for event in listed["appointments"]] == [event_id]
    final_status(sandbox, move(sandbox, event_id))


@pytest.mark.parametrize(
    "body",
    [
        {"lead_id": "lead-1"},
        {"lead_id": "lead-1", "utc": OLD, "colour": "red"},
        {"lead_id": "lead-1", "utc": "2030-01-02T15:00:00"},
        ["lead-1", OLD],
    ],
)
def test_the_admin_endpoint_refuses_a_bad_seed(sandbox: Sandbox, body: object) -> None:
    answer = requests.post(sandbox.url + "/_sandbox/appointments", json=body, timeout=5)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_request")
    assert sandbox.appointments() == []


# Write-logs feed


def test_the_feed_lists_creates_and_reschedules_newest_first_without_pending(
    sandbox: Sandbox,
) -> None:
    created = create(sandbox, "lead-1")
    event_id = final_status(sandbox, created)["created_record_id"]
    moved = move(sandbox, event_id, notes="later")
    final_status(sandbox, moved)
    failed = create(sandbox, "lead-missing-1")
    final_status(sandbox, failed)
    create(sandbox, "lead-slow-1")
    slow_move = move(sandbox, sandbox.seed_appointment(lead_id="lead-slow-2", utc=OLD))
    found = logs(sandbox, integration_id=RESMAN, write_category="events", time_range="hour")
    assert [log["job_id"] for log in found] == [failed, moved, created]
    unfiltered = logs(sandbox)
    assert [log["job_id"] for log in unfiltered] == [failed, moved, created], "pending listed"
    assert get(sandbox, f"/v1/admin/write-status/{slow_move}").json()["write_status"] == "PENDING"
    assert [log["job_type"] for log in found] == [
        "CREATE_LEAD_APPOINTMENT",
        "UPDATE_LEAD_APPOINTMENT",
        "CREATE_LEAD_APPOINTMENT",
    ]
    assert found[1]["parameters"] == {
        "event_id": event_id,
        "appointment_date": "2030-01-05",
        "appointment_time": "16:30:00",
        "notes": "later",
    }
    assert (found[1]["status"], found[1]["error"]) == ("SUCCESS", None)
    assert "created_record_id" not in found[1]
    stamps = [log["created_at"] for log in found]
    assert stamps == sorted(stamps, reverse=True)


def test_the_feed_pages_with_limit_and_offset(sandbox: Sandbox) -> None:
    jobs = [create(sandbox, f"lead-{n}") for n in range(5)]
    final_status(sandbox, jobs[-1])
    time.sleep(DELAY)
    newest_first = [log["job_id"] for log in logs(sandbox)]
    assert sorted(newest_first) == sorted(jobs)
    pages = [[log["job_id"] for log in logs(sandbox, limit=2, offset=o)] for o in (0, 2, 4, 6)]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:], []]
    assert len(logs(sandbox, limit=1)) == 1


def test_the_feed_defaults_to_100_and_takes_at_most_100() -> None:
    with Sandbox(token=TOKEN, write_status_delay=0) as sb:
        for n in range(101):
            create(sb, f"lead-{n}")
        assert len(logs(sb)) == 100
        assert len(logs(sb, limit=100)) == 100
        assert len(logs(sb, offset=100)) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"offset": -1},
        {"time_range": "year"},
        {"status": "PENDING"},
        {"write_category": "Events!"},
    ],
)
def test_the_feed_refuses_out_of_range_parameters(sandbox: Sandbox, params: dict[str, Any]) -> None:
    response = get(sandbox, LOGS, **params)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_request")


def test_the_feed_filters_by_integration_status_and_category(sandbox: Sandbox) -> None:
    ok = create(sandbox, "lead-1")
    failed = create(sandbox, "lead-missing-1")
    other = create(sandbox, "lead-2", integration_id="intg-sandbox-resman-2")
    for job in (ok, failed, other):
        final_status(sandbox, job)

    def ids(**params: Any) -> set[str]:
        return {log["job_id"] for log in logs(sandbox, **params)}

    assert ids() == {ok, failed, other}
    assert ids(integration_id=RESMAN) == {ok, failed}
    assert ids(integration_id="intg-sandbox-resman-2") == {other}
    assert ids(integration_id="intg-nope") == set()
    assert ids(status="SUCCESS") == {ok, other}
    assert ids(status="FAILURE", integration_id=RESMAN) == {failed}
    assert ids(write_category="events") == {ok, failed, other}
    assert ids(write_category="leads") == set()
    for window in ("hour", "day", "week", "month"):
        assert ids(time_range=window) == {ok, failed, other}
    found = logs(sandbox)
    assert len({log["job_id"] for log in found}) == len(found), "one record per job"


def test_time_range_is_a_window_ending_now() -> None:
    now = [1_000_000.0]
    store = Store(write_status_delay=0, clock=lambda: now[0])
    resman = store.integration(RESMAN)
    assert resman is not None
    fields = {
        "integration_id": RESMAN,
        "lead_id": "lead-1",
        "lead_source_id": "s",
        "appointment_date": "2030-01-02",
        "appointment_time": "15:00:00",
    }
    ages = {"minutes": 59 * 60, "hours": 23 * 3600, "days": 6 * 86400, "weeks": 29 * 86400}
    jobs = {}
    for name, age in ages.items():
        now[0] = 1_000_000.0 - age
        jobs[name] = store.create_job(resman, fields, None).id
    now[0] = 1_000_000.0

    def ids(window: str) -> set[str]:
        body = write_logs(store, {"time_range": [window]}).body
        assert body is not None
        results = body["results"]
        assert isinstance(results, dict)
        return {log["job_id"] for log in results["logs"]}

    assert ids("hour") == {jobs["minutes"]}
    assert ids("day") == {jobs["minutes"], jobs["hours"]}
    assert ids("week") == {jobs["minutes"], jobs["hours"], jobs["days"]}
    assert ids("month") == set(jobs.values())


def test_feed_status_and_reschedule_requests_have_their_own_counters(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=OLD)
    job = move(sandbox, event_id)
    for _ in range(2):
        get(sandbox, f"/v1/admin/write-status/{job}")
    for _ in range(3):
        logs(sandbox)
    stats = sandbox.stats()
    assert {name: stats[name] for name in ("create", "update", "write_status", "write_logs")} == {
        "create": 0,
        "update": 1,
        "write_status": 2,
        "write_logs": 3,
    }
    assert (stats["other"], stats["total"]) == (0, 6)
    over_http = requests.get(sandbox.url + "/_sandbox/stats", timeout=5).json()
    assert (over_http["update"], over_http["write_logs"]) == (1, 3)
