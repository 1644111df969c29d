"""Each PMS behind Propexo as data: its paths, fields, limits, update and read-back (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_propexo.records.values import loads_exact
from destination_propexo.records.vendors import (
    APPOINTMENT_TYPES,
    VENDORS,
    AppointmentDefaults,
    TimeRule,
    VendorFieldError,
    vendor_fields,
    vendor_named,
    vendor_terms,
)

NO_DEFAULTS = AppointmentDefaults()
ALL_VALUES = {
    "lead_source_id": "src-1",
    "unit_id": "unit-1",
    "employee_id": "emp-1",
    "notes": "Asked about parking",
    "title": "Tour",
    "appointment_duration_minutes": 30,
    "appointment_type": "TOUR",
}


def test_every_vendor_of_the_reference_has_its_slug_paths_and_time_rule() -> None:
    table = {
        code: (v.slug, v.time_rule, v.update is not None, v.readable_at_once)
        for code, v in VENDORS.items()
    }
    assert table == {
        "RESMAN": ("resman", TimeRule.UTC, True, True),
        "ENTRATA": ("entrata", TimeRule.MOUNTAIN, True, False),
        "RENTMANAGER": ("rentmanager", TimeRule.PROPERTY_ZONE, True, True),
        "REALPAGE_RPX": ("realpage_rpx", TimeRule.STATED_ZONE, True, True),
        "YARDI": ("yardi", TimeRule.PROPERTY_ZONE, False, True),
        "YARDI_REST": ("yardi_rest", TimeRule.PROPERTY_ZONE, False, False),
        "APPFOLIO": ("appfolio", TimeRule.UTC, True, True),
        "MRI": ("mri", TimeRule.UNDOCUMENTED, True, True),
    }
    entrata = VENDORS["ENTRATA"]
    assert entrata.create_path == "/v1/events/appointments/leads/entrata/"
    assert entrata.update_path("appt 1/2") == "/v1/events/appointments/leads/entrata/appt%201%2F2"


def test_vendor_strings_match_ignoring_case_and_unknown_ones_are_none() -> None:
    assert vendor_named(" entrata ") is VENDORS["ENTRATA"]
    assert vendor_named("BUILDIUM") is None
    assert vendor_named(None) is None


@pytest.mark.parametrize(
    ("code", "operation", "sent"),
    [
        ("RESMAN", "create", {"lead_source_id", "unit_id", "notes"}),
        ("RESMAN", "update", {"unit_id", "notes"}),
        (
            "ENTRATA",
            "create",
            {"appointment_duration_minutes", "appointment_type", "notes", "unit_id", "title"},
        ),
        (
            "ENTRATA",
            "update",
            {"notes", "unit_id", "appointment_duration_minutes", "appointment_type", "title"},
        ),
        (
            "RENTMANAGER",
            "create",
            {"appointment_duration_minutes", "title", "employee_id", "notes"},
        ),
        ("RENTMANAGER", "update", {"appointment_duration_minutes", "title", "notes"}),
        ("REALPAGE_RPX", "create", {"employee_id", "appointment_duration_minutes", "notes"}),
        ("REALPAGE_RPX", "update", {"appointment_duration_minutes", "notes"}),
        ("YARDI", "create", {"unit_id", "employee_id", "notes"}),
        ("YARDI_REST", "create", {"unit_id", "employee_id", "notes"}),
        (
            "APPFOLIO",
            "create",
            {"unit_id", "appointment_duration_minutes", "employee_id", "notes"},
        ),
        ("APPFOLIO", "update", {"appointment_duration_minutes", "employee_id", "notes"}),
        ("MRI", "create", {"employee_id", "notes"}),
    ],
)
def test_a_vendor_receives_only_the_fields_it_takes(
    code: str, operation: str, sent: set[str]
) -> None:
    fields = vendor_fields(VENDORS[code], operation, ALL_VALUES, NO_DEFAULTS)
    assert set(fields) == sent


@pytest.mark.parametrize(
    ("code", "missing", "words"),
    [
        ("RESMAN", "lead_source_id", "lead_source_id: ResMan requires it"),
        ("ENTRATA", "notes", "notes: Entrata requires it"),
        ("ENTRATA", "appointment_type", "appointment_type: Entrata requires it"),
        ("ENTRATA", "appointment_duration_minutes", "appointment_duration_minutes: Entrata"),
        ("RENTMANAGER", "title", "title: Rent Manager requires it"),
        ("REALPAGE_RPX", "employee_id", "employee_id: RealPage RPX requires it"),
        ("YARDI", "unit_id", "unit_id: Yardi requires it"),
        ("YARDI_REST", "employee_id", "employee_id: Yardi REST requires it"),
        ("APPFOLIO", "unit_id", "unit_id: AppFolio requires it"),
    ],
)
def test_a_missing_required_field_is_named_with_the_vendor(
    code: str, missing: str, words: str
) -> None:
    values = {name: value for name, value in ALL_VALUES.items() if name != missing}
    with pytest.raises(VendorFieldError, match=words):
        vendor_fields(VENDORS[code], "create", values, NO_DEFAULTS)


def test_entrata_needs_notes_on_a_move_too() -> None:
    with pytest.raises(VendorFieldError, match=r"notes: Entrata requires it .*also on a move"):
        vendor_fields(VENDORS["ENTRATA"], "update", {"appointment_type": "TOUR"}, NO_DEFAULTS)


def test_a_title_past_50_characters_is_refused() -> None:
    values = {**ALL_VALUES, "title": "x" * 51}
    with pytest.raises(VendorFieldError, match=r"title: Rent Manager takes at most 50 characters"):
        vendor_fields(VENDORS["RENTMANAGER"], "create", values, NO_DEFAULTS)
    values["title"] = "x" * 50
    assert vendor_fields(VENDORS["RENTMANAGER"], "create", values, NO_DEFAULTS)["title"] == "x" * 50


def test_entrata_appointment_types_are_its_four_values_in_any_case() -> None:
    assert APPOINTMENT_TYPES == ("LEASING_APPOINTMENT", "SELF_GUIDED_TOUR", "TOUR", "VIRTUAL_TOUR")
    values = {**ALL_VALUES, "appointment_type": " self_guided_tour "}
    fields = vendor_fields(VENDORS["ENTRATA"], "create", values, NO_DEFAULTS)
    assert fields["appointment_type"] == "SELF_GUIDED_TOUR"
    values["appointment_type"] = "SHOWING"
    with pytest.raises(VendorFieldError, match=r"appointment_type: Entrata takes one of"):
        vendor_fields(VENDORS["ENTRATA"], "create", values, NO_DEFAULTS)


@pytest.mark.parametrize("good", [30, "45", 90.0, " 15 "])
def test_a_duration_is_a_whole_number_of_minutes(good: object) -> None:
    values = {**ALL_VALUES, "appointment_duration_minutes": good}
    fields = vendor_fields(VENDORS["APPFOLIO"], "create", values, NO_DEFAULTS)
    assert fields["appointment_duration_minutes"] == int(str(good).strip().removesuffix(".0"))


@pytest.mark.parametrize("bad", [0, -5, 1.5, "30 min", True, "", [30], 10**7])
def test_a_duration_that_is_not_a_positive_whole_number_is_refused(bad: object) -> None:
    values = {**ALL_VALUES, "appointment_duration_minutes": bad}
    with pytest.raises(VendorFieldError, match=r"^appointment_duration_minutes: AppFolio"):
        vendor_fields(VENDORS["APPFOLIO"], "create", values, NO_DEFAULTS)


def test_defaults_fill_what_the_row_leaves_empty_and_never_override_it() -> None:
    defaults = AppointmentDefaults(duration_minutes=45, appointment_type="TOUR", title="Tour")
    values = {"notes": "Parking", "title": "  "}
    fields = vendor_fields(VENDORS["ENTRATA"], "create", values, defaults)
    assert fields == {
        "appointment_duration_minutes": 45,
        "appointment_type": "TOUR",
        "notes": "Parking",
        "title": "Tour",
    }
    fields = vendor_fields(
        VENDORS["ENTRATA"], "create", {**values, "appointment_duration_minutes": 20}, defaults
    )
    assert fields["appointment_duration_minutes"] == 20


def test_entrata_notes_must_hold_a_character_and_yardi_notes_at_most_256() -> None:
    with pytest.raises(VendorFieldError, match="notes: Entrata requires it"):
        vendor_fields(VENDORS["ENTRATA"], "create", {**ALL_VALUES, "notes": "   "}, NO_DEFAULTS)
    with pytest.raises(VendorFieldError, match="notes: Yardi takes at most 256 characters"):
        vendor_fields(VENDORS["YARDI"], "create", {**ALL_VALUES, "notes": "n" * 257}, NO_DEFAULTS)


def test_a_vendor_without_an_update_refuses_a_move() -> None:
    with pytest.raises(VendorFieldError, match="Yardi has no documented lead appointment update"):
        vendor_fields(VENDORS["YARDI"], "update", ALL_VALUES, NO_DEFAULTS)


@settings(max_examples=300, deadline=None)
@given(
    code=st.sampled_from(sorted(VENDORS)),
    operation=st.sampled_from(["create", "update"]),
    values=st.dictionaries(
        st.sampled_from(sorted(ALL_VALUES)),
        st.one_of(st.none(), st.text(max_size=60), st.integers(-5, 500)),
    ),
)
def test_what_is_sent_is_always_a_field_the_vendor_takes_within_its_limits(
    code: str, operation: str, values: dict[str, object]
) -> None:
    vendor = VENDORS[code]
    try:
        fields = vendor_fields(vendor, operation, values, NO_DEFAULTS)
    except VendorFieldError as refused:
        reason = str(refused)
        fields = {}
    else:
        reason = ""
    if reason:
        assert reason.split(":")[0] in (*ALL_VALUES, "event_id")
        assert vendor.name in reason
        return
    rules = vendor.operation(operation)
    assert rules is not None
    taken = {rule.name: rule for rule in rules.fields}
    assert set(fields) <= set(taken)
    assert {name for name, rule in taken.items() if rule.required} <= set(fields)
    for name, value in fields.items():
        rule = taken[name]
        if isinstance(value, str):
            assert rule.min_length <= len(value) <= (rule.max_length or len(value))
        else:
            assert value > 0


@pytest.mark.parametrize(("text", "minutes"), [("30.0", 30), ("45.00", 45), ("3e1", 30)])
def test_a_duration_read_from_a_json_decimal_is_taken_when_whole(text: str, minutes: int) -> None:
    # Records are read with loads_exact, which keeps `30.0` (a FLOAT or NUMBER(p,s) column)
    # as a JsonNumber: a whole number of minutes all the same.
    duration = loads_exact(f'{{"d": {text}}}'.encode())["d"]
    values = {**ALL_VALUES, "appointment_duration_minutes": duration}
    fields = vendor_fields(VENDORS["APPFOLIO"], "create", values, NO_DEFAULTS)
    assert fields["appointment_duration_minutes"] == minutes


@pytest.mark.parametrize("text", ["30.5", "NaN", "Infinity", "-30.0", "0.0", "1e400"])
def test_a_json_decimal_duration_that_is_not_a_positive_whole_number_is_refused(
    text: str,
) -> None:
    duration = loads_exact(f'{{"d": {text}}}'.encode())["d"]
    values = {**ALL_VALUES, "appointment_duration_minutes": duration}
    with pytest.raises(VendorFieldError, match=r"^appointment_duration_minutes: AppFolio"):
        vendor_fields(VENDORS["APPFOLIO"], "create", values, NO_DEFAULTS)


def test_check_warns_that_a_tour_booked_since_propexos_data_sync_cannot_be_moved() -> None:
    # A one-upcoming-tour row cannot move a tour booked since Propexo's last data sync (its
    # id is not known yet), which the user must hear at check.
    terms = vendor_terms(VENDORS["ENTRATA"])
    assert "one-upcoming-tour row cannot move a tour booked since" in terms
    assert "one-upcoming-tour" not in vendor_terms(VENDORS["RESMAN"])
    # Yardi REST has no update: its one-upcoming-tour streams are refused outright.
    assert "one-upcoming-tour row cannot move" not in vendor_terms(VENDORS["YARDI_REST"])


def test_check_tells_a_realpage_user_that_rows_without_a_stated_zone_are_refused() -> None:
    terms = vendor_terms(VENDORS["REALPAGE_RPX"])
    assert "property_timezone" in terms
    assert "refused" in terms


@pytest.mark.parametrize(
    ("title", "fits"),
    [
        ("é" * 50, True),  # 50 UTF-16 code units
        ("e\u0301" * 25, True),  # 50 code points, 50 units
        ("😀" * 25, True),  # 25 code points, 50 units
        ("😀" * 26, False),  # 26 code points, 52 units: Propexo's Zod max(50) refuses it
        ("a" * 49 + "😀", False),  # 50 code points, 51 units
    ],
)
def test_a_title_is_measured_as_propexo_measures_it_in_utf16_code_units(
    title: str, fits: bool
) -> None:
    values = {**ALL_VALUES, "title": title}
    if fits:
        assert (
            vendor_fields(VENDORS["RENTMANAGER"], "create", values, NO_DEFAULTS)["title"] == title
        )
        return
    with pytest.raises(VendorFieldError, match=r"^title: Rent Manager takes at most 50 characters"):
        vendor_fields(VENDORS["RENTMANAGER"], "create", values, NO_DEFAULTS)


def test_yardi_notes_are_measured_in_utf16_code_units() -> None:
    values = {**ALL_VALUES, "notes": "🏠" * 129}  # 258 units
    with pytest.raises(VendorFieldError, match=r"^notes: Yardi takes at most 256 characters"):
        vendor_fields(VENDORS["YARDI"], "create", values, NO_DEFAULTS)
