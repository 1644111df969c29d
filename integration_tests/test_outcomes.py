"""The outcomes dataset through the real CLI: every record's final outcome, with the ResMan
appointment id of each booking, in the bucket (moto on 127.0.0.1) and in a local file, and
a machine-readable summary beside them."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from destination_propexo.airbyte.protocol import Emitter
from destination_propexo.destination import write_records
from destination_propexo.outputs.outcome_entry import OUTCOME_FIELDS
from integration_tests.conftest import FIXTURES, Cli, catalog, jsonl, stream_state, tour
from integration_tests.object_storage import S3Server
from integration_tests.test_vendors import CHICAGO, DEFAULTS, row
from propexo_sandbox import Sandbox

MIXED = (FIXTURES / "mixed_tours.jsonl").read_bytes()
RECORD_LINES = [
    n for n, line in enumerate(MIXED.splitlines(), 1) if json.loads(line)["type"] == "RECORD"
]
REJECTED_LINES = [10, 11, 12, 14, 15]
JOB = "4242"


@pytest.fixture(autouse=True)
def airbyte_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_JOB_ID", JOB)
    monkeypatch.setenv("WORKER_JOB_ATTEMPT", "2")


def lines_of(bodies: list[bytes]) -> list[dict[str, Any]]:
    found = [json.loads(line) for body in bodies for line in body.splitlines()]
    return sorted(found, key=lambda entry: int(entry["line"]))


def test_every_record_has_one_outcome_line_with_its_appointment_id_in_bucket_and_file(
    cli: Cli, s3: S3Server, tmp_path: Path
) -> None:
    path = tmp_path / "out" / "outcomes.jsonl"
    config = cli.config(object_storage_config=s3.storage(), outcomes_path=str(path))
    result = cli.write(MIXED, config=config)
    assert result.returncode == 0, result.stderr
    in_bucket = s3.objects(prefix="rejected/outcomes/")
    assert all(
        re.fullmatch(rf"rejected/outcomes/tours/\d{{4}}_\d\d_\d\d_\d{{13}}_{JOB}_\d+\.jsonl", key)
        for key in in_bucket
    ), in_bucket
    from_bucket = lines_of(list(in_bucket.values()))
    from_file = lines_of([path.read_bytes()])
    for entries in (from_bucket, from_file):
        assert [e["line"] for e in entries] == RECORD_LINES
        booked = {a["id"]: a for a in cli.sandbox.appointments()}
        for entry in entries:
            assert (entry["sync_id"], entry["attempt"], entry["dry_run"]) == (JOB, 2, False)
            if entry["line"] in REJECTED_LINES:
                assert entry["outcome"] == "rejected" and entry["reason"]
                assert entry["appointment_id"] is None
                continue
            assert (entry["outcome"], entry["how"]) == ("accepted", "created")
            appointment = booked[entry["appointment_id"]]
            assert appointment["associated_lead_ids"] == [entry["lead_id"]]
            assert appointment["appointment_datetime"] == entry["appointment_utc"].replace(
                "Z", ".000Z"
            )
            assert entry["write_status"] == "SUCCESS" and entry["job_id"]
    assert len({e["appointment_id"] for e in from_file if e["appointment_id"]}) == 15
    (summary_key,) = s3.objects(prefix="rejected/summaries/")
    summary = json.loads(s3.objects(prefix="rejected/summaries/")[summary_key])
    in_file = [json.loads(line) for line in path.with_name("outcomes.summaries.jsonl").open()]
    assert in_file == [summary]
    assert summary["records"]["received"] == 20
    assert summary["accepted_by_how"] == {"created": 15}
    assert sum(summary["rejected_by_reason"].values()) == 5
    assert summary["requests"]["create"] == summary["requests"]["total"] - sum(
        v for k, v in summary["requests"].items() if k not in ("create", "total")
    )
    assert (summary["status"], summary["sync_id"], summary["attempt"]) == ("succeeded", JOB, 2)


def test_write_outcomes_off_keeps_only_the_rejected_records_in_the_bucket(
    cli: Cli, s3: S3Server
) -> None:
    config = cli.config(object_storage_config=s3.storage(), write_outcomes=False)
    result = cli.write(MIXED, config=config)
    assert result.returncode == 0, result.stderr
    assert s3.objects(prefix="rejected/outcomes/") == {}
    assert s3.objects(prefix="rejected/summaries/") == {}
    assert len(s3.objects(prefix=f"rejected/{JOB}/")) >= 1


class _StateWatch:
    """stdout for `write_records` that, as each STATE is written, counts the outcome lines
    the bucket holds."""

    def __init__(self, s3: S3Server) -> None:
        self.s3 = s3
        self.seen: list[tuple[int, int]] = []  # (records confirmed so far, lines in bucket)
        self._confirmed = 0

    def write(self, lines: bytes) -> int:
        for line in lines.splitlines():
            message = json.loads(line)
            if message["type"] == "STATE":
                stats = message["state"]["destinationStats"]
                self._confirmed += stats["recordCount"] + stats["rejectedRecordCount"]
                bodies = self.s3.objects(prefix="rejected/outcomes/").values()
                self.seen.append((self._confirmed, sum(len(b.splitlines()) for b in bodies)))
        return len(lines)

    def flush(self) -> None:
        return None


def test_a_state_is_echoed_only_once_the_outcomes_it_covers_are_in_the_bucket(
    cli: Cli, s3: S3Server
) -> None:
    messages = [tour("lead-a"), tour(""), stream_state("tours", 1)]
    messages += [tour(f"lead-{n}", time="25:00" if n % 2 else "10:00") for n in range(4)]
    messages += [stream_state("tours", 2), tour("lead-z"), stream_state("tours", 3)]
    watch = _StateWatch(s3)
    write_records(
        cli.config(object_storage_config=s3.storage()),
        catalog(("tours", "append")),
        [jsonl(messages).splitlines()],  # one batch of lines
        Emitter(watch),
    )
    assert [confirmed for confirmed, _ in watch.seen] == [2, 6, 7]
    for confirmed, in_bucket in watch.seen:
        assert in_bucket >= confirmed


def test_a_sync_the_brake_stops_keeps_its_outcomes_and_a_failed_summary(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "outcomes.jsonl"
    rows = [tour(f"lead-{n}", time="25:00") for n in range(150)]
    config = cli.config(max_rejected_percent=20, outcomes_path=str(path))
    result = cli.write(rows, config=config)
    assert result.returncode == 1
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert 100 <= len(written) < 150
    assert {e["category"] for e in written} == {"invalid record"}
    (summary,) = [json.loads(line) for line in path.with_name("outcomes.summaries.jsonl").open()]
    assert (summary["status"], summary["failure_type"]) == ("failed", "config_error")
    assert "max_rejected_percent" in summary["error"]
    assert summary["requests"]["create"] == 0


def test_check_fails_naming_outcomes_path_when_the_file_cannot_be_written(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli.run("check", config=cli.config(outcomes_path=str(tmp_path)))
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert status["message"].startswith("outcomes_path: cannot append to")


def test_outcomes_in_csv_have_the_documented_columns(cli: Cli, s3: S3Server) -> None:
    storage = s3.storage(format={"format_type": "CSV"})
    result = cli.write(MIXED, config=cli.config(object_storage_config=storage))
    assert result.returncode == 0, result.stderr
    parts = s3.objects(prefix="rejected/outcomes/")
    assert parts and all(key.endswith(".csv") for key in parts)
    rows = [r for body in parts.values() for r in csv.DictReader(io.StringIO(body.decode()))]
    assert list(rows[0]) == list(OUTCOME_FIELDS)
    assert sorted(int(r["line"]) for r in rows) == RECORD_LINES
    accepted = [r for r in rows if r["outcome"] == "accepted"]
    assert all(r["appointment_id"].startswith("appt-") for r in accepted)
    assert {r["dry_run"] for r in rows} == {"false"}


def test_a_dry_run_writes_its_outcomes_marked_and_no_summary(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "outcomes.jsonl"
    result = cli.write(MIXED, config=cli.config(dry_run=True, outcomes_path=str(path)))
    assert result.returncode == 0, result.stderr
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(e["line"] for e in written) == RECORD_LINES
    assert all(e["dry_run"] for e in written)
    assert not path.with_name("outcomes.summaries.jsonl").read_text()


def test_a_stopped_syncs_summary_counts_every_outcome_its_dataset_holds(
    tmp_path: Path,
) -> None:
    """A broken line stops the sync with a slow create at the head and rejected rows behind
    it: the summary counts what the outcomes file holds, not only the rows before the head."""
    path = tmp_path / "outcomes.jsonl"
    rows = [tour("lead-slow"), *(tour(f"lead-{n}", time="25:00") for n in range(4))]
    with Sandbox(latency=1.0, write_status_delay=0.05) as slow:
        cli = Cli(tmp_path, slow)
        result = cli.write(jsonl(rows) + b"{not json\n", config=cli.config(outcomes_path=str(path)))
    assert result.returncode == 1
    written = [json.loads(line) for line in path.read_text().splitlines()]
    (summary,) = [json.loads(line) for line in path.with_name("outcomes.summaries.jsonl").open()]
    rejected = [e for e in written if e["outcome"] == "rejected"]
    accepted = [e for e in written if e["outcome"] == "accepted"]
    assert len(rejected) >= 4
    counts = summary["records"]
    assert (counts["accepted"], counts["rejected"]) == (len(accepted), len(rejected)), summary
    assert counts["not_final"] == counts["received"] - len(written) == 5 - len(written)
    assert sum(summary["rejected_by_category"].values()) == len(rejected)
    assert sum(summary["rejected_by_reason"].values()) == len(rejected)


@pytest.mark.parametrize("option", ["outcomes_path", "rejected_records_path"])
def test_a_full_disk_stops_the_sync_naming_the_file_option(cli: Cli, option: str) -> None:
    """/dev/full opens, and refuses every write (ENOSPC): the sync stops with a
    configuration error naming the option, no STATE covering the entry it could not keep."""
    rows = [tour("lead-1", time="25:00"), tour("lead-2"), stream_state("tours", 1)]
    result = cli.write(rows, config=cli.config(**{option: "/dev/full"}))
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error", trace
    assert trace["error"]["message"].startswith(f"{option}: writing /dev/full: No space left")
    assert result.states == []


def test_each_mapped_entry_keeps_its_vendor_wall_clock_sent_and_time_rule(
    cli: Cli, s3: S3Server, tmp_path: Path
) -> None:
    """One sync across vendors, its outcomes in a local JSONL file and a CSV bucket: every
    entry whose record was mapped (booked, failed in the PMS or refused by Propexo alike)
    says which PMS got it, the wall clock sent and the rule that chose the zone; a row
    rejected before mapping has none."""
    cli.sandbox.seed_lead("lead-rm", property_id="prop-east")
    rows = [
        row("resman", "lead-r"),
        row("entrata", "lead-e"),
        row("rentmanager", "lead-rm"),
        row("appfolio", "lead-missing-a"),  # mapped, then the PMS fails the job
        row("yardi", "lead-refused-y"),  # mapped, then Propexo refuses the create (400)
        row("entrata", "lead-e2", notes=None),  # rejected before mapping: Entrata needs notes
        stream_state("tours", 1),
    ]
    path = tmp_path / "outcomes.jsonl"
    storage = s3.storage(format={"format_type": "CSV"})
    config = cli.config(
        **CHICAGO, **DEFAULTS, outcomes_path=str(path), object_storage_config=storage
    )
    result = cli.write(rows, config=config)
    assert result.returncode == 0, result.stderr

    east = "America/New_York (property prop-east in GET /v1/timezones/: -05:00, DST)"
    expected = {
        1: ("accepted", None, "ResMan", "2027-07-20", "19:00:00", "UTC"),
        2: ("accepted", None, "Entrata", "2027-07-20", "13:00:00", "America/Denver (Entrata)"),
        3: ("accepted", None, "Rent Manager", "2027-07-20", "15:00:00", east),
        4: ("rejected", "write failed in the PMS", "AppFolio", "2027-07-20", "19:00:00", "UTC"),
        5: ("rejected", "refused by Propexo", "Yardi", "2027-07-20", "15:00:00", east),
        6: ("rejected", "invalid record", None, None, None, None),
    }
    columns = ("outcome", "category", "vendor", "sent_date", "sent_time", "time_rule")
    from_file = {e["line"]: tuple(e[c] for c in columns) for e in lines_of([path.read_bytes()])}
    assert from_file == expected
    parts = s3.objects(prefix="rejected/outcomes/")
    rows_in_csv = [r for body in parts.values() for r in csv.DictReader(io.StringIO(body.decode()))]
    assert list(rows_in_csv[0]) == list(OUTCOME_FIELDS)
    from_csv = {int(r["line"]): tuple(r[c] or None for c in columns) for r in rows_in_csv}
    assert from_csv == expected
    # The log line says the same for each record.
    logged = {o["line"]: tuple(o.get(c) for c in columns) for o in result.outcomes}
    assert logged == expected
