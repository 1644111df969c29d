"""Record -> `AppointmentRequest` (a create) or `MoveRequest` (a move by event id), or a
`Rejection` naming the field and the value (pure).

A request is made for its integration's vendor (asked through `Integrations`): the body holds
only the fields that vendor takes, checked against its limits (`vendors.vendor_fields`), and
the date and time as that vendor reads them (`vendors.time_reading`, `timezones.wall_clock`).
The request keeps the tour's UTC date and time too, for everything that compares bookings."""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from destination_propexo.records.timezones import (
    InvalidTimeValue,
    UtcSlot,
    WallClock,
    ZoneSetting,
    remembered_slot,
    validate_zone,
    wall_clock,
)
from destination_propexo.records.values import JsonNumber, shown
from destination_propexo.records.vendors import (
    VENDORS,
    AppointmentDefaults,
    OperationName,
    TimeRule,
    UnusableIntegration,
    Vendor,
    VendorFieldError,
    time_reading,
    vendor_fields,
)

ID_FIELDS = ("integration_id", "lead_id", "lead_source_id", "unit_id")
TIME_FIELDS = ("appointment_date", "appointment_time", "appointment_datetime")
# The IANA zone of the row's local times; never sent, it overrides `source_timezone`.
ZONE_FIELD = "appointment_timezone"
# Fields some vendors take (records/vendors.py), and where the property's zone comes from.
DETAIL_FIELDS = (
    "employee_id",
    "title",
    "appointment_duration_minutes",
    "appointment_type",
    "property_id",
    "property_timezone",
)
# What a create reads, and what a move by event id (an `update` stream) reads.
CREATE_FIELDS = (*ID_FIELDS, *TIME_FIELDS, ZONE_FIELD, "notes", *DETAIL_FIELDS)
MOVE_FIELDS = (
    "event_id",
    "integration_id",
    "lead_id",
    "unit_id",
    *TIME_FIELDS,
    ZONE_FIELD,
    "notes",
    *DETAIL_FIELDS,
)
API_FIELDS = (*CREATE_FIELDS, "event_id")
NO_DEFAULTS = AppointmentDefaults()
Body = dict[str, str | int]
BodyFields = tuple[tuple[str, str | int], ...]
# Unmatched columns a missing-field reason lists at most.
SHOWN_COLUMNS = 8
MAX_ID_LENGTH = 255
MAX_NOTES_LENGTH = 4000
# Tab, newline and carriage return are ordinary in notes; other C0/C1 controls and lone
# surrogates are not text a leasing office can read, so such values are rejected.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class SourceChange:
    """One entry of a record's `meta.changes` (Airbyte's AirbyteRecordMessageMeta): the
    source changed `field` (a column name) by `change` (NULLED, TRUNCATED) for `reason`
    (e.g. SOURCE_FIELD_SIZE_LIMITATION)."""

    field: str
    change: str
    reason: str

    def said(self) -> str:
        return f"the source {self.change} {self.field!r} ({self.reason})"


class Rejection(msgspec.Struct):  # a Struct: made for every rejected row (see RecordKeys)
    """Why a record cannot be sent; `reason` names the field and the bad value.

    `lead_id` is the row's lead id when it has a valid one, so an operator can find the
    tour that failed."""

    reason: str
    lead_id: str | None = None
    group: str | None = None  # the reason without the values it quotes (`Rejected.group`)


class Integrations(Protocol):
    """What mapping needs to know of the integrations rows name (Propexo reads behind it,
    once per integration per sync: `sync/integrations.py`)."""

    def vendor(self, integration_id: str) -> Vendor:
        """The integration's vendor; raises UnusableIntegration with the reason."""
        ...

    def zone_settings(self, integration_id: str) -> tuple[ZoneSetting, ...]:
        """The integration's rows of GET /v1/timezones/."""
        ...

    def stated_zone(self, property_id: str | None) -> str | None:
        """The zone the config states for a property (`property_timezones`), or None."""
        ...


@dataclass(frozen=True)
class OneVendor:
    """Every integration is of one vendor, without zone rows or stated zones."""

    of: Vendor

    def vendor(self, integration_id: str) -> Vendor:
        return self.of

    def zone_settings(self, integration_id: str) -> tuple[ZoneSetting, ...]:
        return ()

    def stated_zone(self, property_id: str | None) -> str | None:
        return None


RESMAN_ONLY = OneVendor(VENDORS["RESMAN"])


@dataclass(frozen=True)
class SentAs:
    """How a request's time leaves: the vendor, the wall clock sent and the rule that chose it
    (outcome lines show it)."""

    vendor: str
    date: str
    time: str
    rule: str


@dataclass(frozen=True)
class AppointmentRequest:
    """One create-appointment call: the tour's UTC date and time (what makes two bookings the
    same), and the body its vendor gets (`body_fields`, the wall clock `sent`).

    `move_fields` is the body of the vendor's update for the same row, when the row may
    become a move (one-upcoming-tour streams)."""

    integration_id: str
    lead_id: str
    lead_source_id: str | None
    appointment_date: str
    appointment_time: str
    unit_id: str | None = None
    notes: str | None = None
    time_notes: tuple[str, ...] = ()
    vendor: Vendor = VENDORS["RESMAN"]
    body_fields: BodyFields = ()
    move_fields: BodyFields | None = None
    sent: WallClock | None = None
    time_rule: str = "UTC"

    @property
    def slot_key(self) -> tuple[str, str, str, str]:
        """What makes two appointments the same booking: integration, lead, UTC date and time."""
        return (self.integration_id, self.lead_id, self.appointment_date, self.appointment_time)

    @property
    def sent_as(self) -> SentAs:
        return _sent_as(
            self.vendor, self.sent, self.appointment_date, self.appointment_time, self.time_rule
        )

    def body(self) -> Body:
        """The JSON body the vendor's create takes (unknown keys are refused by the API, so
        only the vendor's fields)."""
        return {
            "integration_id": self.integration_id,
            "lead_id": self.lead_id,
            **_when(self.vendor, self.sent, self.appointment_date, self.appointment_time),
            **dict(self.body_fields),
        }


@dataclass(frozen=True)
class MoveRequest:
    """One reschedule (PUT) of an existing appointment to a UTC date and time.

    `event_id` is None only for an appointment booked earlier in this sync whose id is not
    confirmed; `moved_from` (UTC, `2041-07-21T15:15:00Z`) is None when only the id is known.
    `lead_id` lets an unclear answer be read back (Propexo reads appointments per lead)."""

    event_id: str | None
    integration_id: str
    lead_id: str | None
    appointment_date: str
    appointment_time: str
    unit_id: str | None = None
    notes: str | None = None
    moved_from: str | None = None
    time_notes: tuple[str, ...] = ()
    vendor: Vendor = VENDORS["RESMAN"]
    body_fields: BodyFields = ()
    sent: WallClock | None = None
    time_rule: str = "UTC"

    @property
    def moved_to(self) -> str:
        return f"{self.appointment_date}T{self.appointment_time}Z"

    @property
    def sent_as(self) -> SentAs:
        return _sent_as(
            self.vendor, self.sent, self.appointment_date, self.appointment_time, self.time_rule
        )

    def body(self) -> Body:
        """The PUT body: date and time, and the vendor's update fields the row has."""
        return {
            **_when(self.vendor, self.sent, self.appointment_date, self.appointment_time),
            **dict(self.body_fields),
        }


def _when(vendor: Vendor, sent: WallClock | None, date: str, time: str) -> dict[str, str]:
    if vendor.time_rule is TimeRule.UTC or sent is None:
        # The API's own example sends appointment_date as the full UTC instant
        # ("2024-07-20T14:00:00Z") next to appointment_time; the reference says a plain
        # date is the date part. The full instant is right under either reading.
        return {"appointment_date": f"{date}T{time}Z", "appointment_time": time}
    # A vendor reading a wall clock gets a plain date: a `Z` would claim a UTC it is not.
    return {"appointment_date": sent.date, "appointment_time": sent.time}


def _sent_as(vendor: Vendor, sent: WallClock | None, date: str, time: str, rule: str) -> SentAs:
    if sent is None:
        return SentAs(vendor.name, date, time, rule)
    return SentAs(vendor.name, sent.date, sent.time, rule)


class _Invalid(Exception):
    def __init__(self, field: str, value: object, reason: str, *, quote: bool = True) -> None:
        # Free-text notes are never quoted: reasons reach the logs.
        got = shown(value) if quote else f"{len(str(value))} characters of text"
        super().__init__(f"{field}: {reason} (got {got})")
        self.field = field
        self.group = f"{field}: {reason}"


# Characters a header can hold without anyone seeing them: byte order marks, zero-width
# spaces and joiners, soft hyphens, word joiners and other format characters (category Cf).
_SEPARATORS = re.compile(r"[\s_.\-\u2010-\u2015]+")


def normalise_column(name: str) -> str:
    """A column name as people read it: the key under which two names are the same column.

    Unicode compatibility form (NFKC, so a decomposed `Día` is the composed one and a
    no-break space a space), case folded, invisible format characters (a BOM, zero-width
    spaces) dropped, and the separators between words (white space, `_`, `.`, hyphens)
    ignored: `Lead ID`, `lead-id`, `LEAD_ID` and `\ufeffLead_Id` all give `leadid`."""
    text = unicodedata.normalize("NFKC", name)
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKC", text.casefold())
    return _SEPARATORS.sub("", text)


# Distinct column names a matcher remembers (a row's columns repeat from row to row).
_MATCH_CACHE = 4096
# Distinct column sets (in order) a matcher remembers: one per stream, more when a source
# leaves out null columns.
_LAYOUT_CACHE = 256


@dataclass(frozen=True)
class FieldMatcher:
    """Maps source column names to API fields: by name, and through user `field_mappings`,
    both compared as `normalise_column` reads them."""

    mappings: Mapping[str, str]
    _seen: dict[str, str | None] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )
    _layouts: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def build(cls, field_mappings: Mapping[str, str] | None = None) -> FieldMatcher:
        table = {normalise_column(name): name for name in API_FIELDS}
        for source, target in (field_mappings or {}).items():
            table[normalise_column(source)] = target
        return cls(table)

    def field_of(self, column: str) -> str | None:
        """The API field a column holds, or None."""
        try:
            return self._seen[column]
        except KeyError:
            field = self.mappings.get(normalise_column(column))
            if len(self._seen) < _MATCH_CACHE:
                self._seen[column] = field
            return field

    def match(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """API field -> the value of the row's column that holds it; two columns for one
        field is an error naming both."""
        # Rows of a stream repeat one set of columns in one order: its matches are worked
        # out once, then each row costs one look-up per field.
        columns = tuple(data)
        layout = self._layouts.get(columns)
        if layout is None:
            layout = self._layout(columns)
            if len(self._layouts) < _LAYOUT_CACHE:
                self._layouts[columns] = layout
        return {field: data[column] for column, field in layout}

    def _layout(self, columns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        """(column, API field) for each of `columns` that names a field; _Invalid if two do."""
        found: dict[str, str] = {}
        for column in columns:
            field = self.field_of(column)
            if field is None:
                continue
            if field in found:
                raise _Invalid(
                    field,
                    f"{found[field]}, {column}",
                    f"two columns map to {field}; send only one (deselect the other in the "
                    "connection, or drop it from field_mappings)",
                )
            found[field] = column
        return tuple((column, field) for field, column in found.items())

    def clashes(self, columns: Iterable[str]) -> dict[str, list[str]]:
        """API field -> the columns whose names read the same and name it (`Lead ID` and
        `LEAD_ID`), for each field two or more such names share. (A mapped column beside
        one named like its field is told apart, and refused per row by `match`.)"""
        by_name: dict[str, list[str]] = {}
        for column in columns:
            if self.field_of(column) is not None:
                by_name.setdefault(normalise_column(column), []).append(column)
        return {self.mappings[name]: group for name, group in by_name.items() if len(group) > 1}

    def unmatched(self, data: Mapping[str, Any]) -> list[str]:
        """The row's columns that name no field."""
        return [column for column in data if self.field_of(column) is None]


def _id_value(field: str, value: object, *, required: bool) -> str | None:
    # The common case first: a non-empty string id, checked in two C calls.
    # str.isprintable is False for exactly the characters of categories C* and Z* (controls,
    # format characters such as a zero-width space or a BOM, surrogates, unassigned,
    # separators) but the space: none belongs in a Propexo id, and most cannot be seen in
    # a report.
    if (
        type(value) is str
        and (text := value.strip())
        and len(text) <= MAX_ID_LENGTH
        and text.isprintable()
        and " " not in text
    ):
        return text
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _Invalid(field, value, "is required and must not be empty")
        return None
    if isinstance(value, JsonNumber):
        if not value.is_finite:
            raise _Invalid(field, value, f"is {value.text}, not an id")
        if value.text.lstrip("-").isdigit():  # an integer too long to read as one
            raise _Invalid(field, value, f"is longer than {MAX_ID_LENGTH} characters")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(field, value, f"must be a string or a whole number, not {_type(value)}")
    # str() of an int past 4300 digits raises; anything this long is no id anyway.
    if isinstance(value, int) and abs(value) >= 10**MAX_ID_LENGTH:
        raise _Invalid(field, value, f"is longer than {MAX_ID_LENGTH} characters")
    text = str(value).strip()
    if len(text) > MAX_ID_LENGTH:
        raise _Invalid(field, value, f"is longer than {MAX_ID_LENGTH} characters")
    if not text.isprintable() or " " in text:
        raise _Invalid(field, value, "contains white space or control characters")
    return text


def _notes_value(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise _Invalid("notes", value, f"must be a string, not {_type(value)}")
    if len(value) > MAX_NOTES_LENGTH:
        raise _Invalid("notes", value, f"is longer than {MAX_NOTES_LENGTH} characters", quote=False)
    if _UNPRINTABLE.search(value):
        raise _Invalid("notes", value, "contains control characters", quote=False)
    return value


def _type(value: object) -> str:
    if isinstance(value, JsonNumber):
        return "a decimal number" if value.is_finite else value.text
    return {dict: "an object", list: "a list", float: "a decimal number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _lead_id_of(data: Mapping[str, Any], matcher: FieldMatcher) -> str | None:
    """The row's lead id for the record of a rejection, when one can be read at all."""
    for column, value in data.items():
        if matcher.field_of(column) == "lead_id":
            try:
                return _id_value("lead_id", value, required=False)
            except _Invalid:
                return None
    return None


def _rejection(
    error: _Invalid | InvalidTimeValue | VendorFieldError | UnusableIntegration,
    data: Mapping[str, Any],
    matcher: FieldMatcher,
    changes: Sequence[SourceChange],
    values: Mapping[str, Any] | None,
    lead_id: str | None,
) -> Rejection:
    """The reason, with the row's unmatched columns when the field has no column, and what
    the source said it did to the fields the connector reads. `values` is the row's fields
    (None when two columns clash), `lead_id` the lead id if it was read before the error."""
    reason = str(error)
    group: str | None = getattr(error, "group", None)
    if (values is None or error.field in values) and not changes:
        # The common case (a value that is there but wrong) in one step.
        if lead_id is None and (values is None or error.field != "lead_id"):
            lead_id = _lead_id_of(data, matcher)
        return Rejection(reason, lead_id, group)
    parts = [reason]
    if values is not None and error.field not in values:
        others = matcher.unmatched(data)
        if others:
            listed = ", ".join(repr(column) for column in others[:SHOWN_COLUMNS])
            more = f" and {len(others) - SHOWN_COLUMNS} more" if len(others) > SHOWN_COLUMNS else ""
            parts.append(
                f"no column names {error.field}; the row's columns that name no field: "
                f"{listed}{more}"
            )
    if changes:
        parts += [change.said() for change in changes if matcher.field_of(change.field)]
    if lead_id is None and (values is None or error.field != "lead_id"):
        lead_id = _lead_id_of(data, matcher)
    return Rejection("; ".join(parts), lead_id, group)


def _change_notes(changes: Sequence[SourceChange], matcher: FieldMatcher) -> tuple[str, ...]:
    """A note for each change the source made to a field the connector reads."""
    notes = []
    for change in changes:
        field = matcher.field_of(change.field)
        if field is not None:
            notes.append(f"{field}: {change.said()}")
    return tuple(notes)


def map_record(
    data: Mapping[str, Any],
    *,
    default_integration_id: str,
    zone: str,
    matcher: FieldMatcher,
    changes: Sequence[SourceChange] = (),
    integrations: Integrations = RESMAN_ONLY,
    defaults: AppointmentDefaults = NO_DEFAULTS,
    may_move: bool = False,
) -> AppointmentRequest | Rejection:
    """Turn one record's data into the create its integration's vendor takes, or say why it
    cannot be sent.

    `zone` (an IANA name) applies to local times unless the row's appointment_timezone names
    another; `changes` (the record's `meta.changes`) are named in the reason or the notes.
    `may_move` (one-upcoming-tour streams): the row must also make the vendor's update, as
    its turn may move the lead's tour instead."""
    values: dict[str, Any] | None = None
    lead_id: str | None = None
    try:
        values = matcher.match(data)
        integration_id = _integration_id(values, default_integration_id)
        lead_id = _id_value("lead_id", values.get("lead_id"), required=True)
        vendor = integrations.vendor(integration_id)
        # The time before the vendor's fields: it is what a row gets wrong most often.
        slot = _slot(values, zone)
        if isinstance(slot, InvalidTimeValue):
            return _rejection(slot, data, matcher, changes, values, lead_id)
        details = _details(values)
        body_fields = _body_fields(vendor, "create", details, defaults)
        move_fields = _body_fields(vendor, "update", details, defaults) if may_move else None
        sent, rule = _sent(vendor, slot, values, integrations, integration_id)
    except (_Invalid, InvalidTimeValue, VendorFieldError, UnusableIntegration) as exc:
        return _rejection(exc, data, matcher, changes, values, lead_id)
    # required=True never returns None
    assert lead_id is not None
    return AppointmentRequest(
        integration_id=integration_id,
        lead_id=lead_id,
        lead_source_id=_text_of(details.get("lead_source_id")),
        appointment_date=slot.date,
        appointment_time=slot.time,
        unit_id=_text_of(details.get("unit_id")),
        notes=_text_of(details.get("notes")),
        time_notes=sent.notes + _change_notes(changes, matcher) if changes else sent.notes,
        vendor=vendor,
        body_fields=body_fields,
        move_fields=move_fields,
        sent=sent,
        time_rule=rule,
    )


def map_move(
    data: Mapping[str, Any],
    *,
    default_integration_id: str,
    zone: str,
    matcher: FieldMatcher,
    changes: Sequence[SourceChange] = (),
    integrations: Integrations = RESMAN_ONLY,
    defaults: AppointmentDefaults = NO_DEFAULTS,
) -> MoveRequest | Rejection:
    """A record of an `update` stream -> the move of appointment `event_id` by its
    integration's vendor's update, or why not (the rest as for `map_record`)."""
    values: dict[str, Any] | None = None
    lead_id: str | None = None
    try:
        values = matcher.match(data)
        event_id = _id_value("event_id", values.get("event_id"), required=True)
        integration_id = _integration_id(values, default_integration_id)
        lead_id = _id_value("lead_id", values.get("lead_id"), required=False)
        vendor = integrations.vendor(integration_id)
        slot = _slot(values, zone)
        if isinstance(slot, InvalidTimeValue):
            return _rejection(slot, data, matcher, changes, values, lead_id)
        details = _details(values)
        body_fields = _body_fields(vendor, "update", details, defaults)
        sent, rule = _sent(vendor, slot, values, integrations, integration_id)
    except (_Invalid, InvalidTimeValue, VendorFieldError, UnusableIntegration) as exc:
        return _rejection(exc, data, matcher, changes, values, lead_id)
    return MoveRequest(
        event_id=event_id,
        integration_id=integration_id,
        lead_id=lead_id,
        appointment_date=slot.date,
        appointment_time=slot.time,
        unit_id=_text_of(details.get("unit_id")),
        notes=_text_of(details.get("notes")),
        time_notes=sent.notes + _change_notes(changes, matcher) if changes else sent.notes,
        vendor=vendor,
        body_fields=body_fields,
        sent=sent,
        time_rule=rule,
    )


def _details(values: Mapping[str, Any]) -> dict[str, object]:
    """The row's vendor fields (those it has), ids and notes checked as for any vendor; limits
    are the vendor's (`vendors.vendor_fields`)."""
    details: dict[str, object] = {}
    for name in _DETAIL_IDS:
        value = values.get(name)
        if value is not None:
            details[name] = _id_value(name, value, required=False)
    notes = values.get("notes")
    if notes is not None:
        details["notes"] = _notes_value(notes)
    for name in _DETAIL_VALUES:
        value = values.get(name)
        if value is not None:
            details[name] = value
    return details


_DETAIL_IDS = ("lead_source_id", "unit_id", "employee_id")
_DETAIL_VALUES = ("title", "appointment_duration_minutes", "appointment_type")


def _body_fields(
    vendor: Vendor,
    operation: OperationName,
    details: Mapping[str, object],
    defaults: AppointmentDefaults,
) -> BodyFields:
    return tuple(vendor_fields(vendor, operation, details, defaults).items())


def _sent(
    vendor: Vendor,
    slot: UtcSlot,
    values: Mapping[str, Any],
    integrations: Integrations,
    integration_id: str,
) -> tuple[WallClock, str]:
    """The wall clock the vendor reads for `slot`, and the rule that chose its zone."""
    property_id = _id_value("property_id", values.get("property_id"), required=False)
    stated = _stated_zone(values.get("property_timezone")) or integrations.stated_zone(property_id)
    settings = (
        integrations.zone_settings(integration_id)
        if vendor.time_rule is TimeRule.PROPERTY_ZONE
        else ()
    )
    reading = time_reading(vendor, property_id=property_id, settings=settings, stated_zone=stated)
    try:
        return wall_clock(slot, reading.zone), reading.rule
    except InvalidTimeValue as exc:
        raise VendorFieldError(exc.field, vendor, f"reads {reading.rule}: {exc.reason}") from None


def _stated_zone(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidTimeValue("property_timezone", value, "must be an IANA zone name")
    return _row_zone_named(value, "property_timezone")


def _text_of(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _integration_id(values: Mapping[str, Any], default: str) -> str:
    return _id_value("integration_id", values.get("integration_id"), required=False) or default


def _slot(values: Mapping[str, Any], zone: str) -> UtcSlot | InvalidTimeValue:
    row_zone = values.get(ZONE_FIELD)
    if row_zone is not None and not (isinstance(row_zone, str) and not row_zone.strip()):
        if not isinstance(row_zone, str):
            raise _Invalid(ZONE_FIELD, row_zone, f"must be a string, not {_type(row_zone)}")
        zone = _row_zone(row_zone)
    return remembered_slot(
        date=values.get("appointment_date"),
        time=values.get("appointment_time"),
        datetime=values.get("appointment_datetime"),
        zone=zone,
    )


def _row_zone(name: str) -> str:
    return _row_zone_named(name, ZONE_FIELD)


@functools.lru_cache(maxsize=1024)
def _row_zone_named(name: str, field: str) -> str:
    # A row's zone is refused as source_timezone is; rows repeat a few names, so cached.
    return validate_zone(name, field=field)
