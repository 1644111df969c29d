"""The rejected-records file and its option, without the CLI."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.config import load_config
from destination_propexo.errors import ConfigError
from destination_propexo.outputs.rejected_file import RejectedRecordsFile
from destination_propexo.records.outcomes import Rejected

BASE = {"token": "t0ken-for-tests", "integration_id": "intg-1"}


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_path_means_no_file(blank: str) -> None:
    assert load_config({**BASE, "rejected_records_path": blank}).rejected_records_path is None


def test_lines_appended_from_many_threads_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    rejected_file = RejectedRecordsFile(str(path))
    notes = "x" * 5000  # longer than one buffered write

    def reject(n: int) -> None:
        record = RecordMessage("tours", "crm", {"lead_id": f"lead-{n}", "notes": notes}, n)
        rejected_file.append(record, Rejected("invalid record", f"reason {n}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(reject, range(400)))
    rejected_file.close()
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(e["line"] for e in entries) == list(range(400))
    assert {e["namespace"] for e in entries} == {"crm"}
    assert all(e["reason"] == f"reason {e['line']}" for e in entries)
    assert rejected_file.written == 400


def test_a_path_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^rejected_records_path: cannot append to"):
        RejectedRecordsFile(str(tmp_path))
