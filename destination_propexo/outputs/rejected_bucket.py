"""The rejected-records bucket: each sync's rejected records written to S3-compatible storage.

Objects follow the layout of Airbyte's data-activation destinations:

    {bucket_path}/{sync_id}/{namespace}/{stream_name}/{yyyy_MM_dd}_{epoch_ms}_{part}.jsonl|.csv

with `.gz` after the extension when `compression` is GZIP (the part gzip-compressed whole).

`sync_id` is Airbyte's job id (`WORKER_JOB_ID`) or, outside Airbyte, the UTC start time
(`20261127T143000Z`); a record without a namespace has no namespace folder. `epoch_ms` is
when the sync started, so a retried attempt of the same job never overwrites an earlier
attempt's parts.

Each stream has one open part, in memory. It is uploaded as one object when the next record
would take it past `PART_MAX_BYTES` or it holds `PART_MAX_RECORDS`, before each STATE is
echoed (`flush`: an echoed STATE never covers a rejection held only in memory) and at the end
of the sync, also when it stops on an error (`close`). So memory stays within one part per
stream, and a part over the byte bound holds a single record.
"""

from __future__ import annotations

import csv
import gzip
import io
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.config import CsvFormat, GzipCompression, S3ObjectStorage
from destination_propexo.errors import ConfigError, ServiceUnavailable
from destination_propexo.outputs.object_store import ObjectStore
from destination_propexo.outputs.rejection import ENTRY_FIELDS, rejection_entry, to_json
from destination_propexo.records.outcomes import Rejected

# 10,000 rejections make a file a person can still open; 8 MiB bounds memory per stream
# even when records carry long notes.
PART_MAX_RECORDS = 10_000
PART_MAX_BYTES = 8 * 1024 * 1024


def sync_id(environ: Mapping[str, str], started: datetime) -> str:
    """Airbyte's job id, or outside Airbyte the UTC start time such as `20261127T143000Z`."""
    job = environ.get("WORKER_JOB_ID", "").strip().replace("/", "_")
    return job or started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def csv_row(entry: Mapping[str, Any]) -> list[str]:
    """An entry as CSV cells: `errors` and `data` as JSON text, booleans as true/false."""
    return [_cell(entry[name]) for name in ENTRY_FIELDS]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return to_json(value).decode()


def _csv_text(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    # A lone surrogate (valid in Airbyte's JSON input) cannot be UTF-8: keep it as \ud800.
    return text.getvalue().encode("utf-8", errors="backslashreplace")


@dataclass
class _Part:
    """The rejections of one stream not yet uploaded."""

    folder: str
    number: int = 0
    body: bytearray = field(default_factory=bytearray)
    records: int = 0


class RejectedRecordsBucket:
    """Writes rejected records to the bucket in parts; thread-safe (a `RejectionSink`)."""

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
        self.store = ObjectStore(storage)
        self.folder = "/".join(part for part in (storage.bucket_path, sync_id) if part)
        self._csv = isinstance(storage.format, CsvFormat)
        self._gzip = isinstance(storage.compression, GzipCompression)
        self._extension = ("csv" if self._csv else "jsonl") + (".gz" if self._gzip else "")
        self._content_type = (
            "application/gzip"
            if self._gzip
            else "text/csv"
            if self._csv
            else "application/x-ndjson"
        )
        self._header = _csv_text([list(ENTRY_FIELDS)]) if self._csv else b""
        self._file_prefix = f"{started:%Y_%m_%d}_{int(started.timestamp() * 1000)}"
        self._dry_run = dry_run
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._parts: dict[tuple[str, str | None], _Part] = {}
        self._lock = threading.Lock()
        self._failure: ConfigError | ServiceUnavailable | None = None
        self.written = 0
        self.objects = 0

    def __repr__(self) -> str:
        return f"RejectedRecordsBucket({self.store.url(self.folder + '/')})"

    def append(self, record: RecordMessage, outcome: Rejected) -> None:
        entry = rejection_entry(record, outcome, dry_run=self._dry_run)
        line = _csv_text([csv_row(entry)]) if self._csv else to_json(entry) + b"\n"
        with self._lock:
            if self._failure is not None:  # the sync is stopping: do not try every record again
                raise self._failure
            part = self._parts.get(record.stream_key)
            if part is None:
                part = self._parts[record.stream_key] = _Part(self._stream_folder(record))
            if part.records and len(part.body) + len(line) > self._max_bytes:
                self._upload(part)
            if not part.records:
                part.body += self._header
            part.body += line
            part.records += 1
            if part.records >= self._max_records:
                self._upload(part)

    def flush(self) -> None:
        with self._lock:
            failures: list[ConfigError | ServiceUnavailable] = []
            for part in self._parts.values():
                if part.records:
                    try:
                        self._upload(part)
                    except (ConfigError, ServiceUnavailable) as exc:  # every part, then report
                        failures.append(exc)
            if failures:
                raise failures[0]

    def close(self) -> None:
        # One last try for every open part, even after a failure: an upload that failed for
        # a moment may go through now, and one that cannot is reported again, loudly.
        with self._lock:
            self._failure = None
        self.flush()

    def describe(self) -> str:
        return (
            f"rejected records uploaded to {self.store.url(self.folder + '/')}: "
            f"{self.written} (objects {self.objects})"
        )

    def _stream_folder(self, record: RecordMessage) -> str:
        parts = (self.folder, record.namespace, record.stream)
        return "/".join(part for part in parts if part)

    def _upload(self, part: _Part) -> None:
        key = f"{part.folder}/{self._file_prefix}_{part.number}.{self._extension}"
        try:
            body = gzip.compress(part.body) if self._gzip else bytes(part.body)
            self.store.put(key, body, self._content_type)
        except (ConfigError, ServiceUnavailable) as exc:
            # Every STATE echoed so far came after a flush, and none is echoed after this,
            # so the next attempt sends again every record whose rejection is not stored.
            # Whose failure it is (the storage's, or the configuration's) stays as it was.
            self._failure = type(exc)(
                f"{exc} The sync stops here so that no rejected record is lost; the next "
                "attempt sends again the records after the last confirmed state."
            )
            raise self._failure from None
        self.written += part.records
        self.objects += 1
        part.number += 1
        part.body.clear()
        part.records = 0
