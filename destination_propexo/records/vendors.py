"""Each property-management system behind Propexo, as data: its endpoint slug, the fields its
create and update take (required, optional, limits), how it reads a date and time, whether it
has an update, and whether a new appointment can be read back at once (pure).

Source: Propexo's per-vendor "Create/Update Lead Appointment" pages (docs.propexo.com,
checked 2026-11-29); docs/propexo.md has the table and the open questions. Where a page was
not readable, the safer reading is taken and said below: a field whose acceptance is not
known is never sent (Propexo refuses unknown keys), an update that was not seen is absent.

    vendor_fields(vendor, "create" | "update", row values, defaults)
        -> {field: value} to send beside integration_id, lead_id, date and time
         | raises VendorFieldError naming the field and the vendor
"""

from __future__ import annotations

import enum
import functools
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from destination_propexo.records.timezones import InvalidTimeValue, ZoneSetting, zone_for_setting
from destination_propexo.records.values import JsonNumber, shown

__all__ = [
    "APPOINTMENT_TYPES",
    "VENDORS",
    "VENDOR_FIELDS",
    "AppointmentDefaults",
    "FieldRule",
    "Operation",
    "TimeReading",
    "TimeRule",
    "UnusableIntegration",
    "Vendor",
    "VendorFieldError",
    "mode_caveats",
    "refusal",
    "time_reading",
    "utf16_length",
    "vendor_fields",
    "vendor_named",
    "vendor_terms",
    "zone_terms",
]

LEADS_PATH = "/v1/events/appointments/leads/"
# Entrata's `appointment_type` values (Propexo's generic pages, field labelled Entrata-only).
APPOINTMENT_TYPES = ("LEASING_APPOINTMENT", "SELF_GUIDED_TOUR", "TOUR", "VIRTUAL_TOUR")
TITLE_LIMIT = 50
# Propexo's generic page caps notes at 256; only Yardi's own pages repeat it.
YARDI_NOTES_LIMIT = 256
# A tour of more than a year is a unit mistake (seconds for minutes), not a tour.
MAX_DURATION_MINUTES = 525_600
# Whatever a row may say about an appointment beyond who (integration, lead) and when.
VENDOR_FIELDS = (
    "lead_source_id",
    "unit_id",
    "employee_id",
    "notes",
    "title",
    "appointment_duration_minutes",
    "appointment_type",
)

Kind = Literal["id", "text", "minutes", "choice"]
OperationName = Literal["create", "update"]


class TimeRule(enum.Enum):
    """How a vendor reads `appointment_date` + `appointment_time`."""

    UTC = "UTC"
    MOUNTAIN = "America/Denver wall clock"
    PROPERTY_ZONE = "the property's zone from GET /v1/timezones/"
    STATED_ZONE = "the property's wall clock, zone stated by the user"
    UNDOCUMENTED = "not documented"


@dataclass(frozen=True)
class FieldRule:
    """One body field of a vendor's create or update, with its limits."""

    name: str
    kind: Kind
    required: bool = False
    min_length: int = 0
    max_length: int | None = None


@dataclass(frozen=True)
class Operation:
    """The fields one endpoint takes beyond integration_id, lead_id, date and time."""

    fields: tuple[FieldRule, ...]


@dataclass(frozen=True)
class Vendor:
    """One PMS: `code` as GET /v1/admin/integrations/{id}/ reports it, `name` for people."""

    code: str
    name: str
    slug: str
    time_rule: TimeRule
    create: Operation
    update: Operation | None
    # False where a new appointment shows only after Propexo's next data sync (Entrata,
    # Yardi REST): write status gives no created_record_id and a read-back will not find it.
    readable_at_once: bool
    # The zone Propexo's docs say the PMS assumes when a property has no setting.
    default_zone: str | None = None

    @property
    def create_path(self) -> str:
        return f"{LEADS_PATH}{self.slug}/"

    def update_path(self, event_id: str) -> str:
        return f"{LEADS_PATH}{self.slug}/{quote(event_id, safe='')}"

    def operation(self, name: OperationName) -> Operation | None:
        return self.create if name == "create" else self.update


@dataclass(frozen=True)
class AppointmentDefaults:
    """Values a row may leave empty (config: default_duration_minutes, ...); None: no default."""

    duration_minutes: int | None = None
    appointment_type: str | None = None
    title: str | None = None

    def value(self, name: str) -> object:
        if name == "appointment_duration_minutes":
            return self.duration_minutes
        if name == "appointment_type":
            return self.appointment_type
        return self.title if name == "title" else None


class UnusableIntegration(ValueError):
    """An integration rows cannot be booked in: unknown to the token, inactive, or of a vendor
    this destination does not book; the message says which and names the integration_id."""

    field = "integration_id"


class VendorFieldError(ValueError):
    """A row's field that its vendor would refuse: `field`, the vendor's name, and why."""

    def __init__(self, field: str, vendor: Vendor, reason: str, value: object = None) -> None:
        self.field = field
        self.group = f"{field}: {vendor.name} {reason}"  # without the value
        got = "" if value is None else f" (got {_got(field, value)})"
        super().__init__(f"{self.group}{got}")


def _got(field: str, value: object) -> str:
    # Free text is never quoted: reasons reach the logs.
    if field in ("notes", "title") and isinstance(value, str):
        return f"{len(value)} characters of text"
    return shown(value)


def _id(name: str, *, required: bool = False) -> FieldRule:
    return FieldRule(name, "id", required)


def _minutes(*, required: bool) -> FieldRule:
    return FieldRule("appointment_duration_minutes", "minutes", required)


def _notes(*, required: bool = False, max_length: int | None = None) -> FieldRule:
    return FieldRule("notes", "text", required, min_length=int(required), max_length=max_length)


def _title(*, required: bool) -> FieldRule:
    return FieldRule("title", "text", required, min_length=int(required), max_length=TITLE_LIMIT)


# Yardi's and Yardi REST's create take the same fields.
_YARDI_CREATE = Operation(
    (
        _id("unit_id", required=True),
        _id("employee_id", required=True),
        _notes(max_length=YARDI_NOTES_LIMIT),
    )
)

VENDORS: dict[str, Vendor] = {
    vendor.code: vendor
    for vendor in (
        Vendor(
            "RESMAN",
            "ResMan",
            "resman",
            TimeRule.UTC,
            create=Operation((_id("lead_source_id", required=True), _id("unit_id"), _notes())),
            update=Operation((_id("unit_id"), _notes())),
            readable_at_once=True,
        ),
        Vendor(
            "ENTRATA",
            "Entrata",
            "entrata",
            TimeRule.MOUNTAIN,
            create=Operation(
                (
                    _minutes(required=True),
                    FieldRule("appointment_type", "choice", required=True),
                    _notes(required=True),
                    _id("unit_id"),
                    # No limit on Entrata's page; the generic page caps title at 50.
                    _title(required=False),
                )
            ),
            update=Operation(
                (
                    _notes(required=True),
                    _id("unit_id"),
                    _minutes(required=False),
                    FieldRule("appointment_type", "choice"),
                    _title(required=False),
                )
            ),
            readable_at_once=False,
            default_zone="America/Denver",
        ),
        Vendor(
            "RENTMANAGER",
            "Rent Manager",
            "rentmanager",
            TimeRule.PROPERTY_ZONE,
            create=Operation(
                (_minutes(required=True), _title(required=True), _id("employee_id"), _notes())
            ),
            # The lead update page was cut short past date and time; the applicant update
            # requires duration and title and takes notes: taken as the likely lead update.
            update=Operation((_minutes(required=True), _title(required=True), _notes())),
            readable_at_once=True,
            default_zone="America/New_York",
        ),
        Vendor(
            "REALPAGE_RPX",
            "RealPage RPX",
            "realpage_rpx",
            TimeRule.STATED_ZONE,
            create=Operation(
                (_id("employee_id", required=True), _minutes(required=True), _notes())
            ),
            update=Operation((_minutes(required=True), _notes())),
            readable_at_once=True,
        ),
        Vendor(
            "YARDI",
            "Yardi",
            "yardi",
            TimeRule.PROPERTY_ZONE,
            # Required flags from the applicant variant (the lead page's were not readable).
            create=_YARDI_CREATE,
            update=None,
            readable_at_once=True,
        ),
        Vendor(
            "YARDI_REST",
            "Yardi REST",
            "yardi_rest",
            TimeRule.PROPERTY_ZONE,
            create=_YARDI_CREATE,
            # An update page is listed but its fields were not readable.
            update=None,
            readable_at_once=False,
        ),
        Vendor(
            "APPFOLIO",
            "AppFolio",
            "appfolio",
            TimeRule.UTC,
            create=Operation(
                (
                    _id("unit_id", required=True),
                    _minutes(required=True),
                    _id("employee_id"),
                    _notes(),
                )
            ),
            update=Operation((_minutes(required=False), _id("employee_id"), _notes())),
            readable_at_once=True,
        ),
        Vendor(
            "MRI",
            "MRI",
            "mri",
            TimeRule.UNDOCUMENTED,
            create=Operation((_id("employee_id"), _notes())),
            update=Operation((_id("employee_id"), _notes())),
            readable_at_once=True,
        ),
    )
}


def vendor_named(code: str | None) -> Vendor | None:
    """The vendor of an integration's `vendor` string (any case), or None if not one here."""
    if code is None:
        return None
    return VENDORS.get(code.strip().upper())


def vendor_fields(
    vendor: Vendor,
    operation: OperationName,
    values: Mapping[str, object],
    defaults: AppointmentDefaults,
) -> dict[str, str | int]:
    """The body fields `vendor` takes for `operation`, from the row's `values` (API field ->
    value, blanks meaning absent) or `defaults`; fields the vendor does not take are left out.

    Raises VendorFieldError naming the field and the vendor: a required field missing, a
    value past a limit, or an update the vendor does not have."""
    rules = vendor.operation(operation)
    if rules is None:
        raise VendorFieldError(
            "event_id",
            vendor,
            "has no documented lead appointment update in Propexo, so tours cannot be moved",
        )
    fields: dict[str, str | int] = {}
    for rule in rules.fields:
        value = values.get(rule.name)
        if _blank(value):
            value = defaults.value(rule.name)
        if _blank(value):
            if rule.required:
                also = " (also on a move)" if operation == "update" else ""
                raise VendorFieldError(
                    rule.name, vendor, f"requires it{also}; the row has no value", value
                )
            continue
        fields[rule.name] = _checked(rule, vendor, value)
    return fields


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _checked(rule: FieldRule, vendor: Vendor, value: object) -> str | int:
    if rule.kind == "minutes":
        return _minutes_value(rule, vendor, value)
    if rule.kind == "choice":
        text = value.strip().upper() if isinstance(value, str) else None
        if text not in APPOINTMENT_TYPES:
            raise VendorFieldError(
                rule.name, vendor, f"takes one of {', '.join(APPOINTMENT_TYPES)}", value
            )
        return text
    if isinstance(value, int) and not isinstance(value, bool) and rule.kind == "id":
        value = str(value)
    if not isinstance(value, str):
        raise VendorFieldError(rule.name, vendor, "takes text only", value)
    text = value.strip() if rule.kind == "id" else value
    if len(text.strip()) < rule.min_length:
        raise VendorFieldError(
            rule.name, vendor, f"requires at least {rule.min_length} character", value
        )
    if rule.max_length is not None and utf16_length(text) > rule.max_length:
        raise VendorFieldError(
            rule.name, vendor, f"takes at most {rule.max_length} characters", value
        )
    if rule.kind == "text" and any(
        unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text
    ):
        raise VendorFieldError(rule.name, vendor, "takes no control characters", value)
    return text


def utf16_length(text: str) -> int:
    """The length Propexo's limits count (its Zod schemas run in JavaScript, whose string
    length is in UTF-16 code units): a character outside the Basic Multilingual Plane, such
    as an emoji, counts 2."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _minutes_value(rule: FieldRule, vendor: Vendor, value: object) -> int:
    minutes: int | None = None
    if isinstance(value, bool):
        minutes = None
    elif isinstance(value, int):
        minutes = value
    elif isinstance(value, float) and value.is_integer():
        minutes = int(value)
    elif isinstance(value, JsonNumber) and value.is_finite:
        # A decimal as written (`30.0` from a FLOAT or NUMBER(p,s) column): whole or refused.
        number = value.value
        if 0 < number <= MAX_DURATION_MINUTES and number == number.to_integral_value():
            minutes = int(number)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        minutes = int(value.strip())
    if minutes is None or not 0 < minutes <= MAX_DURATION_MINUTES:
        raise VendorFieldError(
            rule.name,
            vendor,
            f"takes a whole number of minutes greater than 0 (at most {MAX_DURATION_MINUTES})",
            value,
        )
    return minutes


@dataclass(frozen=True)
class TimeReading:
    """The IANA zone whose wall clock a vendor reads for one row, and the rule that chose it
    (shown in outcome lines), e.g. `America/Denver (Entrata)`."""

    zone: str
    rule: str


_UTC_READING = TimeReading("UTC", "UTC")


@functools.cache
def _mountain(name: str) -> TimeReading:
    return TimeReading("America/Denver", f"America/Denver ({name})")


def time_reading(
    vendor: Vendor,
    *,
    property_id: str | None = None,
    settings: tuple[ZoneSetting, ...] = (),
    stated_zone: str | None = None,
) -> TimeReading:
    """How `vendor` reads a row's date and time.

    `settings` are the integration's rows of GET /v1/timezones/ (read by the caller, only
    for PROPERTY_ZONE vendors); `stated_zone` is an IANA zone the row or the config states
    for the property (validated by the caller; only RealPage RPX needs one). Raises
    VendorFieldError when the vendor's reading cannot be known: never a guessed time."""
    rule = vendor.time_rule
    if rule is TimeRule.UTC:
        return _UTC_READING
    if rule is TimeRule.MOUNTAIN:
        return _mountain(vendor.name)
    if rule is TimeRule.STATED_ZONE:
        if stated_zone is None:
            raise VendorFieldError(
                "property_timezone",
                vendor,
                "reads the time as the property's wall clock, and no API tells the property's "
                "zone; state it in a property_timezone column or in the property_timezones "
                "option, so the tour is not booked at a guessed time",
            )
        return TimeReading(stated_zone, f"{stated_zone} (stated for the property)")
    if rule is TimeRule.PROPERTY_ZONE:
        return _property_zone(vendor, property_id, settings)
    raise VendorFieldError(
        "appointment_time",
        vendor,
        "reads appointment dates and times by a rule Propexo has not documented, so no tour is "
        "sent at a guessed time",
    )


def _property_zone(
    vendor: Vendor, property_id: str | None, settings: tuple[ZoneSetting, ...]
) -> TimeReading:
    own = [s for s in settings if property_id is not None and s.property_id == property_id]
    wide = [s for s in settings if s.property_id is None]
    if property_id is None:
        _no_other_zone(vendor, settings, wide)
    for rows, whose in ((own, f"property {property_id}"), (wide, "integration-wide row")):
        if not rows:
            continue
        if len({(s.offset, s.observes_dst) for s in rows}) > 1:
            raise VendorFieldError(
                "property_id",
                vendor,
                f"reads times in the property's zone, and GET /v1/timezones/ has conflicting "
                f"rows ({whose})",
                property_id,
            )
        try:
            zone = zone_for_setting(rows[0])
        except InvalidTimeValue as exc:
            raise VendorFieldError(
                "property_id",
                vendor,
                f"reads times in the property's zone, and its GET /v1/timezones/ row ({whose}) "
                f"has no known rule ({exc})",
                property_id,
            ) from None
        dst = "DST" if rows[0].observes_dst else "no DST"
        why = "" if rows is own else f"; {_no_own_row(property_id)}"
        return TimeReading(
            zone, f"{zone} ({whose} in GET /v1/timezones/: {rows[0].offset}, {dst}{why})"
        )
    if vendor.default_zone is not None:
        why = (
            "the row names no property and GET /v1/timezones/ has no integration-wide row"
            if property_id is None
            else f"GET /v1/timezones/ has no row for property {property_id} and no "
            "integration-wide row"
        )
        return TimeReading(
            vendor.default_zone, f"{vendor.default_zone} ({vendor.name}'s default: {why})"
        )
    raise VendorFieldError(
        "property_id",
        vendor,
        "reads times in the property's zone, and GET /v1/timezones/ has neither an "
        f"integration-wide row nor a row for {shown(property_id)}",
    )


def _no_own_row(property_id: str | None) -> str:
    """Why the integration-wide row was taken, for the rule an outcome shows."""
    if property_id is None:
        return "the row names no property"
    return f"property {property_id} has no row of its own"


def _no_other_zone(
    vendor: Vendor, settings: tuple[ZoneSetting, ...], wide: list[ZoneSetting]
) -> None:
    """Refuse a row that names no property when some property's own row gives another zone
    than the one the row would get (the integration-wide row's, else the vendor's default):
    it could be that property's tour, booked hours off."""
    if wide:
        fallback = {(s.offset, s.observes_dst) for s in wide}
        differs = [s for s in settings if (s.offset, s.observes_dst) not in fallback]
    else:
        differs = [s for s in settings if _zone_or_none(s) != vendor.default_zone]
    others = sorted(
        {
            f"{s.property_id}: {s.offset}, {'DST' if s.observes_dst else 'no DST'}"
            for s in differs
            if s.property_id is not None
        }
    )
    if others:
        more = f"; {len(others) - 3} more" if len(others) > 3 else ""
        raise VendorFieldError(
            "property_id",
            vendor,
            "reads times in the property's zone, and the row names no property while some of "
            "this integration's properties have another zone in GET /v1/timezones/ "
            f"({'; '.join(others[:3])}{more}); give the row's property_id",
        )


def _zone_or_none(setting: ZoneSetting) -> str | None:
    try:
        return zone_for_setting(setting)
    except InvalidTimeValue:
        return None


def refusal(vendor: Vendor, *, moves: bool) -> str | None:
    """Why an integration of `vendor` cannot be the configured one, or None: a time rule
    Propexo does not document, or (when streams may `moves` tours) no documented update."""
    if vendor.time_rule is TimeRule.UNDOCUMENTED:
        return (
            f"Propexo does not document how {vendor.name} reads appointment dates and times, "
            f"so this destination does not book {vendor.name} tours: it would have to guess "
            "the time."
        )
    if moves and vendor.update is None:
        return (
            f"{vendor.name} has no documented lead appointment update in Propexo, so streams "
            "in Update mode or Append + Deduped on lead_id (one upcoming tour per lead) cannot "
            "move its tours; use Append, or Append + Deduped on lead + date + time."
        )
    return None


def vendor_terms(vendor: Vendor) -> str:
    """What a user should know about booking with `vendor`: its time rule and, from
    `mode_caveats`, what it cannot do that a stream's mode may ask."""
    terms = f"times are sent as {vendor.time_rule.value}"
    if vendor.time_rule is TimeRule.PROPERTY_ZONE and vendor.default_zone is not None:
        terms += f" (else the integration-wide row, else {vendor.default_zone})"
    elif vendor.time_rule is TimeRule.PROPERTY_ZONE:
        terms += " (else the integration-wide row; a property with neither is refused)"
    elif vendor.time_rule is TimeRule.STATED_ZONE:
        terms += (
            " (a property_timezone column, else the property_timezones option; a row whose "
            "property has neither is refused, never booked at a guessed time)"
        )
    return "; ".join((terms, *mode_caveats(vendor)))


def mode_caveats(vendor: Vendor) -> tuple[str, ...]:
    """What `vendor` cannot do that a stream's mode may ask, each a sentence naming it (for
    `check`, which sees no catalog, and the start of a write): no documented update (a
    moving stream stops the sync before any row is sent), and a new appointment that shows
    only after Propexo's next data sync. Empty for a vendor with neither."""
    caveats = []
    if vendor.update is None:
        caveats.append(
            f"{vendor.name} has no documented lead appointment update in Propexo: a sync "
            "with a stream in Update mode or Append + Deduped on lead_id (one upcoming tour "
            "per lead) stops before sending any row; use Append, or Append + Deduped on "
            "lead + date + time"
        )
    if not vendor.readable_at_once:
        caveats.append(
            f"{vendor.name} shows a new appointment only after Propexo's next data sync "
            "(about every 12 hours): a create without a clear answer ends 'outcome unknown' "
            "and is never re-sent blindly; a row re-sent by Airbyte's retry or a later sync "
            "is matched against the creates Propexo's write logs show done in the last day, "
            "except a create still pending when the earlier sync stopped, which may be "
            "booked again"
        )
        if vendor.update is not None:
            caveats.append(
                "a one-upcoming-tour row cannot move a tour booked since Propexo's last data "
                "sync, by this sync or an earlier one ('earlier write of the lead not "
                "confirmed'): its appointment id is not known yet; a sync after Propexo's "
                "data sync moves it"
            )
    return tuple(caveats)


def zone_terms(vendor: Vendor, settings: tuple[ZoneSetting, ...]) -> str:
    """What an integration's GET /v1/timezones/ rows mean for a PROPERTY_ZONE `vendor` (for
    `check`): its integration-wide zone and how many properties have their own. Raises
    VendorFieldError when no row of the vendor can be booked at a known time."""
    wide = [s for s in settings if s.property_id is None]
    properties = len({s.property_id for s in settings if s.property_id is not None})
    counted = f"{properties} property row{'' if properties == 1 else 's'}"
    if wide:
        try:
            reading = _property_zone(vendor, None, tuple(wide))
        except VendorFieldError:
            if not properties:
                raise
            # Properties with their own row can still be booked; the others are refused.
            if len({(s.offset, s.observes_dst) for s in wide}) > 1:
                why = "conflicts with another integration-wide row"
            else:
                try:
                    zone_for_setting(wide[0])
                    why = "cannot be used"
                except InvalidTimeValue as exc:
                    why = f"has no known rule ({exc})"
            return (
                f"GET /v1/timezones/: the integration-wide row {why}, so a property without "
                f"its own row is refused; {counted}"
            )
        zone, dst = reading.zone, "DST" if wide[0].observes_dst else "no DST"
        return f"GET /v1/timezones/: integration-wide {zone} ({wide[0].offset}, {dst}), {counted}"
    if vendor.default_zone is not None:
        fallback = f"gets {vendor.default_zone}"
    elif properties:
        fallback = "is refused"
    else:
        raise VendorFieldError(
            "property_id",
            vendor,
            "reads times in the property's zone, and GET /v1/timezones/ has no zone row for "
            "this integration or any of its properties, so no tour can be sent at a known time; "
            "set the time zone in the PMS",
        )
    return (
        "GET /v1/timezones/: no integration-wide row, so a property without its own row "
        f"{fallback}; {counted}"
    )
