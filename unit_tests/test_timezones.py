"""Specification of destination_propexo.records.timezones: warehouse date/time values -> UTC slots.

Expected UTC values are worked out by hand from the known offsets (EDT -4, EST -5, CDT -5,
CST -6, MDT -6, MST -7, PDT -7, PST -8, HST -10, JST +9), never by calling the code under test.
The hypothesis properties use the standard library's zoneinfo as an independent oracle.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from destination_propexo.records.timezones import (
    InvalidTimeValue,
    UtcSlot,
    appointment_slot,
    remembered_slot,
    validate_zone,
)

API_TIME = re.compile(r"(?:[01]\d|2[0123]):(?:[012345]\d):(?:[012345]\d)")

DATE_FORMATS = "is not in an accepted format; use YYYY-MM-DD, e.g. 2024-07-20"
TIME_FORMATS = (
    "is not in an accepted format; use HH:MM, HH:MM:SS or HH:MM:SS.ffffff (24-hour), "
    "optionally followed by Z or an offset such as -05:00"
)
DATETIME_FORMATS = (
    "is not in an accepted format; use YYYY-MM-DDTHH:MM[:SS[.ffffff]] (a space may replace "
    "the T), optionally followed by Z, ' UTC' or an offset such as -05:00"
)
NOT_A_DATE = "is not a real calendar date"
NOT_A_TIME = "is not a real time of day (hours 00-23, minutes and seconds 00-59)"


def assert_slot(slot: UtcSlot, utc: str, notes: tuple[str, ...] = ()) -> None:
    assert (slot.date, slot.time, slot.notes) == (utc[:10], utc[11:], notes)


# --- wall-clock date + time in a zone -> UTC -------------------------------------------------

WALL_CLOCK = [
    # (local date, local time, zone, expected UTC "YYYY-MM-DD HH:MM:SS")
    pytest.param("2024-07-20", "14:00:00", "UTC", "2024-07-20 14:00:00", id="utc-passthrough"),
    pytest.param("2024-01-15", "00:00:00", "UTC", "2024-01-15 00:00:00", id="utc-midnight"),
    pytest.param("2024-07-20", "10:00:00", "America/New_York", "2024-07-20 14:00:00", id="ny-edt"),
    pytest.param("2024-01-15", "09:30:00", "America/New_York", "2024-01-15 14:30:00", id="ny-est"),
    pytest.param("2024-07-20", "09:00:00", "America/Chicago", "2024-07-20 14:00:00", id="chi-cdt"),
    pytest.param("2024-01-15", "09:00:00", "America/Chicago", "2024-01-15 15:00:00", id="chi-cst"),
    pytest.param("2024-07-20", "08:00:00", "America/Denver", "2024-07-20 14:00:00", id="den-mdt"),
    pytest.param("2024-01-15", "08:00:00", "America/Denver", "2024-01-15 15:00:00", id="den-mst"),
    pytest.param("2024-07-20", "07:00:00", "America/Phoenix", "2024-07-20 14:00:00", id="phx-jul"),
    pytest.param("2024-01-15", "07:00:00", "America/Phoenix", "2024-01-15 14:00:00", id="phx-jan"),
    pytest.param(
        "2024-07-20", "07:00:00", "America/Los_Angeles", "2024-07-20 14:00:00", id="la-pdt"
    ),
    pytest.param(
        "2024-01-15", "06:00:00", "America/Los_Angeles", "2024-01-15 14:00:00", id="la-pst"
    ),
    pytest.param("2024-07-20", "04:00:00", "Pacific/Honolulu", "2024-07-20 14:00:00", id="hnl-jul"),
    pytest.param("2024-01-15", "04:00:00", "Pacific/Honolulu", "2024-01-15 14:00:00", id="hnl-jan"),
    pytest.param("2024-07-20", "23:00:00", "Asia/Tokyo", "2024-07-20 14:00:00", id="tokyo-jst"),
    # The UTC date moves forward...
    pytest.param(
        "2024-07-20", "21:00:00", "America/Los_Angeles", "2024-07-21 04:00:00", id="la-next-day"
    ),
    pytest.param(
        "2024-12-31", "20:00:00", "Pacific/Honolulu", "2025-01-01 06:00:00", id="hnl-next-year"
    ),
    pytest.param(
        "2024-02-28", "19:00:00", "America/Chicago", "2024-02-29 01:00:00", id="chi-leap-day"
    ),
    # ...or backward.
    pytest.param(
        "2024-07-20", "08:00:00", "Asia/Tokyo", "2024-07-19 23:00:00", id="tokyo-prev-day"
    ),
    pytest.param(
        "2024-03-01", "05:00:00", "Asia/Tokyo", "2024-02-29 20:00:00", id="tokyo-leap-day"
    ),
    pytest.param(
        "2025-01-01", "00:30:00", "Asia/Tokyo", "2024-12-31 15:30:00", id="tokyo-prev-year"
    ),
    # Right next to the 2024 US clock changes, on the side that exists once.
    pytest.param(
        "2024-03-10", "01:59:59", "America/Chicago", "2024-03-10 07:59:59", id="chi-before-gap"
    ),
    pytest.param(
        "2024-03-10", "03:00:00", "America/Chicago", "2024-03-10 08:00:00", id="chi-after-gap"
    ),
    pytest.param(
        "2024-11-03", "00:59:59", "America/Chicago", "2024-11-03 05:59:59", id="chi-before-fold"
    ),
    pytest.param(
        "2024-11-03", "02:00:00", "America/Chicago", "2024-11-03 08:00:00", id="chi-after-fold"
    ),
    # Arizona and Hawaii keep one offset all year: the US change dates are ordinary days there.
    pytest.param(
        "2024-03-10", "02:30:00", "America/Phoenix", "2024-03-10 09:30:00", id="phx-no-gap"
    ),
    pytest.param(
        "2024-11-03", "01:30:00", "America/Phoenix", "2024-11-03 08:30:00", id="phx-no-fold"
    ),
    pytest.param(
        "2024-03-10", "02:30:00", "Pacific/Honolulu", "2024-03-10 12:30:00", id="hnl-no-gap"
    ),
    pytest.param(
        "2024-11-03", "01:30:00", "Pacific/Honolulu", "2024-11-03 11:30:00", id="hnl-no-fold"
    ),
]


@pytest.mark.parametrize(("date", "time", "zone", "utc"), WALL_CLOCK)
def test_wall_clock_date_and_time_convert_to_utc(date: str, time: str, zone: str, utc: str) -> None:
    assert_slot(appointment_slot(date=date, time=time, zone=zone), utc)


@pytest.mark.parametrize(("date", "time", "zone", "utc"), WALL_CLOCK)
def test_wall_clock_datetime_converts_like_date_and_time(
    date: str, time: str, zone: str, utc: str
) -> None:
    assert_slot(appointment_slot(datetime=f"{date}T{time}", zone=zone), utc)


# --- spring forward: local times that never happen -------------------------------------------

GAPS = [
    pytest.param(zone, wall, id=f"{zone.split('/')[1].lower()}-{wall.replace(':', '')}")
    for zone in ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
    for wall in ("02:00:00", "02:30:00", "02:59:59")
]


@pytest.mark.parametrize(("zone", "wall"), GAPS)
def test_time_skipped_by_spring_forward_is_rejected_naming_the_gap(zone: str, wall: str) -> None:
    with pytest.raises(InvalidTimeValue) as raised:
        appointment_slot(date="2024-03-10", time=wall, zone=zone)
    assert raised.value.field == "appointment_time"
    assert raised.value.reason == (
        f"2024-03-10 {wall} does not exist in {zone} "
        "(clocks jump from 02:00 to 03:00 on 2024-03-10)"
    )


def test_datetime_in_a_gap_is_rejected_on_the_datetime_field() -> None:
    with pytest.raises(InvalidTimeValue) as raised:
        appointment_slot(datetime="2024-03-10 02:30", zone="America/Chicago")
    assert str(raised.value) == (
        "appointment_datetime: 2024-03-10 02:30:00 does not exist in America/Chicago "
        "(clocks jump from 02:00 to 03:00 on 2024-03-10) (got '2024-03-10 02:30')"
    )


@pytest.mark.parametrize(
    ("zone", "wall", "reason"),
    [
        pytest.param(
            "Europe/Berlin",
            "2024-03-31T02:15",
            "2024-03-31 02:15:00 does not exist in Europe/Berlin "
            "(clocks jump from 02:00 to 03:00 on 2024-03-31)",
            id="berlin",
        ),
        pytest.param(
            "Australia/Lord_Howe",
            "2024-10-06T02:10",
            "2024-10-06 02:10:00 does not exist in Australia/Lord_Howe "
            "(clocks jump from 02:00 to 02:30 on 2024-10-06)",
            id="lord-howe-half-hour",
        ),
        pytest.param(
            "America/Havana",
            "2024-03-10T00:30",
            "2024-03-10 00:30:00 does not exist in America/Havana "
            "(clocks jump from 00:00 to 01:00 on 2024-03-10)",
            id="havana-midnight",
        ),
        pytest.param(
            # Samoa skipped 30 December 2011 entirely when it crossed the date line.
            "Pacific/Apia",
            "2011-12-30T12:00",
            "2011-12-30 12:00:00 does not exist in Pacific/Apia "
            "(clocks jump from 2011-12-30 00:00 to 2011-12-31 00:00)",
            id="apia-whole-day",
        ),
    ],
)
def test_gap_bounds_come_from_the_zone_rules(zone: str, wall: str, reason: str) -> None:
    with pytest.raises(InvalidTimeValue) as raised:
        appointment_slot(datetime=wall, zone=zone)
    assert raised.value.reason == reason


# --- fall back: local times that happen twice ------------------------------------------------

FOLDS = [
    pytest.param("America/New_York", "2024-11-03 05:30:00", "EDT", "-04:00", id="ny"),
    pytest.param("America/Chicago", "2024-11-03 06:30:00", "CDT", "-05:00", id="chicago"),
    pytest.param("America/Denver", "2024-11-03 07:30:00", "MDT", "-06:00", id="denver"),
    pytest.param("America/Los_Angeles", "2024-11-03 08:30:00", "PDT", "-07:00", id="la"),
]


@pytest.mark.parametrize(("zone", "utc", "abbreviation", "offset"), FOLDS)
def test_time_repeated_by_fall_back_takes_the_first_occurrence_with_a_note(
    zone: str, utc: str, abbreviation: str, offset: str
) -> None:
    slot = appointment_slot(date="2024-11-03", time="01:30", zone=zone)
    note = (
        f"2024-11-03 01:30:00 happens twice in {zone}; "
        f"took the first occurrence ({abbreviation}, UTC{offset})"
    )
    assert_slot(slot, utc, (note,))


def test_fold_edges_are_ambiguous_from_the_first_to_the_last_second() -> None:
    first = appointment_slot(datetime="2024-11-03T01:00:00", zone="America/Chicago")
    last = appointment_slot(datetime="2024-11-03T01:59:59", zone="America/Chicago")
    assert (first.iso, len(first.notes)) == ("2024-11-03T06:00:00Z", 1)
    assert (last.iso, len(last.notes)) == ("2024-11-03T06:59:59Z", 1)


# --- an offset in the value wins over the zone -----------------------------------------------

OFFSETS = [
    # (kwargs, expected UTC); the zone is Chicago throughout and must not matter.
    pytest.param({"datetime": "2024-07-20T14:00:00Z"}, "2024-07-20 14:00:00", id="dt-z"),
    pytest.param(
        {"datetime": "2024-07-20T14:00:00+02:00"}, "2024-07-20 12:00:00", id="dt-plus-hh:mm"
    ),
    pytest.param(
        {"datetime": "2024-07-20T14:00:00-0500"}, "2024-07-20 19:00:00", id="dt-minus-hhmm"
    ),
    pytest.param({"datetime": "2024-07-20T14:00:00+05"}, "2024-07-20 09:00:00", id="dt-plus-hh"),
    pytest.param(
        {"datetime": "2024-07-20T14:00:00+05:30"}, "2024-07-20 08:30:00", id="dt-half-hour"
    ),
    pytest.param(
        {"datetime": "2024-07-20 14:00:00 UTC"}, "2024-07-20 14:00:00", id="dt-utc-suffix"
    ),
    pytest.param(
        {"datetime": "2024-07-20T23:30:00-05:00"}, "2024-07-21 04:30:00", id="dt-next-day"
    ),
    pytest.param(
        {"datetime": "2024-07-20T08:00:00+09:00"}, "2024-07-19 23:00:00", id="dt-prev-day"
    ),
    # Offsets pin an instant, so Chicago's gap and fold do not apply.
    pytest.param({"datetime": "2024-03-10T02:30:00-06:00"}, "2024-03-10 08:30:00", id="dt-in-gap"),
    pytest.param(
        {"datetime": "2024-11-03T01:30:00-06:00"}, "2024-11-03 07:30:00", id="dt-second-fold"
    ),
    pytest.param({"date": "2024-07-20", "time": "14:00:00Z"}, "2024-07-20 14:00:00", id="time-z"),
    pytest.param(
        {"date": "2024-07-20", "time": "14:00:00+02:00"}, "2024-07-20 12:00:00", id="time-plus"
    ),
    pytest.param(
        {"date": "2024-07-20", "time": "14:00-0530"}, "2024-07-20 19:30:00", id="time-hhmm"
    ),
    pytest.param(
        {"date": "2024-07-20", "time": "14:00 UTC"}, "2024-07-20 14:00:00", id="time-utc-suffix"
    ),
    pytest.param(
        {"date": "2024-07-20", "time": "23:30:00-05:00"}, "2024-07-21 04:30:00", id="time-next-day"
    ),
    pytest.param(
        {"date": "2024-07-20", "time": "01:00+09:00"}, "2024-07-19 16:00:00", id="time-prev-day"
    ),
    pytest.param(
        {"date": "2024-03-10", "time": "02:30-06:00"}, "2024-03-10 08:30:00", id="time-in-gap"
    ),
]


@pytest.mark.parametrize(("values", "utc"), OFFSETS)
def test_offset_in_the_value_overrides_the_zone(values: dict[str, str], utc: str) -> None:
    assert_slot(appointment_slot(**values, zone="America/Chicago"), utc)


# --- every accepted shape --------------------------------------------------------------------

SHAPES = [
    # (kwargs, expected UTC) in America/Chicago, CDT (-5) in July.
    pytest.param({"date": "2024-07-20", "time": "09:00"}, "2024-07-20 14:00:00", id="time-hh:mm"),
    pytest.param(
        {"date": "2024-07-20", "time": "09:00:05"}, "2024-07-20 14:00:05", id="time-hh:mm:ss"
    ),
    pytest.param(
        {"date": "2024-07-20", "time": "09:00:05.999999"},
        "2024-07-20 14:00:05",
        id="time-micro-truncated",
    ),
    pytest.param(
        {"date": "2024-07-20", "time": "09:00:05.5"}, "2024-07-20 14:00:05", id="time-tenths"
    ),
    pytest.param(
        {"date": "2024-07-20", "time": "09:00:05.123456789"}, "2024-07-20 14:00:05", id="time-nanos"
    ),
    pytest.param(
        {"date": "2024-07-20", "time": "23:59:59.999"}, "2024-07-21 04:59:59", id="time-last-second"
    ),
    pytest.param(
        {"date": " 2024-07-20\n", "time": "\t09:00 "},
        "2024-07-20 14:00:00",
        id="whitespace-stripped",
    ),
    # DATE columns exported as midnight timestamps: the date part is the local date.
    pytest.param(
        {"date": "2024-07-20T00:00:00Z", "time": "09:00"},
        "2024-07-20 14:00:00",
        id="date-midnight-z",
    ),
    pytest.param(
        {"date": "2024-07-20T00:00:00", "time": "09:00"},
        "2024-07-20 14:00:00",
        id="date-midnight-naive",
    ),
    pytest.param(
        {"date": "2024-07-20 00:00:00", "time": "09:00"},
        "2024-07-20 14:00:00",
        id="date-midnight-space",
    ),
    pytest.param(
        {"date": "2024-07-20T00:00", "time": "09:00"},
        "2024-07-20 14:00:00",
        id="date-midnight-hh:mm",
    ),
    pytest.param(
        {"date": "2024-07-20T00:00:00.000Z", "time": "09:00"},
        "2024-07-20 14:00:00",
        id="date-midnight-millis",
    ),
    pytest.param(
        {"date": "2024-07-20T00:00:00+00:00", "time": "09:00"},
        "2024-07-20 14:00:00",
        id="date-midnight-zero-offset",
    ),
    pytest.param(
        {"date": "2024-07-20 00:00:00 UTC", "time": "09:00"},
        "2024-07-20 14:00:00",
        id="date-midnight-utc-suffix",
    ),
    pytest.param({"datetime": "2024-07-20T09:00"}, "2024-07-20 14:00:00", id="dt-t-hh:mm"),
    pytest.param({"datetime": "2024-07-20 09:00"}, "2024-07-20 14:00:00", id="dt-space-hh:mm"),
    pytest.param({"datetime": "2024-07-20T09:00:05"}, "2024-07-20 14:00:05", id="dt-t-hh:mm:ss"),
    pytest.param(
        {"datetime": "2024-07-20 09:00:05.123"}, "2024-07-20 14:00:05", id="dt-millis-truncated"
    ),
    pytest.param({"datetime": " 2024-07-20T09:00:00 "}, "2024-07-20 14:00:00", id="dt-whitespace"),
    # Empty strings count as absent, as warehouses often emit "" for NULL.
    pytest.param(
        {"datetime": "2024-07-20T09:00", "date": "", "time": "  "},
        "2024-07-20 14:00:00",
        id="dt-blank-others",
    ),
    pytest.param(
        {"datetime": "", "date": "2024-07-20", "time": "09:00"},
        "2024-07-20 14:00:00",
        id="blank-dt",
    ),
]


@pytest.mark.parametrize(("values", "utc"), SHAPES)
def test_accepted_shape(values: dict[str, str], utc: str) -> None:
    assert_slot(appointment_slot(**values, zone="America/Chicago"), utc)


def test_iso_joins_date_and_time_as_utc() -> None:
    slot = appointment_slot(date="2024-07-20", time="09:00", zone="America/Chicago")
    assert slot.iso == "2024-07-20T14:00:00Z"


# --- every rejected shape, with its reason ---------------------------------------------------

OK_DATE, OK_TIME = "2024-07-20", "09:00"

REJECTED = [
    # (kwargs, field, reason)
    *(
        pytest.param(
            {"date": bad, "time": OK_TIME}, "appointment_date", DATE_FORMATS, id=f"date-{bad}"
        )
        for bad in (
            "07/20/2024",
            "2024-7-20",
            "20240720",
            "July 20",
            "20 Jul 2024",
            "2024/07/20",
            "24-07-20",
            "2024-07-20T",
            "2024-07-20Z",
            "2024-07-20t00:00:00",
            "+2024-07-20",
            "\uff12\uff10\uff12\uff14-\uff10\uff17-\uff12\uff10",  # full-width digits look right
        )
    ),
    *(
        pytest.param(
            {"date": bad, "time": OK_TIME}, "appointment_date", NOT_A_DATE, id=f"date-{bad}"
        )
        for bad in (
            "2024-02-30",
            "2023-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "0000-01-01",
        )
    ),
    pytest.param(
        {"date": "2024-07-20T14:00:00Z", "time": OK_TIME},
        "appointment_date",
        "holds a time of day; give a plain date (YYYY-MM-DD), "
        "or put the whole timestamp in appointment_datetime instead",
        id="date-with-time-of-day",
    ),
    pytest.param(
        {"date": "2024-07-20T00:00:00.5", "time": OK_TIME},
        "appointment_date",
        "holds a time of day; give a plain date (YYYY-MM-DD), "
        "or put the whole timestamp in appointment_datetime instead",
        id="date-half-second-past-midnight",
    ),
    pytest.param(
        {"date": "2024-07-20T00:00:00+02:00", "time": OK_TIME},
        "appointment_date",
        "holds a midnight timestamp with a non-UTC offset; give a plain date (YYYY-MM-DD)",
        id="date-midnight-with-offset",
    ),
    pytest.param(
        {"date": "2024-02-30T00:00:00Z", "time": OK_TIME},
        "appointment_date",
        NOT_A_DATE,
        id="date-midnight-unreal",
    ),
    *(
        pytest.param(
            {"date": OK_DATE, "time": bad}, "appointment_time", TIME_FORMATS, id=f"time-{bad}"
        )
        for bad in (
            "9:00",
            "2pm",
            "9am",
            "14",
            "1400",
            "140000",
            "14.00",
            "14:0",
            "14:00:0",
            "14:00:00.",
            "14:00:00,5",
            "02:00 PM",
            "T14:00",
            "14:00z",
            "14:00 utc",
            "14:00+5",
            "14:00+05:3",
            "14:00 +05:00",
            "14:00:00 America/Chicago",
        )
    ),
    *(
        pytest.param(
            {"date": OK_DATE, "time": bad}, "appointment_time", NOT_A_TIME, id=f"time-{bad}"
        )
        for bad in ("24:00", "24:00:00", "25:00", "23:60", "12:00:60", "99:99:99")
    ),
    pytest.param(
        {"date": OK_DATE, "time": "14:00+05:60"},
        "appointment_time",
        "has an offset whose minutes are not 00-59",
        id="time-offset-minutes",
    ),
    pytest.param(
        {"date": OK_DATE, "time": "14:00+19:00"},
        "appointment_time",
        "has an offset beyond 18 hours from UTC",
        id="time-offset-hours",
    ),
    *(
        pytest.param({"datetime": bad}, "appointment_datetime", DATETIME_FORMATS, id=f"dt-{bad}")
        for bad in (
            "2024-07-20",
            "2024-07-20T",
            "2024-07-20T9:00",
            "2024-07-20  09:00",
            "2024-07-20t09:00",
            "2024-07-20_09:00",
            "20240720T090000",
            "07/20/2024 09:00",
            "2024-07-20T09:00:00ZZ",
            "2024-07-20T09:00:00+05:00:00",
            "2024-07-20T09:00:00 America/Chicago",
            "Sat, 20 Jul 2024 09:00:00 GMT",
            "1721466000",
        )
    ),
    pytest.param(
        {"datetime": "2024-02-30T09:00"}, "appointment_datetime", NOT_A_DATE, id="dt-unreal-date"
    ),
    pytest.param(
        {"datetime": "2024-07-20T24:00"}, "appointment_datetime", NOT_A_TIME, id="dt-hour-24"
    ),
    pytest.param(
        {"datetime": "9999-12-31T23:00:00-05:00"},
        "appointment_datetime",
        "is too close to year 1 or 9999 to convert to UTC",
        id="dt-past-year-9999",
    ),
    pytest.param(
        {"date": "0001-01-01", "time": "00:00+05:00"},
        "appointment_date",
        "is too close to year 1 or 9999 to convert to UTC",
        id="date-before-year-1",
    ),
    # JSON types other than strings.
    pytest.param(
        {"date": 20240720, "time": OK_TIME},
        "appointment_date",
        "must be a string, not a number",
        id="date-int",
    ),
    pytest.param(
        {"date": OK_DATE, "time": 9.5},
        "appointment_time",
        "must be a string, not a number",
        id="time-float",
    ),
    pytest.param(
        {"date": OK_DATE, "time": True},
        "appointment_time",
        "must be a string, not a boolean",
        id="time-bool",
    ),
    pytest.param(
        {"datetime": ["2024-07-20T09:00"]},
        "appointment_datetime",
        "must be a string, not an array",
        id="dt-list",
    ),
    pytest.param(
        {"datetime": {"value": "2024-07-20T09:00"}},
        "appointment_datetime",
        "must be a string, not an object",
        id="dt-dict",
    ),
    # Text that is not a value at all.
    pytest.param(
        {"date": "2024-07-20\x00", "time": OK_TIME},
        "appointment_date",
        "contains a control character (U+0000)",
        id="date-nul",
    ),
    pytest.param(
        {"datetime": "2024-07-20\n09:00"},
        "appointment_datetime",
        "contains a control character (U+000A)",
        id="dt-inner-newline",
    ),
    pytest.param(
        {"date": OK_DATE, "time": "0" * 65},
        "appointment_time",
        "is too long (65 characters; at most 64)",
        id="time-too-long",
    ),
    # Missing pieces, and both forms at once.
    pytest.param(
        {"date": OK_DATE},
        "appointment_time",
        "is required with appointment_date",
        id="time-missing",
    ),
    pytest.param(
        {"date": OK_DATE, "time": ""},
        "appointment_time",
        "is required with appointment_date",
        id="time-empty",
    ),
    pytest.param(
        {"time": OK_TIME},
        "appointment_date",
        "is required with appointment_time",
        id="date-missing",
    ),
    pytest.param(
        {"date": "   ", "time": OK_TIME},
        "appointment_date",
        "is required with appointment_time",
        id="date-blank",
    ),
    pytest.param(
        {},
        "appointment_datetime",
        "is required, or else both appointment_date and appointment_time",
        id="nothing",
    ),
    pytest.param(
        {"datetime": "", "date": None, "time": " "},
        "appointment_datetime",
        "is required, or else both appointment_date and appointment_time",
        id="all-blank",
    ),
    pytest.param(
        {"datetime": "2024-07-20T09:00", "date": OK_DATE},
        "appointment_datetime",
        "give either appointment_datetime or appointment_date + appointment_time, not both",
        id="datetime-and-date",
    ),
    pytest.param(
        {"datetime": "2024-07-20T09:00", "time": OK_TIME},
        "appointment_datetime",
        "give either appointment_datetime or appointment_date + appointment_time, not both",
        id="datetime-and-time",
    ),
]


@pytest.mark.parametrize(("values", "field", "reason"), REJECTED)
def test_rejected_value_names_its_field_and_reason(
    values: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidTimeValue) as raised:
        appointment_slot(**values, zone="America/Chicago")
    assert (raised.value.field, raised.value.reason) == (field, reason)


# --- the error value itself ------------------------------------------------------------------


def test_error_message_reads_field_reason_and_value() -> None:
    with pytest.raises(InvalidTimeValue) as raised:
        appointment_slot(date="07/20/2024", time="09:00")
    assert isinstance(raised.value, ValueError)
    assert raised.value.value == "'07/20/2024'"
    assert str(raised.value) == f"appointment_date: {DATE_FORMATS} (got '07/20/2024')"


def test_error_value_is_a_repr_cut_to_60_characters_with_its_length() -> None:
    with pytest.raises(InvalidTimeValue) as raised:
        appointment_slot(datetime="x" * 500)
    assert raised.value.value == "'" + "x" * 56 + "... (502 characters)"


# --- validate_zone ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        pytest.param("UTC", "UTC", id="utc"),
        pytest.param("utc", "UTC", id="utc-lower"),
        pytest.param("Etc/UTC", "Etc/UTC", id="etc-utc"),
        pytest.param("America/Chicago", "America/Chicago", id="chicago"),
        pytest.param("america/chicago", "America/Chicago", id="case-insensitive"),
        pytest.param(" America/Los_Angeles\n", "America/Los_Angeles", id="whitespace"),
        pytest.param("AMERICA/PORT-AU-PRINCE", "America/Port-au-Prince", id="mixed-case-name"),
        pytest.param("Asia/Tokyo", "Asia/Tokyo", id="tokyo"),
        pytest.param("US/Central", "US/Central", id="backward-link-kept"),
    ],
)
def test_known_zone_is_returned_in_its_tz_database_spelling(name: str, canonical: str) -> None:
    assert validate_zone(name) == canonical


UNKNOWN_ZONE = "is not a known IANA timezone name; use one such as America/Chicago or UTC"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("CST", UNKNOWN_ZONE, id="abbreviation"),
        pytest.param("Central", UNKNOWN_ZONE, id="informal"),
        pytest.param("America/Chicgo", UNKNOWN_ZONE, id="typo"),
        pytest.param("UTC+5", UNKNOWN_ZONE, id="offset-name"),
        pytest.param("-05:00", UNKNOWN_ZONE, id="bare-offset"),
        pytest.param("../../etc/passwd", UNKNOWN_ZONE, id="path"),
        pytest.param("localtime", UNKNOWN_ZONE, id="machine-zone"),
        pytest.param("Factory", UNKNOWN_ZONE, id="unspecified-zone"),
        pytest.param("", "is required, e.g. America/Chicago or UTC", id="empty"),
        pytest.param("   ", "is required, e.g. America/Chicago or UTC", id="blank"),
        pytest.param("America/\x00Chicago", "contains a control character (U+0000)", id="nul"),
    ],
)
def test_unknown_zone_is_rejected_as_source_timezone(name: str, reason: str) -> None:
    with pytest.raises(InvalidTimeValue) as raised:
        validate_zone(name)
    assert (raised.value.field, raised.value.reason) == ("source_timezone", reason)


@pytest.mark.parametrize(
    ("name", "offset", "place", "etc"),
    [
        pytest.param("EST", "-05:00", "America/New_York", "Etc/GMT+5", id="est"),
        pytest.param("mst", "-07:00", "America/Phoenix in Arizona", "Etc/GMT+7", id="mst"),
        pytest.param(" HST", "-10:00", "Pacific/Honolulu", "Etc/GMT+10", id="hst"),
    ],
)
def test_fixed_offset_names_that_look_like_us_zones_are_refused_naming_the_place(
    name: str, offset: str, place: str, etc: str
) -> None:
    with pytest.raises(InvalidTimeValue) as raised:
        validate_zone(name)
    reason = raised.value.reason
    assert reason.startswith(f"is a fixed UTC{offset} all year, without daylight saving")
    assert place in reason
    assert etc in reason


@pytest.mark.parametrize("name", ["Etc/GMT+5", "EST5EDT", "America/Phoenix"])
def test_explicit_fixed_offsets_and_rule_based_names_stay_accepted(name: str) -> None:
    assert validate_zone(name) == name


# --- properties ------------------------------------------------------------------------------

UTC = dt.UTC
US_CHANGES = (dt.date(2024, 3, 10), dt.date(2024, 11, 3))
# Each zone with the days its clocks change in 2024 (the US days for zones that never change).
CHANGE_DAYS = {
    "UTC": US_CHANGES,
    "America/New_York": US_CHANGES,
    "America/Chicago": US_CHANGES,
    "America/Denver": US_CHANGES,
    "America/Phoenix": US_CHANGES,
    "America/Los_Angeles": US_CHANGES,
    "Pacific/Honolulu": US_CHANGES,
    "Asia/Tokyo": US_CHANGES,
    "Europe/London": (dt.date(2024, 3, 31), dt.date(2024, 10, 27)),
    "Australia/Lord_Howe": (dt.date(2024, 10, 6), dt.date(2024, 4, 7)),
}
PROPERTY_ZONES = list(CHANGE_DAYS)

# Early hours of change days make gaps and folds common, not one-in-thousands.
near_a_change = st.sampled_from(
    [(zone, day) for zone, days in CHANGE_DAYS.items() for day in days]
).flatmap(
    lambda zone_day: st.times(max_value=dt.time(3, 59, 59)).map(
        lambda t: (zone_day[0], dt.datetime.combine(zone_day[1], t.replace(microsecond=0)))
    )
)
any_time = st.tuples(
    st.sampled_from(PROPERTY_ZONES),
    st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 12, 31)).map(
        lambda wall: wall.replace(microsecond=0)
    ),
)
zoned_walls = st.one_of(near_a_change, any_time)


def in_gap(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    there_and_back = wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return there_and_back.replace(tzinfo=None) != wall


def attempt(**values: Any) -> UtcSlot | InvalidTimeValue:
    try:
        return appointment_slot(**values)
    except InvalidTimeValue as exc:
        return exc


def parse_slot(slot: UtcSlot) -> dt.datetime:
    assert API_TIME.fullmatch(slot.time)
    return dt.datetime.combine(dt.date.fromisoformat(slot.date), dt.time.fromisoformat(slot.time))


@given(case=zoned_walls)
def test_naive_wall_time_round_trips_through_utc(case: tuple[str, dt.datetime]) -> None:
    zone_name, wall = case
    zone = zoneinfo.ZoneInfo(zone_name)
    if in_gap(wall, zone):
        with pytest.raises(InvalidTimeValue, match="does not exist in"):
            appointment_slot(date=f"{wall:%Y-%m-%d}", time=f"{wall:%H:%M:%S}", zone=zone_name)
        return
    slot = appointment_slot(date=f"{wall:%Y-%m-%d}", time=f"{wall:%H:%M:%S}", zone=zone_name)
    utc = parse_slot(slot).replace(tzinfo=UTC)
    assert utc.astimezone(zone).replace(tzinfo=None) == wall
    # fold=0 is the first occurrence; it is the only one unless the wall time is ambiguous.
    assert utc == wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    ambiguous = (
        wall.replace(fold=0, tzinfo=zone).utcoffset()
        != wall.replace(fold=1, tzinfo=zone).utcoffset()
    )
    assert len(slot.notes) == (1 if ambiguous else 0)


@given(case=zoned_walls, use_space=st.booleans())
def test_datetime_field_agrees_with_date_and_time_fields(
    case: tuple[str, dt.datetime], use_space: bool
) -> None:
    zone_name, wall = case
    separator = " " if use_space else "T"
    joined = f"{wall:%Y-%m-%d}{separator}{wall:%H:%M:%S}"
    split = attempt(date=f"{wall:%Y-%m-%d}", time=f"{wall:%H:%M:%S}", zone=zone_name)
    whole = attempt(datetime=joined, zone=zone_name)
    if isinstance(split, InvalidTimeValue):
        assert isinstance(whole, InvalidTimeValue)
        assert whole.reason == split.reason
    else:
        assert whole == split


@given(
    moment=st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.builds(
            dt.timezone,
            st.integers(min_value=-18 * 60, max_value=18 * 60).map(
                lambda minutes: dt.timedelta(minutes=minutes)
            ),
        ),
    ),
    zone_name=st.sampled_from(PROPERTY_ZONES),
)
def test_offset_datetime_converts_by_its_own_offset(moment: dt.datetime, zone_name: str) -> None:
    offset = moment.strftime("%z")
    text = f"{moment:%Y-%m-%dT%H:%M:%S.%f}{offset[:3]}:{offset[3:]}"
    slot = appointment_slot(datetime=text, zone=zone_name)
    expected = moment.replace(microsecond=0).astimezone(UTC)
    assert parse_slot(slot) == expected.replace(tzinfo=None)
    assert slot.notes == ()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)
timeish_text = st.from_regex(
    r"[ \t]?[0-9]{1,4}[-/:]?[0-9]{0,2}[-/: T]?[0-9]{0,2}[:. ]?[0-9]{0,4}[Z+-]?[0-9:]{0,5}",
    fullmatch=True,
)
field_values = st.one_of(json_values, timeish_text)


@given(
    date=field_values,
    time=field_values,
    datetime=field_values,
    zone_name=st.sampled_from(PROPERTY_ZONES),
)
def test_any_json_value_yields_a_valid_slot_or_invalid_time_value(
    date: object, time: object, datetime: object, zone_name: str
) -> None:
    result = attempt(date=date, time=time, datetime=datetime, zone=zone_name)
    if isinstance(result, InvalidTimeValue):
        assert result.field in ("appointment_date", "appointment_time", "appointment_datetime")
        assert len(result.value) <= 80
        assert str(result) == f"{result.field}: {result.reason} (got {result.value})"
    else:
        parse_slot(result)
    # The remembered conversion gives the same, converted then remembered; a refusal as a
    # value.
    for _ in range(2):
        kept = remembered_slot(date=date, time=time, datetime=datetime, zone=zone_name)
        if isinstance(result, InvalidTimeValue):
            assert isinstance(kept, InvalidTimeValue)
            assert (str(kept), kept.field, kept.group) == (str(result), result.field, result.group)
        else:
            assert kept == result


def test_a_refusal_groups_under_its_field_and_reason_without_the_value() -> None:
    first = attempt(date="2024-02-30", time="10:00")
    second = attempt(date="2023-02-29", time="11:00")
    assert isinstance(first, InvalidTimeValue) and isinstance(second, InvalidTimeValue)
    assert first.group == second.group == f"appointment_date: {NOT_A_DATE}"
    assert str(first) != str(second)


# Each warehouse's default timestamp text (docs/timezones.md), read in America/Chicago (CDT -5).
@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2024-07-20 14:00:00.000 -0500", "2024-07-20T19:00:00Z"),  # Snowflake TIMESTAMP_TZ/LTZ
        ("2024-07-20 14:00:00 +09:00", "2024-07-20T05:00:00Z"),
        ("2024-07-20 14:00:00.000", "2024-07-20T19:00:00Z"),  # Snowflake TIMESTAMP_NTZ
        ("2024-07-20 14:00:00.0000000 -05:00", "2024-07-20T19:00:00Z"),  # SQL Server
        ("2024-07-20 14:00:00.0000000", "2024-07-20T19:00:00Z"),  # SQL Server datetime2
        ("2024-07-20 14:00:00-05", "2024-07-20T19:00:00Z"),  # Postgres / Redshift
        ("2024-07-20 19:00:00+00", "2024-07-20T19:00:00Z"),
        ("2024-07-20 19:00:00.123456 UTC", "2024-07-20T19:00:00Z"),  # BigQuery TIMESTAMP
        ("2024-07-20T14:00:00.123456", "2024-07-20T19:00:00Z"),  # BigQuery DATETIME
        ("2024-07-20 14:00:00", "2024-07-20T19:00:00Z"),  # MySQL DATETIME
        ("2024-07-20T19:00:00.000+00:00", "2024-07-20T19:00:00Z"),  # Databricks TIMESTAMP
    ],
)
def test_warehouse_timestamp_texts(text: str, utc: str) -> None:
    assert appointment_slot(datetime=text, zone="America/Chicago").iso == utc


@pytest.mark.parametrize("text", ["2024-07-20 14:00:00  -05:00", "14:00 -05:00", "1721484000"])
def test_two_spaces_a_spaced_time_offset_and_epochs_stay_refused(text: str) -> None:
    with pytest.raises(InvalidTimeValue):
        appointment_slot(datetime=text, zone="UTC")
