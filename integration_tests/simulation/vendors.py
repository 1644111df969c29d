"""The simulation's own reading of each PMS, for generating rows and checking what each PMS got.

Written from docs/propexo.md and the vendor pages it cites, independently of the connector's
`records/vendors.py` and `records/timezones.py`: the fields come from the sandbox's schemas
(`propexo_sandbox.vendors`, a second reading of the same pages), the wall clocks from
`zoneinfo` directly. A generated row names one of the sandbox's integrations,
`intg-sandbox-{key}`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from propexo_sandbox.vendors import VENDOR_SPECS, VendorSpec

VendorKey = Literal[
    "resman", "entrata", "rentmanager", "yardi", "yardi-rest", "appfolio", "realpage-rpx", "mri"
]
# ResMan first: a failing case shrinks towards the connector's first PMS.
VENDOR_KEYS: tuple[VendorKey, ...] = (
    "resman",
    "entrata",
    "rentmanager",
    "yardi",
    "yardi-rest",
    "appfolio",
    "realpage-rpx",
    "mri",
)
# Who and when: every create carries them; not a vendor's own field.
WHO_AND_WHEN = frozenset({"integration_id", "lead_id", "appointment_date", "appointment_time"})
# The zone a user states for a RealPage property (the sandbox's RealPage keeps Chicago).
STATED_ZONE = "America/Chicago"
# GET /v1/timezones/ gives a standard offset and a DST flag; the US zones they describe.
SETTING_ZONES = {
    ("-05:00", True): "America/New_York",
    ("-06:00", True): "America/Chicago",
    ("-07:00", True): "America/Denver",
    ("-08:00", True): "America/Los_Angeles",
    ("-07:00", False): "America/Phoenix",
    ("-10:00", False): "Pacific/Honolulu",
}

Reading = Literal["UTC", "America/Denver", "property", "stated", "undocumented"]


@dataclass(frozen=True)
class Pms:
    """One PMS as the simulation knows it: the name reasons give it, its endpoint slug, how it
    reads a date and time, and whether a new appointment reads back at once."""

    key: VendorKey
    name: str
    slug: str
    reading: Reading
    readable_at_once: bool = True

    @property
    def integration_id(self) -> str:
        return f"intg-sandbox-{self.key}"

    @property
    def spec(self) -> VendorSpec:
        return VENDOR_SPECS[self.slug]

    @property
    def has_update(self) -> bool:
        return self.spec.update is not None

    @property
    def zone_field(self) -> str | None:
        """The column the reading needs: the property (its zone row), or a stated zone."""
        return {"property": "property_id", "stated": "property_timezone"}.get(self.reading)

    def required(self, operation: Literal["create", "update"]) -> frozenset[str]:
        """The vendor's own required fields of `operation` (who and when left out)."""
        schema = self.spec.create if operation == "create" else self.spec.update
        return frozenset(f.name for f in schema or () if f.required) - WHO_AND_WHEN

    def takes(self, operation: Literal["create", "update"]) -> frozenset[str]:
        """Every field the vendor's `operation` takes."""
        schema = self.spec.create if operation == "create" else self.spec.update
        return frozenset(f.name for f in schema or ())


PMSS: dict[str, Pms] = {
    pms.key: pms
    for pms in (
        Pms("resman", "ResMan", "resman", "UTC"),
        Pms("entrata", "Entrata", "entrata", "America/Denver", readable_at_once=False),
        Pms("rentmanager", "Rent Manager", "rentmanager", "property"),
        Pms("yardi", "Yardi", "yardi", "property"),
        Pms("yardi-rest", "Yardi REST", "yardi_rest", "property", readable_at_once=False),
        Pms("appfolio", "AppFolio", "appfolio", "UTC"),
        Pms("realpage-rpx", "RealPage RPX", "realpage_rpx", "stated"),
        Pms("mri", "MRI", "mri", "undocumented"),
    )
}


def property_zone(
    timezones: Iterable[Mapping[str, object]], integration_id: str, property_id: str | None
) -> str | None:
    """The zone GET /v1/timezones/ gives `property_id` of `integration_id`: its own row, else
    the integration-wide row; None when the row names no property while another property of
    the integration has another zone (the row could be that property's: refused), or when no
    row applies."""
    rows = [r for r in timezones if r.get("integration_id") == integration_id]
    settings = {
        r.get("property_id"): (str(r["offset"]), bool(r["observes_daylight_savings"])) for r in rows
    }
    wide = settings.get(None)
    if property_id is None:
        if any(setting != wide for prop, setting in settings.items() if prop is not None):
            return None
        return SETTING_ZONES.get(wide) if wide is not None else None
    own = settings.get(property_id, wide)
    return SETTING_ZONES.get(own) if own is not None else None


@dataclass(frozen=True)
class Wall:
    """A date and time as one PMS reads them; `repeated_second`: the instant is the second
    time that wall clock happens in the zone (fall-back), which a bare wall clock cannot say."""

    date: str
    time: str
    repeated_second: bool = False


def wall_clock(instant: dt.datetime, zone: str) -> Wall:
    """`instant` (aware) as the wall clock of IANA `zone`."""
    tz = zoneinfo.ZoneInfo(zone)
    local = instant.astimezone(tz)
    naive = local.replace(tzinfo=None)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    return Wall(f"{naive:%Y-%m-%d}", f"{naive:%H:%M:%S}", first != instant.astimezone(dt.UTC))
