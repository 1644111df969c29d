"""What a sync keeps besides its log, from the config: its rejected records, every record's
outcome, and a summary of the sync; each in a local file, object storage, both or neither.

    dataset          local file                       object storage
    rejected records rejected_records_path            {bucket_path}/{sync_id}/{ns}/{stream}/
    outcomes         outcomes_path                    {bucket_path}/outcomes/{ns}/{stream}/
    sync summaries   <outcomes_path>.summaries.jsonl  {bucket_path}/summaries/

Each record's entry is built once per dataset and written by every sink of that dataset
(`parts.PartedBucket`, `lines_file.JsonLinesFile`). `flush` runs before each STATE is echoed,
so a confirmed state never covers an entry held only in memory. `check` and the start of
every write run the same checks, so a write whose entries could not be kept stops before its
first request.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.config import PropexoConfig, S3ObjectStorage
from destination_propexo.errors import ConfigError, ServiceUnavailable
from destination_propexo.outputs.lines_file import JsonLinesFile, open_for_append
from destination_propexo.outputs.outcome_entry import OUTCOME_FIELDS, SyncIdentity, outcome_entry
from destination_propexo.outputs.rejected_bucket import file_prefix, sync_id
from destination_propexo.outputs.rejected_file import RejectedRecordsFile
from destination_propexo.outputs.rejection import EntrySink, masked, rejection_entry, to_json
from destination_propexo.records.mapping import SentAs
from destination_propexo.records.outcomes import Outcome, RecordKeys, Rejected

if TYPE_CHECKING:
    from destination_propexo.outputs.object_store import ObjectStore

logger = logging.getLogger("destination_propexo")

OUTCOMES_FOLDER = "outcomes"
SUMMARIES_FOLDER = "summaries"


def summaries_path(outcomes_path: str) -> str:
    """Where a local outcomes file's sync summaries go: `outcomes.jsonl` ->
    `outcomes.summaries.jsonl` (`outcomes` -> `outcomes.summaries.jsonl`)."""
    path = Path(outcomes_path)
    stem = path.name.removesuffix(".jsonl") if path.suffix == ".jsonl" else path.name
    return str(path.with_name(f"{stem}.summaries.jsonl"))


def sync_identity(environ: Mapping[str, str], started: datetime) -> SyncIdentity:
    """The sync's job id and attempt from Airbyte's `WORKER_JOB_ID` / `WORKER_JOB_ATTEMPT`."""
    attempt = environ.get("WORKER_JOB_ATTEMPT", "").strip()
    return SyncIdentity(
        sync_id(environ, started), int(attempt) if attempt.isdigit() else None, started
    )


def check_outputs(config: PropexoConfig) -> None:
    """ConfigError unless each file can be appended to and the bucket takes a test object."""
    if config.rejected_records_path:
        open_for_append(config.rejected_records_path).close()
    if config.outcomes_path:
        open_for_append(config.outcomes_path, "outcomes_path").close()
        open_for_append(summaries_path(config.outcomes_path), "outcomes_path").close()
    if isinstance(config.object_storage_config, S3ObjectStorage):
        from destination_propexo.outputs.object_store import ObjectStore

        ObjectStore(config.object_storage_config).probe()


class SyncOutputs:
    """The datasets of one sync; thread-safe (`record` is called from worker threads)."""

    def __init__(
        self,
        *,
        identity: SyncIdentity,
        rejected: list[EntrySink] | None = None,
        outcomes: list[EntrySink] | None = None,
        summary_file: JsonLinesFile | None = None,
        summary_store: tuple[ObjectStore, str] | None = None,
        dry_run: bool = False,
    ) -> None:
        self.identity = identity
        self.rejected = rejected or []
        self.outcomes = outcomes or []
        self._summary_file = summary_file
        self._summary_store = summary_store
        self._dry_run = dry_run
        self._closed = threading.Event()

    @property
    def keeps_records(self) -> bool:
        """Whether any dataset keeps records (rejected records, or outcomes)."""
        return bool(self.rejected or self.outcomes)

    @property
    def sinks(self) -> list[EntrySink]:
        every: list[EntrySink] = [*self.rejected, *self.outcomes]
        if self._summary_file is not None:
            every.append(self._summary_file)
        return every

    def record(
        self,
        record: RecordMessage,
        keys: RecordKeys,
        outcome: Outcome,
        time_notes: tuple[str, ...],
        sent: SentAs | None = None,
    ) -> None:
        """Write one record's final outcome to each dataset that keeps it (`sent`: how a
        mapped record's time left, see `outcome_entry`)."""
        if isinstance(outcome, Rejected) and self.rejected:
            entry = rejection_entry(record, outcome, dry_run=self._dry_run)
            for sink in self.rejected:
                sink.write(record, entry)
        if self.outcomes:
            line = outcome_entry(
                record,
                keys,
                outcome,
                time_notes,
                sync=self.identity,
                dry_run=self._dry_run,
                sent=sent,
            )
            for sink in self.outcomes:
                sink.write(record, line)

    def flush(self) -> None:
        """Make every entry so far durable (before a STATE is echoed)."""
        for sink in [*self.rejected, *self.outcomes]:
            sink.flush()

    def summary(self, summary: Mapping[str, Any]) -> list[str]:
        """Keep the sync's summary beside its outcomes, every known secret masked (its error
        may quote an answer that echoed the token); where it went, for the log.
        ConfigError if it cannot be written."""
        summary = masked(dict(summary))
        where = []
        if self._summary_store is not None:
            store, key = self._summary_store
            store.put(key, to_json(summary) + b"\n", "application/json")
            where.append(store.url(key))
        if self._summary_file is not None:
            # A summary is no record's entry: written as a line of its own.
            self._summary_file.write(_SUMMARY_RECORD, summary)
            where.append(self._summary_file.path)
        return where

    def describe(self) -> list[str]:
        return [sink.describe() for sink in [*self.rejected, *self.outcomes]]

    def close(self, *, stopping: bool = False) -> None:
        """Close every sink, even after one fails, then raise the first failure.

        When the sync is already `stopping` on another error, that error stays the one
        reported and each failure here is logged instead."""
        if self._closed.is_set():
            return
        self._closed.set()
        failures: list[ConfigError | ServiceUnavailable] = []
        for sink in self.sinks:
            try:
                sink.close()
            except (ConfigError, ServiceUnavailable) as exc:
                failures.append(exc)
        for failure in failures if stopping else failures[1:]:
            logger.error("entries not kept: %s", failure)
        if failures and not stopping:
            raise failures[0]


_SUMMARY_RECORD = RecordMessage(stream="", namespace=None, data={}, line_number=0)


def open_outputs(
    config: PropexoConfig,
    *,
    environ: Mapping[str, str] = os.environ,
    started: datetime | None = None,
) -> SyncOutputs:
    """The datasets the config asks for, each checked as at `check`; ConfigError if one
    cannot work (the ones opened before it are closed)."""
    started = started or datetime.now(UTC)
    identity = sync_identity(environ, started)
    rejected: list[EntrySink] = []
    outcomes: list[EntrySink] = []
    summary_file: JsonLinesFile | None = None
    summary_store: tuple[ObjectStore, str] | None = None
    try:
        storage = config.object_storage_config
        if isinstance(storage, S3ObjectStorage):
            # boto3 (over half a second to import) only once a bucket is configured.
            from destination_propexo.outputs.parts import PartedBucket
            from destination_propexo.outputs.rejected_bucket import RejectedRecordsBucket

            bucket = RejectedRecordsBucket(
                storage, sync_id=identity.sync_id, started=started, dry_run=config.dry_run
            )
            bucket.store.probe()
            rejected.append(bucket)
            if config.write_outcomes:
                # The sync's id in each file name, not in a folder: one external table per
                # stream reads every sync's outcomes.
                prefix = f"{file_prefix(started)}_{identity.sync_id}"
                outcomes.append(
                    PartedBucket(
                        storage,
                        root="/".join(p for p in (storage.bucket_path, OUTCOMES_FOLDER) if p),
                        file_prefix=prefix,
                        fields=OUTCOME_FIELDS,
                        what="outcomes",
                        store=bucket.store,
                    )
                )
                folder = "/".join(p for p in (storage.bucket_path, SUMMARIES_FOLDER) if p)
                summary_store = (bucket.store, f"{folder}/{prefix}.json")
        if config.rejected_records_path:
            rejected.append(
                RejectedRecordsFile(config.rejected_records_path, dry_run=config.dry_run)
            )
        if config.outcomes_path:
            outcomes.append(
                JsonLinesFile(config.outcomes_path, option="outcomes_path", what="outcomes")
            )
            summary_file = JsonLinesFile(
                summaries_path(config.outcomes_path), option="outcomes_path", what="summaries"
            )
    except BaseException:
        for sink in [*rejected, *outcomes]:
            try:
                sink.close()
            except (ConfigError, ServiceUnavailable) as exc:  # the first error is reported
                logger.error("entries not kept: %s", exc)
        raise
    return SyncOutputs(
        identity=identity,
        rejected=rejected,
        outcomes=outcomes,
        summary_file=summary_file,
        summary_store=summary_store,
        dry_run=config.dry_run,
    )
