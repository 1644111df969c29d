"""`discover`: the destination catalog that Airbyte's data-activation mapping UI reads.

One object, `appointment` (a ResMan lead appointment), described with the field names that
`mapping.py` matches, in the shape of protocol v0.18's `DestinationCatalog`:
`{"operations": [{"object_name", "sync_mode", "json_schema", "matching_keys"}]}`, where each
matching key is a list of fields. What each sync mode and key does: `catalog.py`.
"""

from __future__ import annotations

from typing import Any

from destination_propexo.airbyte.catalog import SUPPORTED_MODES
from destination_propexo.records.mapping import (
    CREATE_FIELDS,
    MAX_ID_LENGTH,
    MAX_NOTES_LENGTH,
    MOVE_FIELDS,
)

OBJECT_NAME = "appointment"
# append_dedup: one upcoming tour per lead (moved, or created), or create if absent on
# lead + UTC date + time (`AppointmentRequest.slot_key`; the integration comes from the
# configuration unless a row names its own). update: the appointment's Propexo id.
MATCHING_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "append_dedup": (("lead_id",), ("lead_id", "appointment_date", "appointment_time")),
    "update": (("event_id",),),
}

_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": r"^\S+$"}
_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "event_id": {
        **_ID,
        "description": (
            "Propexo id of the appointment to move (the id read back from Propexo, or the "
            "created_record_id of its create)."
        ),
    },
    "integration_id": {
        **_ID,
        "description": "Propexo id of the ResMan integration; defaults to the configured one.",
    },
    "lead_id": {**_ID, "description": "Propexo id of the lead (prospect) touring."},
    "lead_source_id": {**_ID, "description": "Propexo id of the lead source."},
    "unit_id": {**_ID, "description": "Propexo id of the unit to tour, if any."},
    "appointment_date": {
        "type": "string",
        "format": "date",
        "description": (
            "The tour's date, YYYY-MM-DD, in the row's appointment_timezone or else the "
            "configured source time zone. "
            "Give it with appointment_time, or give appointment_datetime instead."
        ),
    },
    "appointment_time": {
        "type": "string",
        "format": "time",
        "airbyte_type": "time_without_timezone",
        "description": (
            "The tour's time of day, HH:MM[:SS], in the row's appointment_timezone or else the "
            "configured source time zone, unless it carries an offset; converted to UTC with "
            "the date."
        ),
    },
    "appointment_datetime": {
        "type": "string",
        "format": "date-time",
        "description": (
            "The tour's start as one timestamp (ISO 8601, T or space). Without an offset it "
            "is read in the row's appointment_timezone or else the configured source time "
            "zone; with Z or an offset, by that offset."
        ),
    },
    "appointment_timezone": {
        "type": "string",
        "description": (
            "The IANA time zone of this row's local date and time (America/Denver); "
            "overrides the configured source time zone for the row. Never sent to Propexo."
        ),
    },
    "notes": {
        "type": "string",
        "maxLength": MAX_NOTES_LENGTH,
        "description": "Free text for the leasing office.",
    },
}


def appointment_schema() -> dict[str, Any]:
    """The JSON schema of one appointment row to create, as `mapping.map_record` accepts it."""
    return _schema(CREATE_FIELDS, ["lead_id", "lead_source_id"])


def move_schema() -> dict[str, Any]:
    """The JSON schema of one row of an `update` stream, as `mapping.map_move` accepts it.

    `lead_id` is optional; with it, a move whose answer was lost can be read back."""
    return _schema(MOVE_FIELDS, ["event_id"])


def _schema(fields: tuple[str, ...], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": True,
        "properties": {name: dict(_FIELD_SCHEMAS[name]) for name in fields},
        "required": required,
        # The tour's time is either one timestamp or a date and a time.
        "anyOf": [
            {"required": ["appointment_datetime"]},
            {"required": ["appointment_date", "appointment_time"]},
        ],
    }


def destination_catalog() -> dict[str, Any]:
    """The `destination_catalog` payload: one operation per supported sync mode."""
    operations: list[dict[str, Any]] = []
    for mode in SUPPORTED_MODES:
        operation: dict[str, Any] = {
            "object_name": OBJECT_NAME,
            "sync_mode": mode,
            "json_schema": move_schema() if mode == "update" else appointment_schema(),
        }
        if mode in MATCHING_KEYS:
            operation["matching_keys"] = [list(key) for key in MATCHING_KEYS[mode]]
        operations.append(operation)
    return {"operations": operations}
