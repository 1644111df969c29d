"""Each PMS the sandbox stands in for: the fields of its create and update lead-appointment
endpoints, how it reads a date and time, and whether a new appointment reads back at once.

Written from Propexo's per-vendor pages (see docs/propexo.md), independently of the
connector's own rules, so the connector's tests meet a second reading of the docs.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "integer", "enum"]

ENTRATA_TYPES = ("LEASING_APPOINTMENT", "SELF_GUIDED_TOUR", "TOUR", "VIRTUAL_TOUR")


@dataclass(frozen=True)
class FieldSpec:
    """One body field as Propexo's Zod schema checks it."""

    name: str
    required: bool
    kind: Kind = "string"
    min_length: int = 0
    max_length: int | None = None
    choices: tuple[str, ...] = ()


Schema = tuple[FieldSpec, ...]


def _req(
    name: str, kind: Kind = "string", *, min_length: int = 0, max_length: int | None = None
) -> FieldSpec:
    return FieldSpec(name, True, kind, min_length=min_length, max_length=max_length)


def _opt(name: str, kind: Kind = "string", *, max_length: int | None = None) -> FieldSpec:
    return FieldSpec(name, False, kind, max_length=max_length)


_WHO = (_req("integration_id"), _req("lead_id"))
_WHEN = (_req("appointment_date"), _req("appointment_time"))
_MINUTES = _req("appointment_duration_minutes", "integer")
_TYPE = FieldSpec("appointment_type", True, "enum", choices=ENTRATA_TYPES)


@dataclass(frozen=True)
class VendorSpec:
    """A PMS as the sandbox serves it. `zone` is how it reads a date and time: `UTC`, an IANA
    zone, `property` (GET /v1/timezones/) or `hidden` (a zone the API does not expose)."""

    code: str
    slug: str
    create: Schema
    update: Schema | None
    zone: str
    readable_at_once: bool = True


VENDOR_SPECS: dict[str, VendorSpec] = {
    spec.slug: spec
    for spec in (
        VendorSpec(
            "RESMAN",
            "resman",
            (*_WHO, _req("lead_source_id"), *_WHEN, _opt("unit_id"), _opt("notes")),
            (*_WHEN, _opt("unit_id"), _opt("notes")),
            "UTC",
        ),
        VendorSpec(
            "ENTRATA",
            "entrata",
            (
                *_WHO,
                *_WHEN,
                _MINUTES,
                _TYPE,
                _req("notes", min_length=1),
                _opt("unit_id"),
                _opt("title", max_length=50),
            ),
            (
                _req("notes", min_length=1),
                _opt("unit_id"),
                _opt("appointment_date"),
                _opt("appointment_time"),
                _opt("appointment_duration_minutes", "integer"),
                FieldSpec("appointment_type", False, "enum", choices=ENTRATA_TYPES),
                _opt("title", max_length=50),
            ),
            "America/Denver",
            readable_at_once=False,
        ),
        VendorSpec(
            "RENTMANAGER",
            "rentmanager",
            (
                *_WHO,
                *_WHEN,
                _MINUTES,
                _req("title", max_length=50),
                _opt("employee_id"),
                _opt("notes"),
            ),
            (*_WHEN, _MINUTES, _req("title", max_length=50), _opt("notes")),
            "property",
        ),
        VendorSpec(
            "REALPAGE_RPX",
            "realpage_rpx",
            (*_WHO, _req("employee_id"), *_WHEN, _MINUTES, _opt("notes")),
            (*_WHEN, _MINUTES, _opt("notes")),
            "hidden",
        ),
        VendorSpec(
            "YARDI",
            "yardi",
            (*_WHO, _req("unit_id"), _req("employee_id"), *_WHEN, _opt("notes", max_length=256)),
            None,
            "property",
        ),
        VendorSpec(
            "YARDI_REST",
            "yardi_rest",
            (*_WHO, _req("unit_id"), _req("employee_id"), *_WHEN, _opt("notes", max_length=256)),
            None,
            "property",
            readable_at_once=False,
        ),
        VendorSpec(
            "APPFOLIO",
            "appfolio",
            (
                *_WHO,
                _req("unit_id"),
                *_WHEN,
                _MINUTES,
                _opt("employee_id"),
                _opt("notes"),
            ),
            (
                _opt("appointment_date"),
                _opt("appointment_time"),
                _opt("appointment_duration_minutes", "integer"),
                _opt("employee_id"),
                _opt("notes"),
            ),
            "UTC",
        ),
        VendorSpec(
            "MRI",
            "mri",
            (
                *_WHO,
                _req("appointment_date"),
                _opt("appointment_time"),
                _opt("employee_id"),
                _opt("notes"),
            ),
            (
                _req("appointment_date"),
                _opt("appointment_time"),
                _opt("employee_id"),
                _opt("notes"),
            ),
            # Not documented; the sandbox reads MRI times as UTC.
            "UTC",
        ),
    )
}

# (standard offset, observes DST) of a GET /v1/timezones/ row -> the zone the PMS applies.
_SETTING_ZONES = {
    ("-05:00", True): "America/New_York",
    ("-06:00", True): "America/Chicago",
    ("-07:00", True): "America/Denver",
    ("-08:00", True): "America/Los_Angeles",
    ("-07:00", False): "America/Phoenix",
    ("-10:00", False): "Pacific/Honolulu",
}


def setting_zone(offset: str, observes_dst: bool) -> str:
    """The zone a timezone row describes, as the sandbox's PMSs apply it."""
    return _SETTING_ZONES.get((offset, observes_dst), "UTC")


def utc_of_wall_clock(day: dt.date, clock: str, zone: str) -> dt.datetime:
    """A wall clock in `zone` as a UTC instant (the first occurrence of a repeated time)."""
    local = dt.datetime.combine(day, dt.time.fromisoformat(clock))
    return local.replace(tzinfo=zoneinfo.ZoneInfo(zone), fold=0).astimezone(dt.UTC)
