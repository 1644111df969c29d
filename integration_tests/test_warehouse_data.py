"""Warehouse data as it really is: local times, timestamp columns and column names, end to end.

Each case is one row as a warehouse or an Airbyte source emits it, and the UTC instant the
sandbox must store (or the reason the row is refused). Expected instants are worked out by
hand from the zones' offsets (EDT -4, EST -5, CDT -5, CST -6, MDT -6, MST -7, PDT -7, PST -8;
Arizona keeps MST all year), never by calling the connector's own conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from integration_tests.conftest import Cli, booked_slots, record, stream_state


@dataclass(frozen=True)
class Case:
    """One row, and either the UTC instant booked or a fragment of the rejection reason."""

    row: dict[str, Any]
    utc: str | None = None
    rejected: str | None = None
    time_notes: list[str] = field(default_factory=list)


def row(lead: str, **columns: Any) -> dict[str, Any]:
    """A row with the ids under their API names, plus the given (time) columns."""
    return {"lead_id": lead, "lead_source_id": "src-web", **columns}


SNOWFLAKE = {"LEAD_ID": "lead-ny-upper", "LEAD_SOURCE_ID": "src-web"}

NEW_YORK = {
    "snowflake-upper-case-columns": Case(
        {**SNOWFLAKE, "APPOINTMENT_DATE": "2024-07-20", "APPOINTMENT_TIME": "14:00:00"},
        utc="2024-07-20T18:00:00",
    ),
    "mixed-case-with-spaces-winter": Case(
        {
            " Lead_Id ": "lead-ny-mixed",
            "Lead_Source_ID ": "src-web",
            " Appointment_DateTime": "2024-01-15T09:30:00",
        },
        utc="2024-01-15T14:30:00",
    ),
    "space-and-fraction-changes-the-year": Case(
        row("lead-ny-new-year", appointment_datetime="2024-12-31 21:15:30.123456"),
        utc="2025-01-01T02:15:30",
    ),
    "z-wins-over-the-zone": Case(
        row("lead-ny-z", appointment_datetime="2024-07-20T14:00:00Z"), utc="2024-07-20T14:00:00"
    ),
    "own-offset-wins-over-the-zone": Case(
        row("lead-ny-offset", appointment_datetime="2024-07-20T08:00:00-07:00"),
        utc="2024-07-20T15:00:00",
    ),
    "airbyte-date-and-time-just-after-the-gap": Case(
        row("lead-ny-after-gap", appointment_date="2024-03-10", appointment_time="03:00:00"),
        utc="2024-03-10T07:00:00",
    ),
    "warehouse-date-as-midnight-utc-then-late-evening": Case(
        row(
            "lead-ny-midnight-date",
            appointment_date="2024-07-20T00:00:00Z",
            appointment_time="23:30",
        ),
        utc="2024-07-21T03:30:00",
    ),
    "spring-forward-gap": Case(
        row("lead-ny-gap", appointment_datetime="2024-03-10T02:30:00"),
        rejected=(
            "appointment_datetime: 2024-03-10 02:30:00 does not exist in America/New_York "
            "(clocks jump from 02:00 to 03:00 on 2024-03-10)"
        ),
    ),
    "fall-back-takes-the-first-occurrence": Case(
        row(
            "lead-ny-fold",
            appointment_datetime="2024-11-03 01:30:00",
            notes="Gate code 4417, ask for Dana",
        ),
        utc="2024-11-03T05:30:00",
        time_notes=[
            "2024-11-03 01:30:00 happens twice in America/New_York; took the first "
            "occurrence (EDT, UTC-04:00)"
        ],
    ),
    "us-style-date-is-never-guessed": Case(
        row("lead-ny-us-style", appointment_datetime="07/20/2024 2:00 PM"),
        rejected="appointment_datetime: is not in an accepted format",
    ),
}

CHICAGO_RENAMES = [
    {"source_column": "TOUR_START_LOCAL", "api_field": "appointment_datetime"},
    {"source_column": "prospect_id", "api_field": "lead_id"},
    {"source_column": "Source", "api_field": "lead_source_id"},
]
CHICAGO = {
    "renamed-columns-date-changes": Case(
        {
            "PROSPECT_ID": "lead-chi-renamed",
            "SOURCE": "src-web",
            "tour_start_local": "2024-07-20T19:00:00",
        },
        utc="2024-07-21T00:00:00",
    ),
    "renamed-timestamp-with-half-hour-offset": Case(
        {
            "prospect_id": "lead-chi-kolkata",
            "Source": "src-web",
            "Tour_Start_Local": "2024-07-20T19:00:00+05:30",
        },
        utc="2024-07-20T13:30:00",
    ),
    "renamed-gap": Case(
        {
            "prospect_id": "lead-chi-gap",
            "source": "src-web",
            "TOUR_START_LOCAL": "2024-03-10T02:30",
        },
        rejected=(
            "appointment_datetime: 2024-03-10 02:30:00 does not exist in America/Chicago "
            "(clocks jump from 02:00 to 03:00 on 2024-03-10)"
        ),
    ),
    "renamed-fold": Case(
        {
            "prospect_id": "lead-chi-fold",
            "source": "src-web",
            "TOUR_START_LOCAL": "2024-11-03T01:00",
        },
        utc="2024-11-03T06:00:00",
        time_notes=[
            "2024-11-03 01:00:00 happens twice in America/Chicago; took the first "
            "occurrence (CDT, UTC-05:00)"
        ],
    ),
    "mapped-and-named-column-for-one-field": Case(
        {
            "prospect_id": "lead-chi-both",
            "lead_id": "lead-chi-other",
            "source": "src-web",
            "TOUR_START_LOCAL": "2024-07-20T10:00:00",
        },
        rejected="lead_id: two columns map to lead_id",
    ),
}

PHOENIX = {
    "us-gap-hour-exists-in-arizona": Case(
        row("lead-phx-march", appointment_date="2024-03-10", appointment_time="02:30"),
        utc="2024-03-10T09:30:00",
    ),
    "us-fold-hour-happens-once-in-arizona": Case(
        row("lead-phx-november", appointment_datetime="2024-11-03 01:30"),
        utc="2024-11-03T08:30:00",
    ),
    "evening-fraction-changes-the-date": Case(
        row("lead-phx-evening", appointment_datetime="2024-07-20T18:00:00.5"),
        utc="2024-07-21T01:00:00",
    ),
}

DENVER = {
    "gap-quarter-past": Case(
        row("lead-den-gap", appointment_datetime="2024-03-10T02:15:00"),
        rejected="2024-03-10 02:15:00 does not exist in America/Denver (clocks jump from 02:00",
    ),
    "fold-quarter-to": Case(
        row("lead-den-fold", appointment_date="2024-11-03", appointment_time="01:45:00"),
        utc="2024-11-03T07:45:00",
        time_notes=[
            "2024-11-03 01:45:00 happens twice in America/Denver; took the first "
            "occurrence (MDT, UTC-06:00)"
        ],
    ),
    "new-years-day-evening-changes-the-date": Case(
        row("lead-den-new-year", appointment_datetime="2024-01-01 17:00"),
        utc="2024-01-02T00:00:00",
    ),
}

LOS_ANGELES = {
    "independence-day-evening": Case(
        row("lead-la-july", appointment_datetime="2024-07-04 17:30"), utc="2024-07-05T00:30:00"
    ),
    "last-second-of-the-fold": Case(
        row("lead-la-fold", appointment_date="2024-11-03", appointment_time="01:59:59"),
        utc="2024-11-03T08:59:59",
        time_notes=[
            "2024-11-03 01:59:59 happens twice in America/Los_Angeles; took the first "
            "occurrence (PDT, UTC-07:00)"
        ],
    ),
    "first-second-of-the-gap": Case(
        row("lead-la-gap", appointment_datetime="2024-03-10T02:00:00"),
        rejected="2024-03-10 02:00:00 does not exist in America/Los_Angeles",
    ),
    "winter-offset-without-colon": Case(
        row("lead-la-compact", appointment_datetime="2024-01-10T09:00:00-0800"),
        utc="2024-01-10T17:00:00",
    ),
}

DEFAULT_UTC = {
    "naive-values-are-utc-by-default": Case(
        row("lead-utc-naive", appointment_date="2024-07-20", appointment_time="14:00"),
        utc="2024-07-20T14:00:00",
    ),
    "bigquery-utc-suffix": Case(
        row("lead-utc-bigquery", appointment_datetime="2024-07-20 14:00:00 UTC"),
        utc="2024-07-20T14:00:00",
    ),
}

GROUPS = [
    pytest.param({"source_timezone": "America/New_York"}, NEW_YORK, id="new-york"),
    pytest.param(
        {"source_timezone": "america/chicago", "field_mappings": CHICAGO_RENAMES},
        CHICAGO,
        id="chicago-renamed-columns",
    ),
    pytest.param({"source_timezone": "America/Phoenix"}, PHOENIX, id="phoenix-no-dst"),
    pytest.param({"source_timezone": "America/Denver"}, DENVER, id="denver"),
    pytest.param({"source_timezone": "America/Los_Angeles"}, LOS_ANGELES, id="los-angeles"),
    pytest.param({}, DEFAULT_UTC, id="default-utc"),
]


@pytest.mark.parametrize(("overrides", "cases"), GROUPS)
def test_each_row_is_booked_at_its_utc_instant_or_refused_with_its_reason(
    cli: Cli, overrides: dict[str, Any], cases: dict[str, Case]
) -> None:
    names = list(cases)
    result = cli.write(
        [*(record(**cases[name].row) for name in names), stream_state("tours", 1)],
        config=cli.config(**overrides),
    )
    assert result.returncode == 0, result.stderr
    outcomes = {names[o["line"] - 1]: o for o in result.outcomes}
    booked = dict(booked_slots(cli.sandbox))

    wrong = []
    for name, case in cases.items():
        outcome = outcomes[name]
        if case.utc is not None:
            stored = booked.get(outcome["lead_id"])
            if stored != f"{case.utc}.000Z" or outcome["time_notes"] != case.time_notes:
                wrong.append((name, outcome.get("reason"), stored, outcome["time_notes"]))
        elif case.rejected not in outcome.get("reason", "") or outcome["time_notes"]:
            wrong.append((name, outcome["outcome"], outcome.get("reason")))
    assert wrong == []
    # The outcome log carries how the time was read, never the row's free-text notes.
    assert "Gate code" not in result.stdout + result.stderr
    accepted = sum(c.utc is not None for c in cases.values())
    assert len(booked) == accepted
    assert result.states[0]["destinationStats"] == {
        "recordCount": accepted,
        "rejectedRecordCount": len(cases) - accepted,
    }


TWO_COLUMNS_FOR_LEAD_ID = [
    {"source_column": "prospect_id", "api_field": "lead_id"},
    {"source_column": "person_id", "api_field": "lead_id"},
]
TWO_COLUMNS_REASON = (
    "field_mappings: Value error, the columns 'prospect_id' and 'person_id' both map to "
    "lead_id; keep one"
)


def test_two_columns_mapped_to_one_field_fail_check_naming_both(cli: Cli) -> None:
    result = cli.run("check", config=cli.config(field_mappings=TWO_COLUMNS_FOR_LEAD_ID))
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert TWO_COLUMNS_REASON in status["message"]
    assert cli.sandbox.stats()["total"] == 0


def test_two_columns_mapped_to_one_field_stop_write_before_any_request(cli: Cli) -> None:
    rows = [record(prospect_id="lead-1", lead_source_id="s", appointment_datetime="2024-07-20")]
    result = cli.write(rows, config=cli.config(field_mappings=TWO_COLUMNS_FOR_LEAD_ID))
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert TWO_COLUMNS_REASON in trace["error"]["message"]
    assert result.states == []
    assert cli.sandbox.stats()["total"] == 0


def test_discover_describes_the_appointment_object_for_each_sync_mode(cli: Cli) -> None:
    result = cli.run("discover")
    assert result.returncode == 0, result.stderr
    (message,) = result.messages
    assert message["type"] == "DESTINATION_CATALOG"
    operations = message["destination_catalog"]["operations"]
    assert [(o["object_name"], o["sync_mode"]) for o in operations] == [
        ("appointment", "append"),
        ("appointment", "append_dedup"),
        ("appointment", "update"),
    ]
    append, dedup, update = operations
    assert "matching_keys" not in append
    assert dedup["matching_keys"] == [
        ["lead_id"],
        ["lead_id", "appointment_date", "appointment_time"],
    ]
    assert update["matching_keys"] == [["event_id"]]
    schema = dedup["json_schema"]
    assert schema == append["json_schema"]
    assert schema["required"] == ["lead_id", "lead_source_id"]
    assert set(schema["properties"]) == {
        "integration_id",
        "lead_id",
        "lead_source_id",
        "unit_id",
        "appointment_date",
        "appointment_time",
        "appointment_datetime",
        "appointment_timezone",
        "notes",
    }
    assert schema["properties"]["appointment_date"]["format"] == "date"
    assert schema["properties"]["appointment_datetime"]["format"] == "date-time"
    assert update["json_schema"]["required"] == ["event_id"]
    assert set(update["json_schema"]["properties"]) == {
        "event_id",
        "integration_id",
        "lead_id",
        "unit_id",
        "appointment_date",
        "appointment_time",
        "appointment_datetime",
        "appointment_timezone",
        "notes",
    }
