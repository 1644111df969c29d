"""The operator's tools, run through the real CLI against the sandbox: `dry_run` and
`rejected_records_path`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from integration_tests.conftest import (
    FIXTURES,
    TOKEN,
    Cli,
    booked_slots,
    catalog,
    stream_state,
    tour,
)

MIXED = (FIXTURES / "mixed_tours.jsonl").read_bytes()
MIXED_LINES = [json.loads(line) for line in MIXED.splitlines()]
# Blank lead_id, 24:00, month 13, an Entrata row without Entrata's fields: known without a write.
INVALID_LINES = [10, 11, 12, 15]
REFUSED_LINES = [14]  # unknown lead: only the PMS can tell


def test_a_dry_run_books_nothing_and_reports_every_record(cli: Cli) -> None:
    result = cli.write(MIXED, config=cli.config(dry_run=True))
    assert result.returncode == 0, result.stderr
    assert cli.sandbox.appointments() == []
    assert cli.sandbox.stats()["create"] == 0
    # A dry run reads (the vendor of the two integrations rows name) and writes nothing.
    assert cli.sandbox.stats()["total"] == cli.sandbox.stats()["integration"] == 2
    outcomes = {o["line"]: o for o in result.outcomes}
    record_lines = [n for n, m in enumerate(MIXED_LINES, start=1) if m["type"] == "RECORD"]
    assert sorted(outcomes) == record_lines
    rejected = sorted(n for n, o in outcomes.items() if o["outcome"] == "rejected")
    assert rejected == INVALID_LINES
    for line in set(record_lines) - set(INVALID_LINES):
        assert (outcomes[line]["how"], outcomes[line]["write_status"]) == ("dry run", "DRY_RUN")


def test_a_dry_run_echoes_no_state_so_nothing_counts_as_written(cli: Cli) -> None:
    result = cli.write(MIXED, config=cli.config(dry_run=True))
    assert result.states == []
    (summary,) = result.log_containing("write summary")
    assert summary.startswith("write summary (dry run, nothing written): received 20")
    assert "accepted 16 (dry run 16)" in summary
    assert "rejected 4 (invalid record 4)" in summary
    assert "states 3" in summary
    assert "requests 2 (create 0" in summary


def test_a_dry_run_logs_what_it_would_send_with_ids_and_utc_time_but_never_notes(
    cli: Cli,
) -> None:
    notes = "Call Ms Example on 555-0100 before the tour"
    result = cli.write(
        [tour("lead-7", "2024-07-20", "09:00", unit_id="unit-3", notes=notes)],
        config=cli.config(dry_run=True, source_timezone="America/Chicago"),
    )
    prefix = "dry run, would send: "
    (line,) = result.log_containing(prefix)
    assert json.loads(line[len(prefix) :]) == {
        "integration_id": "intg-sandbox-resman",
        "lead_id": "lead-7",
        "lead_source_id": "src-web",
        "unit_id": "unit-3",
        "appointment_utc": "2024-07-20T14:00:00Z",
        "vendor": "ResMan",
        "sent_as": "2024-07-20 14:00:00",
        "time_rule": "UTC",
    }
    assert notes not in result.stdout


def test_a_dry_run_on_append_dedup_reads_bookings_but_writes_none(cli: Cli) -> None:
    booked = tour("lead-1", "2024-07-20", "09:00")
    cli.write([booked, stream_state("tours", 1)])
    assert cli.sandbox.stats()["create"] == 1

    result = cli.write(
        [booked, tour("lead-2", "2024-07-20", "10:00"), stream_state("tours", 2)],
        config=cli.config(dry_run=True),
        catalog_=catalog(("tours", "append_dedup")),
    )
    assert [(o["lead_id"], o["how"]) for o in result.outcomes] == [
        ("lead-1", "already booked"),
        ("lead-2", "dry run"),
    ]
    stats = cli.sandbox.stats()
    assert stats["create"] == 1
    assert stats["read_back"] >= 2
    assert len(cli.sandbox.appointments()) == 1


def test_after_a_dry_run_the_real_sync_books_every_record(cli: Cli) -> None:
    cli.write(MIXED, config=cli.config(dry_run=True))
    result = cli.write(MIXED)
    assert len(result.states) == 3
    assert len(booked_slots(cli.sandbox)) == 15


def _rejected_file(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_rejected_records_land_in_the_file_with_their_data_and_reasons(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "airbyte_local" / "propexo" / "rejected.jsonl"
    result = cli.write(MIXED, config=cli.config(rejected_records_path=str(path)))
    assert result.returncode == 0, result.stderr
    reasons = {o["line"]: o["reason"] for o in result.outcomes if o["outcome"] == "rejected"}
    # in the order the outcomes became final, which is not always the input order
    entries = sorted(_rejected_file(path), key=lambda e: int(str(e["line"])))
    assert [e["line"] for e in entries] == sorted(reasons) == sorted(INVALID_LINES + REFUSED_LINES)
    for entry in entries:
        line = int(str(entry["line"]))
        assert entry["reason"] == reasons[line]
        assert entry["data"] == MIXED_LINES[line - 1]["record"]["data"]
        assert (entry["stream"], entry["namespace"], entry["dry_run"]) == ("tours", None, False)
        assert datetime.fromisoformat(str(entry["rejected_at"])).utcoffset() is not None
    categories = [e["category"] for e in entries]
    # Lines 10, 11, 12, 14 and 15.
    assert categories == ["invalid record"] * 3 + ["write failed in the PMS", "invalid record"]
    assert TOKEN not in path.read_text(encoding="utf-8")
    (summary,) = result.log_containing("write summary")
    assert summary.endswith(f"rejected records appended to {path}: 5")


def test_the_rejected_records_file_is_appended_to_never_overwritten(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "rejected.jsonl"
    config = cli.config(rejected_records_path=str(path))
    cli.write([tour(""), stream_state("tours", 1)], config=config)
    cli.write([tour("lead-1", time="25:00"), stream_state("tours", 2)], config=config)
    reasons = [str(e["reason"]) for e in _rejected_file(path)]
    assert len(reasons) == 2
    assert reasons[0].startswith("lead_id:")
    assert reasons[1].startswith("appointment_time:")


def test_a_dry_run_writes_its_rejections_marked_as_dry_run(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    cli.write(MIXED, config=cli.config(dry_run=True, rejected_records_path=str(path)))
    entries = _rejected_file(path)
    assert [(e["line"], e["dry_run"]) for e in entries] == [(n, True) for n in INVALID_LINES]


def test_check_fails_when_the_rejected_records_file_cannot_be_written(
    cli: Cli, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = cli.run("check", config=cli.config(rejected_records_path=f"{blocker}/rejected.jsonl"))
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert status["message"].startswith("rejected_records_path: cannot append to")
    assert "/local/propexo/rejected.jsonl" in status["message"]
    assert cli.sandbox.stats()["total"] == 0


def test_check_creates_the_folder_of_the_rejected_records_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "propexo" / "rejected.jsonl"
    result = cli.run("check", config=cli.config(rejected_records_path=str(path)))
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "SUCCEEDED", status
    assert path.parent.is_dir()


def test_a_write_whose_rejected_records_file_cannot_be_written_stops_before_any_request(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli.write(MIXED, config=cli.config(rejected_records_path=str(tmp_path)))
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert trace["error"]["message"].startswith("rejected_records_path: cannot append to")
    assert result.states == []
    assert cli.sandbox.stats()["total"] == 0
