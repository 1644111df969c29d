"""Warehouse values exactly as they arrive, end to end against the sandbox over real sockets.

The files in fixtures/warehouse_values/ are real failing inputs, kept byte for byte: a line
starting with `# config:` holds options added to the working config, every other line goes
to stdin as written (some are not valid JSON on purpose). Expected instants are worked out
by hand (CDT -5, MDT -6, EDT -4), never by calling the connector's own conversion.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from integration_tests.conftest import (
    FIXTURES,
    Cli,
    CliResult,
    booked_slots,
    jsonl,
    record,
    stream_state,
)

CASES = FIXTURES / "warehouse_values"


def run_case(cli: Cli, name: str) -> tuple[CliResult, bytes]:
    """Write one case file; returns the result and the stdin it was given."""
    options: dict[str, Any] = {}
    stdin = b""
    for line in (CASES / name).read_bytes().splitlines(keepends=True):
        if line.startswith(b"# config:"):
            options.update(json.loads(line[len(b"# config:") :]))
        else:
            stdin += line
    return cli.write(stdin, config=cli.config(**options)), stdin


def exact(text: str | bytes) -> Any:
    """JSON parsed with every number kept as the text it was written as."""
    return json.loads(text, parse_int=str, parse_float=str, parse_constant=str)


def echoed_states(result: CliResult) -> list[Any]:
    return [
        exact(line)["state"]
        for line in result.stdout.splitlines()
        if json.loads(line)["type"] == "STATE"
    ]


def test_a_bom_on_the_first_header_still_names_lead_id(cli: Cli) -> None:
    result, _ = run_case(cli, "bom_in_first_header.jsonl")
    assert result.returncode == 0, result.traces
    assert booked_slots(cli.sandbox) == [("lead-bom-1", "2024-07-20T19:00:00.000Z")]


def test_a_decomposed_header_matches_its_composed_mapping(cli: Cli) -> None:
    result, _ = run_case(cli, "nfd_header_vs_nfc_mapping.jsonl")
    assert result.returncode == 0, result.traces
    assert sorted(booked_slots(cli.sandbox)) == [
        ("lead-nfc-2", "2024-07-20T20:00:00.000Z"),
        ("lead-nfd-1", "2024-07-20T19:00:00.000Z"),
    ]


def test_a_nan_costs_only_its_own_row_naming_the_field(cli: Cli) -> None:
    result, _ = run_case(cli, "nan_in_numeric_column.jsonl")
    assert result.returncode == 0, result.traces
    assert sorted(booked_slots(cli.sandbox)) == [
        ("lead-nan-1", "2024-07-20T19:00:00.000Z"),
        ("lead-nan-3", "2024-07-20T21:00:00.000Z"),
    ]
    rejected = [o for o in result.outcomes if o["outcome"] == "rejected"]
    assert [(o["lead_id"], o["reason"].split(":")[0]) for o in rejected] == [
        ("lead-nan-2", "unit_id")
    ]
    assert "NaN" in rejected[0]["reason"]
    assert [s["destinationStats"] for s in result.states] == [
        {"recordCount": 1, "rejectedRecordCount": 0},
        {"recordCount": 1, "rejectedRecordCount": 1},
    ]


def test_numbers_are_echoed_with_every_digit_and_integer_ids_sent_whole(cli: Cli) -> None:
    result, stdin = run_case(cli, "integers_beyond_64_bits.jsonl")
    assert result.returncode == 0, result.traces
    sent = [exact(line)["state"] for line in stdin.splitlines() if b'"STATE"' in line]
    echoed = echoed_states(result)
    for state in echoed:
        del state["destinationStats"]
    assert echoed == sent
    assert sorted(booked_slots(cli.sandbox)) == [
        ("18446744073709551616", "2024-07-20T19:00:00.000Z"),
        ("9223372036854775807", "2024-07-20T20:00:00.000Z"),
    ]


def test_snowflake_and_iso_offsets_after_a_space_are_read(cli: Cli) -> None:
    result, _ = run_case(cli, "snowflake_tz_space_before_offset.jsonl")
    assert result.returncode == 0, result.traces
    assert sorted(booked_slots(cli.sandbox)) == [
        ("lead-sf-1", "2024-07-20T19:00:00.000Z"),
        ("lead-sf-2", "2024-07-20T05:00:00.000Z"),
    ]


HEADER_VARIANTS = ["Lead ID", "lead-id", "LEAD_ID", "\ufeffLead_Id", "lead.id", "Lead\u00a0ID"]


def test_header_variants_are_booked(cli: Cli) -> None:
    rows = [
        record(
            **{
                header: f"lead-h{n}",
                "Lead Source ID": "src-web",
                "Appointment-Datetime": "2024-07-20T14:00:00Z",
            }
        )
        for n, header in enumerate(HEADER_VARIANTS)
    ]
    result = cli.write([*rows, stream_state("tours", 1)])
    assert result.returncode == 0, result.traces
    assert sorted(lead for lead, _ in booked_slots(cli.sandbox)) == [
        f"lead-h{n}" for n in range(len(HEADER_VARIANTS))
    ]


def test_a_missing_field_names_the_columns_that_matched_nothing(cli: Cli) -> None:
    rows = [record(prospect="lead-1", lead_source_id="s", appointment_datetime="2024-07-20")]
    result = cli.write(rows)
    (outcome,) = result.outcomes
    assert outcome["outcome"] == "rejected"
    assert outcome["reason"].startswith("lead_id: is required")
    assert "'prospect'" in outcome["reason"]


def test_two_columns_folding_to_one_name_are_refused_once_before_any_request(cli: Cli) -> None:
    catalog_ = {
        "streams": [
            {
                "stream": {
                    "name": "tours",
                    "json_schema": {
                        "type": "object",
                        "properties": {"Lead ID": {}, "LEAD_ID": {}, "lead_source_id": {}},
                    },
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "append",
            }
        ]
    }
    rows = [record(**{"Lead ID": "a", "LEAD_ID": "b", "lead_source_id": "s"})]
    result = cli.write(rows, catalog_=catalog_)
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert "'Lead ID'" in trace["error"]["message"]
    assert "'LEAD_ID'" in trace["error"]["message"]
    assert cli.sandbox.stats()["total"] == 0


# Warehouse timestamp texts as each warehouse writes them, and their UTC instant (by hand).
WAREHOUSE_TEXTS = {
    "snowflake-tz": ("2024-07-20 14:00:00.000 -0500", "2024-07-20T19:00:00.000Z"),
    "snowflake-ntz": ("2024-07-20 14:00:00.000", "2024-07-20T19:00:00.000Z"),
    "sqlserver-datetimeoffset": ("2024-07-20 14:00:00.0000000 -05:00", "2024-07-20T19:00:00.000Z"),
    "postgres-timestamptz": ("2024-07-20 14:00:00-05", "2024-07-20T19:00:00.000Z"),
    "redshift-timestamptz": ("2024-07-20 19:00:00+00", "2024-07-20T19:00:00.000Z"),
    "bigquery-timestamp": ("2024-07-20 19:00:00.123456 UTC", "2024-07-20T19:00:00.000Z"),
    "databricks-timestamp": ("2024-07-20T19:00:00.000+00:00", "2024-07-20T19:00:00.000Z"),
    "mysql-datetime": ("2024-07-20 14:00:00.123456", "2024-07-20T19:00:00.000Z"),
}


@pytest.mark.parametrize("warehouse", list(WAREHOUSE_TEXTS))
def test_warehouse_timestamp_texts_land_at_their_utc_instant(cli: Cli, warehouse: str) -> None:
    text, utc = WAREHOUSE_TEXTS[warehouse]
    rows = [record(lead_id="lead-w", lead_source_id="s", appointment_datetime=text)]
    result = cli.write(rows, config=cli.config(source_timezone="America/Chicago"))
    assert result.returncode == 0, result.traces
    assert booked_slots(cli.sandbox) == [("lead-w", utc)], result.outcomes


def test_denver_and_new_york_rows_in_one_sync_land_at_their_zones_instants(cli: Cli) -> None:
    rows = [
        record(
            lead_id="lead-den",
            lead_source_id="s",
            appointment_datetime="2024-07-20 14:00",
            appointment_timezone="America/Denver",
        ),
        record(
            lead_id="lead-nyc",
            lead_source_id="s",
            appointment_datetime="2024-07-20 14:00",
            appointment_timezone="America/New_York",
        ),
        record(lead_id="lead-chi", lead_source_id="s", appointment_datetime="2024-07-20 14:00"),
        record(
            lead_id="lead-est",
            lead_source_id="s",
            appointment_datetime="2024-07-20 14:00",
            appointment_timezone="EST",
        ),
        record(
            lead_id="lead-mars",
            lead_source_id="s",
            appointment_datetime="2024-07-20 14:00",
            appointment_timezone="Mars/Olympus",
        ),
        stream_state("tours", 1),
    ]
    result = cli.write(rows, config=cli.config(source_timezone="America/Chicago"))
    assert result.returncode == 0, result.traces
    assert sorted(booked_slots(cli.sandbox)) == [
        ("lead-chi", "2024-07-20T19:00:00.000Z"),
        ("lead-den", "2024-07-20T20:00:00.000Z"),
        ("lead-nyc", "2024-07-20T18:00:00.000Z"),
    ]
    reasons = {o["lead_id"]: o.get("reason") for o in result.outcomes}
    assert reasons["lead-est"].startswith("appointment_timezone: is a fixed UTC-05:00")
    assert reasons["lead-mars"].startswith("appointment_timezone: is not a known IANA")


def test_a_mapped_zone_column_overrides_source_timezone(cli: Cli) -> None:
    rows = [
        record(
            lead_id="lead-den",
            lead_source_id="s",
            appointment_datetime="2024-07-20 14:00",
            PROPERTY_TZ="America/Denver",
        ),
    ]
    mappings = [{"source_column": "property_tz", "api_field": "appointment_timezone"}]
    result = cli.write(rows, config=cli.config(field_mappings=mappings))
    assert result.returncode == 0, result.traces
    assert booked_slots(cli.sandbox) == [("lead-den", "2024-07-20T20:00:00.000Z")]


def test_the_sources_changes_are_named_in_the_reason_and_the_note(cli: Cli) -> None:
    nulled = record(
        lead_id="lead-n", lead_source_id="s", appointment_date="2024-07-20", appointment_time=None
    )
    nulled["record"]["meta"] = {
        "changes": [
            {
                "field": "APPOINTMENT_TIME",
                "change": "NULLED",
                "reason": "SOURCE_SERIALIZATION_ERROR",
            },
        ]
    }
    truncated = record(
        lead_id="lead-t",
        lead_source_id="s",
        appointment_datetime="2024-07-20T14:00:00Z",
        notes="Gate code 12",
    )
    truncated["record"]["meta"] = {
        "changes": [
            {"field": "notes", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}
        ]
    }
    result = cli.write([nulled, truncated, stream_state("tours", 1)])
    assert result.returncode == 0, result.traces
    by_lead = {o["lead_id"]: o for o in result.outcomes}
    reason = by_lead["lead-n"]["reason"]
    assert reason.startswith("appointment_time: is required")
    assert "the source NULLED 'APPOINTMENT_TIME' (SOURCE_SERIALIZATION_ERROR)" in reason
    assert by_lead["lead-t"]["outcome"] == "accepted"
    assert by_lead["lead-t"]["time_notes"] == [
        "notes: the source TRUNCATED 'notes' (SOURCE_FIELD_SIZE_LIMITATION)"
    ]


def test_an_empty_namespace_is_no_namespace(cli: Cli) -> None:
    row = record(lead_id="lead-ns", lead_source_id="s", appointment_datetime="2024-07-20T14:00Z")
    row["record"]["namespace"] = ""
    state = stream_state("tours", 1)
    state["state"]["stream"]["stream_descriptor"]["namespace"] = ""
    result = cli.write([row, state])
    assert result.returncode == 0, result.traces
    assert booked_slots(cli.sandbox) == [("lead-ns", "2024-07-20T14:00:00.000Z")]
    assert result.states[0]["destinationStats"] == {"recordCount": 1, "rejectedRecordCount": 0}


def test_decimals_in_rejected_rows_are_filed_with_every_digit(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    line = (
        b'{"type": "RECORD", "record": {"stream": "tours", "data": {"lead_id": "lead-d", '
        b'"lead_source_id": "s", "appointment_datetime": "not a time", '
        b'"score": 0.1000000000000000055511151231257827, "big": 123456789012345678901234567890, '
        b'"gap": -Infinity}}}\n'
    )
    result = cli.write(line, config=cli.config(rejected_records_path=str(path)))
    assert result.returncode == 0, result.traces
    (filed,) = path.read_text().splitlines()
    data = exact(filed)["data"]
    assert data["score"] == "0.1000000000000000055511151231257827"
    assert data["big"] == "123456789012345678901234567890"
    assert data["gap"] == "-Infinity"
    assert Decimal(data["score"]) != Decimal(repr(float(data["score"])))


def test_a_lone_surrogate_in_the_sources_words_or_a_stream_name_costs_one_row(cli: Cli) -> None:
    # A Python source writes a lone surrogate as a valid `\ud800` escape; it reaches the
    # outcome log through meta.changes (quoted in the reason) and an unknown stream's name.
    lines = (
        b'{"type":"RECORD","record":{"stream":"tours","data":{"lead_id":"lead-1",'
        b'"lead_source_id":"s","appointment_datetime":"bad"},"meta":{"changes":[{"field":'
        b'"appointment_datetime","change":"NULLED\\ud800","reason":"R\\udfff"}]}}}\n'
        b'{"type":"RECORD","record":{"stream":"tours","data":{"lead_id":"lead-2",'
        b'"lead_source_id":"s","appointment_datetime":"2024-07-20T14:00:00Z","notes":"n"},'
        b'"meta":{"changes":[{"field":"notes","change":"TRUNCATED","reason":"\\ud800"}]}}}\n'
        b'{"type":"RECORD","record":{"stream":"tours\\ud800","data":{"lead_id":"lead-3"}}}\n'
        b'{"type":"RECORD","record":{"stream":"tours","namespace":"\\udc00",'
        b'"data":{"lead_id":"lead-4"}}}\n'
        b'{"type":"RECORD","record":{"stream":"tours","data":{"lead_id":"lead-5",'
        b'"lead_source_id":"s","appointment_datetime":"2024-07-20T15:00:00Z"}}}\n'
    ) + jsonl([stream_state("tours", 1)])
    result = cli.write(lines)
    assert result.returncode == 0, result.traces
    assert sorted(booked_slots(cli.sandbox)) == [
        ("lead-2", "2024-07-20T14:00:00.000Z"),
        ("lead-5", "2024-07-20T15:00:00.000Z"),
    ]
    by_line = {o["line"]: o for o in result.outcomes}
    assert "the source NULLED\ud800 'appointment_datetime' (R\udfff)" in by_line[1]["reason"]
    assert by_line[2]["time_notes"] == ["notes: the source TRUNCATED 'notes' (\ud800)"]
    assert [by_line[n]["category"] for n in (3, 4)] == ["stream not in catalog"] * 2
    assert result.states[0]["destinationStats"] == {"recordCount": 2, "rejectedRecordCount": 1}


def test_a_rejected_row_with_a_deeply_nested_column_is_filed_and_costs_one_row(
    cli: Cli, tmp_path: Path
) -> None:
    # JSON nested 900 levels deep is read (the readers take about 1,000); filing the row
    # must not stop the sync either.
    deep = b"[" * 900 + b"1.50" + b"]" * 900
    lines = (
        b'{"type":"RECORD","record":{"stream":"tours","data":{"lead_id":"lead-1",'
        b'"lead_source_id":"s","appointment_datetime":"bad","deep":%s}}}\n'
        % deep
        + jsonl(
            [record(lead_id="lead-2", lead_source_id="s", appointment_datetime="2024-07-20T14:00Z")]
        )
        + jsonl([stream_state("tours", 1)])
    )
    path = tmp_path / "rejected.jsonl"
    result = cli.write(lines, config=cli.config(rejected_records_path=str(path)))
    assert result.returncode == 0, result.traces
    assert booked_slots(cli.sandbox) == [("lead-2", "2024-07-20T14:00:00.000Z")]
    (filed,) = path.read_bytes().splitlines()
    assert b'"deep":' + deep + b"}}" in filed
