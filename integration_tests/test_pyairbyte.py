"""A PyAirbyte user's sync, offline: a CSV read by source-file, booked through this connector
against the sandbox, as docs/propexo.md shows; and PyAirbyte installing the connector from a
`pip_url` (its wheel), as it installs any Python connector.

PyAirbyte (`pip install airbyte`, about 800 MB) and source-file (`pip install
airbyte-source-file`, about 500 MB, in a virtualenv of its own) are too heavy for every CI
run, so without them this test skips. Run it with both installed:

    python -m venv /tmp/pyairbyte && /tmp/pyairbyte/bin/pip install airbyte -e '.[dev]'
    python -m venv /tmp/source-file && /tmp/source-file/bin/pip install airbyte-source-file
    SOURCE_FILE_EXECUTABLE=/tmp/source-file/bin/source-file \\
        /tmp/pyairbyte/bin/pytest integration_tests/test_pyairbyte.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from destination_propexo import __version__
from integration_tests.conftest import INTEGRATION, TOKEN, booked_slots
from integration_tests.test_install import build_wheel
from propexo_sandbox import Sandbox

CSV = """lead_id,lead_source_id,unit_id,appointment_date,appointment_time,notes
lead-1,source-website,unit-201,2024-07-21,10:15,Prefers ground floor
lead-2,source-zillow,,2024-07-22,11:30,
lead-3,source-website,unit-203,2024-07-23,25:00,Impossible time
"""


def _source_file_executable() -> str:
    named = os.environ.get("SOURCE_FILE_EXECUTABLE")
    found = named or shutil.which("source-file")
    if found is None:
        pytest.skip("source-file is not installed (pip install airbyte-source-file)")
    return found


def test_a_csv_read_by_source_file_is_booked_through_pyairbyte(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline: no connector registry and no telemetry, only the two local executables.
    monkeypatch.setenv("AIRBYTE_OFFLINE_MODE", "1")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    # PyAirbyte's working files (its cache, connector logs) go to the test's folder.
    monkeypatch.setenv("AIRBYTE_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("AIRBYTE_CACHE_ROOT", str(tmp_path / "cache"))
    ab = pytest.importorskip("airbyte", reason="PyAirbyte is not installed (pip install airbyte)")
    tours = tmp_path / "tours.csv"
    tours.write_text(CSV, encoding="utf-8")
    rejected = tmp_path / "rejected.jsonl"

    source = ab.get_source(
        "source-file",
        config={
            "dataset_name": "tours",
            "format": "csv",
            "url": str(tours),
            "provider": {"storage": "local"},
        },
        local_executable=_source_file_executable(),
    )
    source.select_all_streams()
    destination = ab.get_destination(
        "destination-propexo",
        config={
            "token": TOKEN,
            "integration_id": INTEGRATION,
            "api_url": sandbox.url,
            "source_timezone": "America/Chicago",
            "requests_per_minute": 6000,
            "rejected_records_path": str(rejected),
        },
        local_executable=str(Path(sys.executable).parent / "destination-propexo"),
    )
    destination.check()
    destination.write(source, cache=False, write_strategy="append")

    assert sorted(booked_slots(sandbox)) == [
        ("lead-1", "2024-07-21T15:15:00.000Z"),
        ("lead-2", "2024-07-22T16:30:00.000Z"),
    ]
    (entry,) = [json.loads(line) for line in rejected.read_text(encoding="utf-8").splitlines()]
    assert entry["data"]["lead_id"] == "lead-3"
    assert entry["reason"].startswith("appointment_time:")


@pytest.mark.skipif(
    os.environ.get("DESTINATION_PROPEXO_ONLINE_INSTALL") != "1",
    reason="installs the wheel's dependencies from the package registry: set "
    "DESTINATION_PROPEXO_ONLINE_INSTALL=1 to run it",
)
def test_pyairbyte_installs_the_connector_from_pip_url_and_checks_through_it(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`get_destination("destination-propexo", pip_url=...)`: PyAirbyte makes a virtualenv of
    its own, pip-installs the wheel there (the name it then asks for is
    airbyte-destination-propexo), and runs the `destination-propexo` command it holds."""
    monkeypatch.setenv("AIRBYTE_OFFLINE_MODE", "1")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("AIRBYTE_PROJECT_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # PyAirbyte's virtualenv goes to the working directory
    ab = pytest.importorskip("airbyte", reason="PyAirbyte is not installed (pip install airbyte)")
    wheel = build_wheel(tmp_path)
    destination = ab.get_destination(
        "destination-propexo",
        config={"token": TOKEN, "integration_id": INTEGRATION, "api_url": sandbox.url},
        pip_url=str(wheel),
    )
    assert (tmp_path / ".venv-destination-propexo" / "bin" / "destination-propexo").exists()
    assert destination.executor.get_installed_version(recheck=True) == __version__
    destination.check()
    spec = destination.config_spec
    assert "object_storage_config" in spec["properties"]
