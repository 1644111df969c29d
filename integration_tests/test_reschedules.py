"""Reschedules end to end: the real CLI against a sandbox seeded with existing appointments.

append_dedup keyed on lead_id keeps one upcoming tour per lead (moved, or created); an
update stream moves appointments by event_id. Every test checks what the sandbox holds
afterwards and which requests reached it, not only what the connector says.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from integration_tests.conftest import TOKEN, Cli, CliResult, record, stream_state, tour
from propexo_sandbox import FaultPlan, Sandbox

UPCOMING = "2041-07-21T15:00:00Z"  # seeded tours, well after any sync's start
PAST = "2020-03-02T16:00:00Z"


def keyed(mode: str, *key: str, name: str = "tours") -> dict[str, Any]:
    """A configured catalog of one stream with this destination sync mode and primary key."""
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": mode,
                "primary_key": [[column] for column in key],
            }
        ]
    }


ONE_PER_LEAD = keyed("append_dedup", "lead_id")
UPDATE = keyed("update", "event_id")


def move(event_id: str | None, date: str, time: str, **extra: Any) -> dict[str, Any]:
    data = {"appointment_date": date, "appointment_time": time, **extra}
    if event_id is not None:
        data["event_id"] = event_id
    return record(**data)


def of_lead(sandbox: Sandbox, lead_id: str) -> list[tuple[str, str]]:
    """(event id, UTC time) of the lead's appointments as Propexo reads them back now."""
    return [
        (str(a["id"]), str(a["appointment_datetime"]))
        for a in sandbox.appointments()
        if lead_id in a["associated_lead_ids"]
    ]


def applied_times(sandbox: Sandbox) -> list[str]:
    """The times of the sandbox's finished reschedule jobs, in the order they finished."""
    answer = requests.get(
        f"{sandbox.url}/v1/admin/logs/writes/",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    logs = answer.json()["results"]["logs"]
    return [
        log["parameters"]["appointment_time"]
        for log in reversed(logs)
        if log["job_type"] == "UPDATE_LEAD_APPOINTMENT"
    ]


def writes(sandbox: Sandbox) -> tuple[int, int]:
    stats = sandbox.stats()
    return stats["create"], stats["update"]


def counted(result: CliResult) -> list[tuple[int, int]]:
    return [
        (s["destinationStats"]["recordCount"], s["destinationStats"]["rejectedRecordCount"])
        for s in result.states
    ]


# -- append_dedup on lead_id: one upcoming tour per lead ------------------------------------


def test_a_rescheduled_row_moves_the_leads_one_upcoming_tour_and_creates_nothing(
    cli: Cli,
) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    result = cli.write(
        [tour("lead-1", "2041-07-22", "16:30"), stream_state("tours", 1)], catalog_=ONE_PER_LEAD
    )
    assert result.returncode == 0, result.stderr
    (outcome,) = result.outcomes
    assert outcome["how"] == "rescheduled"
    assert outcome["write_status"] == "SUCCESS"
    assert outcome["job_id"]
    assert (outcome["event_id"], outcome["moved_from"], outcome["moved_to"]) == (
        event_id,
        "2041-07-21T15:00:00Z",
        "2041-07-22T16:30:00Z",
    )
    # Read back at its new time; nothing created.
    assert of_lead(cli.sandbox, "lead-1") == [(event_id, "2041-07-22T16:30:00.000Z")]
    assert writes(cli.sandbox) == (0, 1)
    assert counted(result) == [(1, 0)]


def test_a_move_sends_the_rows_unit_and_notes_only_when_it_has_them(cli: Cli) -> None:
    kept = cli.sandbox.seed_appointment(
        lead_id="lead-1", utc=UPCOMING, unit_id="unit-1", notes="old notes"
    )
    changed = cli.sandbox.seed_appointment(lead_id="lead-2", utc=UPCOMING, unit_id="unit-1")
    rows = [
        tour("lead-1", "2041-07-22", "09:00"),
        tour("lead-2", "2041-07-22", "10:00", unit_id="unit-9", notes="new notes"),
        stream_state("tours", 2),
    ]
    assert cli.write(rows, catalog_=ONE_PER_LEAD).returncode == 0
    first, second = cli.sandbox.appointment(kept), cli.sandbox.appointment(changed)
    assert first is not None and second is not None
    assert (first["unit_id"], first["notes"]) == ("unit-1", "old notes")
    assert (second["unit_id"], second["notes"]) == ("unit-9", "new notes")


def test_an_unchanged_row_makes_no_write_request(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    result = cli.write(
        [tour("lead-1", "2041-07-21", "15:00"), stream_state("tours", 1)], catalog_=ONE_PER_LEAD
    )
    (outcome,) = result.outcomes
    assert (outcome["how"], outcome["write_status"]) == ("already booked", "EXISTING")
    assert outcome["created_record_id"] == event_id
    stats = cli.sandbox.stats()
    assert (stats["create"], stats["update"], stats["write_status"]) == (0, 0, 0)
    assert stats["read_back"] == 1
    assert counted(result) == [(1, 0)]


def test_a_lead_with_two_upcoming_tours_is_refused_by_name_and_left_untouched(cli: Cli) -> None:
    first = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    second = cli.sandbox.seed_appointment(lead_id="lead-1", utc="2041-08-01T10:00:00Z")
    before = of_lead(cli.sandbox, "lead-1")
    result = cli.write(
        [tour("lead-1", "2041-07-25", "11:00"), stream_state("tours", 1)], catalog_=ONE_PER_LEAD
    )
    (outcome,) = result.outcomes
    assert outcome["outcome"] == "rejected"
    assert outcome["category"] == "lead has several upcoming tours"
    assert first in outcome["reason"] and second in outcome["reason"]
    assert "event_id" in outcome["reason"] and "'update'" in outcome["reason"]
    assert of_lead(cli.sandbox, "lead-1") == before
    assert writes(cli.sandbox) == (0, 0)
    assert counted(result) == [(0, 1)]


def test_a_past_appointment_is_history_never_moved(cli: Cli) -> None:
    past = cli.sandbox.seed_appointment(lead_id="lead-1", utc=PAST)
    result = cli.write(
        [tour("lead-1", "2041-07-22", "16:30"), stream_state("tours", 1)], catalog_=ONE_PER_LEAD
    )
    (outcome,) = result.outcomes
    assert outcome["how"] == "created"
    assert "event_id" not in outcome
    appointments = dict(of_lead(cli.sandbox, "lead-1"))
    assert appointments[past] == "2020-03-02T16:00:00.000Z"
    assert sorted(appointments.values()) == [
        "2020-03-02T16:00:00.000Z",
        "2041-07-22T16:30:00.000Z",
    ]
    assert writes(cli.sandbox) == (1, 0)


def test_a_past_row_is_created_and_leaves_the_upcoming_tour_alone(cli: Cli) -> None:
    upcoming = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    result = cli.write(
        [tour("lead-1", "2020-05-04", "10:00"), stream_state("tours", 1)], catalog_=ONE_PER_LEAD
    )
    (outcome,) = result.outcomes
    assert outcome["how"] == "created"
    booked = dict(of_lead(cli.sandbox, "lead-1"))
    assert booked.pop(upcoming) == "2041-07-21T15:00:00.000Z"
    assert list(booked.values()) == ["2020-05-04T10:00:00.000Z"]
    assert writes(cli.sandbox) == (1, 0)


def test_a_lead_without_appointments_gets_its_tour_created(cli: Cli) -> None:
    result = cli.write(
        [tour("lead-1", "2041-07-22", "16:30"), stream_state("tours", 1)], catalog_=ONE_PER_LEAD
    )
    assert [o["how"] for o in result.outcomes] == ["created"]
    assert [t for _, t in of_lead(cli.sandbox, "lead-1")] == ["2041-07-22T16:30:00.000Z"]


def test_two_rows_of_one_lead_in_one_sync_end_at_the_last_rows_time(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    rows = [
        tour("lead-1", "2041-07-23", "09:00"),
        tour("lead-2", "2041-07-23", "09:00"),
        tour("lead-1", "2041-07-24", "10:00"),
        tour("lead-2", "2041-07-24", "10:00"),
        stream_state("tours", 4),
    ]
    result = cli.write(rows, catalog_=ONE_PER_LEAD)
    assert result.returncode == 0, result.stderr
    by_line = {o["line"]: o for o in result.outcomes}
    assert [(by_line[n]["how"], by_line[n].get("moved_to")) for n in (1, 2, 3, 4)] == [
        ("rescheduled", "2041-07-23T09:00:00Z"),
        ("created", None),
        ("rescheduled", "2041-07-24T10:00:00Z"),
        ("rescheduled", "2041-07-24T10:00:00Z"),
    ]
    assert by_line[3]["moved_from"] == "2041-07-23T09:00:00Z"
    # lead-2's second row moves the tour its first row created (its id read back: the
    # write-logs feed that confirmed the create carries none).
    assert of_lead(cli.sandbox, "lead-1") == [(event_id, "2041-07-24T10:00:00.000Z")]
    assert of_lead(cli.sandbox, "lead-2") == [(by_line[4]["event_id"], "2041-07-24T10:00:00.000Z")]
    assert writes(cli.sandbox) == (1, 3)
    assert counted(result) == [(4, 0)]


def test_many_leads_at_once_each_end_at_their_last_rows_time(cli: Cli) -> None:
    leads = [f"lead-{n}" for n in range(12)]
    for lead in leads[::2]:
        cli.sandbox.seed_appointment(lead_id=lead, utc=UPCOMING)
    times = ["09:00", "10:15", "11:30"]
    rows = [tour(lead, "2041-07-23", at) for at in times for lead in leads]
    result = cli.write([*rows, stream_state("tours", len(rows))], catalog_=ONE_PER_LEAD)
    assert result.returncode == 0, result.stderr
    for lead in leads:
        assert [t for _, t in of_lead(cli.sandbox, lead)] == ["2041-07-23T11:30:00.000Z"], lead
    assert writes(cli.sandbox) == (6, 30)
    assert counted(result) == [(36, 0)]


def test_a_later_row_cannot_move_a_tour_of_this_sync_that_resman_has_not_confirmed(
    cli: Cli,
) -> None:
    # lead-slow jobs stay PENDING, so the created tour's id never becomes known.
    rows = [
        tour("lead-slow-1", "2041-07-23", "09:00"),
        tour("lead-slow-1", "2041-07-24", "10:00"),
        stream_state("tours", 2),
    ]
    config = cli.config(write_status_timeout_seconds=0.5)
    result = cli.write(rows, catalog_=ONE_PER_LEAD, config=config)
    first, second = sorted(result.outcomes, key=lambda o: o["line"])
    assert (first["how"], first["write_status"]) == ("created", "PENDING")
    assert second["category"] == "earlier write of the lead not confirmed"
    assert "2041-07-23T09:00:00Z" in second["reason"]
    assert writes(cli.sandbox) == (1, 0)
    assert counted(result) == [(1, 1)]


def test_a_move_resman_refuses_is_rejected_and_the_tour_stays(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    cli.sandbox.set_faults(FaultPlan(update_script=("job_failure",)))
    result = cli.write(
        [tour("lead-1", "2041-07-22", "16:30"), stream_state("tours", 1)], catalog_=ONE_PER_LEAD
    )
    (outcome,) = result.outcomes
    assert (outcome["category"], outcome["write_status"]) == ("write failed in ResMan", "FAILURE")
    assert outcome["reason"].startswith(f"ResMan did not move appointment {event_id}: ResMan:")
    assert outcome["event_id"] == event_id
    assert of_lead(cli.sandbox, "lead-1") == [(event_id, "2041-07-21T15:00:00.000Z")]


def test_the_primary_key_is_matched_through_field_mappings(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    config = cli.config(field_mappings=[{"source_column": "PROSPECT", "api_field": "lead_id"}])
    row = record(
        PROSPECT="lead-1",
        lead_source_id="src-web",
        appointment_date="2041-07-22",
        appointment_time="16:30",
    )
    result = cli.write(
        [row, stream_state("tours", 1)], catalog_=keyed("append_dedup", "prospect"), config=config
    )
    assert [o["how"] for o in result.outcomes] == ["rescheduled"]
    assert of_lead(cli.sandbox, "lead-1") == [(event_id, "2041-07-22T16:30:00.000Z")]
    assert result.log_containing("one upcoming tour per lead")


def test_append_dedup_on_lead_date_and_time_still_creates_if_absent(cli: Cli) -> None:
    cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    catalog_ = keyed("append_dedup", "lead_id", "appointment_date", "appointment_time")
    result = cli.write(
        [tour("lead-1", "2041-07-22", "16:30"), stream_state("tours", 1)], catalog_=catalog_
    )
    assert [o["how"] for o in result.outcomes] == ["created"]
    assert len(of_lead(cli.sandbox, "lead-1")) == 2
    assert writes(cli.sandbox) == (1, 0)


def test_each_state_counts_every_record_once_whatever_the_rule_did(cli: Cli) -> None:
    cli.sandbox.seed_appointment(lead_id="lead-move", utc=UPCOMING)
    cli.sandbox.seed_appointment(lead_id="lead-same", utc=UPCOMING)
    cli.sandbox.seed_appointment(lead_id="lead-two", utc=UPCOMING)
    cli.sandbox.seed_appointment(lead_id="lead-two", utc="2041-08-01T10:00:00Z")
    rows = [
        tour("lead-move", "2041-07-22", "10:00"),
        tour("lead-same", "2041-07-21", "15:00"),
        stream_state("tours", 2),
        tour("lead-two", "2041-07-22", "11:00"),
        tour("lead-new", "2041-07-22", "09:00"),
        tour("lead-move", "2041-07-22", "12:00"),
        tour("", "2041-07-22", "09:00"),
        stream_state("tours", 6),
    ]
    result = cli.write(rows, catalog_=ONE_PER_LEAD)
    assert counted(result) == [(2, 0), (2, 2)]
    assert len(result.outcomes) == 6
    (summary,) = result.log_containing("write summary")
    assert "accepted 4 (already booked 1, created 1, rescheduled 2)" in summary
    assert "create 1, update 2," in summary


def test_a_dry_run_says_what_each_row_would_do_and_writes_nothing(cli: Cli) -> None:
    moved = cli.sandbox.seed_appointment(lead_id="lead-move", utc=UPCOMING)
    cli.sandbox.seed_appointment(lead_id="lead-same", utc=UPCOMING)
    cli.sandbox.seed_appointment(lead_id="lead-two", utc=UPCOMING)
    cli.sandbox.seed_appointment(lead_id="lead-two", utc="2041-08-01T10:00:00Z")
    rows = [
        tour("lead-new", "2041-07-22", "09:00"),
        tour("lead-move", "2041-07-22", "10:00"),
        tour("lead-same", "2041-07-21", "15:00"),
        tour("lead-two", "2041-07-22", "11:00"),
        stream_state("tours", 4),
    ]
    result = cli.write(rows, catalog_=ONE_PER_LEAD, config=cli.config(dry_run=True))
    said = {o["lead_id"]: (o["outcome"], o.get("how") or o["category"]) for o in result.outcomes}
    assert said == {
        "lead-new": ("accepted", "dry run"),
        "lead-move": ("accepted", "dry run"),
        "lead-same": ("accepted", "already booked"),
        "lead-two": ("rejected", "lead has several upcoming tours"),
    }
    (created,) = result.log_containing("dry run, would send: ")
    assert json.loads(created.split(": ", 1)[1])["lead_id"] == "lead-new"
    (would_move,) = result.log_containing("dry run, would move: ")
    assert json.loads(would_move.split(": ", 1)[1]) == {
        "event_id": moved,
        "lead_id": "lead-move",
        "unit_id": None,
        "from_utc": "2041-07-21T15:00:00Z",
        "to_utc": "2041-07-22T10:00:00Z",
    }
    assert writes(cli.sandbox) == (0, 0)
    assert result.states == []


# -- update: move by event_id ------------------------------------------------------------------


def test_an_update_stream_moves_appointments_by_event_id(cli: Cli) -> None:
    first = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    # Even a past appointment: an update names exactly which one to move.
    second = cli.sandbox.seed_appointment(lead_id="lead-2", utc=PAST)
    rows = [
        move(first, "2041-07-30", "09:45"),
        move(second, "2041-07-31", "10:00", lead_id="lead-2", unit_id="unit-4"),
        stream_state("tours", 2),
    ]
    result = cli.write(rows, catalog_=UPDATE)
    assert result.returncode == 0, result.stderr
    outcomes = sorted(result.outcomes, key=lambda o: o["line"])
    assert [(o["how"], o["event_id"], o["moved_to"]) for o in outcomes] == [
        ("rescheduled", first, "2041-07-30T09:45:00Z"),
        ("rescheduled", second, "2041-07-31T10:00:00Z"),
    ]
    assert all(o["moved_from"] is None for o in outcomes)
    assert of_lead(cli.sandbox, "lead-1") == [(first, "2041-07-30T09:45:00.000Z")]
    assert of_lead(cli.sandbox, "lead-2") == [(second, "2041-07-31T10:00:00.000Z")]
    assert writes(cli.sandbox) == (0, 2)
    assert counted(result) == [(2, 0)]


def test_rows_for_one_event_id_are_applied_in_input_order(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    times = [f"{hour:02d}:{minute:02d}" for hour in (17, 9, 13) for minute in (0, 20, 40)]
    rows = [move(event_id, "2041-07-30", at) for at in times]
    # Unpaced, so that only the turns keep the order.
    config = cli.config(requests_per_minute=100_000)
    result = cli.write([*rows, stream_state("tours", len(rows))], catalog_=UPDATE, config=config)
    assert counted(result) == [(len(rows), 0)]
    assert of_lead(cli.sandbox, "lead-1") == [(event_id, "2041-07-30T13:40:00.000Z")]
    assert applied_times(cli.sandbox) == [f"{at}:00" for at in times]


def test_an_unknown_event_id_is_rejected_with_the_id_and_propexos_message(cli: Cli) -> None:
    result = cli.write(
        [move("appt-nope", "2041-07-30", "09:45"), stream_state("tours", 1)], catalog_=UPDATE
    )
    (outcome,) = result.outcomes
    assert outcome["category"] == "refused by Propexo"
    assert "'appt-nope'" in outcome["reason"]
    assert "Appointment appt-nope not found" in outcome["reason"]
    assert writes(cli.sandbox) == (0, 1)
    assert counted(result) == [(0, 1)]


def test_a_row_without_event_id_is_rejected_before_any_request(cli: Cli) -> None:
    result = cli.write(
        [move(None, "2041-07-30", "09:45", lead_id="lead-1"), stream_state("tours", 1)],
        catalog_=UPDATE,
    )
    (outcome,) = result.outcomes
    assert outcome["category"] == "invalid record"
    assert outcome["reason"] == "event_id: is required and must not be empty (got None)"
    assert outcome["lead_id"] == "lead-1"
    assert cli.sandbox.stats()["total"] == 0


def test_an_event_id_column_can_be_mapped_with_field_mappings(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    config = cli.config(
        field_mappings=[{"source_column": "PROPEXO_APPOINTMENT", "api_field": "event_id"}]
    )
    row = record(PROPEXO_APPOINTMENT=event_id, appointment_datetime="2041-07-30 09:45")
    result = cli.write(
        [row, stream_state("tours", 1)],
        catalog_=keyed("update", "propexo_appointment"),
        config=config,
    )
    assert [o["how"] for o in result.outcomes] == ["rescheduled"]
    assert of_lead(cli.sandbox, "lead-1") == [(event_id, "2041-07-30T09:45:00.000Z")]


def test_an_update_stream_keyed_on_another_column_is_a_config_error(cli: Cli) -> None:
    result = cli.write([move("appt-1", "2041-07-30", "09:45")], catalog_=keyed("update", "tour_id"))
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert "'update'" in trace["error"]["message"] and "event_id" in trace["error"]["message"]
    assert cli.sandbox.stats()["total"] == 0


# -- unclear answers of a move -------------------------------------------------------------


def test_a_lost_answer_of_a_move_is_read_back_and_adopted_not_sent_again(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    cli.sandbox.set_faults(FaultPlan(update_script=("created_then_500",)))
    result = cli.write(
        [tour("lead-1", "2041-07-22", "16:30"), stream_state("tours", 1)],
        catalog_=ONE_PER_LEAD,
        config=cli.config(write_status_timeout_seconds=2),
    )
    (outcome,) = result.outcomes
    assert (outcome["how"], outcome["event_id"]) == ("adopted after an unclear answer", event_id)
    assert of_lead(cli.sandbox, "lead-1") == [(event_id, "2041-07-22T16:30:00.000Z")]
    stats = cli.sandbox.stats()
    assert stats["update"] == 1
    assert stats["read_back"] >= 2  # the lead once, then the move until it showed


def test_a_move_lost_before_it_was_queued_is_read_back_then_sent_again(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    cli.sandbox.set_faults(FaultPlan(update_script=("drop",)))
    result = cli.write(
        [move(event_id, "2041-07-30", "09:45", lead_id="lead-1"), stream_state("tours", 1)],
        catalog_=UPDATE,
        config=cli.config(write_status_timeout_seconds=2),
    )
    (outcome,) = result.outcomes
    assert (outcome["how"], outcome["write_status"]) == ("rescheduled", "SUCCESS")
    stats = cli.sandbox.stats()
    assert stats["update"] == 2
    assert stats["read_back"] >= 2  # the whole settle window read back before the re-send
    assert of_lead(cli.sandbox, "lead-1") == [(event_id, "2041-07-30T09:45:00.000Z")]


def test_an_unclear_move_without_a_lead_id_is_never_sent_again(cli: Cli) -> None:
    event_id = cli.sandbox.seed_appointment(lead_id="lead-1", utc=UPCOMING)
    cli.sandbox.set_faults(FaultPlan(update_script=("drop",)))
    result = cli.write(
        [move(event_id, "2041-07-30", "09:45"), stream_state("tours", 1)], catalog_=UPDATE
    )
    # Nothing else was written meanwhile, so the lost answer is the service's: the sync
    # stops (transient) rather than guess, and the move is not sent again in this sync.
    assert result.outcomes == [] and result.states == []
    assert result.traces[0]["error"]["failure_type"] == "transient_error"
    assert writes(cli.sandbox) == (0, 1)
