"""The fault suite: the real CLI against a sandbox that loses answers, refuses, drops and hangs.

Every test checks the sandbox's own record of what was booked: every valid record booked
exactly once or rejected with a reason, never twice, and every STATE echoed with counts that
add up. The token is a distinctive value and must never appear in any output.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from integration_tests.conftest import (
    Cli,
    CliResult,
    booked_slots,
    catalog,
    jsonl,
    record,
    stream_state,
    tour,
)
from propexo_sandbox import FaultPlan, Sandbox

SECRET = "pxo_live_7Qm2ZkV9sRt4Lw8Xy3Hb"  # a token that cannot occur in output by chance
HANG = 4.0  # the sandbox holds created-then-hang answers longer than the 1 s client time-out
FAST = {
    "token": SECRET,
    "request_timeout_seconds": 1,
    # Also bounds the read-back settle window (2 s here), keeping the suite quick.
    "write_status_timeout_seconds": 2,
}


@pytest.fixture
def faulty() -> Iterator[Sandbox]:
    with Sandbox(token=SECRET, write_status_delay=0.05) as server:
        yield server


@pytest.fixture
def fcli(tmp_path: Path, faulty: Sandbox) -> Cli:
    return Cli(tmp_path, faulty)


def write(
    cli: Cli,
    messages: Sequence[dict[str, Any]] | bytes,
    catalog_: dict[str, Any] | None = None,
    **config: Any,
) -> CliResult:
    """Run `write` with the fast fault config; the token must appear nowhere in the output."""
    result = cli.write(messages, config=cli.config(**{**FAST, **config}), catalog_=catalog_)
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    return result


def slot(outcome_message: dict[str, Any]) -> tuple[str, str]:
    data = outcome_message["record"]["data"]
    return data["lead_id"], f"{data['appointment_date']}T{data['appointment_time']}:00.000Z"


def windows(messages: Sequence[dict[str, Any]]) -> list[int]:
    """Records between consecutive STATE messages of the input."""
    sizes, size = [], 0
    for message in messages:
        if message["type"] == "STATE":
            sizes.append(size)
            size = 0
        else:
            size += 1
    return sizes


def assert_states_add_up(result: CliResult, messages: Sequence[dict[str, Any]]) -> None:
    cursors = [
        m["state"]["stream"]["stream_state"]["cursor"] for m in messages if m["type"] == "STATE"
    ]
    echoed = [s["stream"]["stream_state"]["cursor"] for s in result.states]
    assert echoed == cursors[: len(echoed)]
    for state, size in zip(result.states, windows(messages), strict=False):
        stats = state["destinationStats"]
        assert stats["recordCount"] + stats["rejectedRecordCount"] == size


# -- a storm of mixed faults ------------------------------------------------------------------

STORM = FaultPlan(
    rate_429=0.06,
    rate_503=0.04,
    rate_500=0.03,
    rate_drop=0.03,
    rate_created_then_500=0.04,
    rate_created_then_hang=0.02,
    rate_created_then_drop=0.04,
    rate_job_failure=0.03,
    seed=20240720,
    retry_after=0.05,
    hang_seconds=HANG,
    # Scripted first: every kind of lost answer is certain to happen at least once.
    create_script=("created_then_500", "created_then_hang", "created_then_drop", "503", "drop"),
)


def storm_input(leads: int = 100, per_lead: int = 3, every: int = 25) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    count = 0
    for lead in range(leads):
        for hour in range(per_lead):
            messages.append(tour(f"lead-{lead}", time=f"{9 + hour:02d}:00"))
            count += 1
            if count % every == 0:
                messages.append(stream_state("tours", count))
    if count % every:
        messages.append(stream_state("tours", count))
    return messages


def test_a_storm_of_faults_books_every_valid_record_once_or_rejects_it_with_a_reason(
    fcli: Cli,
) -> None:
    fcli.sandbox.set_faults(STORM)
    messages = storm_input(leads=100, per_lead=2, every=20)
    result = write(fcli, messages)

    assert result.returncode == 0, result.stderr
    booked = booked_slots(fcli.sandbox)
    assert len(booked) == len(set(booked)), "an appointment was booked twice"
    assert len(result.states) == 10
    assert_states_add_up(result, messages)
    outcomes = result.outcomes
    assert len(outcomes) == 200
    by_line = {o["line"]: o for o in outcomes}
    accepted, rejected = set(), set()
    for line, message in enumerate((json.loads(x) for x in jsonl(messages).splitlines()), 1):
        if message["type"] != "RECORD":
            continue
        outcome = by_line[line]
        (accepted if outcome["outcome"] == "accepted" else rejected).add(slot(message))
        if outcome["outcome"] == "rejected":
            assert outcome["reason"], outcome
    assert accepted == set(booked)
    assert not rejected & set(booked)
    hows = collections.Counter(o.get("how") or o["category"] for o in outcomes)
    assert hows["adopted after an unclear answer"] >= 3
    assert hows["write failed in ResMan"] >= 1
    assert set(hows) <= {
        "created",
        "adopted after an unclear answer",
        "write failed in ResMan",
    }, hows
    stats = fcli.sandbox.stats()
    assert stats["status_429"] >= 1 and stats["status_5xx"] >= 1
    (summary,) = result.log_containing("write summary")
    assert f"accepted {len(booked)}" in summary and f"rejected {len(rejected)}" in summary


# -- each lost answer, one at a time ------------------------------------------------------------


def test_each_lost_answer_is_read_back_and_adopted_or_resent_never_posted_blindly(
    fcli: Cli,
) -> None:
    fcli.sandbox.set_faults(
        FaultPlan(
            create_script=("created_then_500", "created_then_hang", "created_then_drop", "503"),
            hang_seconds=HANG,
            retry_after=0.05,
        )
    )
    # The four records meet the four scripted answers in whatever order they arrive.
    leads = [f"lead-{n}" for n in range(4)]
    refused = tour("lead-entrata", integration_id="intg-sandbox-entrata")  # a 400, sent last
    messages = [*(tour(lead) for lead in leads), stream_state("tours", 4), refused]
    result = write(fcli, messages, max_requests_in_flight=4)

    assert result.returncode == 0, result.stderr
    hows = sorted(o.get("how") or o["category"] for o in result.outcomes)
    assert hows == [*["adopted after an unclear answer"] * 3, "created", "refused by Propexo"]
    assert len(result.log_containing('"how":"adopted after an unclear answer"')) == 3
    assert sorted(lead for lead, _ in booked_slots(fcli.sandbox)) == sorted(leads)
    # Three lost answers were never re-posted; only the 503 (nothing created) was sent again,
    # and the 400 (a deterministic refusal) was not retried.
    assert fcli.sandbox.stats()["create"] == 6
    assert result.states[0]["destinationStats"] == {"recordCount": 4, "rejectedRecordCount": 0}


def test_a_lost_answer_that_cannot_be_read_back_stops_the_sync_and_rejects_nothing(
    fcli: Cli,
) -> None:
    # Reading the lead back fails with the service's 503s: not the row's fault, so the sync
    # stops as transient (the next attempt checks first) instead of rejecting the row.
    fcli.sandbox.set_faults(
        FaultPlan(create_script=("created_then_500",), read_back_503_rate=1.0, retry_after=0.05)
    )
    result = write(fcli, [tour("lead-unclear", time="15:30"), stream_state("tours", 1)])

    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "transient_error"
    assert result.outcomes == [] and result.states == []
    assert fcli.sandbox.stats()["create"] <= 1, "an unclear create was sent again"


# -- a token revoked in the middle of a sync ----------------------------------------------------


def test_a_token_revoked_mid_sync_stops_within_a_few_requests(fcli: Cli) -> None:
    fcli.sandbox.set_faults(FaultPlan(revoke_after_creates=30))
    messages = storm_input(leads=200, per_lead=1, every=10)
    result = write(fcli, messages, max_requests_in_flight=4)

    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert "refused the API token" in trace["error"]["message"]
    stats = fcli.sandbox.stats()
    assert stats["create"] <= 30 + 8, "the sync went on sending after the token was refused"
    assert stats["status_401"] <= 12
    # Records never tried get no outcome at all; the ones that were booked say so.
    assert [o for o in result.outcomes if o["outcome"] == "rejected"] == []
    assert {o["lead_id"] for o in result.outcomes} <= {
        lead for lead, _ in booked_slots(fcli.sandbox)
    }
    assert len(result.outcomes) < 200
    assert_states_add_up(result, messages)
    assert len(booked_slots(fcli.sandbox)) == len(set(booked_slots(fcli.sandbox))) <= 30


# -- kill -9 in the middle of an append_dedup sync, then run it again ---------------------------


def complete_messages(output: bytes) -> list[dict[str, Any]]:
    """The messages a killed run wrote; only its last line may be cut short."""
    lines = output.splitlines()
    messages = []
    for number, line in enumerate(lines, 1):
        try:
            messages.append(json.loads(line))
        except ValueError:
            assert number == len(lines), f"line {number} of the killed run's output is broken"
    return messages


def kill_and_rerun_input() -> list[dict[str, Any]]:
    messages = storm_input(leads=100, per_lead=2, every=20)
    # A repeated row and a bad row in the middle: booked once / rejected on both runs.
    messages.insert(5, tour("lead-1", time="09:00"))
    messages.insert(9, record(lead_id="lead-bad", lead_source_id="s", appointment_time="25:00"))
    return messages


@pytest.fixture
def slow() -> Iterator[Sandbox]:
    # Slow enough that a kill lands in the middle of a few hundred records.
    with Sandbox(token=SECRET, write_status_delay=0.05, latency=0.04) as server:
        yield server


def test_a_sync_killed_mid_way_and_run_again_in_append_dedup_books_nothing_twice(
    tmp_path: Path, slow: Sandbox
) -> None:
    cli = Cli(tmp_path, slow)
    messages = kill_and_rerun_input()
    dedup = catalog(("tours", "append_dedup"))
    config = tmp_path / "kill-config.json"
    # Paced at 20 requests a second, so the kill lands mid-way however busy the machine is
    # (the suite runs on several workers) and however soon the first STATE is out.
    paced = cli.config(**FAST, max_requests_in_flight=4, requests_per_minute=1200)
    config.write_text(json.dumps(paced))
    catalog_path = tmp_path / "kill-catalog.json"
    catalog_path.write_text(json.dumps(dedup))
    stdin = tmp_path / "input.jsonl"
    stdin.write_bytes(jsonl(messages))
    out = tmp_path / "first-run.out"
    with stdin.open("rb") as source, out.open("wb") as sink:
        command = ["write", "--config", str(config), "--catalog", str(catalog_path)]
        process = subprocess.Popen(
            [sys.executable, "-m", "destination_propexo.run", *command],
            stdin=source,
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        # Kill once some states are out and some appointments exist, mid-way through.
        while time.monotonic() < deadline and (
            len(slow.appointments()) < 40 or b'"STATE"' not in out.read_bytes()
        ):
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    killed_at = len(slow.appointments())
    assert 40 <= killed_at < 200, "the kill did not land in the middle of the sync"
    first = complete_messages(out.read_bytes())
    assert SECRET not in out.read_text(errors="replace")
    first_states = [m["state"] for m in first if m["type"] == "STATE"]
    assert first_states, "no state was echoed before the kill"
    for state, size in zip(first_states, windows(messages), strict=False):
        stats = state["destinationStats"]
        assert stats["recordCount"] + stats["rejectedRecordCount"] == size

    time.sleep(0.2)  # jobs created at the kill become visible (the sandbox's write delay)
    before_rerun = set(booked_slots(slow))
    result = write(cli, messages, catalog_=dedup)

    assert result.returncode == 0, result.stderr
    booked = booked_slots(slow)
    assert len(booked) == len(set(booked)) == 200
    assert_states_add_up(result, messages)
    (summary,) = result.log_containing("write summary")
    assert f"already booked {len(before_rerun)}" in summary
    assert "rejected 1 (invalid record 1)" in summary
