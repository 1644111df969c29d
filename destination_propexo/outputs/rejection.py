"""One rejected record as the user keeps it, written the same way by every `EntrySink`.

A rejection entry is the record's data as received (notes included, so it can be fixed and
sent again) and why it was rejected. Both the rejected-records file and the bucket write the
same entry; it never holds the configuration, and every known secret in it is masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.airbyte.secrets import filter_secrets
from destination_propexo.records.outcomes import Rejected
from destination_propexo.records.values import dumps_exact

# The order of an entry's fields, and of the CSV columns; `data` is the record itself.
ENTRY_FIELDS = (
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
)


def rejection_entry(record: RecordMessage, outcome: Rejected, *, dry_run: bool) -> dict[str, Any]:
    """The record's data and why it was rejected, with every known secret masked."""
    entry = {
        "stream": record.stream,
        "namespace": record.namespace,
        "line": record.line_number,
        "category": outcome.category,
        "reason": outcome.reason,
        "errors": list(outcome.errors),
        "job_id": outcome.job_id,
        "rejected_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "dry_run": dry_run,
        "data": record.data,
    }
    entry_masked: dict[str, Any] = masked(entry)
    return entry_masked


def masked(value: Any) -> Any:
    """`value` (text, or lists and objects of it) with every known secret masked."""
    # Masked value by value rather than in the encoded line, where JSON or CSV escaping
    # could hide a secret holding a quote or a backslash from the search.
    return _masked(value, 0)


# Levels masked by recursion; deeper (a record's column may be nested as deep as the readers
# take, about 1,000 levels) by a loop, which needs no room on Python's stack.
_RECURSIVE_LEVELS = 50


def _masked(value: Any, level: int) -> Any:
    if isinstance(value, str):
        return filter_secrets(value)
    if level >= _RECURSIVE_LEVELS and isinstance(value, dict | list):
        return _masked_deep(value)
    if isinstance(value, dict):
        return {filter_secrets(str(key)): _masked(item, level + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, level + 1) for item in value]
    return value


def _masked_deep(value: dict[Any, Any] | list[Any]) -> Any:
    todo: list[tuple[Any, Any]] = []
    top = _masked_one(value, todo)
    while todo:
        source, copy = todo.pop()
        if isinstance(source, dict):
            for key, item in source.items():
                copy[filter_secrets(str(key))] = _masked_one(item, todo)
        else:
            copy.extend(_masked_one(item, todo) for item in source)
    return top


def _masked_one(value: Any, todo: list[tuple[Any, Any]]) -> Any:
    """`value` masked if text; an empty copy of an object or list, queued to be filled."""
    if isinstance(value, str):
        return filter_secrets(value)
    if isinstance(value, dict | list):
        copy: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
        todo.append((value, copy))
        return copy
    return value


def to_json(value: Any) -> bytes:
    """Compact JSON with every value as received (`records.values.dumps_exact`): numbers
    with all their digits, `NaN` and `Infinity` as written, a lone surrogate as its escape."""
    return dumps_exact(value)


class EntrySink(Protocol):
    """Somewhere a dataset's entries are kept for the user (a local file, object storage):
    the rejected records, or every record's outcome.

    `write` is called from worker threads, `flush` before each STATE is echoed, `close` at
    the end of the sync and on a stop; each raises ConfigError when entries cannot be
    kept, so the sync stops rather than lose them."""

    def write(self, record: RecordMessage, entry: Mapping[str, Any]) -> None: ...

    def flush(self) -> None:
        """Make every entry written so far durable."""
        ...

    def close(self) -> None: ...

    def describe(self) -> str:
        """One clause for the write summary: where the entries went, and how many."""
        ...
