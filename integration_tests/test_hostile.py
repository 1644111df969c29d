"""A file of hostile records: each is booked exactly as given or rejected naming its field.

`fixtures/hostile.jsonl` holds one record per kind of bad value (wrong types, nulls, empty
strings, control characters, lone surrogates, odd Unicode, unknown columns, a stream not in
the catalog). Each record's `_expect` column (ignored by the mapper, never sent) says what
must happen: `book`, or `reject <field>`. Two 1 MB values are added here rather than
committed.
"""

from __future__ import annotations

import json
from typing import Any

from integration_tests.conftest import FIXTURES, INTEGRATION, Cli, jsonl, tour

HOSTILE = (FIXTURES / "hostile.jsonl").read_bytes()
MEGABYTE = 1_000_000


def huge_records() -> list[dict[str, Any]]:
    notes = tour("lead-huge-notes", notes="n" * MEGABYTE)
    notes["record"]["data"]["_expect"] = "reject notes"
    lead = tour("l" * MEGABYTE)
    lead["record"]["data"]["_expect"] = "reject lead_id"
    return [notes, lead]


def expected_body(data: dict[str, Any]) -> dict[str, Any]:
    """What the sandbox must hold for a record that is booked: the values, trimmed."""
    notes = data.get("notes")
    unit = data.get("unit_id")
    return {
        "lead": str(data["lead_id"]).strip(),
        "integration_id": data.get("integration_id") or INTEGRATION,
        "lead_source_id": data["lead_source_id"],
        "appointment_datetime": "2024-07-20T14:00:00.000Z",
        "notes": notes if isinstance(notes, str) and notes.strip() else None,
        "unit_id": str(unit) if unit not in (None, "") else None,
    }


def test_every_hostile_record_is_booked_exactly_or_rejected_naming_its_field(cli: Cli) -> None:
    stdin = jsonl(huge_records()) + HOSTILE
    inputs = [json.loads(line) for line in stdin.splitlines()]
    result = cli.write(stdin)

    assert result.returncode == 0, result.stderr
    outcomes = {o["line"]: o for o in result.outcomes}
    stored = {a["associated_lead_ids"][0]: a for a in cli.sandbox.appointments()}
    expected_bookings = 0
    for line, message in enumerate(inputs, 1):
        if message["type"] != "RECORD":
            continue
        data = message["record"]["data"]
        expect = data["_expect"]
        outcome = outcomes[line]
        if expect == "book":
            expected_bookings += 1
            assert outcome["outcome"] == "accepted", (line, outcome)
            want = expected_body(data)
            got = stored[want["lead"]]
            assert {
                "lead": got["associated_lead_ids"][0],
                "integration_id": got["integration_id"],
                "lead_source_id": got["lead_source_id"],
                "appointment_datetime": got["appointment_datetime"],
                "notes": got["notes"],
                "unit_id": got["unit_id"],
            } == want, line
        elif expect == "reject stream":
            assert outcome["reason"] == "stream 'not_configured' is not in the configured catalog"
        else:
            field = expect.removeprefix("reject ")
            assert outcome["outcome"] == "rejected", (line, data, outcome)
            assert outcome["reason"].startswith(f"{field}: "), (line, outcome["reason"])
            # A reason shows the bad value shortened, never a megabyte of it.
            assert len(outcome["reason"]) < 300
    assert len(stored) == len(cli.sandbox.appointments()) == expected_bookings
    assert [s["destinationStats"] for s in result.states] == [
        {
            "recordCount": expected_bookings,
            "rejectedRecordCount": len(inputs) - 3 - expected_bookings,
        },
        {"recordCount": 0, "rejectedRecordCount": 1},
    ]
