"""Record -> `AppointmentRequest` (a create) or `MoveRequest` (a move by event id), or a
`Rejection` naming the field and the value (pure)."""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from destination_propexo.records.timezones import (
    InvalidTimeValue,
    UtcSlot,
    appointment_slot,
    validate_zone,
)
from destination_propexo.records.values import JsonNumber, shown

ID_FIELDS = ("integration_id", "lead_id", "lead_source_id", "unit_id")
TIME_FIELDS = ("appointment_date", "appointment_time", "appointment_datetime")
# The IANA zone of the row's local times; never sent, it overrides `source_timezone`.
ZONE_FIELD = "appointment_timezone"
# What a create reads, and what a move by event id (an `update` stream) reads.
CREATE_FIELDS = (*ID_FIELDS, *TIME_FIELDS, ZONE_FIELD, "notes")
MOVE_FIELDS = (
    "event_id",
    "integration_id",
    "lead_id",
    "unit_id",
    *TIME_FIELDS,
    ZONE_FIELD,
    "notes",
)
API_FIELDS = (*CREATE_FIELDS, "event_id")
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


@dataclass(frozen=True)
class Rejection:
    """Why a record cannot be sent; `reason` names the field and the bad value.

    `lead_id` is the row's lead id when it has a valid one, so an operator can find the
    tour that failed."""

    reason: str
    lead_id: str | None = None


@dataclass(frozen=True)
class AppointmentRequest:
    """One create-appointment call, with date and time already in UTC."""

    integration_id: str
    lead_id: str
    lead_source_id: str
    appointment_date: str
    appointment_time: str
    unit_id: str | None = None
    notes: str | None = None
    time_notes: tuple[str, ...] = ()

    @property
    def slot_key(self) -> tuple[str, str, str, str]:
        """What makes two appointments the same booking: integration, lead, UTC date and time."""
        return (self.integration_id, self.lead_id, self.appointment_date, self.appointment_time)

    def body(self) -> dict[str, str]:
        """The JSON body Propexo expects (unknown keys are refused by the API, so none)."""
        # The API's own example sends appointment_date as the full UTC instant
        # ("2024-07-20T14:00:00Z") next to appointment_time; the reference says a plain
        # date is the date part. The full instant is right under either reading.
        body = {
            "integration_id": self.integration_id,
            "lead_id": self.lead_id,
            "lead_source_id": self.lead_source_id,
            "appointment_date": f"{self.appointment_date}T{self.appointment_time}Z",
            "appointment_time": self.appointment_time,
        }
        if self.unit_id is not None:
            body["unit_id"] = self.unit_id
        if self.notes is not None:
            body["notes"] = self.notes
        return body


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

    @property
    def moved_to(self) -> str:
        return f"{self.appointment_date}T{self.appointment_time}Z"

    def body(self) -> dict[str, str]:
        """The PUT body: date and time, and unit and notes only when the row has them."""
        body = {"appointment_date": self.moved_to, "appointment_time": self.appointment_time}
        if self.unit_id is not None:
            body["unit_id"] = self.unit_id
        if self.notes is not None:
            body["notes"] = self.notes
        return body


class _Invalid(Exception):
    def __init__(self, field: str, value: object, reason: str, *, quote: bool = True) -> None:
        # Free-text notes are never quoted: reasons reach the logs.
        got = shown(value) if quote else f"{len(str(value))} characters of text"
        super().__init__(f"{field}: {reason} (got {got})")
        self.field = field


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


@dataclass(frozen=True)
class FieldMatcher:
    """Maps source column names to API fields: by name, and through user `field_mappings`,
    both compared as `normalise_column` reads them."""

    mappings: Mapping[str, str]
    _seen: dict[str, str | None] = dataclasses.field(
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
        found: dict[str, Any] = {}
        seen = self._seen
        for column, value in data.items():
            field = seen[column] if column in seen else self.field_of(column)
            if field is None:
                continue
            if field in found:
                other = next(c for c in data if c != column and self.field_of(c) == field)
                raise _Invalid(
                    field,
                    f"{other}, {column}",
                    f"two columns map to {field}; send only one (deselect the other in the "
                    "connection, or drop it from field_mappings)",
                )
            found[field] = value
        return found

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
    error: _Invalid | InvalidTimeValue,
    data: Mapping[str, Any],
    matcher: FieldMatcher,
    changes: Sequence[SourceChange],
    values: Mapping[str, Any] | None,
    lead_id: str | None,
) -> Rejection:
    """The reason, with the row's unmatched columns when the field has no column, and what
    the source said it did to the fields the connector reads. `values` is the row's fields
    (None when two columns clash), `lead_id` the lead id if it was read before the error."""
    parts = [str(error)]
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
    return Rejection("; ".join(parts), lead_id=lead_id)


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
) -> AppointmentRequest | Rejection:
    """Turn one record's data into the request to send, or say why it cannot be sent.

    `zone` (an IANA name) applies to local times unless the row's appointment_timezone names
    another; `changes` (the record's `meta.changes`) are named in the reason or the notes."""
    values: dict[str, Any] | None = None
    lead_id: str | None = None
    try:
        values = matcher.match(data)
        integration_id = _integration_id(values, default_integration_id)
        lead_id = _id_value("lead_id", values.get("lead_id"), required=True)
        lead_source_id = _id_value("lead_source_id", values.get("lead_source_id"), required=True)
        unit_id = _id_value("unit_id", values.get("unit_id"), required=False)
        notes = _notes_value(values.get("notes"))
        slot = _slot(values, zone)
    except (_Invalid, InvalidTimeValue) as exc:
        return _rejection(exc, data, matcher, changes, values, lead_id)
    # required=True never returns None
    assert lead_id is not None
    assert lead_source_id is not None
    return AppointmentRequest(
        integration_id=integration_id,
        lead_id=lead_id,
        lead_source_id=lead_source_id,
        appointment_date=slot.date,
        appointment_time=slot.time,
        unit_id=unit_id,
        notes=notes,
        time_notes=slot.notes + _change_notes(changes, matcher) if changes else slot.notes,
    )


def map_move(
    data: Mapping[str, Any],
    *,
    default_integration_id: str,
    zone: str,
    matcher: FieldMatcher,
    changes: Sequence[SourceChange] = (),
) -> MoveRequest | Rejection:
    """A record of an `update` stream -> the move of appointment `event_id`, or why not
    (`zone` and `changes` as for `map_record`)."""
    values: dict[str, Any] | None = None
    lead_id: str | None = None
    try:
        values = matcher.match(data)
        event_id = _id_value("event_id", values.get("event_id"), required=True)
        integration_id = _integration_id(values, default_integration_id)
        lead_id = _id_value("lead_id", values.get("lead_id"), required=False)
        unit_id = _id_value("unit_id", values.get("unit_id"), required=False)
        notes = _notes_value(values.get("notes"))
        slot = _slot(values, zone)
    except (_Invalid, InvalidTimeValue) as exc:
        return _rejection(exc, data, matcher, changes, values, lead_id)
    return MoveRequest(
        event_id=event_id,
        integration_id=integration_id,
        lead_id=lead_id,
        appointment_date=slot.date,
        appointment_time=slot.time,
        unit_id=unit_id,
        notes=notes,
        time_notes=slot.notes + _change_notes(changes, matcher) if changes else slot.notes,
    )


def _integration_id(values: Mapping[str, Any], default: str) -> str:
    return _id_value("integration_id", values.get("integration_id"), required=False) or default


def _slot(values: Mapping[str, Any], zone: str) -> UtcSlot:
    row_zone = values.get(ZONE_FIELD)
    if row_zone is not None and not (isinstance(row_zone, str) and not row_zone.strip()):
        if not isinstance(row_zone, str):
            raise _Invalid(ZONE_FIELD, row_zone, f"must be a string, not {_type(row_zone)}")
        zone = _row_zone(row_zone)
    return appointment_slot(
        date=values.get("appointment_date"),
        time=values.get("appointment_time"),
        datetime=values.get("appointment_datetime"),
        zone=zone,
    )


@functools.lru_cache(maxsize=1024)
def _row_zone(name: str) -> str:
    # A row's zone is refused as source_timezone is; rows repeat a few names, so cached.
    return validate_zone(name, field=ZONE_FIELD)
