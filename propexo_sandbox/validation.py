"""Validation of the create and update bodies the way Propexo's Zod strict schemas report it
(each vendor's schema: `vendors.py`)."""

from __future__ import annotations

import datetime as dt
import re

from propexo_sandbox.vendors import FieldSpec, Schema

Issue = dict[str, object]
Fields = dict[str, object]

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
) -> tuple[Fields, list[Issue]]:
    """The fields of `body` that `schema` knows, and the Zod issues found in it."""
    if not isinstance(body, dict):
        return {}, [_invalid_type([], "object", body)]
    fields: Fields = {}
    issues: list[Issue] = []
    for spec in schema:
        name = spec.name
        if name not in body:
            if spec.required:
                expected = "number" if spec.kind == "integer" else "string"
                missing = _invalid_type([name], expected, None)
                issues.append({**missing, "received": "undefined", "message": "Required"})
            continue
        issue = _field_issue(spec, body[name])
        if issue is not None:
            issues.append(issue)
        else:
            fields[name] = body[name]
    known = {spec.name for spec in schema}
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


def _field_issue(spec: FieldSpec, value: object) -> Issue | None:
    name = spec.name
    if spec.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _invalid_type([name], "number", value)
        if not float(value).is_integer():
            return {
                "code": "invalid_type",
                "expected": "integer",
                "received": "float",
                "path": [name],
                "message": "Expected integer, received float",
            }
        if value <= 0:
            return {
                "code": "too_small",
                "minimum": 0,
                "inclusive": False,
                "type": "number",
                "path": [name],
                "message": "Number must be greater than 0",
            }
        return None
    if not isinstance(value, str):
        return _invalid_type([name], "string", value)
    if spec.kind == "enum" and value not in spec.choices:
        expected = " | ".join(f"'{choice}'" for choice in spec.choices)
        return {
            "code": "invalid_enum_value",
            "options": list(spec.choices),
            "received": value,
            "path": [name],
            "message": f"Invalid enum value. Expected {expected}, received '{value}'",
        }
    # Zod runs in JavaScript: a string's length is in UTF-16 code units (an emoji is 2).
    length = len(value.encode("utf-16-le")) // 2
    if length < spec.min_length:
        return {
            "code": "too_small",
            "minimum": spec.min_length,
            "type": "string",
            "path": [name],
            "message": f"String must contain at least {spec.min_length} character(s)",
        }
    if spec.max_length is not None and length > spec.max_length:
        return {
            "code": "too_big",
            "maximum": spec.max_length,
            "type": "string",
            "path": [name],
            "message": f"String must contain at most {spec.max_length} character(s)",
        }
    if name == "appointment_time" and not TIME_PATTERN.fullmatch(value):
        return {
            "validation": "regex",
            "code": "invalid_string",
            "message": "Invalid",
            "path": [name],
        }
    if name == "appointment_date" and appointment_day(value) is None:
        return {"code": "invalid_date", "message": "Invalid date", "path": [name]}
    return None


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
