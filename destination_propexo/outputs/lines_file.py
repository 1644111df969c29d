"""A local file to which entries are appended as JSON lines, each flushed as it is written.

The rejected-records file and the outcomes file are both one of these; a sync that is
stopped leaves every entry before the stop on disk. In Airbyte OSS the connector's `/local`
folder is the host's `/tmp/airbyte_local`; a path such as `/local/propexo/outcomes.jsonl`
lands in `/tmp/airbyte_local/propexo/` there.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.errors import ConfigError
from destination_propexo.outputs.rejection import to_json

_EXAMPLES = {"rejected_records_path": "rejected.jsonl", "outcomes_path": "outcomes.jsonl"}


def open_for_append(path: str, option: str = "rejected_records_path") -> IO[str]:
    """Open (creating its folder) the file for appending; ConfigError names the option, the
    path and why."""
    target = Path(path).expanduser()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.open("a", encoding="utf-8")
    except OSError as exc:
        example = Path("/local/propexo") / _EXAMPLES.get(option, "outcomes.jsonl")
        raise ConfigError(
            f"{option}: cannot append to {path!r} ({exc.strerror or exc}). Use a file in a "
            f"writable folder; in Airbyte OSS, a path under /local such as {example} (the "
            "host's /tmp/airbyte_local/propexo/)."
        ) from None


class JsonLinesFile:
    """Appends entries to one file as JSON lines; thread-safe (an `EntrySink`).

    `option` is the config option naming the file (in every error), `what` names the entries."""

    def __init__(self, path: str, *, option: str, what: str) -> None:
        self.path = path
        self.option = option
        self.what = what
        self._file = open_for_append(path, option)
        self._lock = threading.Lock()
        self.written = 0

    def write(self, record: RecordMessage, entry: Mapping[str, Any]) -> None:
        """Append one entry as a line and flush it."""
        line = to_json(entry).decode() + "\n"
        with self._lock:
            try:
                self._file.write(line)
                self._file.flush()
            except OSError as exc:  # stop rather than lose an entry the user asked to keep
                raise self._failure(exc) from None
            self.written += 1

    def flush(self) -> None:
        """Nothing to do: each line is flushed as it is written."""

    def close(self) -> None:
        """Close the file; ConfigError naming the option if what it still buffers (a line
        whose write failed) cannot be written."""
        with self._lock:
            try:
                self._file.close()
            except OSError as exc:
                raise self._failure(exc) from None

    def _failure(self, exc: OSError) -> ConfigError:
        return ConfigError(f"{self.option}: writing {self.path}: {exc.strerror or exc}")

    def describe(self) -> str:
        return f"{self.what} appended to {self.path}: {self.written}"
