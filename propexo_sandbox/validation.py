"""Validation of the create and update bodies the way Propexo's Zod strict schemas report it."""

from __future__ import annotations

import datetime as dt
import re

Issue = dict[str, object]
# (field, required) in the schema's order, which is the order Zod reports issues in.
Schema = tuple[tuple[str, bool], ...]

CREATE_FIELDS: Schema = (
    ("integration_id", True),
    ("lead_id", True),
    ("lead_source_id", True),
    ("appointment_date", True),
    ("appointment_time", True),
    ("unit_id", False),
    ("notes", False),
)
# The reschedule (`PUT .../resman/{event_id}`): no integration, lead or lead source in the body.
UPDATE_FIELDS: Schema = (
    ("appointment_date", True),
    ("appointment_time", True),
    ("unit_id", False),
    ("notes", False),
)

TIME_PATTERN = re.compile(r"(?:[01]\d|2[0123]):(?:[012345]\d):(?:[012345]\d)")
# A plain date, or a UTC datetime as Zod's `datetime()` accepts it by default (only `Z`).
_DATE_PATTERN = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?Z)?")


def appointment_day(value: str) -> dt.date | None:
    """The calendar day of an `appointment_date` value, or None when it is not a valid one."""
    match = _DATE_PATTERN.fullmatch(value)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def validate_body(
    body: object, schema: Schema, *, ignore_unknown: bool
) -> tuple[dict[str, str], list[Issue]]:
    """The fields of `body` that `schema` knows, and the Zod issues found in it."""
    if not isinstance(body, dict):
        return {}, [_invalid_type([], "object", body)]
    fields: dict[str, str] = {}
    issues: list[Issue] = []
    for name, required in schema:
        if name not in body:
            if required:
                missing = _invalid_type([name], "string", None)
                issues.append({**missing, "received": "undefined", "message": "Required"})
            continue
        value = body[name]
        if not isinstance(value, str):
            issues.append(_invalid_type([name], "string", value))
        elif name == "appointment_time" and not TIME_PATTERN.fullmatch(value):
            issues.append(
                {
                    "validation": "regex",
                    "code": "invalid_string",
                    "message": "Invalid",
                    "path": [name],
                }
            )
        elif name == "appointment_date" and appointment_day(value) is None:
            issues.append({"code": "invalid_date", "message": "Invalid date", "path": [name]})
        else:
            fields[name] = value
    known = {name for name, _ in schema}
    unknown = [key for key in body if key not in known]
    if unknown and not ignore_unknown:
        quoted = ", ".join(f"'{key}'" for key in unknown)
        issues.append(
            {
                "code": "unrecognized_keys",
                "keys": unknown,
                "path": [],
                "message": f"Unrecognized key(s) in object: {quoted}",
            }
        )
    return fields, issues


def summarize(issues: list[Issue]) -> str:
    """One line naming every issue, like zod-validation-error's message."""
    parts = []
    for issue in issues:
        path = issue.get("path")
        where = f' at "{".".join(map(str, path))}"' if isinstance(path, list) and path else ""
        parts.append(f"{issue['message']}{where}")
    return "Validation error: " + "; ".join(parts)


def _invalid_type(path: list[str], expected: str, value: object) -> Issue:
    received = _zod_type(value)
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": received,
        "path": path,
        "message": f"Expected {expected}, received {received}",
    }


def _zod_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"
