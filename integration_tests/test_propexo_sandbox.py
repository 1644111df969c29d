"""Against Propexo's own sandbox (https://api.sandbox.propexo.com), as Airbyte's connectors test
against their vendor: only when `secrets/config.json` exists (metadata.yaml names it in
connectorTestSuitesOptions.testSecrets; secrets/ is never committed). Without it every test
here skips; all other tests use the local stand-in (propexo_sandbox).

`secrets/config.json` is the connector's config for a sandbox ResMan integration, plus
`test_data`, a lead of that integration the tests may book tours for (an `api_url` other than
the sandbox, or none, fails them before any request: they never book in production):

    {"token": "...", "integration_id": "...", "api_url": "https://api.sandbox.propexo.com",
     "test_data": {"lead_id": "...", "lead_source_id": "..."}}

Each run books its tours at a random time of a day one to two years ahead, so runs never
meet each other's tours; the tours stay in the sandbox.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from destination_propexo.config import SANDBOX_URL, is_loopback_host
from integration_tests.conftest import CliResult, catalog, jsonl, record, stream_state
from integration_tests.test_reschedules import keyed

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ROOT / "secrets" / "config.json"
COMMAND = Path(sys.executable).parent / "destination-propexo"

pytestmark = pytest.mark.skipif(
    not SECRETS.exists(), reason="no secrets/config.json for Propexo's sandbox"
)


@pytest.fixture(scope="module")
def secrets() -> dict[str, Any]:
    return dict(json.loads(SECRETS.read_text(encoding="utf-8")))


def sandbox_only(secrets: dict[str, Any]) -> dict[str, Any]:
    """The connector's config from the secrets, once its `api_url` is Propexo's sandbox or a
    stand-in on loopback; any other URL, or none (the connector then reaches Propexo's
    production API), fails the tests before any request: they book tours."""
    api_url = str(secrets.get("api_url") or "")
    host = urlsplit(api_url).hostname or ""
    if api_url.rstrip("/") != SANDBOX_URL and not is_loopback_host(host):
        pytest.fail(
            f"secrets/config.json: api_url must be {SANDBOX_URL} (these tests book tours), "
            f"not {api_url or 'unset (the production API)'}",
            pytrace=False,
        )
    return {key: value for key, value in secrets.items() if key != "test_data"}


@pytest.fixture
def config(secrets: dict[str, Any]) -> dict[str, Any]:
    return sandbox_only(secrets)


@pytest.fixture
def lead(secrets: dict[str, Any]) -> dict[str, str]:
    return dict(secrets["test_data"])


def free_slot(rng: random.Random) -> tuple[str, str]:
    """(date, time) of a quarter hour between 09:00 and 17:45, a year or two from now."""
    day = datetime.now(UTC).date() + timedelta(days=rng.randrange(365, 730))
    minutes = 9 * 60 + 15 * rng.randrange(36)
    return day.isoformat(), f"{minutes // 60:02d}:{minutes % 60:02d}"


@pytest.fixture
def rng() -> random.Random:
    return random.Random()  # spreads test tours; no security role


def run(command: str, tmp_path: Path, config: dict[str, Any], **kwargs: Any) -> CliResult:
    """The installed command, as Airbyte runs it (config and catalog files, stdin)."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    args = [str(COMMAND), command, "--config", str(config_path)]
    if "catalog" in kwargs:
        catalog_path = tmp_path / "catalog.json"
        catalog_path.write_text(json.dumps(kwargs["catalog"]), encoding="utf-8")
        args += ["--catalog", str(catalog_path)]
    done = subprocess.run(
        args, input=kwargs.get("stdin", b""), capture_output=True, timeout=900, check=False
    )
    messages = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return CliResult(done.returncode, messages, done.stdout.decode(), done.stderr.decode())


def tour(lead: dict[str, str], slot: tuple[str, str]) -> dict[str, Any]:
    date, time = slot
    return record(**lead, appointment_date=date, appointment_time=time)


def test_check_succeeds(tmp_path: Path, config: dict[str, Any]) -> None:
    result = run("check", tmp_path, config)
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "SUCCEEDED", status


def test_three_rows_one_bad_are_two_bookings_and_one_rejection_in_the_state(
    tmp_path: Path, config: dict[str, Any], lead: dict[str, str], rng: random.Random
) -> None:
    bad = record(**lead, appointment_date="2031-02-30", appointment_time="10:00")
    rows = [tour(lead, free_slot(rng)), bad, tour(lead, free_slot(rng))]
    result = run(
        "write",
        tmp_path,
        config,
        catalog=catalog(("tours", "append")),
        stdin=jsonl([*rows, stream_state("tours", "3")]),
    )
    assert result.returncode == 0, result.stderr
    (state,) = result.states
    assert state["stream"]["stream_state"] == {"cursor": "3"}
    assert state["destinationStats"] == {"recordCount": 2, "rejectedRecordCount": 1}
    by_line = {o["line"]: o for o in result.outcomes}
    assert by_line[2]["outcome"] == "rejected"
    assert by_line[2]["reason"].startswith("appointment_date:")
    for line in (1, 3):
        assert (by_line[line]["outcome"], by_line[line]["write_status"]) == (
            "accepted",
            "SUCCESS",
        )


def test_create_if_absent_reads_the_tour_back_instead_of_booking_it_twice(
    tmp_path: Path, config: dict[str, Any], lead: dict[str, str], rng: random.Random
) -> None:
    create_if_absent = keyed("append_dedup", "lead_id", "appointment_date", "appointment_time")
    stdin = jsonl([tour(lead, free_slot(rng)), stream_state("tours", "1")])
    first = run("write", tmp_path, config, catalog=create_if_absent, stdin=stdin)
    second = run("write", tmp_path, config, catalog=create_if_absent, stdin=stdin)
    ((created,), (found,)) = first.outcomes, second.outcomes
    assert (created["how"], created["write_status"]) == ("created", "SUCCESS")
    assert (found["how"], found["write_status"]) == ("already booked", "EXISTING")
    # The tour's event id, read back (a create confirmed from the write-logs feed has none).
    assert found["created_record_id"]
    assert created["created_record_id"] in (None, found["created_record_id"])


def test_a_move_puts_the_tour_at_its_new_time(
    tmp_path: Path, config: dict[str, Any], lead: dict[str, str], rng: random.Random
) -> None:
    # Booked, then read back for its event id (create-if-absent finds it).
    create_if_absent = keyed("append_dedup", "lead_id", "appointment_date", "appointment_time")
    stdin = jsonl([tour(lead, free_slot(rng)), stream_state("tours", "1")])
    run("write", tmp_path, config, catalog=create_if_absent, stdin=stdin)
    (found,) = run("write", tmp_path, config, catalog=create_if_absent, stdin=stdin).outcomes
    event_id = found["created_record_id"]
    assert event_id, found
    date, time = free_slot(rng)
    moved = run(
        "write",
        tmp_path,
        config,
        catalog=keyed("update", "event_id"),
        stdin=jsonl(
            [
                record(event_id=event_id, appointment_date=date, appointment_time=time),
                stream_state("tours", "2"),
            ]
        ),
    )
    assert moved.returncode == 0, moved.stderr
    (outcome,) = moved.outcomes
    assert (outcome["how"], outcome["write_status"]) == ("rescheduled", "SUCCESS")
    assert (outcome["event_id"], outcome["moved_to"]) == (event_id, f"{date}T{time}:00Z")
    assert [s["destinationStats"] for s in moved.states] == [
        {"recordCount": 1, "rejectedRecordCount": 0}
    ]
