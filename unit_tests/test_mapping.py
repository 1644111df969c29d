"""Record -> AppointmentRequest or Rejection: the pure mapping, case by case."""

from __future__ import annotations

from typing import Any

import pytest

from destination_propexo.records.mapping import (
    MAX_NOTES_LENGTH,
    AppointmentRequest,
    FieldMatcher,
    Rejection,
    SourceChange,
    map_record,
)
from destination_propexo.records.values import JsonNumber

VALID = {
    "lead_id": "lead-1",
    "lead_source_id": "src-1",
    "appointment_date": "2024-07-20",
    "appointment_time": "14:00:00",
}


def mapped(data: dict[str, Any], zone: str = "UTC") -> AppointmentRequest | Rejection:
    return map_record(
        data, default_integration_id="intg-config", zone=zone, matcher=FieldMatcher.build()
    )


def request(data: dict[str, Any], zone: str = "UTC") -> AppointmentRequest:
    result = mapped(data, zone)
    assert isinstance(result, AppointmentRequest), result
    return result


def rejection(data: dict[str, Any]) -> str:
    result = mapped(data)
    assert isinstance(result, Rejection), result
    return result.reason


def test_a_valid_record_becomes_the_documented_body() -> None:
    body = request({**VALID, "unit_id": "unit-9", "notes": "Bringing a dog"}).body()
    assert body == {
        "integration_id": "intg-config",
        "lead_id": "lead-1",
        "lead_source_id": "src-1",
        "appointment_date": "2024-07-20T14:00:00Z",
        "appointment_time": "14:00:00",
        "unit_id": "unit-9",
        "notes": "Bringing a dog",
    }


def test_extra_columns_are_never_sent() -> None:
    body = request({**VALID, "email": "a@b.c", "_airbyte_extracted_at": 1}).body()
    assert set(body) == {
        "integration_id",
        "lead_id",
        "lead_source_id",
        "appointment_date",
        "appointment_time",
    }


def test_a_record_integration_id_wins_over_the_config() -> None:
    assert request({**VALID, "integration_id": "intg-row"}).integration_id == "intg-row"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_empty_record_integration_id_falls_back_to_the_config(value: object) -> None:
    assert request({**VALID, "integration_id": value}).integration_id == "intg-config"


def test_integer_ids_are_sent_as_strings() -> None:
    result = request({**VALID, "lead_id": 1234, "lead_source_id": 7, "unit_id": 12})
    assert (result.lead_id, result.lead_source_id, result.unit_id) == ("1234", "7", "12")


def test_hh_mm_is_normalised_to_hh_mm_ss() -> None:
    assert request({**VALID, "appointment_time": "09:30"}).appointment_time == "09:30:00"


def test_local_time_is_converted_to_utc_and_the_date_can_change() -> None:
    result = request(
        {**VALID, "appointment_date": "2024-07-20", "appointment_time": "21:00"},
        zone="America/Los_Angeles",
    )
    assert (result.appointment_date, result.appointment_time) == ("2024-07-21", "04:00:00")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("lead_id", None, "lead_id: is required"),
        ("lead_id", "", "lead_id: is required"),
        ("lead_source_id", "  ", "lead_source_id: ResMan requires it"),
        ("lead_id", 12.5, "lead_id: must be a string or a whole number, not a decimal number"),
        ("lead_id", True, "lead_id: must be a string or a whole number, not a boolean"),
        ("lead_id", {"id": 1}, "lead_id: must be a string or a whole number, not an object"),
        ("lead_id", ["a"], "lead_id: must be a string or a whole number, not a list"),
        ("lead_id", "lead 1", "lead_id: contains white space or control characters"),
        ("lead_id", "lead\x00", "lead_id: contains white space or control characters"),
        ("unit_id", "u" * 300, "unit_id: is longer than 255 characters"),
        ("notes", 42, "notes: must be a string, not int"),
        ("notes", "x" * (MAX_NOTES_LENGTH + 1), f"notes: is longer than {MAX_NOTES_LENGTH}"),
        ("notes", "bell\x07", "notes: contains control characters"),
        ("appointment_time", "25:00", "appointment_time"),
        ("appointment_date", "2024-02-30", "appointment_date"),
        ("appointment_date", None, "appointment_date"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(field: str, value: object, expected: str) -> None:
    reason = rejection({**VALID, field: value})
    assert reason.startswith(expected), reason


def test_a_rejection_shows_the_bad_value_truncated() -> None:
    reason = rejection({**VALID, "notes": "x" * 1_000_000})
    assert "1000000 characters" in reason
    assert len(reason) < 200


def test_notes_keep_newlines_tabs_and_unicode() -> None:
    notes = "Line 1\n\tLine 2 — café 🐕 مرحبا"
    assert request({**VALID, "notes": notes}).notes == notes


def test_empty_optional_fields_are_omitted() -> None:
    body = request({**VALID, "unit_id": "", "notes": None}).body()
    assert "unit_id" not in body
    assert "notes" not in body


def test_columns_match_ignoring_case_and_spaces() -> None:
    data = {
        " LEAD_ID ": "lead-1",
        "Lead_Source_Id": "src-1",
        "APPOINTMENT_DATE": "2024-07-20",
        "appointment_TIME": "14:00",
    }
    assert request(data).lead_id == "lead-1"


def test_two_columns_for_one_field_are_rejected() -> None:
    assert "two columns map to lead_id" in rejection({**VALID, "LEAD_ID": "lead-2"})


def test_the_booking_key_is_lead_and_utc_slot() -> None:
    assert request(VALID).slot_key == ("intg-config", "lead-1", "2024-07-20", "14:00:00")


# Column names as people read them (issue 16): each names lead_id.
@pytest.mark.parametrize(
    "header",
    [
        "Lead ID",
        "lead-id",
        "LEAD_ID",
        "\ufeffLead_Id",
        "lead.id",
        "Lead\u00a0ID",
        "Lead\u200bId",
        "\uff2c\uff25\uff21\uff24\uff3f\uff29\uff24",  # full-width LEAD_ID
        "LeadId",
    ],
)
def test_a_header_names_its_field_whatever_its_case_form_or_separators(header: str) -> None:
    row = {header: "lead-9", **{k: v for k, v in VALID.items() if k != "lead_id"}}
    assert request(row).lead_id == "lead-9"


def test_a_decomposed_header_matches_a_composed_mapping() -> None:
    matcher = FieldMatcher.build({"D\u00eda_de_visita": "appointment_datetime"})
    data = {"lead_id": "l", "lead_source_id": "s", "Di\u0301a_de_visita": "2024-07-20 14:00"}
    result = map_record(data, default_integration_id="i", zone="UTC", matcher=matcher)
    assert isinstance(result, AppointmentRequest), result


def test_a_missing_field_names_the_columns_that_matched_nothing() -> None:
    reason = rejection(
        {"prospect": "l", "lead_source_id": "s", "appointment_datetime": "2024-07-20"}
    )
    assert reason == (
        "lead_id: is required and must not be empty (got None); no column names lead_id; "
        "the row's columns that name no field: 'prospect'"
    )


def test_a_rows_zone_overrides_the_configured_one() -> None:
    row = {**VALID, "appointment_timezone": "America/Denver"}
    assert request(row, zone="America/New_York").appointment_time == "20:00:00"
    assert (
        request({**VALID, "appointment_timezone": " "}, zone="America/New_York").appointment_time
        == "18:00:00"
    )


@pytest.mark.parametrize(
    ("zone", "reason"),
    [
        ("EST", "appointment_timezone: is a fixed UTC-05:00 all year"),
        ("Mars/Olympus", "appointment_timezone: is not a known IANA timezone name"),
        (5, "appointment_timezone: must be a string, not int"),
    ],
)
def test_a_rows_zone_is_refused_as_source_timezone_is(zone: object, reason: str) -> None:
    assert rejection({**VALID, "appointment_timezone": zone}).startswith(reason)


def test_nan_rejects_the_row_only_in_a_field_the_connector_uses() -> None:
    assert isinstance(mapped({**VALID, "score": JsonNumber("NaN")}), AppointmentRequest)
    assert (
        rejection({**VALID, "unit_id": JsonNumber("NaN")}) == "unit_id: is NaN, not an id (got NaN)"
    )
    assert rejection({**VALID, "appointment_time": JsonNumber("Infinity")}) == (
        "appointment_time: must be a string, not a number (got Infinity)"
    )


def test_integer_ids_of_any_size_are_sent_whole() -> None:
    assert request({**VALID, "lead_id": 18446744073709551616}).lead_id == "18446744073709551616"


def test_the_sources_changes_are_said_in_the_reason_and_the_notes() -> None:
    nulled = (SourceChange("APPOINTMENT_TIME", "NULLED", "SOURCE_SERIALIZATION_ERROR"),)
    result = map_record(
        {**VALID, "appointment_time": None},
        default_integration_id="i",
        zone="UTC",
        matcher=FieldMatcher.build(),
        changes=nulled,
    )
    assert isinstance(result, Rejection)
    assert result.reason == (
        "appointment_time: is required with appointment_date (got None); "
        "the source NULLED 'APPOINTMENT_TIME' (SOURCE_SERIALIZATION_ERROR)"
    )
    truncated = (
        SourceChange("notes", "TRUNCATED", "SOURCE_FIELD_SIZE_LIMITATION"),
        SourceChange("other", "NULLED", "SOURCE_SERIALIZATION_ERROR"),
    )
    booked = map_record(
        {**VALID, "notes": "Gate"},
        default_integration_id="i",
        zone="UTC",
        matcher=FieldMatcher.build(),
        changes=truncated,
    )
    assert isinstance(booked, AppointmentRequest)
    assert booked.time_notes == (
        "notes: the source TRUNCATED 'notes' (SOURCE_FIELD_SIZE_LIMITATION)",
    )


@pytest.mark.parametrize(
    ("one", "other", "group"),
    [
        (
            {"appointment_date": "2024-02-30"},
            {"appointment_date": "2023-02-29"},
            "appointment_date: is not a real calendar date",
        ),
        (
            {"lead_id": "a b"},
            {"lead_id": "c\td"},
            "lead_id: contains white space or control characters",
        ),
        ({"unit_id": ["u"]}, {"unit_id": {"u": 1}}, None),
    ],
)
def test_a_rejection_carries_its_reason_without_the_value_as_its_group(
    one: dict[str, Any], other: dict[str, Any], group: str | None
) -> None:
    first, second = mapped({**VALID, **one}), mapped({**VALID, **other})
    assert isinstance(first, Rejection) and isinstance(second, Rejection)
    assert first.reason != second.reason
    if group is not None:
        assert first.group == second.group == group
    else:  # the type named in the reason differs: two groups, each without the value
        assert first.group is not None and "'u'" not in first.group


def test_the_time_is_checked_before_the_vendors_fields() -> None:
    result = mapped(
        {"lead_id": "lead-1", "appointment_date": "2024-02-30", "appointment_time": "x"}
    )
    assert isinstance(result, Rejection)
    assert result.reason.startswith("appointment_date: is not a real calendar date")
