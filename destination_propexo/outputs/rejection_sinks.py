"""The places that keep a sync's rejected records (a file, a bucket, both or none), from the config.

`check` and the start of every write run the same checks, so a write whose rejections could
not be kept stops before its first request. The bucket's modules (boto3, over half a second
to import) are imported only when a bucket is configured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from destination_propexo.config import PropexoConfig, S3ObjectStorage
from destination_propexo.errors import ConfigError, ServiceUnavailable
from destination_propexo.outputs.rejected_file import RejectedRecordsFile, open_for_append
from destination_propexo.outputs.rejection import RejectionSink

logger = logging.getLogger("destination_propexo")


def check_sinks(config: PropexoConfig) -> None:
    """ConfigError unless the file can be appended to and the bucket takes a test object."""
    if config.rejected_records_path:
        open_for_append(config.rejected_records_path).close()
    if isinstance(config.object_storage_config, S3ObjectStorage):
        from destination_propexo.outputs.object_store import ObjectStore

        ObjectStore(config.object_storage_config).probe()


def open_sinks(
    config: PropexoConfig,
    *,
    environ: Mapping[str, str] = os.environ,
    started: datetime | None = None,
) -> list[RejectionSink]:
    """The sinks the config asks for, each checked as at `check`; ConfigError if one cannot work."""
    sinks: list[RejectionSink] = []
    storage = config.object_storage_config
    if isinstance(storage, S3ObjectStorage):
        from destination_propexo.outputs.rejected_bucket import RejectedRecordsBucket, sync_id

        started = started or datetime.now(UTC)
        bucket = RejectedRecordsBucket(
            storage, sync_id=sync_id(environ, started), started=started, dry_run=config.dry_run
        )
        bucket.store.probe()
        sinks.append(bucket)
    if config.rejected_records_path:
        sinks.append(RejectedRecordsFile(config.rejected_records_path, dry_run=config.dry_run))
    return sinks


def close_sinks(sinks: Sequence[RejectionSink], *, stopping: bool = False) -> None:
    """Close every sink, even after one fails, then raise the first failure.

    When the sync is already `stopping` on another error, that error stays the one reported
    and each failure here is logged instead.
    """
    failures: list[ConfigError | ServiceUnavailable] = []
    for sink in sinks:
        try:
            sink.close()
        except (ConfigError, ServiceUnavailable) as exc:
            failures.append(exc)
    for failure in failures if stopping else failures[1:]:
        logger.error("rejected records not kept: %s", failure)
    if failures and not stopping:
        raise failures[0]
