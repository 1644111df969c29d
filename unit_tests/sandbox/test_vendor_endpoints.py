"""The sandbox serves every vendor's lead-appointment endpoints, integrations of each vendor and
GET /v1/timezones/, with each vendor's validation and reading of time (over real sockets)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from propexo_sandbox import Sandbox

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LEADS = "/v1/events/appointments/leads/"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(token=TOKEN, write_status_delay=0.05) as running:
        yield running


def call(sb: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, sb.url + path, headers=AUTH, timeout=5, **kwargs)


def done(sb: Sandbox, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        status: dict[str, Any] = call(sb, "GET", f"/v1/admin/write-status/{job_id}").json()
        if status["write_status"] != "PENDING":
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still PENDING")


def issues(response: requests.Response) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.text
    found = response.json()["error"]["details"]["issues"]
    return [(".".join(map(str, issue["path"])), issue["code"]) for issue in found]


ENTRATA_BODY = {
    "integration_id": "intg-sandbox-entrata",
    "lead_id": "lead-e1",
    "appointment_date": "2027-07-20",
    "appointment_time": "13:00:00",
    "appointment_duration_minutes": 30,
    "appointment_type": "TOUR",
    "notes": "Parking at the back",
}


def test_each_vendor_has_an_integration_that_reports_its_vendor(sandbox: Sandbox) -> None:
    vendors = {}
    for slug in ("resman", "entrata", "rentmanager", "yardi", "yardi-rest", "appfolio"):
        answer = call(sandbox, "GET", f"/v1/admin/integrations/intg-sandbox-{slug}/").json()
        vendors[slug] = answer["results"]["vendor"]
    assert vendors == {
        "resman": "RESMAN",
        "entrata": "ENTRATA",
        "rentmanager": "RENTMANAGER",
        "yardi": "YARDI",
        "yardi-rest": "YARDI_REST",
        "appfolio": "APPFOLIO",
    }
    for slug, vendor in (("realpage-rpx", "REALPAGE_RPX"), ("mri", "MRI")):
        answer = call(sandbox, "GET", f"/v1/admin/integrations/intg-sandbox-{slug}/").json()
        assert answer["results"]["vendor"] == vendor


def test_entrata_reads_mountain_time_and_its_new_appointment_shows_only_after_a_data_sync(
    sandbox: Sandbox,
) -> None:
    answer = call(sandbox, "POST", LEADS + "entrata/", json=ENTRATA_BODY)
    assert answer.status_code == 200, answer.text
    status = done(sandbox, answer.json()["meta"]["job_id"])
    assert (status["write_status"], status["created_record_id"]) == ("SUCCESS", None)
    assert sandbox.appointments() == []
    sandbox.data_sync()
    (booked,) = sandbox.appointments()
    assert booked["appointment_datetime"] == "2027-07-20T19:00:00.000Z"


def test_entrata_refuses_a_missing_note_a_bad_type_and_a_zero_duration(sandbox: Sandbox) -> None:
    body = {**ENTRATA_BODY, "appointment_type": "SHOWING", "appointment_duration_minutes": 0}
    del body["notes"]
    assert issues(call(sandbox, "POST", LEADS + "entrata/", json=body)) == [
        ("appointment_duration_minutes", "too_small"),
        ("appointment_type", "invalid_enum_value"),
        ("notes", "invalid_type"),
    ]
    body = {**ENTRATA_BODY, "notes": "", "appointment_duration_minutes": "30"}
    assert issues(call(sandbox, "POST", LEADS + "entrata/", json=body)) == [
        ("appointment_duration_minutes", "invalid_type"),
        ("notes", "too_small"),
    ]


def test_a_vendor_refuses_a_field_it_does_not_take(sandbox: Sandbox) -> None:
    body = {**ENTRATA_BODY, "lead_source_id": "src-1"}
    assert issues(call(sandbox, "POST", LEADS + "entrata/", json=body)) == [
        ("", "unrecognized_keys")
    ]


def test_an_endpoint_refuses_an_integration_of_another_vendor(sandbox: Sandbox) -> None:
    body = {**ENTRATA_BODY, "integration_id": "intg-sandbox-appfolio"}
    answer = call(sandbox, "POST", LEADS + "entrata/", json=body)
    assert answer.status_code == 400
    assert "APPFOLIO integration, not ENTRATA" in answer.json()["error"]["message"]


def test_rent_manager_reads_the_leads_property_zone(sandbox: Sandbox) -> None:
    sandbox.seed_lead("lead-rm-east", property_id="prop-east")
    body = {
        "integration_id": "intg-sandbox-rentmanager",
        "lead_id": "lead-rm-east",
        "appointment_date": "2027-07-20",
        "appointment_time": "15:00:00",
        "appointment_duration_minutes": 45,
        "title": "Tour",
    }
    answer = call(sandbox, "POST", LEADS + "rentmanager/", json=body)
    status = done(sandbox, answer.json()["meta"]["job_id"])
    event_id = status["created_record_id"]
    booked = sandbox.appointment(event_id)
    assert booked is not None
    assert (booked["appointment_datetime"], booked["property_id"]) == (
        "2027-07-20T19:00:00.000Z",
        "prop-east",
    )
    too_long = {**body, "title": "t" * 51}
    assert issues(call(sandbox, "POST", LEADS + "rentmanager/", json=too_long)) == [
        ("title", "too_big")
    ]


def test_timezones_lists_the_rows_of_an_integration_and_of_a_property(sandbox: Sandbox) -> None:
    answer = call(
        sandbox, "GET", "/v1/timezones/", params={"integration_id": "intg-sandbox-rentmanager"}
    ).json()
    rows = {
        (r["property_id"], r["offset"], r["observes_daylight_savings"]) for r in answer["results"]
    }
    assert rows == {(None, "-06:00", True), ("prop-east", "-05:00", True)}
    assert answer["meta"]["hasMore"] is False
    answer = call(
        sandbox,
        "GET",
        "/v1/timezones/",
        params={"integration_id": "intg-sandbox-rentmanager", "property_id": "prop-east"},
    ).json()
    assert [r["offset"] for r in answer["results"]] == ["-05:00"]


def test_an_entrata_move_needs_notes_and_reads_mountain_time(sandbox: Sandbox) -> None:
    event_id = sandbox.seed_appointment(
        lead_id="lead-e2", utc="2041-07-21T15:00:00Z", integration_id="intg-sandbox-entrata"
    )
    move = {"appointment_date": "2041-07-22", "appointment_time": "10:00:00"}
    assert issues(call(sandbox, "PUT", LEADS + f"entrata/{event_id}", json=move)) == [
        ("notes", "invalid_type")
    ]
    answer = call(sandbox, "PUT", LEADS + f"entrata/{event_id}", json={**move, "notes": "moved"})
    assert done(sandbox, answer.json()["meta"]["job_id"])["write_status"] == "SUCCESS"
    moved = sandbox.appointment(event_id)
    assert moved is not None
    assert moved["appointment_datetime"] == "2041-07-22T16:00:00.000Z"


def test_yardi_has_no_lead_appointment_update(sandbox: Sandbox) -> None:
    answer = call(sandbox, "PUT", LEADS + "yardi/appt-1", json={})
    assert answer.status_code == 404


def test_the_request_log_keeps_each_writes_body_and_query_and_timezones_are_served_as_rows(
    sandbox: Sandbox,
) -> None:
    body = {"integration_id": "intg-sandbox-entrata", "lead_id": "lead-1", "notes": "n"}
    call(sandbox, "POST", LEADS + "entrata/?ignore_unknown_fields=true", json=body)
    call(sandbox, "PUT", LEADS + "resman/appt-1", json={"notes": "m"})
    served = call(sandbox, "GET", "/v1/timezones/?limit=250").json()["results"]
    create, update, read = sandbox.requests()
    assert (create.endpoint, create.query, create.path) == (
        "create",
        "ignore_unknown_fields=true",
        LEADS + "entrata/",
    )
    assert json.loads(create.body) == body
    assert json.loads(update.body) == {"notes": "m"}
    assert (read.endpoint, read.body) == ("timezones", b"")
    assert sandbox.timezones() == served
