"""`object_storage_config` through the real CLI: rejected records kept in an S3 bucket (moto on
127.0.0.1) while the sandbox books the rest."""

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
from integration_tests.conftest import (
    FIXTURES,
    TOKEN,
    Cli,
    CliResult,
    catalog,
    jsonl,
    stream_state,
    tour,
)
from integration_tests.object_storage import BUCKET, SECRET, S3Server, closed_port

MIXED = (FIXTURES / "mixed_tours.jsonl").read_bytes()
MIXED_LINES = [json.loads(line) for line in MIXED.splitlines()]
REJECTED_LINES = [10, 11, 12, 14, 15]  # invalid 10-12, refused by Propexo or ResMan 14-15
JOB = "4242"
# The rejected records' prefix; the outcomes and summaries sit beside it (`bucket_path` is
# "rejected" in these tests).
REJECTED = f"rejected/{JOB}/"


@pytest.fixture(autouse=True)
def airbyte_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """The job id Airbyte gives the connector's container (inherited by the CLI)."""
    monkeypatch.setenv("WORKER_JOB_ID", JOB)


def entries(s3: S3Server, prefix: str = "") -> list[dict[str, Any]]:
    found = [
        json.loads(line)
        for body in s3.objects(prefix=prefix).values()
        for line in body.splitlines()
    ]
    return sorted(found, key=lambda entry: int(entry["line"]))


def status_of(result: CliResult) -> dict[str, Any]:
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    return dict(status)


def test_a_sync_writes_each_rejected_record_with_its_reason_under_the_job(
    cli: Cli, s3: S3Server
) -> None:
    result = cli.write(MIXED, config=cli.config(object_storage_config=s3.storage()))
    assert result.returncode == 0, result.stderr
    keys = sorted(
        s3.objects(prefix=REJECTED), key=lambda key: int(key.rsplit("_", 1)[1].split(".")[0])
    )
    # One part at the end at least; a STATE may close one earlier (see the next tests).
    for number, key in enumerate(keys):
        assert re.fullmatch(
            rf"rejected/{JOB}/tours/\d{{4}}_\d\d_\d\d_\d{{13}}_{number}\.jsonl", key
        )
    reasons = {o["line"]: o["reason"] for o in result.outcomes if o["outcome"] == "rejected"}
    found = entries(s3, REJECTED)
    assert [e["line"] for e in found] == sorted(reasons) == REJECTED_LINES
    for entry in found:
        assert entry["reason"] == reasons[entry["line"]]
        assert entry["data"] == MIXED_LINES[entry["line"] - 1]["record"]["data"]
        assert (entry["stream"], entry["namespace"], entry["dry_run"]) == ("tours", None, False)
    assert [e["job_id"] is not None for e in found] == [False, False, False, True, False]
    (summary,) = result.log_containing("write summary")
    assert (
        f"; rejected records uploaded to s3://{BUCKET}/rejected/{JOB}/: 5 (objects {len(keys)})"
        in summary
    )


def test_the_file_and_the_bucket_can_both_keep_the_rejections(
    cli: Cli, s3: S3Server, tmp_path: Path
) -> None:
    path = tmp_path / "rejected.jsonl"
    config = cli.config(
        object_storage_config=s3.storage(format={"format_type": "CSV"}),
        rejected_records_path=str(path),
    )
    result = cli.write(MIXED, config=config)
    assert result.returncode == 0, result.stderr
    in_file = sorted(json.loads(line)["line"] for line in path.read_text().splitlines())
    assert in_file == REJECTED_LINES
    parts = s3.objects(prefix=REJECTED)
    assert all(key.endswith(".csv") for key in parts)
    rows = [row for body in parts.values() for row in csv.DictReader(io.StringIO(body.decode()))]
    assert sorted(int(row["line"]) for row in rows) == REJECTED_LINES
    (summary,) = result.log_containing("write summary")
    assert f"; rejected records uploaded to s3://{BUCKET}/rejected/{JOB}/: 5 (objects " in summary
    assert f"; rejected records appended to {path}: 5" in summary


class _StateWatch:
    """stdout for `write_sync` that, as each STATE is written, counts what the bucket holds."""

    def __init__(self, s3: S3Server) -> None:
        self.s3 = s3
        self.seen: list[tuple[int, int]] = []  # (rejections confirmed so far, entries in bucket)
        self._confirmed = 0

    def write(self, lines: bytes) -> int:
        for line in lines.splitlines():
            message = json.loads(line)
            if message["type"] == "STATE":
                self._confirmed += message["state"]["destinationStats"]["rejectedRecordCount"]
                self.seen.append((self._confirmed, len(entries(self.s3, REJECTED))))
        return len(lines)

    def flush(self) -> None:
        return None


def test_a_state_is_echoed_only_once_the_rejections_it_counts_are_in_the_bucket(
    cli: Cli, s3: S3Server
) -> None:
    messages = [tour(""), stream_state("tours", 1)]
    messages += [tour(f"lead-{n}", time="25:00" if n % 2 else "10:00") for n in range(6)]
    messages += [
        stream_state("tours", 2),
        tour("lead-x", date="2024-13-01"),
        stream_state("tours", 3),
    ]
    watch = _StateWatch(s3)
    write_records(
        cli.config(object_storage_config=s3.storage()),
        catalog(("tours", "append")),
        [jsonl(messages).splitlines()],  # one batch of lines
        Emitter(watch),
    )
    assert [confirmed for confirmed, _ in watch.seen] == [1, 4, 5]
    for confirmed, in_bucket in watch.seen:
        assert in_bucket >= confirmed
    assert len(entries(s3, REJECTED)) == 5


def test_check_succeeds_and_leaves_no_object_behind(cli: Cli, s3: S3Server) -> None:
    result = cli.run("check", config=cli.config(object_storage_config=s3.storage()))
    assert status_of(result)["status"] == "SUCCEEDED", result.stdout
    assert s3.objects() == {}


def _refused_credentials(s3: S3Server) -> dict[str, Any]:
    s3.require_credentials()
    return s3.storage()


CHECK_FAILURES = {
    "endpoint unreachable": (
        lambda s3: s3.storage(s3_endpoint=f"http://127.0.0.1:{closed_port()}"),
        "is unreachable",
    ),
    "bucket missing": (
        lambda s3: s3.storage(s3_bucket_name="no-such-bucket"),
        "the bucket 'no-such-bucket' does not exist",
    ),
    "credentials refused": (_refused_credentials, "refused the credentials (InvalidAccessKeyId"),
}


@pytest.mark.parametrize("case", sorted(CHECK_FAILURES))
def test_check_fails_with_a_clear_message_that_never_shows_the_secret(
    cli: Cli, s3: S3Server, case: str
) -> None:
    storage, expected = CHECK_FAILURES[case]
    result = cli.run("check", config=cli.config(object_storage_config=storage(s3)))
    status = status_of(result)
    assert status["status"] == "FAILED"
    assert status["message"].startswith("object_storage_config: ")
    assert expected in status["message"]
    assert SECRET not in result.stdout + result.stderr
    assert cli.sandbox.stats()["total"] == 0  # the bucket is checked before Propexo is asked


def test_a_write_whose_bucket_is_missing_stops_before_any_request(cli: Cli, s3: S3Server) -> None:
    storage = s3.storage(s3_bucket_name="no-such-bucket")
    result = cli.write(MIXED, config=cli.config(object_storage_config=storage))
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert "the bucket 'no-such-bucket' does not exist" in trace["error"]["message"]
    assert result.states == [] and result.outcomes == []
    assert cli.sandbox.stats()["total"] == 0


def test_a_refused_upload_stops_the_sync_loudly_naming_bucket_and_key(
    cli: Cli, s3: S3Server
) -> None:
    # Enough for the check's test object, not for the parts: a policy written too narrowly.
    key_id, secret = s3.user_allowed(
        ["s3:PutObject", "s3:DeleteObject"],
        f"arn:aws:s3:::{BUCKET}/rejected/_airbyte_connection_test_*",
    )
    s3.require_credentials()
    storage = s3.storage(access_key_id=key_id, secret_access_key=secret)
    result = cli.write(MIXED, config=cli.config(object_storage_config=storage))
    assert result.returncode == 1
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    message = trace["error"]["message"]
    assert re.search(
        rf"access denied to write s3://{BUCKET}/rejected/{JOB}/tours/\S+_0\.jsonl", message
    )
    # No confirmed state covers a rejection that is not in the bucket.
    assert [state["destinationStats"]["rejectedRecordCount"] for state in result.states] in (
        [],
        [0],
    )
    assert secret not in result.stdout + result.stderr


def test_the_secret_never_appears_in_the_output_or_the_objects(cli: Cli, s3: S3Server) -> None:
    leaky = tour("", notes=f"pasted by mistake: {SECRET}")  # rejected: lead_id is empty
    result = cli.write(
        [leaky, stream_state("tours", 1)], config=cli.config(object_storage_config=s3.storage())
    )
    assert result.returncode == 0, result.stderr
    (body,) = s3.objects(prefix=REJECTED).values()
    assert b"pasted by mistake: ****" in body
    every = b"".join(s3.objects().values()).decode()
    for text in (result.stdout, result.stderr, every):
        assert SECRET not in text and TOKEN not in text


def test_a_broken_aws_environment_is_a_config_error_naming_the_block(
    cli: Cli, s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # AWS_PROFILE names a profile the AWS config files do not hold: botocore refuses to make
    # any client. That is the connector's configuration to fix, never an internal error.
    monkeypatch.setenv("AWS_PROFILE", "airbyte-missing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    config = cli.config(object_storage_config=s3.storage())
    status = status_of(cli.run("check", config=config))
    assert status["status"] == "FAILED"
    assert status["message"].startswith("object_storage_config: ")
    assert "'airbyte-missing'" in status["message"] and "AWS_PROFILE" in status["message"]
    result = cli.write(MIXED, config=config)
    (trace,) = result.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert trace["error"]["message"] == status["message"]
    assert result.states == [] and cli.sandbox.stats()["total"] == 0


def test_a_role_the_keys_may_not_assume_fails_the_check_with_one_message_and_no_traceback(
    cli: Cli, s3: S3Server
) -> None:
    key_id, secret = s3.user_allowed(["s3:PutObject", "s3:DeleteObject"], "*")
    role = s3.role_allowed(["s3:PutObject", "s3:DeleteObject"], "*")
    s3.require_credentials()
    storage = s3.storage(access_key_id=key_id, secret_access_key=secret, role_arn=role)
    result = cli.run("check", config=cli.config(object_storage_config=storage))
    status = status_of(result)
    assert status["status"] == "FAILED"
    assert status["message"].startswith(f"object_storage_config: could not assume the role {role}")
    # botocore's own warning about the failed refresh says it in one line, not a traceback.
    assert "Traceback" not in result.stdout
    assert secret not in result.stdout


def test_object_storage_that_had_worked_and_goes_down_is_the_services_failure() -> None:
    from destination_propexo.config import load_config
    from destination_propexo.errors import ConfigError, TransientError
    from destination_propexo.outputs.object_store import ObjectStore

    server = S3Server()
    try:
        server.create_bucket()
        config = load_config(
            {"token": "t0ken", "integration_id": "intg-1", "api_url": "http://127.0.0.1:1"}
            | {"object_storage_config": server.storage()}
        )
        store = ObjectStore(config.object_storage_config)  # type: ignore[arg-type]
        store.probe()
    finally:
        server.stop()
    with pytest.raises(TransientError) as down:
        store.put("rejected/part-1.jsonl", b"{}\n", "application/json")
    assert not isinstance(down.value, ConfigError)
    assert "unreachable" in str(down.value)
