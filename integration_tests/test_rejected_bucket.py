"""The rejected-records bucket and its check, against a real S3 API (moto on 127.0.0.1)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.airbyte.secrets import update_secrets
from destination_propexo.config import S3ObjectStorage
from destination_propexo.errors import ConfigError
from destination_propexo.outputs.object_store import ObjectStore, assume_role_arguments
from destination_propexo.outputs.rejected_bucket import RejectedRecordsBucket
from destination_propexo.records.outcomes import Rejected
from integration_tests.object_storage import BUCKET, SECRET, S3Server, closed_port

STARTED = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
PART = "2026_11_27_1795789800000"  # the start's date and epoch milliseconds


def storage(s3: S3Server, **overrides: Any) -> S3ObjectStorage:
    return S3ObjectStorage.model_validate(s3.storage(**overrides))


def bucket(s3: S3Server, *, sync: str = "4242", **kwargs: Any) -> RejectedRecordsBucket:
    fmt = kwargs.pop("format_type", "JSONL")
    return RejectedRecordsBucket(
        storage(s3, format={"format_type": fmt}), sync_id=sync, started=STARTED, **kwargs
    )


def tour(
    line: int, stream: str = "tours", namespace: str | None = None, **data: Any
) -> RecordMessage:
    return RecordMessage(stream, namespace, {"lead_id": f"lead-{line}", **data}, line)


REFUSED = Rejected("write failed in ResMan", "ResMan did not book it", "job-7", "FAILURE", ("x",))


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines()]


@pytest.fixture
def secret_registered() -> Iterator[str]:
    """The secret access key registered for masking, as the CLI does from the spec."""
    update_secrets([SECRET])
    yield SECRET
    update_secrets([])


def test_objects_land_under_the_prefix_the_sync_id_the_namespace_and_the_stream(
    s3: S3Server,
) -> None:
    sink = bucket(s3)
    sink.append(tour(3, namespace="crm"), REFUSED)
    sink.append(tour(4, stream="leads"), REFUSED)
    sink.close()
    assert sorted(s3.objects()) == [
        f"rejected/4242/crm/tours/{PART}_0.jsonl",
        f"rejected/4242/leads/{PART}_0.jsonl",
    ]
    assert sink.describe() == (
        f"rejected records uploaded to s3://{BUCKET}/rejected/4242/: 2 (objects 2)"
    )


def test_each_line_holds_the_records_data_and_why_it_was_rejected(s3: S3Server) -> None:
    sink = bucket(s3, dry_run=True)
    sink.append(tour(9, namespace="crm", notes="ground floor"), REFUSED)
    sink.close()
    (body,) = s3.objects().values()
    (entry,) = lines(body)
    assert entry["data"] == {"lead_id": "lead-9", "notes": "ground floor"}
    assert {k: v for k, v in entry.items() if k not in ("data", "rejected_at")} == {
        "stream": "tours",
        "namespace": "crm",
        "line": 9,
        "category": "write failed in ResMan",
        "reason": "ResMan did not book it",
        "errors": ["x"],
        "job_id": "job-7",
        "dry_run": True,
    }
    assert datetime.fromisoformat(entry["rejected_at"]).utcoffset() is not None


def test_a_csv_part_has_a_header_a_row_per_record_and_the_data_as_json(s3: S3Server) -> None:
    sink = bucket(s3, format_type="CSV")
    sink.append(tour(5, notes='says "hi", twice\nthen leaves'), REFUSED)
    sink.append(tour(6), Rejected("invalid record", "lead_id: is required"))
    sink.close()
    ((key, body),) = s3.objects().items()
    assert key == f"rejected/4242/tours/{PART}_0.csv"
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert list(rows[0]) == [
        "stream",
        "namespace",
        "line",
        "category",
        "reason",
        "errors",
        "job_id",
        "rejected_at",
        "dry_run",
        "data",
    ]
    assert json.loads(rows[0]["data"]) == {
        "lead_id": "lead-5",
        "notes": 'says "hi", twice\nthen leaves',
    }
    assert (rows[0]["line"], rows[0]["errors"], rows[0]["namespace"], rows[0]["dry_run"]) == (
        "5",
        '["x"]',
        "",
        "false",
    )
    assert (rows[1]["reason"], rows[1]["job_id"]) == ("lead_id: is required", "")


def test_a_part_is_uploaded_as_soon_as_it_holds_the_record_bound(s3: S3Server) -> None:
    sink = bucket(s3, max_records=3)
    for line in range(1, 8):
        sink.append(tour(line), REFUSED)
    uploaded = s3.objects()
    assert sorted(uploaded) == [f"rejected/4242/tours/{PART}_{n}.jsonl" for n in (0, 1)]
    sink.close()
    parts = [lines(body) for _, body in sorted(s3.objects().items())]
    assert [[e["line"] for e in part] for part in parts] == [[1, 2, 3], [4, 5, 6], [7]]


def test_no_part_passes_the_byte_bound_unless_it_holds_one_record(s3: S3Server) -> None:
    sink = bucket(s3, max_bytes=2000)
    for line in range(1, 21):
        sink.append(tour(line, notes="n" * 200), REFUSED)
    sink.append(tour(21, notes="N" * 5000), REFUSED)
    sink.append(tour(22), REFUSED)
    sink.close()
    parts = [body for _, body in sorted(s3.objects().items(), key=lambda kv: _part(kv[0]))]
    assert len(parts) >= 4
    for body in parts:
        assert len(body) <= 2000 or len(lines(body)) == 1
    assert [e["line"] for body in parts for e in lines(body)] == list(range(1, 23))


def _part(key: str) -> int:
    return int(key.rsplit("_", 1)[1].split(".")[0])


def test_flush_uploads_every_open_part_so_a_state_covers_nothing_held_in_memory(
    s3: S3Server,
) -> None:
    sink = bucket(s3)
    sink.append(tour(1), REFUSED)
    sink.append(tour(2, stream="leads"), REFUSED)
    assert s3.objects() == {}
    sink.flush()
    assert len(s3.objects()) == 2
    sink.flush()  # nothing new: no empty object
    sink.close()
    assert len(s3.objects()) == 2


def test_rejections_appended_from_many_threads_each_land_once(s3: S3Server) -> None:
    sink = bucket(s3, max_records=7)

    def reject(line: int) -> None:
        sink.append(tour(line, stream=f"s{line % 3}", notes="x" * 300), REFUSED)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(reject, range(300)))
    sink.close()
    found = [e["line"] for body in s3.objects().values() for e in lines(body)]
    assert sorted(found) == list(range(300))
    assert all(len(lines(body)) <= 7 for body in s3.objects().values())
    assert sink.written == 300


def test_known_secrets_are_masked_in_every_object(s3: S3Server, secret_registered: str) -> None:
    for fmt in ("JSONL", "CSV"):
        sink = bucket(s3, sync=fmt, format_type=fmt)
        sink.append(tour(1, notes=f"key {secret_registered}", **{secret_registered: 1}), REFUSED)
        sink.close()
    bodies = s3.objects().values()
    assert len(bodies) == 2
    for body in bodies:
        assert secret_registered.encode() not in body
        assert b"key ****" in body


def test_a_lone_surrogate_in_a_rejected_record_is_kept_as_its_escape(s3: S3Server) -> None:
    for fmt in ("JSONL", "CSV"):
        sink = bucket(s3, sync=fmt, format_type=fmt)
        sink.append(tour(1, notes="a\ud800b"), Rejected("invalid record", "notes: not text"))
        sink.close()
    for body in s3.objects().values():
        assert b"a\\ud800b" in body


def test_a_failed_upload_names_the_bucket_and_key_and_stops_later_appends(s3: S3Server) -> None:
    sink = bucket(s3, max_records=2)
    s3.client().delete_bucket(Bucket=BUCKET)
    sink.append(tour(1), REFUSED)
    with pytest.raises(ConfigError) as failed:
        sink.append(tour(2), REFUSED)
    message = str(failed.value)
    assert message.startswith(f"object_storage_config: the bucket '{BUCKET}' does not exist")
    assert f"s3://{BUCKET}/rejected/4242/tours/{PART}_0.jsonl" in message
    with pytest.raises(ConfigError):
        sink.append(tour(3), REFUSED)
    with pytest.raises(ConfigError, match="does not exist"):
        sink.close()  # one last try, loud again
    s3.create_bucket()
    sink.close()  # the store is back: what was held is written
    assert [e["line"] for body in s3.objects().values() for e in lines(body)] == [1, 2]
    for text in (message, repr(failed.value), repr(sink), repr(sink.store)):
        assert SECRET not in text


def test_the_probe_writes_and_deletes_one_object_under_the_prefix(s3: S3Server) -> None:
    ObjectStore(storage(s3)).probe()
    assert s3.objects() == {}


def test_the_documented_policy_is_enough_for_the_probe_and_the_parts(s3: S3Server) -> None:
    key_id, secret = s3.user_allowed(
        ["s3:PutObject", "s3:DeleteObject"], f"arn:aws:s3:::{BUCKET}/rejected/*"
    )
    s3.require_credentials()
    config = storage(s3, access_key_id=key_id, secret_access_key=secret)
    ObjectStore(config).probe()
    sink = RejectedRecordsBucket(config, sync_id="4242", started=STARTED)
    sink.append(tour(1), REFUSED)
    sink.close()
    assert sink.written == 1


def _probe_failure(config: S3ObjectStorage) -> str:
    with pytest.raises(ConfigError) as failed:
        ObjectStore(config).probe()
    message = str(failed.value)
    if config.secret_access_key is not None:
        secret = config.secret_access_key.get_secret_value()
        assert secret not in message and secret not in repr(failed.value)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    return message


def test_the_probe_says_when_the_endpoint_is_unreachable(s3: S3Server) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    message = _probe_failure(storage(s3, s3_endpoint=url))
    assert message.startswith(f"object_storage_config: the S3 endpoint {url} is unreachable")


def test_the_probe_says_when_the_bucket_is_missing(s3: S3Server) -> None:
    message = _probe_failure(storage(s3, s3_bucket_name="no-such-bucket"))
    assert message.startswith("object_storage_config: the bucket 'no-such-bucket' does not exist")
    assert "s3://no-such-bucket/rejected/_airbyte_connection_test_" in message


def test_the_probe_says_when_the_access_key_id_is_unknown(s3: S3Server) -> None:
    s3.require_credentials()
    message = _probe_failure(storage(s3, access_key_id="AKIANOTAKEY000000000"))
    assert "refused the credentials (InvalidAccessKeyId" in message
    assert "AKIANOTAKEY000000000" not in message


def test_the_probe_says_when_the_secret_does_not_match(s3: S3Server) -> None:
    key_id, _ = s3.user_allowed(["s3:*"], "*")
    s3.require_credentials()
    message = _probe_failure(storage(s3, access_key_id=key_id))
    assert "refused the credentials (SignatureDoesNotMatch" in message


def test_the_probe_says_which_permission_is_missing(s3: S3Server) -> None:
    key_id, secret = s3.user_allowed(["s3:PutObject"], f"arn:aws:s3:::{BUCKET}/rejected/*")
    s3.require_credentials()
    message = _probe_failure(storage(s3, access_key_id=key_id, secret_access_key=secret))
    assert message.startswith("object_storage_config: access denied to delete s3://")
    assert f"s3:DeleteObject on arn:aws:s3:::{BUCKET}/rejected/*" in message


# --- a role assumed with STS (moto's STS on the same URL, as MinIO serves it) ------------------

WRITE_AND_DELETE = ["s3:PutObject", "s3:DeleteObject"]
REJECTED_OBJECTS = f"arn:aws:s3:::{BUCKET}/rejected/*"


def test_a_role_grants_the_writes_its_users_keys_alone_may_not(s3: S3Server) -> None:
    key_id, secret = s3.user_allowed(["sts:AssumeRole"], "*")
    role = s3.role_allowed(WRITE_AND_DELETE, REJECTED_OBJECTS)
    s3.require_credentials()
    keys_only = storage(s3, access_key_id=key_id, secret_access_key=secret)
    assert "access denied to write" in _probe_failure(keys_only)
    with_role = storage(s3, access_key_id=key_id, secret_access_key=secret, role_arn=role)
    ObjectStore(with_role).probe()
    sink = RejectedRecordsBucket(with_role, sync_id="4242", started=STARTED)
    sink.append(tour(1), REFUSED)
    sink.close()
    s3.accept_any_credentials()
    assert [e["data"]["lead_id"] for body in s3.objects().values() for e in lines(body)] == [
        "lead-1"
    ]


def test_without_keys_the_role_is_assumed_with_the_environments_credentials(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id, secret = s3.user_allowed(["sts:AssumeRole"], "*")
    role = s3.role_allowed(WRITE_AND_DELETE, REJECTED_OBJECTS)
    s3.require_credentials()
    # What Airbyte Cloud gives the connector's container to assume customers' roles with.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ASSUME_ROLE_EXTERNAL_ID", "workspace-1")
    config = storage(s3, access_key_id="", secret_access_key="", role_arn=role)
    assert config.access_key_id is None
    ObjectStore(config).probe()
    s3.accept_any_credentials()
    assert s3.objects() == {}


def test_without_keys_or_environment_credentials_the_role_cannot_be_assumed(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # No shared credentials file, and no instance metadata service to ask.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    role = "arn:aws:iam::123456789012:role/rejected"
    config = storage(s3, access_key_id=None, secret_access_key=None, role_arn=role)
    with pytest.raises(ConfigError) as failed:
        ObjectStore(config)
    assert str(failed.value) == (
        f"object_storage_config: no AWS credentials to assume the role {role} with. Give "
        "Access Key ID and Secret Access Key, or run where AWS credentials are in the "
        "environment."
    )


def test_a_role_the_keys_may_not_assume_is_named_in_the_error(s3: S3Server) -> None:
    key_id, secret = s3.user_allowed(WRITE_AND_DELETE, REJECTED_OBJECTS)  # no sts:AssumeRole
    role = s3.role_allowed(WRITE_AND_DELETE, REJECTED_OBJECTS)
    s3.require_credentials()
    config = storage(s3, access_key_id=key_id, secret_access_key=secret, role_arn=role)
    message = _probe_failure(config)
    assert message.startswith(f"object_storage_config: could not assume the role {role} (")
    assert "sts:AssumeRole" in message


def test_with_gzip_each_part_is_compressed_and_named_gz(s3: S3Server) -> None:
    config = storage(s3, format={"format_type": "CSV"}, compression={"compression_type": "GZIP"})
    sink = RejectedRecordsBucket(config, sync_id="4242", started=STARTED)
    sink.append(tour(1), REFUSED)
    sink.close()
    ((key, body),) = s3.objects().items()
    assert key == f"rejected/4242/tours/{PART}_0.csv.gz"
    header, row = csv.reader(io.StringIO(gzip.decompress(body).decode()))
    assert header[:2] == ["stream", "namespace"] and json.loads(row[-1]) == {"lead_id": "lead-1"}


def test_the_role_session_and_the_external_id_airbyte_gives() -> None:
    role = "arn:aws:iam::123456789012:role/rejected"
    assert assume_role_arguments(role, {}) == {
        "RoleArn": role,
        "RoleSessionName": "airbyte-destination-propexo",
    }
    given = {"AWS_ASSUME_ROLE_EXTERNAL_ID": " workspace-1 "}
    assert assume_role_arguments(role, given)["ExternalId"] == "workspace-1"
