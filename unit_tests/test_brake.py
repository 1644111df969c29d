"""The rejection brake's threshold and its summary of reasons (pure counting)."""

from __future__ import annotations

import pytest

from destination_propexo.errors import TooManyRejected
from destination_propexo.records import outcomes
from destination_propexo.records.outcomes import Accepted, Rejected
from destination_propexo.sync.brake import MIN_OUTCOMES, RejectionBrake, reason_group


def bad_time(value: str) -> Rejected:
    return Rejected(
        outcomes.INVALID_RECORD, f"appointment_time: is not a time of day (got {value!r})"
    )


def test_the_brake_waits_for_enough_outcomes_before_judging() -> None:
    brake = RejectionBrake(20)
    for _ in range(MIN_OUTCOMES - 1):
        brake.observe(bad_time("25:00"))
    with pytest.raises(TooManyRejected):
        brake.observe(bad_time("25:00"))


def test_the_brake_holds_at_the_threshold_and_stops_past_it() -> None:
    brake = RejectionBrake(30)
    for number in range(MIN_OUTCOMES):
        brake.observe(bad_time("x") if number < 30 else Accepted())
    with pytest.raises(TooManyRejected, match=r"31 of the first 101 records"):
        brake.observe(bad_time("x"))


def test_the_stop_names_the_three_most_frequent_reasons_without_their_values() -> None:
    brake = RejectionBrake(10)
    refused = Rejected(outcomes.REFUSED_BY_PROPEXO, "Propexo refused the record: lead not found")
    for number in range(MIN_OUTCOMES - 1):
        brake.observe(bad_time(f"{number}:99") if number % 3 else refused)
    with pytest.raises(TooManyRejected) as stopped:
        brake.observe(refused)
    message = str(stopped.value)
    assert "x invalid record: appointment_time: is not a time of day" in message
    assert "refused by Propexo" in message
    assert message.count(" x ") <= 3


def test_like_reasons_group_together_whatever_value_they_quote() -> None:
    assert reason_group(bad_time("25:00")) == reason_group(bad_time("7 pm"))
    assert reason_group(bad_time("25:00")) != reason_group(
        Rejected(outcomes.INVALID_RECORD, "lead_id: is required and must not be empty (got None)")
    )


def test_a_rejection_that_knows_its_group_counts_under_it_without_the_regex() -> None:
    kept = Rejected(
        outcomes.INVALID_RECORD,
        "appointment_date: is not a real calendar date (got '2024-02-30')",
        group="appointment_date: is not a real calendar date",
    )
    assert reason_group(kept) == "invalid record: appointment_date: is not a real calendar date"
    # Digits a reason states (not values) stay when the group is known.
    hours = Rejected(outcomes.INVALID_RECORD, "x (got '7')", group="appointment_time: hours 00-23")
    assert reason_group(hours) == "invalid record: appointment_time: hours 00-23"


def test_the_early_bound_judges_rejections_so_far_against_records_started() -> None:
    brake = RejectionBrake(20)
    refused = Rejected(outcomes.REFUSED_BY_PROPEXO, "Propexo refused the record: not RESMAN")
    # Fewer than MIN_OUTCOMES started: no judgement, however many were refused.
    for _ in range(30):
        brake.arrived(refused, started=MIN_OUTCOMES - 1)
    # 30 refused of 150 started is 20 %: at the threshold, not past it.
    brake.arrived(Accepted(), started=150)
    with pytest.raises(TooManyRejected, match=r"31 of the 150 records started so far"):
        brake.arrived(refused, started=150)


def test_the_early_bound_waits_for_no_accepted_outcome() -> None:
    # 70 % refused at once: the accepted rows' confirmations have not come, and need not.
    brake = RejectionBrake(20)
    refused = Rejected(outcomes.REFUSED_BY_PROPEXO, "Propexo refused the record: not RESMAN")
    stopped_at = None
    for started in range(1, 1000):
        try:
            brake.arrived(refused, started=MIN_OUTCOMES)
        except TooManyRejected:
            stopped_at = started
            break
    # The 21st refusal of 100 started is past 20 %.
    assert stopped_at == 21
