"""Warehouse date/time values -> a UTC instant, and a UTC instant -> the wall clock a PMS reads
(pure). This module is the one home of time conversion.

Warehouses usually hold property-local wall-clock times; ResMan and AppFolio read
``appointment_date`` / ``appointment_time`` as UTC, the other PMSs as a wall clock in a zone
(`wall_clock`; which zone: `vendors.time_reading`, with `zone_for_setting` for the zone rows of
GET /v1/timezones/). This module parses those values strictly (it never guesses a
format), and converts wall-clock values to UTC in the property's IANA zone, DST included:

- a local time that does not exist (spring-forward gap) is rejected with the gap spelled out;
- a local time that happens twice (fall-back) resolves to the first occurrence, with a note;
- a value carrying its own offset (``Z``, ``+02:00``, `` UTC``) is converted by that offset,
  whatever the configured zone.

Accepted shapes (ASCII digits only, upper-case ``T`` and ``Z``):

- date: ``YYYY-MM-DD``; or a midnight timestamp such as ``2024-07-20T00:00:00Z`` (warehouses
  often emit DATE columns that way), whose date part is taken as the local date;
- time: ``HH:MM``, ``HH:MM:SS`` or ``HH:MM:SS.fraction`` (24-hour), optionally with an offset;
- datetime: ``YYYY-MM-DD`` + ``T`` or one space + a time as above, optionally with an offset.

Offsets: ``Z``, ``+HH:MM``, ``-HH:MM``, ``+HHMM`` or ``+HH`` (Postgres' ``-05``), in a
timestamp optionally after one space (Snowflake's ``2024-07-20 14:00:00.000 -0500``, SQL
Server's ``2024-07-20 14:00:00.0000000 -05:00``), or a trailing `` UTC`` (BigQuery's form).
Fractions of a second (up to 9 digits) are dropped (truncated toward zero). Which warehouse
type gives which shape: docs/timezones.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass

import pendulum

from destination_propexo.records.values import JsonNumber, shown

__all__ = [
    "DST_ZONES",
    "InvalidTimeValue",
    "UtcSlot",
    "WallClock",
    "ZoneSetting",
    "appointment_slot",
    "remembered_slot",
    "validate_zone",
    "wall_clock",
    "zone_for_setting",
]

MAX_VALUE_LENGTH = 64
# Real offsets lie within -12:00..+14:00; ISO 8601 tooling commonly allows up to 18 hours.
_MAX_OFFSET = dt.timedelta(hours=18)
# Names the tz database ships that do not name a place: refusing them avoids silently using
# the machine's own zone ("localtime") or an unspecified one ("Factory").
_NOT_A_PLACE = frozenset({"localtime", "posixrules", "Factory"})
# Legacy names that read like US zones but keep one offset all year: "EST" for a New York
# property books every summer tour an hour late. Each maps to (offset, place, Etc/ name).
_FIXED_OFFSET_NAMES = {
    "EST": ("-05:00", "America/New_York", "Etc/GMT+5"),
    "MST": ("-07:00", "America/Denver, or America/Phoenix in Arizona", "Etc/GMT+7"),
    "HST": ("-10:00", "Pacific/Honolulu", "Etc/GMT+10"),
}

_DATE = r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
_CLOCK = (
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
)
_OFFSET = r"(?P<offset>Z| UTC|[+-][0-9]{2}(?::?[0-9]{2})?)?"
# A timestamp's numeric offset may follow one space, as Snowflake (TIMESTAMP_TZ as text) and
# SQL Server (datetimeoffset) write it; a time of day keeps the offset attached.
_TIMESTAMP_OFFSET = r"(?P<offset>Z| UTC| ?[+-][0-9]{2}(?::?[0-9]{2})?)?"
_DATE_RE = re.compile(_DATE)
_TIME_RE = re.compile(_CLOCK + _OFFSET)
_DATETIME_RE = re.compile(_DATE + r"[T ]" + _CLOCK + _TIMESTAMP_OFFSET)

_DATE_FORMATS = "use YYYY-MM-DD, e.g. 2024-07-20"
_TIME_FORMATS = (
    "use HH:MM, HH:MM:SS or HH:MM:SS.ffffff (24-hour), optionally followed by Z or an offset "
    "such as -05:00"
)
_DATETIME_FORMATS = (
    "use YYYY-MM-DDTHH:MM[:SS[.ffffff]] (a space may replace the T), optionally followed by Z, "
    "' UTC' or an offset such as -05:00"
)


@dataclass(frozen=True)
class UtcSlot:
    """An appointment's UTC date and time (what ResMan and AppFolio read)."""

    date: str
    time: str
    notes: tuple[str, ...] = ()

    @property
    def iso(self) -> str:
        """The same instant as an RFC 3339 timestamp, e.g. ``2024-07-20T14:00:00Z``."""
        return f"{self.date}T{self.time}Z"


class InvalidTimeValue(ValueError):
    """A date, time, datetime or timezone value that cannot be turned into a UTC slot.

    ``field`` names the source field, ``value`` is the raw value's repr (at most 60
    characters) and ``reason`` says what is wrong in words a person can act on.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = shown(value)
        self.reason = reason
        self.group = f"{field}: {reason}"  # without the value, so like reasons count together
        super().__init__(f"{field}: {reason} (got {self.value})")


def validate_zone(name: str, *, field: str = "source_timezone") -> str:
    """Return the tz database spelling of an IANA zone name; raise InvalidTimeValue if unknown.

    Matching ignores case and surrounding whitespace. Link names (``US/Central``) are kept as
    given: they are valid IANA names and resolve to the same rules. EST, MST and HST are
    refused: they never observe daylight saving, which is rarely what their user means.
    ``field`` names the setting or column the name came from, in the error.
    """
    text = _text(field, name)
    if text is None:
        raise InvalidTimeValue(field, name, "is required, e.g. America/Chicago or UTC")
    zone = _zone_names().get(text.casefold())
    if zone is None:
        raise InvalidTimeValue(
            field, name, "is not a known IANA timezone name; use one such as America/Chicago or UTC"
        )
    if zone in _FIXED_OFFSET_NAMES:
        offset, place, etc = _FIXED_OFFSET_NAMES[zone]
        raise InvalidTimeValue(
            field,
            name,
            f"is a fixed UTC{offset} all year, without daylight saving; name the property's "
            f"place instead, e.g. {place} (or {etc} if the values really are UTC{offset} "
            "all year)",
        )
    return zone


def appointment_slot(
    *,
    date: object = None,
    time: object = None,
    datetime: object = None,
    zone: str = "UTC",
) -> UtcSlot:
    """Convert one record's appointment date + time, or datetime, to a UTC slot.

    ``zone`` is an IANA name already checked by :func:`validate_zone`; it applies to values
    without an offset. Raises InvalidTimeValue naming the offending field.
    """
    datetime_text = _text("appointment_datetime", datetime)
    date_given = not _is_blank(date)
    time_given = not _is_blank(time)
    if datetime_text is not None:
        if date_given or time_given:
            raise InvalidTimeValue(
                "appointment_datetime",
                datetime,
                "give either appointment_datetime or appointment_date + appointment_time, not both",
            )
        source = ("appointment_datetime", datetime)
        return _to_utc(_parse_datetime(datetime_text, datetime), zone, day=source, clock=source)

    if not date_given and not time_given:
        raise InvalidTimeValue(
            "appointment_datetime",
            datetime,
            "is required, or else both appointment_date and appointment_time",
        )
    date_text = _text("appointment_date", date)
    if date_text is None:
        raise InvalidTimeValue("appointment_date", date, "is required with appointment_time")
    time_text = _text("appointment_time", time)
    if time_text is None:
        raise InvalidTimeValue("appointment_time", time, "is required with appointment_date")
    day = _parse_date(date_text, date)
    clock, offset = _parse_time(time_text, time)
    wall = _Wall(dt.datetime.combine(day, clock), offset)
    return _to_utc(wall, zone, day=("appointment_date", date), clock=("appointment_time", time))


# Rows of one table share few distinct date, time and zone values (tours fall on a few
# hundred days, at quarter hours): each distinct combination is converted once.
SLOT_CACHE = 8192


def remembered_slot(
    *, date: object = None, time: object = None, datetime: object = None, zone: str = "UTC"
) -> UtcSlot | InvalidTimeValue:
    """`appointment_slot`, with its refusal returned rather than raised (a kept refusal must
    not be raised twice, and a rejected row costs no raise). Each distinct combination of
    text values is converted once per process (the conversion is pure); other values
    (numbers, objects) are converted each time."""
    if (
        (date is None or type(date) is str)
        and (time is None or type(time) is str)
        and (datetime is None or type(datetime) is str)
    ):
        return _slot_once(date, time, datetime, zone)
    return _slot_or_refusal(date, time, datetime, zone)


def _slot_or_refusal(
    date: object, time: object, datetime: object, zone: str
) -> UtcSlot | InvalidTimeValue:
    try:
        return appointment_slot(date=date, time=time, datetime=datetime, zone=zone)
    except InvalidTimeValue as exc:
        return exc.with_traceback(None)


_slot_once = functools.lru_cache(maxsize=SLOT_CACHE)(_slot_or_refusal)


@dataclass(frozen=True)
class _Wall:
    """A parsed value: a naive wall-clock datetime, plus its own UTC offset if it carried one."""

    local: dt.datetime
    offset: dt.timedelta | None


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(field: str, value: object) -> str | None:
    """The stripped text of a JSON value; None when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidTimeValue(field, value, f"must be a string, not {_json_type(value)}")
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidTimeValue(
            field, value, f"is too long ({len(text)} characters; at most {MAX_VALUE_LENGTH})"
        )
    control = (
        None
        if text.isprintable()
        else next((c for c in text if unicodedata.category(c) == "Cc"), None)
    )
    if control is not None:
        raise InvalidTimeValue(field, value, f"contains a control character (U+{ord(control):04X})")
    return text


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | JsonNumber):
        return "a number"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _parse_date(text: str, raw: object) -> dt.date:
    field = "appointment_date"
    match = _DATE_RE.fullmatch(text)
    if match is not None:
        return _calendar_date(match, field, raw)
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        raise InvalidTimeValue(field, raw, f"is not in an accepted format; {_DATE_FORMATS}")
    # A DATE column exported as a timestamp reads as midnight, bare or in UTC; anything else
    # carries a time of day or zone that this field cannot honour, so it is refused.
    clock = _clock(match, field, raw)
    offset = _offset(match, field, raw)
    if clock != dt.time(0, 0) or int(match["fraction"] or 0) != 0:
        raise InvalidTimeValue(
            field,
            raw,
            "holds a time of day; give a plain date (YYYY-MM-DD), "
            "or put the whole timestamp in appointment_datetime instead",
        )
    if offset:
        raise InvalidTimeValue(
            field,
            raw,
            "holds a midnight timestamp with a non-UTC offset; give a plain date (YYYY-MM-DD)",
        )
    return _calendar_date(match, field, raw)


def _parse_time(text: str, raw: object) -> tuple[dt.time, dt.timedelta | None]:
    field = "appointment_time"
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise InvalidTimeValue(field, raw, f"is not in an accepted format; {_TIME_FORMATS}")
    return _clock(match, field, raw), _offset(match, field, raw)


def _parse_datetime(text: str, raw: object) -> _Wall:
    field = "appointment_datetime"
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        raise InvalidTimeValue(field, raw, f"is not in an accepted format; {_DATETIME_FORMATS}")
    day = _calendar_date(match, field, raw)
    clock = _clock(match, field, raw)
    return _Wall(dt.datetime.combine(day, clock), _offset(match, field, raw))


def _calendar_date(match: re.Match[str], field: str, raw: object) -> dt.date:
    try:
        return dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise InvalidTimeValue(field, raw, "is not a real calendar date") from None


def _clock(match: re.Match[str], field: str, raw: object) -> dt.time:
    """The time of day, seconds kept and any fraction dropped."""
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidTimeValue(
            field, raw, "is not a real time of day (hours 00-23, minutes and seconds 00-59)"
        )
    return dt.time(hour, minute, second)


def _offset(match: re.Match[str], field: str, raw: object) -> dt.timedelta | None:
    text = match["offset"]
    if text is None:
        return None
    if text in ("Z", " UTC"):
        return dt.timedelta(0)
    text = text.lstrip(" ")
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if minutes > 59:
        raise InvalidTimeValue(field, raw, "has an offset whose minutes are not 00-59")
    offset = dt.timedelta(hours=hours, minutes=minutes)
    if offset > _MAX_OFFSET:
        raise InvalidTimeValue(field, raw, "has an offset beyond 18 hours from UTC")
    return -offset if text[0] == "-" else offset


def _to_utc(
    wall: _Wall, zone: str, *, day: tuple[str, object], clock: tuple[str, object]
) -> UtcSlot:
    """Convert ``wall`` to UTC; errors name ``day`` or ``clock`` (field, raw value), as at fault."""
    try:
        if wall.offset is not None:
            instant = wall.local.replace(tzinfo=dt.timezone(wall.offset)).astimezone(dt.UTC)
            return _slot(instant)
        return _zoned_to_utc(wall.local, zone)
    except OverflowError:
        raise InvalidTimeValue(*day, "is too close to year 1 or 9999 to convert to UTC") from None
    except _NonExistentTime as gap:
        raise InvalidTimeValue(*clock, str(gap)) from None


class _NonExistentTime(Exception):
    """A wall-clock time skipped by a forward clock change; carries the human reason."""


@functools.lru_cache(maxsize=8192)
def _zoned_to_utc(local: dt.datetime, zone: str) -> UtcSlot:
    # Pure, and tours repeat a few slots a day: cached (raises are not, and stay correct).
    tz = _timezone(zone)
    parts = (local.year, local.month, local.day, local.hour, local.minute, local.second)
    # pendulum 3 defaults to fold=1 (the later occurrence) and silently shifts times that fall
    # in a gap; fold=0 asks for the first occurrence, and the round trip below finds gaps.
    first = pendulum.datetime(*parts, tz=tz, fold=0)
    instant = first.in_timezone("UTC")
    if instant.in_timezone(tz).naive() != local:
        raise _NonExistentTime(_gap_reason(local, tz, zone))
    notes: tuple[str, ...] = ()
    if _utcoffset(first) != _utcoffset(pendulum.datetime(*parts, tz=tz, fold=1)):
        notes = (
            f"{local:%Y-%m-%d %H:%M:%S} happens twice in {zone}; took the first occurrence "
            f"({first.tzname()}, UTC{_signed(_utcoffset(first))})",
        )
    return _slot(instant, notes)


def _gap_reason(local: dt.datetime, tz: dt.tzinfo, zone: str) -> str:
    """Explain which forward clock change skips ``local``, from the zone's own rules."""
    # Inside a gap, fold=0 gives the offset in force before the change and fold=1 the one after.
    before = _utcoffset(local.replace(tzinfo=tz, fold=0))
    after = _utcoffset(local.replace(tzinfo=tz, fold=1))
    # The change happens at a UTC instant in (local - after, local - before]: bisect to the second.
    epoch = dt.datetime(1970, 1, 1)
    low = int((local - after - epoch).total_seconds())
    high = int((local - before - epoch).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if _utcoffset(dt.datetime.fromtimestamp(middle, tz)) == after:
            high = middle
        else:
            low = middle
    change = epoch + dt.timedelta(seconds=high)
    start, end = change + before, change + after
    if start.date() == end.date():
        span = f"from {_clock_text(start)} to {_clock_text(end)} on {start:%Y-%m-%d}"
    else:
        span = f"from {start:%Y-%m-%d} {_clock_text(start)} to {end:%Y-%m-%d} {_clock_text(end)}"
    return f"{local:%Y-%m-%d %H:%M:%S} does not exist in {zone} (clocks jump {span})"


def _clock_text(moment: dt.datetime) -> str:
    return f"{moment:%H:%M:%S}" if moment.second else f"{moment:%H:%M}"


def _utcoffset(moment: dt.datetime) -> dt.timedelta:
    # Only ever called on aware datetimes, whose offset is never None.
    return moment.utcoffset() or dt.timedelta(0)


def _signed(offset: dt.timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


def _slot(instant: dt.datetime, notes: tuple[str, ...] = ()) -> UtcSlot:
    return UtcSlot(
        date=instant.date().isoformat(),
        time=instant.time().replace(microsecond=0).isoformat(),
        notes=notes,
    )


@functools.lru_cache(maxsize=256)
def _timezone(zone: str) -> pendulum.Timezone:
    # pendulum.timezone() reads the zone's file from disk on every call.
    return pendulum.timezone(zone)


@functools.cache
def _zone_names() -> dict[str, str]:
    """IANA zone names by their case-folded spelling (the tz database keeps these unique)."""
    return {name.casefold(): name for name in pendulum.timezones() if name not in _NOT_A_PLACE}


# --- the wall clock a PMS reads ---------------------------------------------------------------


@dataclass(frozen=True)
class WallClock:
    """An appointment as a PMS that reads local time gets it: date and time in `zone`."""

    date: str
    time: str
    zone: str
    notes: tuple[str, ...] = ()


def wall_clock(slot: UtcSlot, zone: str) -> WallClock:
    """The date and time a PMS reading times in IANA `zone` must get for the UTC `slot`.

    A wall clock that happens twice (fall-back) is sent with a note when the tour is its first
    occurrence, as every reading of it takes the first; the second occurrence cannot be told
    apart by a PMS that reads a bare wall clock, so it raises InvalidTimeValue."""
    if zone == "UTC":
        return WallClock(slot.date, slot.time, zone, slot.notes)
    clock = _wall_clock(slot.date, slot.time, zone)
    return WallClock(clock.date, clock.time, zone, clock.notes + slot.notes)


@functools.lru_cache(maxsize=8192)
def _wall_clock(date: str, time: str, zone: str) -> WallClock:
    # Pure, and tours repeat a few slots a day: cached (raises are not, and stay correct).
    tz = _timezone(zone)
    instant = dt.datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=dt.UTC)
    local = instant.astimezone(tz)
    naive = local.replace(tzinfo=None)
    text = f"{naive:%Y-%m-%d %H:%M:%S}"
    first = naive.replace(tzinfo=tz, fold=0)
    notes: tuple[str, ...] = ()
    if _utcoffset(first) != _utcoffset(naive.replace(tzinfo=tz, fold=1)):
        if first.astimezone(dt.UTC) != instant:
            raise InvalidTimeValue(
                "appointment_time",
                f"{date}T{time}Z",
                f"the tour is the second time {text} happens in {zone} "
                f"(UTC{_signed(_utcoffset(local))}); a wall clock there reads as the first, an "
                "hour earlier, so the tour cannot be sent; move it out of the repeated hour",
            )
        notes = (
            f"the PMS reads {text}, which happens twice in {zone}; this tour is the first "
            f"({first.tzname()}, UTC{_signed(_utcoffset(first))})",
        )
    return WallClock(f"{naive:%Y-%m-%d}", f"{naive:%H:%M:%S}", zone, notes)


@dataclass(frozen=True)
class ZoneSetting:
    """A row of GET /v1/timezones/: the zone's standard-time UTC offset (`-05:00`, even where
        daylight saving applies), whether daylight saving applies, and the property it is for
        (None: the integration-wide row). A row whose offset or flag could not be read keeps None
    there (or the offset as text), so its property is refused rather than given another zone."""

    offset: str | None
    observes_dst: bool | None
    property_id: str | None = None


# Standard offset -> the zone whose rules a PMS setting "offset + DST observed" means. Propexo
# gives no zone name, only these two facts; US and Canadian rules (second Sunday of March to
# first Sunday of November) are assumed, as for the US and Canadian properties these PMSs serve.
DST_ZONES: dict[tuple[str, bool], str] = {
    ("-03:30", True): "America/St_Johns",
    ("-04:00", True): "America/Halifax",
    ("-05:00", True): "America/New_York",
    ("-06:00", True): "America/Chicago",
    ("-07:00", True): "America/Denver",
    ("-08:00", True): "America/Los_Angeles",
    ("-09:00", True): "America/Anchorage",
    ("-10:00", True): "America/Adak",
    # Without daylight saving, a named place where there is a well-known one; otherwise the
    # fixed Etc/GMT zone of that offset (whose sign is inverted by POSIX convention).
    ("+00:00", False): "UTC",
    ("-04:00", False): "America/Puerto_Rico",
    ("-07:00", False): "America/Phoenix",
    ("-10:00", False): "Pacific/Honolulu",
}
_SETTING_OFFSET = re.compile(r"(?P<sign>[+-])(?P<hours>[0-9]{2}):(?P<minutes>[0-9]{2})")


def zone_for_setting(setting: ZoneSetting) -> str:
    """The IANA zone that a GET /v1/timezones/ row's offset and DST flag describe (see
    DST_ZONES); raises InvalidTimeValue (field `offset`) when no rule fits."""
    field = "offset"
    if setting.offset is None:
        raise InvalidTimeValue(field, None, "is missing from the zone setting")
    match = _SETTING_OFFSET.fullmatch(setting.offset)
    # Real offsets lie within -12:00..+14:00 (and tz has Etc/GMT zones only for those).
    if (
        match is None
        or int(match["hours"]) > (14 if match["sign"] == "+" else 12)
        or int(match["minutes"]) > 59
    ):
        raise InvalidTimeValue(field, setting.offset, "is not an offset such as -05:00")
    if setting.observes_dst is None:
        raise InvalidTimeValue(
            field,
            setting.offset,
            "comes from a zone setting that does not say whether daylight saving applies",
        )
    known = DST_ZONES.get((setting.offset, setting.observes_dst))
    if known is not None:
        return known
    if setting.observes_dst:
        raise InvalidTimeValue(
            field,
            setting.offset,
            "observes daylight saving, but no US or Canadian zone has that standard offset",
        )
    if match["minutes"] != "00":
        raise InvalidTimeValue(
            field,
            setting.offset,
            "is not a whole number of hours, and no named zone without daylight saving is known "
            "for it",
        )
    hours = int(match["hours"])
    # Etc/GMT+5 is UTC-05:00.
    return "UTC" if hours == 0 else f"Etc/GMT{'-' if match['sign'] == '+' else '+'}{hours}"
