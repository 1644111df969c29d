"""The rejected-records file: each rejected record appended as one JSON line, with its reason.

The file is the user's own copy of what was not booked, so it holds the record's fields as
received (notes included), to be fixed and sent again. It never holds the configuration:
known secrets are masked in every line. Each line is flushed as soon as it is written, so a
sync that is stopped leaves every rejection before it on disk.

In Airbyte OSS the connector's `/local` folder is the host's `/tmp/airbyte_local`; a path
such as `/local/propexo/rejected.jsonl` lands in `/tmp/airbyte_local/propexo/` there.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.errors import ConfigError
from destination_propexo.outputs.rejection import rejection_entry, to_json
from destination_propexo.records.outcomes import Rejected


def open_for_append(path: str) -> IO[str]:
    """Open (creating its folder) the file for appending; ConfigError names the path and why."""
    target = Path(path).expanduser()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.open("a", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"rejected_records_path: cannot append to {path!r} ({exc.strerror or exc}). Use a "
            "file in a writable folder; in Airbyte OSS, a path under /local such as "
            "/local/propexo/rejected.jsonl (the host's /tmp/airbyte_local/propexo/)."
        ) from None


class RejectedRecordsFile:
    """Appends rejected records to one file as JSON lines; thread-safe (a `RejectionSink`)."""

    def __init__(self, path: str, *, dry_run: bool = False) -> None:
        self.path = path
        self._file = open_for_append(path)
        self._dry_run = dry_run
        self._lock = threading.Lock()
        self.written = 0

    def append(self, record: RecordMessage, outcome: Rejected) -> None:
        entry = rejection_entry(record, outcome, dry_run=self._dry_run)
        line = to_json(entry).decode() + "\n"
        with self._lock:
            try:
                self._file.write(line)
                self._file.flush()
            except OSError as exc:  # stop rather than lose a rejection the user asked to keep
                raise ConfigError(
                    f"rejected_records_path: writing {self.path}: {exc.strerror or exc}"
                ) from None
            self.written += 1

    def flush(self) -> None:
        """Nothing to do: each line is flushed as it is written."""

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def describe(self) -> str:
        return f"rejected records appended to {self.path}: {self.written}"
