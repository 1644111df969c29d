"""A busy integration, append_dedup, the outcomes dataset and the cost per booking, end to
end: the sandbox over real sockets and an S3 API (moto) on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from integration_tests.conftest import Cli, catalog, stream_state, tour
from integration_tests.object_storage import S3Server

RESMAN = "intg-sandbox-resman"
UPCOMING = "2041-07-21T15:00:00.000Z"


def seed_busy_integration(cli: Cli) -> dict[str, str]:
    """2,000 past appointments of 500 leads, and a dozen upcoming ones (lead-0..lead-11);
    returns the upcoming ones' ids by lead."""
    for number in range(2000):
        cli.sandbox.seed_appointment(
            lead_id=f"old-{number % 500}",
            utc=f"2023-{number % 12 + 1:02d}-{number % 28 + 1:02d}T{number % 10 + 9:02d}:00:00Z",
            created_at="2025-01-01T00:00:00Z",
        )
    return {
        f"lead-{n}": cli.sandbox.seed_appointment(
            lead_id=f"lead-{n}", utc=UPCOMING, created_at="2025-06-01T00:00:00Z"
        )
        for n in range(12)
    }


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines()]


def test_a_300_row_append_dedup_sync_creates_288_finds_12_at_most_1_2_requests_a_booking(
    cli: Cli, s3: S3Server, tmp_path: Path
) -> None:
    upcoming = seed_busy_integration(cli)
    rows: list[dict[str, Any]] = []
    for number in range(300):
        rows.append(tour(f"lead-{number}", date="2041-07-21", time="15:00"))
        if number % 100 == 99:
            rows.append(stream_state("tours", number))
    path = tmp_path / "outcomes.jsonl"
    config = cli.config(object_storage_config=s3.storage(), outcomes_path=str(path))
    result = cli.write(rows, config=config, catalog_=catalog(("tours", "append_dedup")))
    assert result.returncode == 0, result.stderr

    stats = cli.sandbox.stats()
    assert stats["create"] == 288
    assert stats["total"] / 288 <= 1.2, stats
    booked = {
        str(a["id"]): a for a in cli.sandbox.appointments() if a["appointment_datetime"] == UPCOMING
    }
    assert len(booked) == 300
    in_bucket = b"".join(s3.objects(prefix="rejected/outcomes/").values())
    for entries in (lines(in_bucket), lines(path.read_bytes())):
        assert sorted(e["line"] for e in entries) == [
            n for n, row in enumerate(rows, 1) if row["type"] == "RECORD"
        ]
        hows = [e["how"] for e in entries]
        assert (hows.count("created"), hows.count("already_booked")) == (288, 12)
        for entry in entries:
            appointment = booked[entry["appointment_id"]]
            assert appointment["associated_lead_ids"] == [entry["lead_id"]]
            if entry["how"] == "already_booked":
                assert entry["appointment_id"] == upcoming[entry["lead_id"]]
        assert len({e["appointment_id"] for e in entries}) == 300
    (summary,) = lines(path.with_name("outcomes.summaries.jsonl").read_bytes())
    assert summary["requests"]["total"] == stats["total"] - stats.get("integration", 0)
    assert summary["requests"]["read_back"] == 0
