"""The concurrent core, end to end against the sandbox: one finding of the core review each.

1. an accepted record is a real booking (the ledger holds final outcomes only);
2. stop means stop (no create after the error TRACE, a prompt exit);
3. no silent hang (answers of the wrong shape, unexpected errors);
4. Retry-After cannot freeze a sync;
5. the trace's failure type tells Airbyte what to do; each log line once;
6. a rejected record's log names its lead.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from destination_propexo.airbyte.catalog import configured_streams
from destination_propexo.airbyte.protocol import Emitter
from destination_propexo.config import load_config
from destination_propexo.errors import RateLimitedTooLong
from destination_propexo.sync.session import write_sync
from integration_tests.conftest import (
    Cli,
    booked_slots,
    catalog,
    jsonl,
    record,
    stream_state,
    tour,
)
from propexo_sandbox import FaultPlan, Sandbox
from unit_tests.support import FakeClock

DEDUP = catalog(("tours", "append_dedup"))


def test_a_booking_resman_fails_is_sent_again_when_repeated_beyond_the_window(cli: Cli) -> None:
    # The first create's job fails in ResMan. Its repeat, 1,300 rows later (past the
    # 1,000-record window), must not be counted "already booked": it is sent again.
    cli.sandbox.set_faults(FaultPlan(create_script=("job_failure",)))
    filler = [record(lead_id=f"lead-f{i}", appointment_date="2024-07-20") for i in range(1300)]
    messages = [tour("lead-x"), *filler, tour("lead-x"), stream_state("tours", 1)]
    result = cli.write(messages, catalog_=DEDUP)

    assert result.returncode == 0, result.stdout[-2000:]
    first, repeat = [o for o in result.outcomes if o["lead_id"] == "lead-x"]
    assert (first["outcome"], first["category"]) == ("rejected", "write failed in the PMS")
    assert (repeat["outcome"], repeat["how"], repeat["write_status"]) == (
        "accepted",
        "created",
        "SUCCESS",
    )
    assert booked_slots(cli.sandbox) == [("lead-x", "2024-07-20T14:00:00.000Z")]
    (state,) = result.states
    assert state["destinationStats"] == {"recordCount": 1, "rejectedRecordCount": 1301}


def test_a_booking_resman_always_fails_is_rejected_and_counted_both_times(cli: Cli) -> None:
    # The sandbox fails every job of a "lead-missing-*" lead, as ResMan does for an unknown
    # lead: the repeat 1,300 rows later is sent again, fails again, and is counted again.
    filler = [record(lead_id=f"lead-f{i}", appointment_date="2024-07-20") for i in range(1300)]
    messages = [tour("lead-missing-1"), *filler, tour("lead-missing-1"), stream_state("tours", 1)]
    result = cli.write(messages, catalog_=DEDUP)

    assert result.returncode == 0, result.stdout[-2000:]
    first, repeat = [o for o in result.outcomes if o["lead_id"] == "lead-missing-1"]
    for outcome in (first, repeat):
        assert (outcome["outcome"], outcome["category"]) == ("rejected", "write failed in the PMS")
    assert cli.sandbox.stats()["create"] == 2
    assert booked_slots(cli.sandbox) == []
    (state,) = result.states
    assert state["destinationStats"] == {"recordCount": 0, "rejectedRecordCount": 1302}


def test_after_a_broken_line_no_create_starts_and_the_process_exits_promptly(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    cli = Cli(tmp_path, sandbox)
    config = tmp_path / "config.json"
    # Two creates a second, eight in flight: when the broken line is read, several
    # creates are waiting for their turn in the rate budget.
    config.write_text(json.dumps(cli.config(requests_per_minute=120, max_requests_in_flight=8)))
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog(("tours", "append"))))
    stdin = jsonl([tour(f"lead-{i}") for i in range(40)]) + b"{not json\n"
    started = time.monotonic()
    command = ["write", "--config", str(config), "--catalog", str(catalog_path)]
    process = subprocess.Popen(
        [sys.executable, "-m", "destination_propexo.run", *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(stdin)
    process.stdin.close()
    trace = None
    for line in process.stdout:
        message = json.loads(line)
        if message["type"] == "TRACE":
            trace = message["trace"]
            break
    assert trace is not None, "no error TRACE"
    time.sleep(0.5)
    creates_at_trace = sandbox.stats()["create"]
    process.wait(timeout=15)
    exited = time.monotonic() - started
    time.sleep(1.0)  # a straggler would arrive now

    assert sandbox.stats()["create"] == creates_at_trace
    assert creates_at_trace < 40
    assert trace["error"]["failure_type"] == "system_error"
    assert "input line 41" in trace["error"]["message"]
    assert "input input" not in trace["error"]["message"]
    assert exited < 15


def test_write_status_answers_of_the_wrong_shape_never_hang_nor_lose_a_booking(
    tmp_path: Path,
) -> None:
    with Sandbox(write_status_delay=0.05) as sandbox:
        sandbox.set_faults(FaultPlan(status_garbled_rate=0.3, seed=11))
        cli = Cli(tmp_path, sandbox)
        messages = []
        for window in range(3):
            messages += [tour(f"lead-{window}-{i}") for i in range(20)]
            messages.append(stream_state("tours", window))
        # A real process with a time-out: a hang fails the test instead of blocking it. The
        # feed off, so every job is confirmed through write status.
        config = cli.config(use_write_logs_feed=False)
        result = cli.write(messages, config=config, subprocess=True, timeout=90)

        assert result.returncode == 0, result.stderr[-2000:]
        assert [o["write_status"] for o in result.outcomes] == ["SUCCESS"] * 60
        assert [s["destinationStats"] for s in result.states] == [
            {"recordCount": 20, "rejectedRecordCount": 0}
        ] * 3
        assert len(set(booked_slots(sandbox))) == 60
        assert sandbox.stats()["write_status"] >= 60


def test_an_unexpected_error_in_a_worker_ends_the_sync_with_a_system_error_naming_it(
    cli: Cli,
) -> None:
    class Exploding(requests.adapters.HTTPAdapter):
        def send(self, *args: object, **kwargs: object) -> requests.Response:
            raise ZeroDivisionError("a bug below the client")

    config = load_config(cli.config())
    streams = configured_streams(catalog(("tours", "append")))
    out = io.BytesIO()
    started = time.monotonic()
    with pytest.raises(ZeroDivisionError):
        write_sync(
            config,
            streams,
            [jsonl([tour("lead-1"), stream_state("tours", 1)]).splitlines()],  # one batch of lines
            Emitter(out),
            adapter=Exploding(),
        )
    assert time.monotonic() - started < 5
    assert b'"STATE"' not in out.getvalue()


def test_one_retry_after_of_a_day_never_freezes_a_sync(cli: Cli) -> None:
    cli.sandbox.set_faults(FaultPlan(create_script=("429",), retry_after=86400))
    clock = FakeClock()
    out = io.BytesIO()
    summary = write_sync(
        load_config(cli.config(track_write_status=False)),
        configured_streams(catalog(("tours", "append"))),
        [jsonl([tour("lead-1"), stream_state("tours", 1)]).splitlines()],  # one batch of lines
        Emitter(out),
        clock=clock,
    )
    assert sum(summary.accepted.values()) == 1
    # The pause was capped at a minute of (fake) time, not a day.
    assert 60 <= clock.time - 1000.0 < 600


def test_an_api_that_keeps_asking_for_day_long_waits_ends_the_sync_as_transient(
    cli: Cli,
) -> None:
    cli.sandbox.set_faults(FaultPlan(create_script=("429",) * 5, retry_after=86400))
    with pytest.raises(RateLimitedTooLong, match="86400 s"):
        write_sync(
            load_config(cli.config(track_write_status=False)),
            configured_streams(catalog(("tours", "append"))),
            [jsonl([tour("lead-1"), stream_state("tours", 1)]).splitlines()],  # one batch of lines
            Emitter(io.BytesIO()),
            clock=FakeClock(),
        )
    assert cli.sandbox.stats()["create"] == 3


def test_a_dedup_read_back_that_keeps_failing_is_a_transient_error(cli: Cli) -> None:
    cli.sandbox.set_faults(FaultPlan(read_back_503_rate=1.0, retry_after=0.01))
    result = cli.write([tour("lead-1"), stream_state("tours", 1)], catalog_=DEDUP)

    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "transient_error"
    assert "lead-1" in trace["error"]["message"]
    assert cli.sandbox.stats()["create"] == 0
    assert result.states == []


def test_a_python_log_line_is_printed_once(cli: Cli) -> None:
    # A real process: the CDK's own root handler exists there, and printed every line twice.
    result = cli.write(
        [tour("lead-1"), stream_state("tours", 1)],
        config=cli.config(requests_per_minut=600),
        subprocess=True,
    )
    assert result.returncode == 0, result.stderr
    warnings = result.log_containing("requests_per_minut")
    assert len(warnings) == 1
    assert "misspelt" in warnings[0]
    assert all(line.startswith("{") for line in result.stdout.splitlines())


def test_check_names_an_option_the_spec_does_not_know(cli: Cli) -> None:
    result = cli.run("check", config=cli.config(track_write_statuss=False))
    (status,) = result.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "SUCCEEDED"
    assert "track_write_statuss" in status["connectionStatus"]["message"]
    assert len(result.log_containing("track_write_statuss")) == 1


def test_a_locally_rejected_record_is_logged_with_its_lead_id(cli: Cli) -> None:
    result = cli.write(
        [
            tour("lead-bad-time", time="25:00"),
            record(lead_id="lead-no-source", appointment_date="2024-07-20"),
            tour(" ", time="10:00"),
            stream_state("tours", 1),
        ]
    )
    by_line = {o["line"]: o for o in result.outcomes}
    assert by_line[1]["lead_id"] == "lead-bad-time"
    assert by_line[2]["lead_id"] == "lead-no-source"
    assert by_line[3]["lead_id"] is None
    assert all(o["outcome"] == "rejected" for o in result.outcomes)
