"""One lead, one turn, one view: a lead's rows in several streams, against the sandbox.

Every row that names a lead takes the lead's turn in input order, whatever its stream or
mode, and every write updates the lead's appointments in the ledger, so each stream sees the
others' bookings and moves.
"""

from __future__ import annotations

from typing import Any

import pytest

from integration_tests.conftest import Cli, record, stream_state
from integration_tests.test_reschedules import applied_times, of_lead
from propexo_sandbox import Sandbox

LATER = "2041-07-21T15:00:00Z"


def stream(name: str, mode: str, *key: str) -> dict[str, Any]:
    return {
        "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["incremental"]},
        "sync_mode": "incremental",
        "destination_sync_mode": mode,
        "primary_key": [[column] for column in key],
    }


CATALOG = {
    "streams": [
        stream("slots", "append_dedup", "lead_id", "appointment_date", "appointment_time"),
        stream("leads", "append_dedup", "lead_id"),
        stream("moves", "update", "event_id"),
    ]
}


def row(stream_name: str, lead: str, date: str, time: str, **extra: Any) -> dict[str, Any]:
    return record(
        stream_name,
        lead_id=lead,
        lead_source_id="src-web",
        appointment_date=date,
        appointment_time=time,
        **extra,
    )


@pytest.mark.parametrize("first", ["slots", "leads"])
def test_one_lead_and_time_in_a_slot_keyed_and_a_lead_keyed_stream_is_one_booking(
    cli: Cli, sandbox: Sandbox, first: str
) -> None:
    second = "leads" if first == "slots" else "slots"
    messages = [
        row(first, "lead-1", "2041-07-21", "15:00"),
        row(second, "lead-1", "2041-07-21", "15:00"),
        stream_state("slots", 1),
        stream_state("leads", 1),
    ]
    result = cli.write(messages, catalog_=CATALOG)
    assert result.returncode == 0, result.stdout[-2000:]
    assert [t for _, t in of_lead(sandbox, "lead-1")] == ["2041-07-21T15:00:00.000Z"]
    assert sandbox.stats()["create"] == 1


def test_a_lead_keyed_move_then_a_move_by_event_id_reach_propexo_in_input_order(
    cli: Cli, sandbox: Sandbox
) -> None:
    event_id = sandbox.seed_appointment(lead_id="lead-1", utc=LATER)
    messages = [
        row("leads", "lead-1", "2041-08-01", "10:00"),
        row("moves", "lead-1", "2041-09-01", "11:00", event_id=event_id),
        stream_state("leads", 1),
        stream_state("moves", 1),
    ]
    result = cli.write(messages, catalog_=CATALOG)
    assert result.returncode == 0, result.stdout[-2000:]
    assert applied_times(sandbox) == ["10:00:00", "11:00:00"]
    assert of_lead(sandbox, "lead-1") == [(event_id, "2041-09-01T11:00:00.000Z")]
    # The slot-keyed stream sees where the moves left the tour: no second booking.
    again = cli.write(
        [row("slots", "lead-1", "2041-09-01", "11:00"), stream_state("slots", 2)],
        catalog_=CATALOG,
    )
    assert again.returncode == 0
    assert len(of_lead(sandbox, "lead-1")) == 1
