"""How each vendor reads a date and time: the zone chosen per vendor, and the wall clock sent.

Expected wall clocks are worked out by hand from known offsets (EDT -4, CDT -5, MDT -6, MST
-7), or, in the properties, by the standard library's zoneinfo as an independent oracle.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_propexo.records.mapping import FieldMatcher, OneVendor, Rejection, map_record
from destination_propexo.records.timezones import (
    DST_ZONES,
    InvalidTimeValue,
    UtcSlot,
    ZoneSetting,
    appointment_slot,
    wall_clock,
    zone_for_setting,
)
from destination_propexo.records.vendors import (
    VENDORS,
    VendorFieldError,
    time_reading,
    zone_terms,
)

CHICAGO_TOUR = appointment_slot(date="2027-07-20", time="14:00", zone="America/Chicago")
EASTERN = ZoneSetting(offset="-05:00", observes_dst=True, property_id="prop-east")
CENTRAL_GLOBAL = ZoneSetting(offset="-06:00", observes_dst=True, property_id=None)
ARIZONA = ZoneSetting(offset="-07:00", observes_dst=False, property_id="prop-az")


def sent(code: str, **where: object) -> tuple[str, str]:
    reading = time_reading(VENDORS[code], **where)  # type: ignore[arg-type]
    clock = wall_clock(CHICAGO_TOUR, reading.zone)
    return clock.date, clock.time


def test_a_chicago_tour_reaches_each_vendor_as_its_own_wall_clock() -> None:
    assert UtcSlot("2027-07-20", "19:00:00") == CHICAGO_TOUR
    assert sent("RESMAN") == ("2027-07-20", "19:00:00")
    assert sent("APPFOLIO") == ("2027-07-20", "19:00:00")
    assert sent("ENTRATA") == ("2027-07-20", "13:00:00")
    eastern = {"property_id": "prop-east", "settings": (EASTERN, CENTRAL_GLOBAL)}
    assert sent("RENTMANAGER", **eastern) == ("2027-07-20", "15:00:00")
    assert sent("YARDI", **eastern) == ("2027-07-20", "15:00:00")
    assert sent("YARDI_REST", **eastern) == ("2027-07-20", "15:00:00")
    stated = {"stated_zone": "America/Los_Angeles"}
    assert sent("REALPAGE_RPX", **stated) == ("2027-07-20", "12:00:00")


def test_the_property_row_wins_then_the_integration_row_then_the_vendor_default() -> None:
    rent_manager = VENDORS["RENTMANAGER"]
    both = (EASTERN, CENTRAL_GLOBAL)
    assert time_reading(rent_manager, property_id="prop-east", settings=both).zone == (
        "America/New_York"
    )
    assert time_reading(rent_manager, property_id="prop-other", settings=both).zone == (
        "America/Chicago"
    )
    # A row naming no property could be prop-east's, an hour from the integration-wide zone.
    with pytest.raises(VendorFieldError, match=r"^property_id: Rent Manager .*prop-east: -05:00"):
        time_reading(rent_manager, property_id=None, settings=both)
    same = (ZoneSetting("-06:00", True, "prop-central"), CENTRAL_GLOBAL)
    assert time_reading(rent_manager, property_id=None, settings=same).zone == "America/Chicago"
    assert time_reading(rent_manager, property_id=None, settings=(EASTERN,)).zone == (
        "America/New_York"
    )
    with pytest.raises(VendorFieldError, match=r"^property_id: Rent Manager .*prop-az"):
        time_reading(rent_manager, property_id=None, settings=(EASTERN, ARIZONA))
    fallback = time_reading(rent_manager, property_id="prop-other", settings=(EASTERN,))
    assert fallback.zone == "America/New_York"
    assert "Rent Manager's default" in fallback.rule
    arizona = time_reading(rent_manager, property_id="prop-az", settings=(ARIZONA,))
    assert arizona.zone == "America/Phoenix"
    assert (
        arizona.rule == "America/Phoenix (property prop-az in GET /v1/timezones/: -07:00, no DST)"
    )


def test_the_rule_names_which_fallback_chose_the_zone_and_why() -> None:
    rent_manager, yardi = VENDORS["RENTMANAGER"], VENDORS["YARDI"]
    both = (EASTERN, CENTRAL_GLOBAL)
    wide = "America/Chicago (integration-wide row in GET /v1/timezones/: -06:00, DST; "
    assert time_reading(yardi, property_id="prop-other", settings=both).rule == (
        wide + "property prop-other has no row of its own)"
    )
    same = (ZoneSetting("-06:00", True, "prop-central"), CENTRAL_GLOBAL)
    assert time_reading(rent_manager, property_id=None, settings=same).rule == (
        wide + "the row names no property)"
    )
    assert time_reading(rent_manager, property_id="prop-other", settings=(EASTERN,)).rule == (
        "America/New_York (Rent Manager's default: GET /v1/timezones/ has no row for property "
        "prop-other and no integration-wide row)"
    )
    assert time_reading(rent_manager, property_id=None, settings=()).rule == (
        "America/New_York (Rent Manager's default: the row names no property and "
        "GET /v1/timezones/ has no integration-wide row)"
    )
    # The property's own row names the property alone: no fallback was taken.
    assert time_reading(yardi, property_id="prop-east", settings=both).rule == (
        "America/New_York (property prop-east in GET /v1/timezones/: -05:00, DST)"
    )


def test_yardi_without_any_zone_row_is_refused_naming_the_property() -> None:
    with pytest.raises(VendorFieldError, match=r"^property_id: Yardi reads .* nor a row for 'p9'"):
        time_reading(VENDORS["YARDI"], property_id="p9", settings=())


def test_realpage_without_a_stated_zone_is_refused_not_guessed() -> None:
    with pytest.raises(VendorFieldError, match=r"^property_timezone: RealPage RPX reads"):
        time_reading(VENDORS["REALPAGE_RPX"], property_id="p1", settings=(EASTERN,))


def test_mri_time_rule_is_undocumented_so_it_is_refused() -> None:
    with pytest.raises(VendorFieldError, match=r"MRI .*not documented"):
        time_reading(VENDORS["MRI"])


def test_entrata_and_utc_vendors_ignore_zone_rows_and_stated_zones() -> None:
    reading = time_reading(
        VENDORS["ENTRATA"], property_id="prop-east", settings=(EASTERN,), stated_zone="UTC"
    )
    assert (reading.zone, reading.rule) == ("America/Denver", "America/Denver (Entrata)")
    assert time_reading(VENDORS["RESMAN"], stated_zone="America/Chicago").zone == "UTC"


@pytest.mark.parametrize(
    ("offset", "dst", "zone"),
    [
        ("-05:00", True, "America/New_York"),
        ("-06:00", True, "America/Chicago"),
        ("-07:00", True, "America/Denver"),
        ("-08:00", True, "America/Los_Angeles"),
        ("-09:00", True, "America/Anchorage"),
        ("-10:00", True, "America/Adak"),
        ("-04:00", True, "America/Halifax"),
        ("-03:30", True, "America/St_Johns"),
        ("-07:00", False, "America/Phoenix"),
        ("-10:00", False, "Pacific/Honolulu"),
        ("-04:00", False, "America/Puerto_Rico"),
        ("+00:00", False, "UTC"),
        ("-05:00", False, "Etc/GMT+5"),
        ("+09:00", False, "Etc/GMT-9"),
    ],
)
def test_standard_offset_and_dst_flag_map_to_a_rule(offset: str, dst: bool, zone: str) -> None:
    assert zone_for_setting(ZoneSetting(offset, dst)) == zone


@pytest.mark.parametrize(
    ("offset", "dst", "reason"),
    [
        ("-05:00", None, "does not say whether daylight saving applies"),
        ("+05:30", True, "no US or Canadian zone"),
        ("+05:30", False, "not a whole number of hours"),
        ("-5", False, "is not an offset such as -05:00"),
        ("-15:00", False, "is not an offset such as -05:00"),
        # No zone lies west of UTC-12 (and tz has no Etc/GMT+13): refused, never a crash.
        ("-13:00", False, "is not an offset such as -05:00"),
        ("-14:00", False, "is not an offset such as -05:00"),
        (None, True, "is missing from the zone setting"),
    ],
)
def test_an_offset_without_a_known_rule_is_refused(
    offset: str | None, dst: bool | None, reason: str
) -> None:
    with pytest.raises(InvalidTimeValue, match=reason):
        zone_for_setting(ZoneSetting(offset, dst))


@pytest.mark.parametrize("hours", range(-12, 15))
def test_every_whole_hour_offset_without_dst_is_a_zone_a_wall_clock_can_be_read_in(
    hours: int,
) -> None:
    offset = f"{'-' if hours < 0 else '+'}{abs(hours):02d}:00"
    zone = zone_for_setting(ZoneSetting(offset, False))
    sent = wall_clock(UtcSlot("2027-07-20", "12:00:00"), zone)
    assert (sent.date, sent.time) == (
        f"2027-07-{20 + (12 + hours) // 24}",
        f"{(12 + hours) % 24:02d}:00:00",
    )


def test_each_dst_zone_has_the_standard_offset_it_is_filed_under() -> None:
    january = dt.datetime(2027, 1, 15, 12, tzinfo=dt.UTC)
    for (offset, _), zone in DST_ZONES.items():
        standard = january.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%z")
        assert f"{standard[:3]}:{standard[3:]}" == offset


def test_a_wall_clock_of_the_fall_back_hour_is_sent_once_with_a_note_and_refused_twice() -> None:
    # 2027-11-07 01:30 happens at 07:30Z (MDT, first) and 08:30Z (MST, second) in Denver.
    first = wall_clock(UtcSlot("2027-11-07", "07:30:00"), "America/Denver")
    assert (first.date, first.time) == ("2027-11-07", "01:30:00")
    assert first.notes == (
        "the PMS reads 2027-11-07 01:30:00, which happens twice in America/Denver; this tour "
        "is the first (MDT, UTC-06:00)",
    )
    with pytest.raises(InvalidTimeValue, match=r"the second time 2027-11-07 01:30:00 .*Denver"):
        wall_clock(UtcSlot("2027-11-07", "08:30:00"), "America/Denver")


# --- every US change of 2024-2030, each way, seconds around it -------------------------------


def transitions(zone: str) -> list[dt.datetime]:
    """UTC instants at which `zone` changes offset in 2024-2030 (found hour by hour)."""
    tz = zoneinfo.ZoneInfo(zone)
    found = []
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    while moment.year < 2031:
        after = moment + dt.timedelta(hours=1)
        if moment.astimezone(tz).utcoffset() != after.astimezone(tz).utcoffset():
            found.append(after)
        moment = after
    return found


CHANGES = [
    (zone, change)
    for zone in ("America/Denver", "America/New_York", "America/Chicago", "America/Halifax")
    for change in transitions(zone)
]


def test_the_changes_found_are_two_a_year() -> None:
    assert len(CHANGES) == 4 * 7 * 2


@settings(max_examples=1500, deadline=None)
@given(
    case=st.sampled_from(CHANGES),
    seconds=st.integers(-3 * 3600, 3 * 3600),
)
def test_around_every_change_the_wall_clock_is_the_zones_and_reads_back_to_the_instant(
    case: tuple[str, dt.datetime], seconds: int
) -> None:
    zone, change = case
    instant = change + dt.timedelta(seconds=seconds)
    slot = UtcSlot(instant.strftime("%Y-%m-%d"), instant.strftime("%H:%M:%S"))
    local = instant.astimezone(zoneinfo.ZoneInfo(zone))
    second_of_two = local.fold == 1
    if second_of_two:
        with pytest.raises(InvalidTimeValue, match="second time"):
            wall_clock(slot, zone)
        return
    clock = wall_clock(slot, zone)
    assert (clock.date, clock.time) == (local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S"))
    # The PMS reads the wall clock in its zone (first occurrence): the same instant.
    back = appointment_slot(date=clock.date, time=clock.time, zone=zone)
    assert (back.date, back.time) == (slot.date, slot.time)
    repeated = local.replace(fold=1).utcoffset() != local.utcoffset()
    assert bool(clock.notes) == repeated


@settings(max_examples=300, deadline=None)
@given(st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2030, 12, 31)))
def test_utc_is_sent_as_it_is(moment: dt.datetime) -> None:
    slot = UtcSlot(moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S"))
    clock = wall_clock(slot, "UTC")
    assert (clock.date, clock.time, clock.notes) == (slot.date, slot.time, ())


def test_a_row_in_the_pmss_repeated_hour_is_rejected_naming_the_vendor() -> None:
    # 08:30Z on 2027-11-07 is the second 01:30 in Denver (MST): Entrata would read the first.
    row = {"lead_id": "l1", "notes": "n", "appointment_datetime": "2027-11-07T08:30:00Z"}
    mapped = map_record(
        {**row, "appointment_duration_minutes": 30, "appointment_type": "TOUR"},
        default_integration_id="intg-1",
        zone="UTC",
        matcher=FieldMatcher.build(),
        integrations=OneVendor(VENDORS["ENTRATA"]),
    )
    assert isinstance(mapped, Rejection)
    assert mapped.reason.startswith(
        "appointment_time: Entrata reads America/Denver (Entrata): the tour is the second time "
        "2027-11-07 01:30:00 happens in America/Denver"
    )


def test_zone_terms_say_the_integrations_zone_or_refuse_a_yardi_without_any() -> None:
    rent_manager, yardi = VENDORS["RENTMANAGER"], VENDORS["YARDI"]
    assert zone_terms(rent_manager, (CENTRAL_GLOBAL, EASTERN)) == (
        "GET /v1/timezones/: integration-wide America/Chicago (-06:00, DST), 1 property row"
    )
    assert zone_terms(rent_manager, ()) == (
        "GET /v1/timezones/: no integration-wide row, so a property without its own row gets "
        "America/New_York; 0 property rows"
    )
    assert zone_terms(yardi, (EASTERN,)) == (
        "GET /v1/timezones/: no integration-wide row, so a property without its own row is "
        "refused; 1 property row"
    )
    with pytest.raises(VendorFieldError, match="has no zone row for this integration"):
        zone_terms(yardi, ())
    with pytest.raises(VendorFieldError, match=r"row \(integration-wide row\) has no known rule"):
        zone_terms(yardi, (ZoneSetting("+05:30", True),))


def test_an_unusable_integration_wide_row_refuses_only_properties_without_their_own() -> None:
    # check passes where properties have rows of their own, and says who is refused.
    for wide in (ZoneSetting(None, True), ZoneSetting("+05:30", True)):
        terms = zone_terms(VENDORS["RENTMANAGER"], (wide, EASTERN))
        assert terms.startswith("GET /v1/timezones/: the integration-wide row has no known rule")
        assert terms.endswith("so a property without its own row is refused; 1 property row")
