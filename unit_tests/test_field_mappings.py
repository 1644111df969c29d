"""The `field_mappings` option: validated once at load, then used to match columns by name."""

from __future__ import annotations

from typing import Any

import pytest

from destination_propexo.config import load_config
from destination_propexo.destination import check_connection, load_spec
from destination_propexo.errors import ConfigError
from destination_propexo.records.mapping import (
    API_FIELDS,
    AppointmentRequest,
    FieldMatcher,
    map_record,
)

BASE = {"token": "t0ken-unit", "integration_id": "intg-1"}


def config_with(mappings: Any) -> dict[str, Any]:
    return {**BASE, "field_mappings": mappings}


def test_no_field_mappings_is_the_default() -> None:
    assert load_config(BASE).column_renames == {}


def test_mapped_columns_are_matched_ignoring_case_and_spaces() -> None:
    config = load_config(
        config_with(
            [
                {"source_column": " Tour_Start_Local ", "api_field": "appointment_datetime"},
                {"source_column": "prospect_id", "api_field": "lead_id"},
            ]
        )
    )
    row = {
        "PROSPECT_ID": "lead-7",
        "Lead_Source_Id": "src-1",
        "tour_start_local": "2024-07-20 09:00",
    }
    mapped = map_record(
        row,
        default_integration_id="intg-1",
        zone="America/Chicago",
        matcher=FieldMatcher.build(config.column_renames),
    )
    assert isinstance(mapped, AppointmentRequest), mapped
    assert (mapped.lead_id, mapped.appointment_date, mapped.appointment_time) == (
        "lead-7",
        "2024-07-20",
        "14:00:00",
    )


@pytest.mark.parametrize(
    ("mappings", "reason"),
    [
        pytest.param(
            [
                {"source_column": "prospect_id", "api_field": "lead_id"},
                {"source_column": "person_id", "api_field": "lead_id"},
            ],
            "field_mappings: Value error, the columns 'prospect_id' and 'person_id' both map "
            "to lead_id; keep one",
            id="two-columns-one-field",
        ),
        pytest.param(
            [
                {"source_column": "tour_at", "api_field": "appointment_datetime"},
                {"source_column": " TOUR_AT ", "api_field": "appointment_date"},
            ],
            "field_mappings: Value error, the source column 'TOUR_AT' is listed twice (as "
            "appointment_datetime and appointment_date); keep one entry",
            id="one-column-twice",
        ),
        pytest.param(
            [{"source_column": "tour_at", "api_field": "appointment_start"}],
            "field_mappings.0.api_field: Value error, 'appointment_start' is not an API field; "
            "use one of integration_id, lead_id",
            id="unknown-api-field",
        ),
        pytest.param(
            [{"source_column": "  ", "api_field": "lead_id"}],
            "field_mappings.0.source_column: Value error, the source column name is empty",
            id="empty-source-column",
        ),
        pytest.param(
            [{"source_column": "__", "api_field": "lead_id"}],
            "field_mappings.0.source_column: Value error, the source column name '__' reads "
            "as empty (column names are matched ignoring separators and invisible characters)",
            id="source-column-of-separators",
        ),
        pytest.param(
            [{"source_column": "\ufeff\u200b", "api_field": "lead_id"}],
            "field_mappings.0.source_column: Value error, the source column name "
            "'\\ufeff\\u200b' reads as empty",
            id="source-column-of-invisible-characters",
        ),
        pytest.param(
            [{"source_column": "tour_at"}],
            "field_mappings.0.api_field: Field required",
            id="no-api-field",
        ),
        pytest.param(
            [{"source_column": "tour_at", "api_feild": "lead_id", "api_field": "lead_id"}],
            "field_mappings.0.api_feild: Extra inputs are not permitted",
            id="misspelt-key",
        ),
        pytest.param(
            {"tour_at": "lead_id"},
            "field_mappings: Input should be a valid list",
            id="object-instead-of-list",
        ),
    ],
)
def test_a_bad_field_mapping_is_a_config_error_naming_it(mappings: Any, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(config_with(mappings))
    assert reason in str(raised.value)
    ok, message = check_connection(config_with(mappings))
    assert not ok
    assert reason in message


def test_a_mapped_column_beside_a_column_named_like_its_field_rejects_the_row() -> None:
    # Only a row can show this clash, so it is a record rejection, never a silent choice.
    config = load_config(config_with([{"source_column": "prospect_id", "api_field": "lead_id"}]))
    mapped = map_record(
        {
            "prospect_id": "lead-1",
            "LEAD_ID": "lead-2",
            "lead_source_id": "src-1",
            "appointment_datetime": "2024-07-20T14:00:00Z",
        },
        default_integration_id="intg-1",
        zone="UTC",
        matcher=FieldMatcher.build(config.column_renames),
    )
    assert not isinstance(mapped, AppointmentRequest)
    assert mapped.reason.startswith("lead_id: two columns map to lead_id; send only one")
    assert "'prospect_id, LEAD_ID'" in mapped.reason


def test_the_spec_offers_exactly_the_api_fields_the_mapping_knows() -> None:
    spec = load_spec()["connectionSpecification"]["properties"]["field_mappings"]
    assert tuple(spec["items"]["properties"]["api_field"]["enum"]) == API_FIELDS
    assert spec["items"]["required"] == ["source_column", "api_field"]
    assert spec["default"] == []
    for example in spec["examples"]:
        load_config(config_with(example))


@pytest.mark.parametrize(
    ("zone", "reason"),
    [
        (
            "CST",
            "source_timezone: Value error, is not a known IANA timezone name; use one such "
            "as America/Chicago or UTC (got 'CST')",
        ),
        ("EST", "source_timezone: Value error, is a fixed UTC-05:00 all year"),
    ],
)
def test_a_refused_source_timezone_names_its_value_at_load_and_check(
    zone: str, reason: str
) -> None:
    # As a row's appointment_timezone is refused: the field and the value.
    config = {**BASE, "source_timezone": zone}
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert reason in str(raised.value)
    assert f"(got {zone!r})" in str(raised.value)
    ok, message = check_connection(config)
    assert not ok
    assert f"(got {zone!r})" in message


def test_rows_of_one_layout_or_of_several_each_match_their_own_columns() -> None:
    # A stream's layout is matched once and remembered; rows with other columns (a source
    # that leaves out nulls, another order) and a row whose columns clash are each their own.
    matcher = FieldMatcher.build({"prospect_id": "lead_id"})
    rows = [
        {"LEAD_ID": "lead-1", "Unit ID": "u-1", "extra": 1},
        {"LEAD_ID": "lead-2", "Unit ID": "u-2", "extra": 2},
        {"Unit ID": "u-3", "LEAD_ID": "lead-3"},
        {"prospect_id": "lead-4"},
        {"prospect_id": "lead-5", "lead_id": "lead-6"},
        {"LEAD_ID": "lead-7", "Unit ID": "u-7", "extra": 7},
    ]
    matched: list[Any] = []
    for row in rows + rows:  # the second pass reads remembered layouts
        try:
            matched.append(matcher.match(row))
        except Exception as exc:
            matched.append(str(exc))
    expected = [
        {"lead_id": "lead-1", "unit_id": "u-1"},
        {"lead_id": "lead-2", "unit_id": "u-2"},
        {"unit_id": "u-3", "lead_id": "lead-3"},
        {"lead_id": "lead-4"},
        "lead_id: two columns map to lead_id; send only one (deselect the other in the "
        "connection, or drop it from field_mappings) (got 'prospect_id, lead_id')",
        {"lead_id": "lead-7", "unit_id": "u-7"},
    ]
    assert matched == expected + expected
