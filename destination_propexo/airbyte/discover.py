"""`discover`: the destination catalog that Airbyte's data-activation mapping UI reads.

One object, `appointment` (a lead appointment of the configured integration's PMS), described
with the field names that `mapping.py` matches and the fields that PMS takes
(`records/vendors.py`), required where the PMS requires them and the config gives no default;
in the shape of protocol v0.18's `DestinationCatalog`: `{"operations": [{"object_name",
"sync_mode", "json_schema", "matching_keys"}]}`, where each matching key is a list of fields.
What each sync mode and key does: `catalog.py`.
"""

from __future__ import annotations

from typing import Any

from destination_propexo.airbyte.catalog import SUPPORTED_MODES
from destination_propexo.records.mapping import (
    MAX_ID_LENGTH,
    MAX_NOTES_LENGTH,
    NO_DEFAULTS,
)
from destination_propexo.records.vendors import (
    APPOINTMENT_TYPES,
    MAX_DURATION_MINUTES,
    VENDORS,
    AppointmentDefaults,
    FieldRule,
    OperationName,
    TimeRule,
    Vendor,
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
        "description": (
            "Propexo id of the integration (PMS connection); defaults to the configured one. "
            "Each row is booked with its own integration's PMS rules."
        ),
    },
    "lead_id": {**_ID, "description": "Propexo id of the lead (prospect) touring."},
    "lead_source_id": {**_ID, "description": "Propexo id of the lead source (ResMan)."},
    "unit_id": {**_ID, "description": "Propexo id of the unit to tour."},
    "employee_id": {**_ID, "description": "Propexo id of the leasing agent (employee)."},
    "title": {"type": "string", "maxLength": 50, "description": "The appointment's title."},
    "appointment_duration_minutes": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_DURATION_MINUTES,
        "description": "The tour's length in minutes.",
    },
    "appointment_type": {
        "type": "string",
        "enum": list(APPOINTMENT_TYPES),
        "description": "Entrata's appointment type.",
    },
    "property_id": {
        **_ID,
        "description": (
            "Propexo id of the lead's property: the zone Rent Manager and Yardi read the time "
            "in is the property's (GET /v1/timezones/), and property_timezones is matched on it. "
            "A row without it is refused where the integration's properties are in different "
            "zones."
        ),
    },
    "property_timezone": {
        "type": "string",
        "description": (
            "The property's IANA zone (e.g. America/Chicago): the wall clock RealPage RPX "
            "reads. Overrides property_timezones for the row."
        ),
    },
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


def appointment_schema(
    vendor: Vendor = VENDORS["RESMAN"], defaults: AppointmentDefaults = NO_DEFAULTS
) -> dict[str, Any]:
    """The JSON schema of one appointment row to create for `vendor`, as `mapping.map_record`
    accepts it: the fields the vendor takes, required where it requires them and the config
    gives no default."""
    fields, required = _vendor_fields(vendor, "create", defaults)
    return _schema(
        ("integration_id", "lead_id", *fields, *_TIME, *_zone_fields(vendor)),
        ["lead_id", *required],
        vendor.create.fields,
    )


def move_schema(
    vendor: Vendor = VENDORS["RESMAN"], defaults: AppointmentDefaults = NO_DEFAULTS
) -> dict[str, Any]:
    """The JSON schema of one row of an `update` stream for `vendor`, as `mapping.map_move`
    accepts it. `lead_id` is optional; with it, a move whose answer was lost can be read back."""
    fields, required = _vendor_fields(vendor, "update", defaults)
    return _schema(
        ("event_id", "integration_id", "lead_id", *fields, *_TIME, *_zone_fields(vendor)),
        ["event_id", *required],
        vendor.update.fields if vendor.update is not None else (),
    )


_TIME = ("appointment_date", "appointment_time", "appointment_datetime", "appointment_timezone")


def _vendor_fields(
    vendor: Vendor, operation: OperationName, defaults: AppointmentDefaults
) -> tuple[tuple[str, ...], list[str]]:
    rules: tuple[FieldRule, ...] = ()
    taken = vendor.operation(operation)
    if taken is not None:
        rules = taken.fields
    required = [r.name for r in rules if r.required and defaults.value(r.name) is None]
    return tuple(r.name for r in rules), required


def _zone_fields(vendor: Vendor) -> tuple[str, ...]:
    if vendor.time_rule is TimeRule.PROPERTY_ZONE:
        return ("property_id",)
    if vendor.time_rule is TimeRule.STATED_ZONE:
        return ("property_id", "property_timezone")
    return ()


def _schema(
    fields: tuple[str, ...], required: list[str], rules: tuple[FieldRule, ...]
) -> dict[str, Any]:
    properties = {name: dict(_FIELD_SCHEMAS[name]) for name in fields}
    for rule in rules:
        # The vendor's own limit, where tighter than any vendor's (Yardi's notes: 256).
        limit = properties[rule.name].get("maxLength")
        if rule.max_length is not None and (limit is None or rule.max_length < limit):
            properties[rule.name]["maxLength"] = rule.max_length
    for name in ("notes", "title"):
        # A field the vendor requires is required with at least one character.
        if name in required:
            properties[name]["minLength"] = 1
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": True,
        "properties": properties,
        "required": required,
        # The tour's time is either one timestamp or a date and a time.
        "anyOf": [
            {"required": ["appointment_datetime"]},
            {"required": ["appointment_date", "appointment_time"]},
        ],
    }


def destination_catalog(
    vendor: Vendor = VENDORS["RESMAN"], defaults: AppointmentDefaults = NO_DEFAULTS
) -> dict[str, Any]:
    """The `destination_catalog` payload for `vendor`: one operation per sync mode it
    supports (no update, and no one-upcoming-tour key, for a vendor without an update)."""
    operations: list[dict[str, Any]] = []
    for mode in SUPPORTED_MODES:
        if mode == "update" and vendor.update is None:
            continue
        operation: dict[str, Any] = {
            "object_name": OBJECT_NAME,
            "sync_mode": mode,
            "json_schema": (
                move_schema(vendor, defaults)
                if mode == "update"
                else appointment_schema(vendor, defaults)
            ),
        }
        keys = MATCHING_KEYS.get(mode, ())
        if vendor.update is None:
            keys = tuple(key for key in keys if key != ("lead_id",))
        if keys:
            operation["matching_keys"] = [list(key) for key in keys]
        operations.append(operation)
    return {"operations": operations}
