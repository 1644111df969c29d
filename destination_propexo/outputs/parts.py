"""Entries written to S3-compatible storage in bounded parts, one open part per stream.

Both datasets a sync writes to object storage (its rejected records and every record's
outcome) go through `PartedBucket`; they differ only in their root folder, their file names
and the entry's fields:

    {root}/{namespace}/{stream_name}/{file_prefix}_{part}.jsonl|.csv

with `.gz` after the extension when `compression` is GZIP (the part gzip-compressed whole);
a record without a namespace has no namespace folder. Each stream has one open part, in
memory. It is uploaded as one object when the next entry would take it past `max_bytes` or
it holds `max_records`, before each STATE is echoed (`flush`: an echoed STATE never covers an
entry held only in memory) and at the end of the sync, also when it stops on an error
(`close`). So memory stays within one part per stream, and a part over the byte bound holds
a single entry.
"""

from __future__ import annotations

import csv
import gzip
import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.config import CsvFormat, GzipCompression, S3ObjectStorage
from destination_propexo.errors import ConfigError, ServiceUnavailable
from destination_propexo.outputs.rejection import to_json

if TYPE_CHECKING:
    from destination_propexo.outputs.object_store import ObjectStore

# 10,000 entries make a file a person can still open; 8 MiB bounds memory per stream
# even when records carry long notes.
PART_MAX_RECORDS = 10_000
PART_MAX_BYTES = 8 * 1024 * 1024


def csv_row(entry: Mapping[str, Any], fields: Sequence[str]) -> list[str]:
    """An entry as CSV cells: lists and objects as JSON text, booleans as true/false."""
    return [_cell(entry[name]) for name in fields]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return to_json(value).decode()


def csv_text(rows: list[list[str]]) -> bytes:
    """Rows as CSV bytes; a lone surrogate (valid in Airbyte's JSON input) is kept as \\ud800."""
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode("utf-8", errors="backslashreplace")


@dataclass
class _Part:
    """The entries of one stream not yet uploaded."""

    folder: str
    number: int = 0
    body: bytearray = field(default_factory=bytearray)
    records: int = 0


class PartedBucket:
    """Writes entries to the bucket in parts; thread-safe (an `EntrySink`).

    `root` is the folder under the bucket (`bucket_path` included), `file_prefix` starts every
    object's name, `fields` orders the CSV columns, `what` names the entries in messages."""

    def __init__(
        self,
        storage: S3ObjectStorage,
        *,
        root: str,
        file_prefix: str,
        fields: Sequence[str],
        what: str,
        max_records: int = PART_MAX_RECORDS,
        max_bytes: int = PART_MAX_BYTES,
        store: ObjectStore | None = None,
    ) -> None:
        # boto3 (over half a second to import) only once a bucket is configured.
        from destination_propexo.outputs.object_store import ObjectStore

        self.store = store or ObjectStore(storage)
        self.folder = root
        self.what = what
        self._fields = tuple(fields)
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
        self._header = csv_text([list(self._fields)]) if self._csv else b""
        self._file_prefix = file_prefix
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._parts: dict[tuple[str, str | None], _Part] = {}
        self._lock = threading.Lock()
        self._failure: ConfigError | ServiceUnavailable | None = None
        self.written = 0
        self.objects = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store.url(self.folder + '/')})"

    def write(self, record: RecordMessage, entry: Mapping[str, Any]) -> None:
        """Add one entry to the record's stream part (uploading a full part first)."""
        line = csv_text([csv_row(entry, self._fields)]) if self._csv else to_json(entry) + b"\n"
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
            f"{self.what} uploaded to {self.store.url(self.folder + '/')}: "
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
            # so the next attempt sends again every record whose entry is not stored.
            # Whose failure it is (the storage's, or the configuration's) stays as it was.
            self._failure = type(exc)(
                f"{exc} The sync stops here so that no {self.what[:-1]} is lost; the next "
                "attempt sends again the records after the last confirmed state."
            )
            raise self._failure from None
        self.written += part.records
        self.objects += 1
        part.number += 1
        part.body.clear()
        part.records = 0
