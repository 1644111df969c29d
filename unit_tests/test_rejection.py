"""One rejection entry, written once for every sink; its CSV cells; the bucket's typed config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.airbyte.secrets import update_secrets
from destination_propexo.config import (
    CsvFormat,
    GzipCompression,
    JsonLinesFormat,
    NoObjectStorage,
    S3ObjectStorage,
    load_config,
)
from destination_propexo.errors import ConfigError
from destination_propexo.outputs.object_store import ObjectStore
from destination_propexo.outputs.parts import csv_row
from destination_propexo.outputs.rejected_bucket import sync_id
from destination_propexo.outputs.rejected_file import RejectedRecordsFile
from destination_propexo.outputs.rejection import ENTRY_FIELDS, rejection_entry, to_json
from destination_propexo.records.outcomes import Rejected

SECRET = 'se"cret\\key'  # a quote and a backslash: escaped in JSON, still masked
RECORD = RecordMessage("tours", "crm", {"lead_id": "lead-1", "notes": "ground floor"}, 7)
REFUSED = Rejected("refused by Propexo", "Propexo refused the record: no", "job-1", None, ("e1",))
BASE = {"token": "t0ken-for-tests", "integration_id": "intg-1"}
S3 = {
    "storage_type": "S3",
    "access_key_id": "AKIAEXAMPLE",
    "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "s3_bucket_name": "airbyte-rejected",
    "s3_bucket_region": "us-east-1",
    "bucket_path": "propexo/rejected",
    "format": {"format_type": "JSONL"},
}


@pytest.fixture
def secret_registered() -> Iterator[str]:
    update_secrets([SECRET])
    yield SECRET
    update_secrets([])


def test_an_entry_holds_the_records_data_and_every_rejection_field() -> None:
    entry = rejection_entry(RECORD, REFUSED, dry_run=True)
    assert tuple(entry) == ENTRY_FIELDS
    assert {k: v for k, v in entry.items() if k != "rejected_at"} == {
        "stream": "tours",
        "namespace": "crm",
        "line": 7,
        "category": "refused by Propexo",
        "reason": "Propexo refused the record: no",
        "errors": ["e1"],
        "job_id": "job-1",
        "dry_run": True,
        "data": {"lead_id": "lead-1", "notes": "ground floor"},
    }
    assert datetime.fromisoformat(entry["rejected_at"]).utcoffset() is not None


def test_every_known_secret_is_masked_wherever_it_sits_in_the_entry(secret_registered: str) -> None:
    record = RecordMessage(
        "tours",
        None,
        {"notes": f"key={secret_registered}", secret_registered: [{"deep": secret_registered}]},
        1,
    )
    outcome = Rejected("invalid record", f"bad {secret_registered}", errors=(secret_registered,))
    entry = rejection_entry(record, outcome, dry_run=False)
    for encoded in (to_json(entry).decode(), ",".join(csv_row(entry, ENTRY_FIELDS))):
        assert secret_registered not in encoded
        assert json.dumps(secret_registered)[1:-1] not in encoded  # nor its JSON-escaped form
    assert entry["data"] == {"notes": "key=****", "****": [{"deep": "****"}]}


def test_a_lone_surrogate_is_written_as_its_json_escape() -> None:
    assert to_json({"notes": "a\ud800b"}) == b'{"notes":"a\\ud800b"}'
    assert to_json({"notes": "é"}) == '{"notes":"é"}'.encode()


def test_csv_cells_are_text_with_json_for_errors_and_data() -> None:
    entry: dict[str, Any] = {
        **rejection_entry(RECORD, REFUSED, dry_run=False),
        "namespace": None,
        "rejected_at": "2026-11-27T14:30:00.000+00:00",
    }
    assert csv_row(entry, ENTRY_FIELDS) == [
        "tours",
        "",
        "7",
        "refused by Propexo",
        "Propexo refused the record: no",
        '["e1"]',
        "job-1",
        "2026-11-27T14:30:00.000+00:00",
        "false",
        '{"lead_id":"lead-1","notes":"ground floor"}',
    ]


def test_the_sync_id_is_airbytes_job_id_or_else_the_utc_start_time() -> None:
    started = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    assert sync_id({"WORKER_JOB_ID": "4242"}, started) == "4242"
    assert sync_id({}, started) == "20261127T143000Z"
    assert sync_id({"WORKER_JOB_ID": " "}, started) == "20261127T143000Z"


def test_the_rejected_records_file_summarises_what_it_appended(tmp_path: Path) -> None:
    rejected_file = RejectedRecordsFile(str(tmp_path / "rejected.jsonl"))
    rejected_file.append(RECORD, REFUSED)
    rejected_file.flush()
    rejected_file.close()
    assert rejected_file.describe() == f"rejected records appended to {tmp_path}/rejected.jsonl: 1"


def test_a_rejected_records_file_that_cannot_be_written_is_a_config_error() -> None:
    rejected_file = RejectedRecordsFile("/dev/full")  # every write fails: no space left
    with pytest.raises(ConfigError, match=r"^rejected_records_path: writing /dev/full: No space"):
        rejected_file.append(RECORD, REFUSED)
    assert rejected_file.written == 0


def test_without_object_storage_config_nothing_is_written_to_a_bucket() -> None:
    assert load_config(BASE).object_storage_config == NoObjectStorage()
    none = {"storage_type": "None"}
    assert load_config({**BASE, "object_storage_config": none}).object_storage_config == (
        NoObjectStorage()
    )


def test_an_s3_block_is_read_into_its_typed_config() -> None:
    storage = load_config({**BASE, "object_storage_config": S3}).object_storage_config
    assert isinstance(storage, S3ObjectStorage)
    assert (storage.s3_bucket_name, storage.bucket_path, storage.s3_endpoint) == (
        "airbyte-rejected",
        "propexo/rejected",
        None,
    )
    assert storage.format == JsonLinesFormat()


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ({"s3_endpoint": ""}, {"s3_endpoint": None}),
        ({"s3_endpoint": " http://minio:9000/ "}, {"s3_endpoint": "http://minio:9000"}),
        ({"bucket_path": "/rejected/propexo/"}, {"bucket_path": "rejected/propexo"}),
        ({"bucket_path": ""}, {"bucket_path": ""}),
        ({"s3_bucket_region": " EU-West-3 "}, {"s3_bucket_region": "eu-west-3"}),
        (
            {"format": {"format_type": "CSV", "flattening": "No flattening"}},
            {"format": CsvFormat()},
        ),
        ({"role_arn": ""}, {"role_arn": None}),
        (
            {"role_arn": " arn:aws:iam::123456789012:role/rejected "},
            {"role_arn": "arn:aws:iam::123456789012:role/rejected"},
        ),
        ({"format": "CSV"}, {"format": CsvFormat()}),  # Airbyte's default names the choice
        ({"format": {"format_type": "JSONL"}}, {"format": JsonLinesFormat()}),
        ({"compression": {"compression_type": "GZIP"}}, {"compression": GzipCompression()}),
        ({"path_format": "{sync_id}/{namespace}/{stream_name}/"}, {}),
        ({"path_format": "", "file_name_format": ""}, {}),
    ],
)
def test_the_s3_block_is_normalised(given: dict[str, Any], read: dict[str, Any]) -> None:
    storage = S3ObjectStorage.model_validate({**S3, **given})
    for name, value in read.items():
        assert getattr(storage, name) == value


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"s3_endpoint": "minio:9000"}, "object_storage_config.S3.s3_endpoint"),
        ({"s3_endpoint": "http://minio:9000/path"}, "without a path"),
        ({"s3_bucket_name": "a/b"}, "object_storage_config.S3.s3_bucket_name"),
        ({"bucket_path": "a//b"}, "object_storage_config.S3.bucket_path"),
        ({"bucket_path": "a/../b"}, "'..' segments"),
        ({"s3_bucket_region": "us east 1"}, "object_storage_config.S3.s3_bucket_region"),
        ({"secret_access_key": "  "}, "Access Key ID without Secret Access Key"),
        ({"format": {"format_type": "PARQUET"}}, "object_storage_config.S3.format"),
        ({"storage_type": "GCS"}, "object_storage_config"),
        (
            {"role_arn": "my-role"},
            "object_storage_config.S3.role_arn: Value error, 'my-role' is not",
        ),
        (
            {"format": {"format_type": "CSV", "flattening": "Root level flattening"}},
            "object_storage_config.S3.format.CSV.flattening",
        ),
        (
            {"path_format": "{namespace}/{stream_name}/{year}_{month}_{day}_{epoch}"},
            "object_storage_config.S3.path_format: Value error, only",
        ),
        ({"file_name_format": "{date}"}, "object_storage_config.S3.file_name_format"),
        (
            {"access_key_id": None, "secret_access_key": None},
            "object_storage_config.S3: Value error, give Access Key ID and Secret Access Key",
        ),
        ({"access_key_id": ""}, "Access Key ID without Secret Access Key or the other way"),
    ],
)
def test_a_bad_s3_block_is_a_config_error_naming_the_field(
    given: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError, match=r"^The configuration is invalid") as invalid:
        load_config({**BASE, "object_storage_config": {**S3, **given}})
    assert problem in str(invalid.value)
    assert S3["secret_access_key"] not in str(invalid.value)


def test_with_a_role_the_keys_may_be_left_out() -> None:
    role = "arn:aws:iam::123456789012:role/rejected"
    keyless = {k: v for k, v in S3.items() if k not in ("access_key_id", "secret_access_key")}
    storage = S3ObjectStorage.model_validate({**keyless, "role_arn": role})
    assert (storage.role_arn, storage.access_key_id, storage.secret_access_key) == (
        role,
        None,
        None,
    )
    # The Airbyte UI sends emptied fields as "": no keys either.
    emptied = S3ObjectStorage.model_validate(
        {**S3, "access_key_id": "", "secret_access_key": " ", "role_arn": role}
    )
    assert (emptied.access_key_id, emptied.secret_access_key) == (None, None)


def test_the_config_never_shows_the_keys() -> None:
    config = load_config({**BASE, "object_storage_config": S3})
    for text in (repr(config), str(config), config.model_dump_json(), repr(config.model_dump())):
        assert S3["secret_access_key"] not in text
        assert S3["access_key_id"] not in text


def test_the_store_is_the_configured_one_never_one_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    aws = ObjectStore(S3ObjectStorage.model_validate({**S3, "s3_bucket_region": "eu-west-3"}))
    minio = ObjectStore(S3ObjectStorage.model_validate({**S3, "s3_endpoint": "http://minio:9000"}))
    assert (aws.endpoint, minio.endpoint) == (
        "https://s3.eu-west-3.amazonaws.com",
        "http://minio:9000",
    )
    assert S3["secret_access_key"] not in repr(aws) + repr(minio)
