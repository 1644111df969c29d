"""Jobs confirmed from the write-logs feed, end to end: the real CLI against the sandbox over
real sockets. A confirmed booking costs about one request; every STATE is echoed, every job
confirmed; without the feed, each job costs its own write-status request."""

from __future__ import annotations

from typing import Any

from integration_tests.conftest import Cli, booked_slots, stream_state, tour

RECORDS = 300
STATE_EVERY = 50


def tours(count: int = RECORDS) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        messages.append(tour(f"lead-{n}", time=f"{n % 24:02d}:{n % 60:02d}"))
        if n % STATE_EVERY == 0:
            messages.append(stream_state("tours", n))
    return messages


def test_a_sync_confirms_every_job_from_the_feed_at_about_one_request_per_booking(
    cli: Cli,
) -> None:
    result = cli.write(tours())
    assert result.returncode == 0
    stats = cli.sandbox.stats()
    # Every record booked once, every job confirmed by ResMan, none by write status.
    booked = booked_slots(cli.sandbox)
    assert len(booked) == len(set(booked)) == RECORDS
    assert [o["write_status"] for o in result.outcomes] == ["SUCCESS"] * RECORDS
    assert stats["write_status"] == 0
    assert stats["create"] == RECORDS
    # The head of the run (append) reads each lead once before creating: a separate,
    # documented cost; confirming the jobs themselves costs ~one request per booking.
    # Head-of-run reads of leads, and the id look-up's reads of the newest appointments.
    (summary,) = result.log_containing("write summary")
    lookups = int(summary.split("id look-up ")[1].split(",")[0])
    assert stats["read_back"] - lookups <= len({lead for lead, _ in booked})
    assert (stats["total"] - stats["read_back"]) / RECORDS < 1.15
    # Every STATE echoed, in order, with its window's counts.
    assert [s["stream"]["stream_state"]["cursor"] for s in result.states] == list(
        range(STATE_EVERY, RECORDS + 1, STATE_EVERY)
    )
    assert {s["destinationStats"]["recordCount"] for s in result.states} == {STATE_EVERY}
    (summary,) = result.log_containing("write summary")
    assert f"jobs confirmed: from the write-logs feed {RECORDS}, by write status 0;" in summary


def test_a_write_resman_refuses_is_rejected_with_the_error_the_feed_gives(cli: Cli) -> None:
    result = cli.write([tour("lead-1"), tour("lead-missing-2"), stream_state("tours", 2)])
    refused = next(o for o in result.outcomes if o["lead_id"] == "lead-missing-2")
    assert refused["outcome"] == "rejected"
    assert refused["category"] == "write failed in ResMan"
    assert refused["reason"] == (
        "ResMan did not book the appointment: ResMan: Lead lead-missing-2 was not found"
    )
    assert refused["errors"] == ["ResMan: Lead lead-missing-2 was not found"]
    assert result.states[0]["destinationStats"] == {"recordCount": 1, "rejectedRecordCount": 1}
    assert cli.sandbox.stats()["write_status"] == 0


def test_without_the_feed_every_booking_costs_a_create_and_a_write_status(cli: Cli) -> None:
    result = cli.write(tours(100), config=cli.config(use_write_logs_feed=False))
    stats = cli.sandbox.stats()
    assert [o["write_status"] for o in result.outcomes] == ["SUCCESS"] * 100
    assert stats["write_logs"] == 0
    assert stats["write_status"] >= 100
    assert stats["total"] / 100 >= 2


def test_a_job_the_feed_does_not_show_in_time_is_confirmed_by_its_write_status(
    cli: Cli,
) -> None:
    # A job still PENDING (lead-slow-*) never shows in the feed: past half the time-out it is
    # asked for on its own, and accepted PENDING at the time-out, as before the feed.
    result = cli.write(
        [tour("lead-1"), tour("lead-slow-2"), stream_state("tours", 2)],
        config=cli.config(write_status_timeout_seconds=2),
    )
    slow = next(o for o in result.outcomes if o["lead_id"] == "lead-slow-2")
    assert (slow["outcome"], slow["write_status"]) == ("accepted", "PENDING")
    assert cli.sandbox.stats()["write_status"] >= 1
    assert result.log_containing("write-logs feed turned off") == []
