"""`write` end to end: the real CLI against the sandbox, on real message files."""

from __future__ import annotations

import time

from integration_tests.conftest import (
    FIXTURES,
    TOKEN,
    Cli,
    booked_slots,
    catalog,
    jsonl,
    record,
    stream_state,
    tour,
)
from propexo_sandbox import FaultPlan

MIXED = (FIXTURES / "mixed_tours.jsonl").read_bytes()


def test_valid_rows_are_booked_exactly_once_and_bad_rows_rejected_with_reasons(cli: Cli) -> None:
    result = cli.write(MIXED)
    assert result.returncode == 0, result.stderr
    booked = booked_slots(cli.sandbox)
    assert len(booked) == len(set(booked)) == 15
    assert ("12", "2024-07-21T10:30:00.000Z") in booked
    rejected = {o["line"]: o["reason"] for o in result.outcomes if o["outcome"] == "rejected"}
    assert sorted(rejected) == [10, 11, 12, 14, 15]
    assert rejected[10].startswith("lead_id: is required")
    assert rejected[11].startswith("appointment_time:") and "'24:00'" in rejected[11]
    assert rejected[12].startswith("appointment_date:") and "'2024-13-01'" in rejected[12]
    assert "lead-missing-13 was not found" in rejected[14]
    assert "ENTRATA" in rejected[15]


def test_every_state_is_echoed_in_order_with_its_window_counts(cli: Cli) -> None:
    result = cli.write(MIXED)
    counts = [(s["stream"]["stream_state"]["cursor"], s["destinationStats"]) for s in result.states]
    assert counts == [
        (8, {"recordCount": 8, "rejectedRecordCount": 0}),
        (14, {"recordCount": 1, "rejectedRecordCount": 5}),
        (20, {"recordCount": 6, "rejectedRecordCount": 0}),
    ]


def test_a_state_is_echoed_only_after_the_outcomes_of_the_records_before_it(cli: Cli) -> None:
    result = cli.write(MIXED)
    # Each STATE counts its own window; the running total of what the states counted can
    # never run ahead of the outcome lines printed before them, and ends equal to them all.
    seen_outcomes = 0
    counted_by_states = 0
    for message in result.messages:
        if message["type"] == "LOG" and message["log"]["message"].startswith("record outcome"):
            seen_outcomes += 1
        if message["type"] == "STATE":
            stats = message["state"]["destinationStats"]
            counted_by_states += stats["recordCount"] + stats["rejectedRecordCount"]
            assert seen_outcomes >= counted_by_states
    assert len(result.states) == 3
    assert counted_by_states == seen_outcomes == 20


def test_each_outcome_log_names_stream_lead_job_and_write_status(cli: Cli) -> None:
    result = cli.write([tour("lead-1"), stream_state("tours", 1)])
    (outcome,) = result.outcomes
    assert outcome["stream"] == "tours"
    assert outcome["lead_id"] == "lead-1"
    assert outcome["job_id"].startswith("job-")
    assert outcome["write_status"] == "SUCCESS"
    # Confirmed from the write-logs feed, which carries no created_record_id: the id comes
    # from the integration's newest appointments, without a write-status request.
    assert outcome["created_record_id"] == cli.sandbox.appointments()[0]["id"]
    assert outcome["errors"] == []
    assert cli.sandbox.stats()["write_status"] == 0


def test_without_the_feed_each_outcome_log_names_the_created_record(cli: Cli) -> None:
    result = cli.write(
        [tour("lead-1"), stream_state("tours", 1)], config=cli.config(use_write_logs_feed=False)
    )
    (outcome,) = result.outcomes
    assert outcome["write_status"] == "SUCCESS"
    assert outcome["created_record_id"] == cli.sandbox.appointments()[0]["id"]
    assert cli.sandbox.stats()["write_logs"] == 0


def test_the_summary_counts_everything(cli: Cli) -> None:
    result = cli.write(MIXED)
    (summary,) = result.log_containing("write summary")
    assert "received 20" in summary
    assert "accepted 15 (created 15)" in summary
    assert (
        "rejected 5 (invalid record 3, refused by Propexo 1, write failed in ResMan 1)" in summary
    )


def test_a_job_still_pending_at_the_bound_is_logged_pending_and_counted_accepted(cli: Cli) -> None:
    result = cli.write(
        [tour("lead-slow-1"), stream_state("tours", 1)],
        config=cli.config(write_status_timeout_seconds=1),
    )
    (outcome,) = result.outcomes
    assert (outcome["outcome"], outcome["write_status"]) == ("accepted", "PENDING")
    assert result.states[0]["destinationStats"]["recordCount"] == 1
    assert "still pending in ResMan 1" in result.log_containing("write summary")[0]


def test_untracked_writes_are_accepted_without_polling(cli: Cli) -> None:
    result = cli.write(
        [tour("lead-1"), stream_state("tours", 1)], config=cli.config(track_write_status=False)
    )
    (outcome,) = result.outcomes
    assert (outcome["outcome"], outcome["write_status"]) == ("accepted", "UNTRACKED")
    assert cli.sandbox.stats()["write_status"] == 0


def test_a_refused_token_stops_the_sync_with_a_config_error(cli: Cli) -> None:
    cli.sandbox.revoke_token()
    messages = [tour(f"lead-{i}") for i in range(50)] + [stream_state("tours", 50)]
    result = cli.write(messages)
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert "refused the API token" in trace["error"]["message"]
    assert result.states == []
    assert [o for o in result.outcomes if o["outcome"] == "rejected"] == []
    assert cli.sandbox.stats()["create"] <= 20
    assert TOKEN not in result.stdout + result.stderr


def test_records_of_streams_not_in_the_catalog_are_rejected(cli: Cli) -> None:
    result = cli.write([record("leads", lead_id="x"), tour("lead-1"), stream_state("tours", 1)])
    rejected = [o for o in result.outcomes if o["outcome"] == "rejected"]
    assert [o["reason"] for o in rejected] == ["stream 'leads' is not in the configured catalog"]


def test_streams_keep_their_own_state_counts(cli: Cli) -> None:
    messages = [
        tour("lead-1"),
        record(
            "visits", lead_id="lead-2", lead_source_id="s", appointment_datetime="2024-07-20T10:00"
        ),
        stream_state("tours", 1),
        record("visits", lead_id="lead-3", lead_source_id="s", appointment_datetime="bad"),
        stream_state("visits", 2),
    ]
    result = cli.write(messages, catalog_=catalog(("tours", "append"), ("visits", "append")))
    assert [s["destinationStats"] for s in result.states] == [
        {"recordCount": 1, "rejectedRecordCount": 0},
        {"recordCount": 1, "rejectedRecordCount": 1},
    ]


def test_a_broken_line_stops_the_sync_naming_the_line(cli: Cli) -> None:
    stdin = jsonl([tour("lead-1"), stream_state("tours", 1)]) + b'{"type": "RECORD", "rec\n'
    stdin += jsonl([tour("lead-2"), stream_state("tours", 2)])
    result = cli.write(stdin)
    assert result.returncode == 1
    (trace,) = result.traces
    assert "input line 3" in trace["error"]["message"]
    assert trace["error"]["failure_type"] == "system_error"
    assert all(s["stream"]["stream_state"]["cursor"] != 2 for s in result.states)
    assert ("lead-2", "2024-07-20T14:00:00.000Z") not in booked_slots(cli.sandbox)


def test_an_unsupported_sync_mode_is_a_config_error(cli: Cli) -> None:
    result = cli.write([tour("lead-1")], catalog_=catalog(("tours", "overwrite")))
    assert result.returncode == 1
    assert "'append_dedup'" in result.traces[0]["error"]["message"]
    assert cli.sandbox.stats()["create"] == 0


def test_a_400_from_propexo_rejects_the_record_and_the_sync_goes_on(cli: Cli) -> None:
    result = cli.write(
        [
            tour("lead-1", integration_id="intg-sandbox-inactive"),
            tour("lead-2"),
            stream_state("tours", 2),
        ]
    )
    assert result.returncode == 0
    first, second = (
        result.outcomes if result.outcomes[0]["lead_id"] == "lead-1" else result.outcomes[::-1]
    )
    assert first["outcome"] == "rejected" and "not active" in first["reason"]
    assert second["outcome"] == "accepted"


def test_rate_limited_creates_wait_and_are_booked_once(cli: Cli) -> None:
    cli.sandbox.set_faults(FaultPlan(create_script=("429", "429"), retry_after=0.2))
    result = cli.write([tour("lead-1"), stream_state("tours", 1)])
    assert result.states[0]["destinationStats"] == {"recordCount": 1, "rejectedRecordCount": 0}
    assert booked_slots(cli.sandbox) == [("lead-1", "2024-07-20T14:00:00.000Z")]


def test_append_dedup_sends_duplicate_rows_once_near_and_far_apart(cli: Cli) -> None:
    # 1,200 rows push the first copy out of the 1,000-record window before the last copy.
    filler = [tour(f"lead-f{i}", time="09:00") for i in range(1200)]
    messages = [tour("lead-1"), tour("lead-1"), *filler, tour("lead-1"), stream_state("tours", 1)]
    result = cli.write(
        messages,
        catalog_=catalog(("tours", "append_dedup")),
        config=cli.config(
            track_write_status=False, max_requests_in_flight=32, requests_per_minute=60000
        ),
    )
    time.sleep(0.3)  # untracked jobs show in the sandbox after its write-status delay
    booked = booked_slots(cli.sandbox)
    assert booked.count(("lead-1", "2024-07-20T14:00:00.000Z")) == 1
    assert len(booked) == len(set(booked)) == 1201
    hows = [o["how"] for o in result.outcomes if o["lead_id"] == "lead-1"]
    # The far copy is answered by the booking ledger, without a request.
    assert sorted(hows) == ["created", "duplicate row in this sync", "duplicate row in this sync"]
    assert result.states[0]["destinationStats"] == {"recordCount": 1203, "rejectedRecordCount": 0}
