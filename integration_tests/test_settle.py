"""A stop settles the wire: the real CLI in a subprocess against a slow sandbox.

Creates are on the wire (each answer takes SLOW seconds) when the sync stops: a broken line,
a refused token, SIGTERM. The connector starts no new request, awaits the answers already
coming, records their outcomes, echoes every STATE whose records are all final, then ends
with one TRACE; and Airbyte's next attempt, which re-sends what came after the last echoed
STATE, books nothing twice.
"""

from __future__ import annotations

import json
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
    booked_slots,
    catalog,
    jsonl,
    stream_state,
    tour,
)
from propexo_sandbox import FaultPlan, Sandbox

SECRET = "pxo_live_settle_5Hq8Wm2Xz"
SLOW = 2.0  # seconds each answer takes: five creates are surely on the wire at the stop


@pytest.fixture
def slow() -> Iterator[Sandbox]:
    with Sandbox(token=SECRET, latency=SLOW, write_status_delay=0.05) as server:
        yield server


def config(sandbox: Sandbox) -> dict[str, Any]:
    return {
        "token": SECRET,
        "integration_id": "intg-sandbox-resman",
        "api_url": sandbox.url,
        "requests_per_minute": 6000,
        "request_timeout_seconds": 10,
        "write_status_timeout_seconds": 10,
    }


class Running:
    """One `write` in a subprocess, fed line by line."""

    def __init__(self, tmp: Path, sandbox: Sandbox, mode: str = "append") -> None:
        (tmp / "config.json").write_text(json.dumps(config(sandbox)))
        (tmp / "catalog.json").write_text(json.dumps(catalog(("tours", mode))))
        files = ["--config", str(tmp / "config.json"), "--catalog", str(tmp / "catalog.json")]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "destination_propexo.run", "write", *files],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def finish(self, timeout: float = 60) -> tuple[int, list[dict[str, Any]]]:
        out, err = self.process.communicate(timeout=timeout)
        assert SECRET.encode() not in out + err
        return self.process.returncode, [json.loads(line) for line in out.splitlines()]


def wait_for_creates(sandbox: Sandbox, count: int) -> None:
    deadline = time.monotonic() + 30
    while sandbox.stats()["create"] < count:
        assert time.monotonic() < deadline, "the creates never reached the sandbox"
        time.sleep(0.05)


def rows(count: int = 5) -> list[dict[str, Any]]:
    return [tour(f"lead-{n}") for n in range(count)]


def of_type(messages: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == kind]


def assert_settled(messages: list[dict[str, Any]], failure_type: str) -> None:
    """Every echoed STATE comes before the one TRACE, and nothing follows the TRACE."""
    kinds = [m["type"] for m in messages]
    assert kinds.count("TRACE") == 1, kinds
    assert messages[-1]["type"] == "TRACE" or "TRACE" not in kinds[kinds.index("TRACE") + 1 :]
    trace = of_type(messages, "TRACE")[0]["trace"]
    assert trace["error"]["failure_type"] == failure_type, trace
    assert "STATE" not in kinds[kinds.index("TRACE") :]


def outcomes(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prefix = "record outcome: "
    return [
        json.loads(m["log"]["message"][len(prefix) :])
        for m in of_type(messages, "LOG")
        if m["log"]["message"].startswith(prefix)
    ]


def test_a_broken_line_with_creates_on_the_wire_records_them_and_echoes_their_state(
    tmp_path: Path, slow: Sandbox
) -> None:
    run = Running(tmp_path, slow)
    run.send(jsonl([*rows(), stream_state("tours", 5)]))
    wait_for_creates(slow, 5)
    stopped = time.monotonic()
    run.send(b"{not json\n")
    returncode, messages = run.finish()
    took = time.monotonic() - stopped

    assert returncode == 1
    assert_settled(messages, "system_error")
    states = [m["state"] for m in of_type(messages, "STATE")]
    assert [s["destinationStats"] for s in states] == [{"recordCount": 5, "rejectedRecordCount": 0}]
    assert sorted(o["lead_id"] for o in outcomes(messages)) == [f"lead-{n}" for n in range(5)]
    assert took < SLOW + 8, f"the stop took {took:.1f} s to settle"
    assert slow.stats()["create"] == 5
    time.sleep(0.5)
    assert len(booked_slots(slow)) == 5


def test_a_stop_before_any_state_then_the_next_attempt_books_nothing_twice(
    tmp_path: Path, slow: Sandbox
) -> None:
    run = Running(tmp_path, slow)
    run.send(jsonl(rows()))
    wait_for_creates(slow, 5)
    run.send(b"[1]\n")
    returncode, messages = run.finish()
    assert returncode == 1 and of_type(messages, "STATE") == []
    time.sleep(0.5)
    assert len(booked_slots(slow)) == 5

    # Airbyte's next attempt re-sends everything after the last echoed STATE: all five.
    again = Cli(tmp_path, slow).write(
        [*rows(), stream_state("tours", 5)], config=config(slow), timeout=120
    )
    assert again.returncode == 0, again.stdout[-2000:]
    booked = booked_slots(slow)
    assert len(booked) == 5 and len(set(booked)) == 5, "a re-sent row was booked twice"
    assert [s["destinationStats"] for s in again.states] == [
        {"recordCount": 5, "rejectedRecordCount": 0}
    ]


def test_a_token_refused_mid_sync_still_records_the_creates_it_had_answered(
    tmp_path: Path, slow: Sandbox
) -> None:
    slow.set_faults(FaultPlan(revoke_after_creates=5))
    run = Running(tmp_path, slow)
    run.send(jsonl([*rows(), stream_state("tours", 5)]))
    wait_for_creates(slow, 5)
    run.send(jsonl([tour("lead-5"), stream_state("tours", 6)]))
    returncode, messages = run.finish()

    assert returncode == 1
    assert_settled(messages, "config_error")
    assert [m["state"]["destinationStats"] for m in of_type(messages, "STATE")] == [
        {"recordCount": 5, "rejectedRecordCount": 0}
    ]


def test_sigterm_settles_the_wire_and_ends_with_a_trace(tmp_path: Path, slow: Sandbox) -> None:
    run = Running(tmp_path, slow)
    run.send(jsonl([*rows(), stream_state("tours", 5)]))
    wait_for_creates(slow, 5)
    stopped = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    returncode, messages = run.finish()
    took = time.monotonic() - stopped

    assert returncode == 1
    assert_settled(messages, "transient_error")
    assert "SIGTERM" in of_type(messages, "TRACE")[0]["trace"]["error"]["message"]
    assert [m["state"]["destinationStats"] for m in of_type(messages, "STATE")] == [
        {"recordCount": 5, "rejectedRecordCount": 0}
    ]
    assert took < SLOW + 8


def test_a_line_past_the_size_limit_is_refused_with_its_number_and_size(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    from destination_propexo.airbyte.protocol import MAX_LINE_BYTES

    huge = b'{"type": "RECORD", "record": {"stream": "tours", "data": {"notes": "'
    huge += b"x" * (MAX_LINE_BYTES + 10) + b'"}, "emitted_at": 0}}\n'
    result = Cli(tmp_path, sandbox).write(jsonl([tour("lead-1"), stream_state("tours", 1)]) + huge)
    assert result.returncode == 1
    message = result.traces[0]["error"]["message"]
    assert "line 3" in message and f"{len(huge) - 1:,} bytes" in message, message


def test_sigterm_with_the_input_still_open_exits_1_not_aborted(
    tmp_path: Path, slow: Sandbox
) -> None:
    """Airbyte cancels with the source's pipe still open: the reader is blocked on stdin
    when the sync stops, and the process must still end with its exit code (1), not abort
    at interpreter shutdown on the stdin lock (SIGABRT)."""
    run = Running(tmp_path, slow)
    run.send(jsonl([*rows(), stream_state("tours", 5)]))
    assert run.process.stdout is not None and run.process.stderr is not None
    for line in run.process.stdout:  # the sync is idle once its only STATE is echoed
        if json.loads(line)["type"] == "STATE":
            break
    run.process.send_signal(signal.SIGTERM)
    returncode = run.process.wait(timeout=30)
    assert "Fatal Python error" not in run.process.stderr.read().decode()
    assert returncode == 1
