"""The one-upcoming-tour-per-lead rule: (row instant, sync start, appointments) -> plan."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from destination_propexo.propexo.client import BookedAppointment
from destination_propexo.sync.reschedule import (
    Create,
    Move,
    Nothing,
    Refuse,
    instant_of,
    plan_for_lead,
    utc_instant,
    utc_text,
)

START = dt.datetime(2041, 7, 1, 12, 0, tzinfo=dt.UTC)
PAST = START - dt.timedelta(days=3)
LATER = START + dt.timedelta(days=2)
LATEST = START + dt.timedelta(days=5)


def appt(event_id: str, when: dt.datetime) -> BookedAppointment:
    return BookedAppointment(event_id, when.strftime("%Y-%m-%d"), when.strftime("%H:%M:%S"))


OLD = appt("appt-old", PAST)
NEXT = appt("appt-next", LATER)
AFTER = appt("appt-after", LATEST)


def test_an_appointment_already_at_the_rows_instant_needs_nothing() -> None:
    assert plan_for_lead(LATER, START, [OLD, NEXT]) == Nothing(NEXT)


def test_a_past_row_matching_a_past_appointment_needs_nothing_too() -> None:
    assert plan_for_lead(PAST, START, [OLD, NEXT]) == Nothing(OLD)


def test_the_lead_s_one_upcoming_tour_moves_to_an_upcoming_row() -> None:
    to = LATER + dt.timedelta(hours=3)
    plan = plan_for_lead(to, START, [OLD, NEXT])
    assert plan == Move(NEXT, to)
    assert isinstance(plan, Move)
    assert plan.moved_from == "2041-07-03T12:00:00Z"


def test_an_upcoming_row_may_move_the_tour_earlier() -> None:
    to = START + dt.timedelta(minutes=1)
    assert plan_for_lead(to, START, [NEXT]) == Move(NEXT, to)


def test_a_lead_without_upcoming_tours_gets_the_row_created() -> None:
    assert plan_for_lead(LATER, START, []) == Create()
    assert plan_for_lead(LATER, START, [OLD]) == Create()


def test_a_past_row_is_created_and_never_moves_a_tour() -> None:
    assert plan_for_lead(PAST - dt.timedelta(hours=1), START, [NEXT]) == Create()
    assert plan_for_lead(PAST - dt.timedelta(hours=1), START, [NEXT, AFTER]) == Create()


def test_two_upcoming_tours_refuse_the_row_naming_both_and_how_to_move_one() -> None:
    plan = plan_for_lead(LATEST + dt.timedelta(days=1), START, [AFTER, OLD, NEXT])
    assert isinstance(plan, Refuse)
    assert "2 upcoming tours" in plan.reason
    # Soonest first; the past tour is not one of them.
    assert plan.reason.index("appt-next at 2041-07-03 12:00:00 UTC") < plan.reason.index(
        "appt-after at 2041-07-06 12:00:00 UTC"
    )
    assert "appt-old" not in plan.reason
    assert "event_id" in plan.reason and "'update'" in plan.reason


def test_a_tour_booked_by_this_sync_without_a_confirmed_id_is_named_as_such() -> None:
    plan = plan_for_lead(LATEST + dt.timedelta(days=1), START, [NEXT, appt("", LATEST)])
    assert isinstance(plan, Refuse)
    assert "one booked by this sync at 2041-07-06" in plan.reason


def test_two_tours_at_the_same_upcoming_instant_are_two_tours() -> None:
    twin = appt("appt-twin", LATER)
    assert isinstance(plan_for_lead(LATEST, START, [NEXT, twin]), Refuse)


def test_upcoming_means_later_than_the_sync_start() -> None:
    at_start = appt("appt-start", START)
    # A row at the very start is not upcoming: it is created, and moves nothing.
    assert plan_for_lead(START, START, [NEXT]) == Create()
    # A tour at the very start is history: it is not moved.
    assert plan_for_lead(LATER, START, [at_start]) == Create()
    one_second = START + dt.timedelta(seconds=1)
    assert plan_for_lead(one_second, START, [NEXT]) == Move(NEXT, one_second)


def test_instants_are_compared_in_utc_whatever_the_rows_offset() -> None:
    chicago = dt.timezone(dt.timedelta(hours=-5))
    same_instant = LATER.astimezone(chicago)
    assert plan_for_lead(same_instant, START, [NEXT]) == Nothing(NEXT)


def test_utc_helpers_round_trip() -> None:
    assert utc_instant("2041-07-21", "15:15:00") == dt.datetime(2041, 7, 21, 15, 15, tzinfo=dt.UTC)
    assert instant_of(NEXT) == LATER
    assert utc_text(LATER) == "2041-07-03T12:00:00Z"


# Every combination of up to three appointments over five instants around the sync start,
# and every row instant among them and two more: the four rules, checked as properties.
INSTANTS = [PAST, START, LATER, LATEST, LATEST + dt.timedelta(days=1)]
ROWS = [PAST - dt.timedelta(days=1), *INSTANTS]
LEADS = [
    [appt(f"appt-{i}-{number}", when) for number, (i, when) in enumerate(combo)]
    for size in range(4)
    for combo in itertools.combinations_with_replacement(enumerate(INSTANTS), size)
]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.isoformat())
def test_every_lead_and_row_follow_the_four_rules(row: dt.datetime) -> None:
    for appointments in LEADS:
        plan = plan_for_lead(row, START, appointments)
        upcoming = [a for a in appointments if instant_of(a) > START]
        at_row = [a for a in appointments if instant_of(a) == row]
        if at_row:
            assert plan == Nothing(at_row[0])
        elif row > START and len(upcoming) == 1:
            assert plan == Move(upcoming[0], row)
            assert instant_of(plan.appointment) > START  # never a past tour
        elif row <= START or not upcoming:
            assert plan == Create()
        else:
            assert isinstance(plan, Refuse)
            assert all(a.id in plan.reason for a in upcoming)
            assert not any(a.id in plan.reason for a in appointments if a not in upcoming)
        # The order the appointments were read in changes nothing but which twin is named.
        again = plan_for_lead(row, START, list(reversed(appointments)))
        assert type(again) is type(plan)
