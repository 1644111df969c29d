"""The rejected-records bucket: each sync's rejected records written to S3-compatible storage.

Objects follow the layout of Airbyte's data-activation destinations:

    {bucket_path}/{sync_id}/{namespace}/{stream_name}/{yyyy_MM_dd}_{epoch_ms}_{part}.jsonl|.csv

with `.gz` after the extension when `compression` is GZIP (the part gzip-compressed whole).

`sync_id` is Airbyte's job id (`WORKER_JOB_ID`) or, outside Airbyte, the UTC start time
(`20261127T143000Z`); a record without a namespace has no namespace folder. `epoch_ms` is
when the sync started, so a retried attempt of the same job never overwrites an earlier
attempt's parts. Parts are bounded and flushed before each STATE (`parts.PartedBucket`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.config import S3ObjectStorage
from destination_propexo.outputs.parts import PART_MAX_BYTES, PART_MAX_RECORDS, PartedBucket
from destination_propexo.outputs.rejection import ENTRY_FIELDS, rejection_entry
from destination_propexo.records.outcomes import Rejected


def sync_id(environ: Mapping[str, str], started: datetime) -> str:
    """Airbyte's job id, or outside Airbyte the UTC start time such as `20261127T143000Z`."""
    job = environ.get("WORKER_JOB_ID", "").strip().replace("/", "_")
    return job or started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def file_prefix(started: datetime) -> str:
    """`yyyy_MM_dd_{epoch_ms}` of the sync's start: parts of a later attempt sort after."""
    return f"{started:%Y_%m_%d}_{int(started.timestamp() * 1000)}"


class RejectedRecordsBucket(PartedBucket):
    """Writes rejected records to the bucket in parts; thread-safe."""

    def __init__(
        self,
        storage: S3ObjectStorage,
        *,
        sync_id: str,
        started: datetime,
        dry_run: bool = False,
        max_records: int = PART_MAX_RECORDS,
        max_bytes: int = PART_MAX_BYTES,
    ) -> None:
        super().__init__(
            storage,
            root="/".join(part for part in (storage.bucket_path, sync_id) if part),
            file_prefix=file_prefix(started),
            fields=ENTRY_FIELDS,
            what="rejected records",
            max_records=max_records,
            max_bytes=max_bytes,
        )
        self._dry_run = dry_run

    def append(self, record: RecordMessage, outcome: Rejected) -> None:
        """Write one rejection (the entry `rejection.rejection_entry` makes)."""
        self.write(record, rejection_entry(record, outcome, dry_run=self._dry_run))
