"""The rejected-records file: each rejected record appended as one JSON line, with its reason.

The file is the user's own copy of what was not booked, so it holds the record's fields as
received (notes included), to be fixed and sent again. It never holds the configuration:
known secrets are masked in every line (`rejection.rejection_entry`). Each line is flushed
as soon as it is written (`lines_file.JsonLinesFile`).
"""

from __future__ import annotations

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.outputs.lines_file import JsonLinesFile, open_for_append
from destination_propexo.outputs.rejection import rejection_entry
from destination_propexo.records.outcomes import Rejected

__all__ = ["RejectedRecordsFile", "open_for_append"]


class RejectedRecordsFile(JsonLinesFile):
    """Appends rejected records to one file as JSON lines; thread-safe."""

    def __init__(self, path: str, *, dry_run: bool = False) -> None:
        super().__init__(path, option="rejected_records_path", what="rejected records")
        self._dry_run = dry_run

    def append(self, record: RecordMessage, outcome: Rejected) -> None:
        """Append one rejection (the entry `rejection.rejection_entry` makes)."""
        self.write(record, rejection_entry(record, outcome, dry_run=self._dry_run))
