"""`discover`: the appointment object as protocol v0.18's DESTINATION_CATALOG describes it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from destination_propexo.airbyte.discover import (
    appointment_schema,
    destination_catalog,
    move_schema,
)
from destination_propexo.airbyte.protocol import Emitter
from destination_propexo.records.mapping import (
    CREATE_FIELDS,
    MOVE_FIELDS,
    AppointmentRequest,
    FieldMatcher,
    MoveRequest,
    map_move,
    map_record,
)
from destination_propexo.records.vendors import VENDORS, AppointmentDefaults
from destination_propexo.run import main
from propexo_sandbox import Sandbox

IDS = {"lead_id": "lead-1", "lead_source_id": "src-1"}


@pytest.mark.parametrize("code", sorted(VENDORS))
def test_each_vendors_schemas_list_the_fields_it_takes_among_those_the_mappings_read(
    code: str,
) -> None:
    vendor = VENDORS[code]
    create = appointment_schema(vendor)
    assert set(create["properties"]) <= set(CREATE_FIELDS)
    assert {rule.name for rule in vendor.create.fields} <= set(create["properties"])
    assert set(create["required"]) == {"lead_id"} | {
        rule.name for rule in vendor.create.fields if rule.required
    }
    move = move_schema(vendor)
    assert set(move["properties"]) <= set(MOVE_FIELDS)


def test_entrata_requires_its_type_duration_and_notes_unless_the_config_gives_defaults() -> None:
    entrata = VENDORS["ENTRATA"]
    schema = appointment_schema(entrata)
    assert schema["required"] == [
        "lead_id",
        "appointment_duration_minutes",
        "appointment_type",
        "notes",
    ]
    assert "lead_source_id" not in schema["properties"]
    assert schema["properties"]["appointment_type"]["enum"] == [
        "LEASING_APPOINTMENT",
        "SELF_GUIDED_TOUR",
        "TOUR",
        "VIRTUAL_TOUR",
    ]
    defaults = AppointmentDefaults(duration_minutes=30, appointment_type="TOUR")
    assert appointment_schema(entrata, defaults)["required"] == ["lead_id", "notes"]
    assert move_schema(entrata)["required"] == ["event_id", "notes"]


def test_a_vendor_without_an_update_offers_no_update_and_no_one_upcoming_tour_key() -> None:
    operations = destination_catalog(VENDORS["YARDI"])["operations"]
    keys = {op["sync_mode"]: op.get("matching_keys") for op in operations}
    assert keys == {
        "append": None,
        "append_dedup": [["lead_id", "appointment_date", "appointment_time"]],
    }


@pytest.mark.parametrize(
    "row",
    [
        pytest.param({**IDS, "appointment_datetime": "2024-07-20T14:00:00Z"}, id="timestamp"),
        pytest.param(
            {**IDS, "appointment_date": "2024-07-20", "appointment_time": "14:00:00"},
            id="date-and-time",
        ),
        pytest.param(
            {
                **IDS,
                "unit_id": "unit-9",
                "notes": "dog",
                "appointment_datetime": "2024-07-20 09:00",
            },
            id="optional-fields",
        ),
    ],
)
def test_rows_the_schema_describes_as_complete_carry_what_the_mapping_needs(
    row: dict[str, Any],
) -> None:
    jsonschema.validate(row, appointment_schema())
    mapped = map_record(
        row, default_integration_id="intg-1", zone="UTC", matcher=FieldMatcher.build()
    )
    assert isinstance(mapped, AppointmentRequest), mapped


@pytest.mark.parametrize(
    "row",
    [
        pytest.param({"lead_source_id": "s", "appointment_datetime": "x"}, id="no-lead"),
        pytest.param({"lead_id": "l", "appointment_datetime": "x"}, id="no-lead-source"),
        pytest.param({**IDS}, id="no-time"),
        pytest.param({**IDS, "appointment_date": "2024-07-20"}, id="date-without-time"),
        pytest.param({**IDS, "appointment_time": "14:00"}, id="time-without-date"),
        pytest.param({**IDS, "appointment_datetime": "x", "lead_id": "a b"}, id="space-in-id"),
    ],
)
def test_rows_missing_what_the_mapping_requires_fail_the_schema(row: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(row, appointment_schema())
    mapped = map_record(
        row, default_integration_id="intg-1", zone="UTC", matcher=FieldMatcher.build()
    )
    assert not isinstance(mapped, AppointmentRequest)


def test_dedup_matches_on_the_lead_or_on_lead_date_and_time_update_on_event_id() -> None:
    operations = destination_catalog()["operations"]
    keys = {op["sync_mode"]: op.get("matching_keys") for op in operations}
    assert keys == {
        "append": None,
        "append_dedup": [["lead_id"], ["lead_id", "appointment_date", "appointment_time"]],
        "update": [["event_id"]],
    }
    for op in operations:
        for key in op.get("matching_keys", []):
            assert set(key) <= set(op["json_schema"]["properties"])


MOVE = {"event_id": "appt-1", "appointment_date": "2041-07-20", "appointment_time": "14:00"}


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(MOVE, id="date-and-time"),
        pytest.param({"event_id": "appt-1", "appointment_datetime": "2041-07-20 09:00"}, id="ts"),
        pytest.param({**MOVE, "lead_id": "lead-1", "unit_id": "u-2", "notes": "x"}, id="all"),
    ],
)
def test_update_rows_the_schema_describes_as_complete_map_to_a_move(row: dict[str, Any]) -> None:
    jsonschema.validate(row, move_schema())
    mapped = map_move(
        row, default_integration_id="intg-1", zone="UTC", matcher=FieldMatcher.build()
    )
    assert isinstance(mapped, MoveRequest), mapped


@pytest.mark.parametrize(
    "row",
    [
        pytest.param({k: v for k, v in MOVE.items() if k != "event_id"}, id="no-event-id"),
        pytest.param({**MOVE, "event_id": ""}, id="empty-event-id"),
        pytest.param({"event_id": "appt-1"}, id="no-time"),
    ],
)
def test_update_rows_missing_what_a_move_needs_fail_the_schema(row: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(row, move_schema())
    mapped = map_move(
        row, default_integration_id="intg-1", zone="UTC", matcher=FieldMatcher.build()
    )
    assert not isinstance(mapped, MoveRequest)


def run_discover(tmp_path: Path, config: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    out = io.BytesIO()
    code = main(["discover", "--config", str(path)], emitter=Emitter(out))
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_discover_prints_the_catalog_of_the_configured_integrations_vendor(
    tmp_path: Path,
) -> None:
    with Sandbox(token="t0ken-x") as sandbox:
        config = {
            "token": "t0ken-x",
            "integration_id": "intg-sandbox-entrata",
            "api_url": sandbox.url,
            "default_appointment_type": "TOUR",
        }
        code, messages = run_discover(tmp_path, config)
        assert sandbox.stats()["integration"] == 1
    assert code == 0
    defaults = AppointmentDefaults(appointment_type="TOUR")
    assert messages == [
        {
            "type": "DESTINATION_CATALOG",
            "destination_catalog": destination_catalog(VENDORS["ENTRATA"], defaults),
        }
    ]


def test_discover_with_an_invalid_config_is_a_config_error(tmp_path: Path) -> None:
    config = {"token": "t0ken-secret-x", "integration_id": "intg-1", "source_timezone": "Mars"}
    code, messages = run_discover(tmp_path, config)
    assert code == 1
    (message,) = messages
    error = message["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert "source_timezone" in error["message"]
    assert "t0ken-secret-x" not in json.dumps(messages)


@pytest.mark.parametrize("code", sorted(VENDORS))
def test_each_vendors_schema_states_its_own_text_limits(code: str) -> None:
    # A row the schema calls valid must not be refused by the vendor's own limit (Yardi's
    # notes stop at 256 characters, titles at 50).
    vendor = VENDORS[code]
    for operation, schema in (
        ("create", appointment_schema(vendor)),
        ("update", move_schema(vendor)),
    ):
        rules = vendor.operation(operation)  # type: ignore[arg-type]
        for rule in rules.fields if rules is not None else ():
            if rule.max_length is not None:
                assert schema["properties"][rule.name]["maxLength"] == rule.max_length, (
                    operation,
                    rule.name,
                )
