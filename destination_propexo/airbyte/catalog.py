"""The configured catalog: which streams are written, and how.

destination sync mode   primary key (columns, matched as record columns are)   how
append                  any                                                    CREATE
append_dedup            lead_id (optionally with integration_id)               ONE_UPCOMING_TOUR
append_dedup            anything else, e.g. lead + date + time, or none        CREATE_IF_ABSENT
update                  event_id, or none                                      MOVE_BY_EVENT_ID
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from destination_propexo.errors import ConfigError
from destination_propexo.records.mapping import FieldMatcher

StreamKey = tuple[str, str | None]


class WriteMode(enum.Enum):
    """How a stream's records are written; the value is how the logs describe it."""

    CREATE = "append: every valid record is created"
    CREATE_IF_ABSENT = (
        "append_dedup on lead + date + time: created unless the lead has a tour at that time"
    )
    ONE_UPCOMING_TOUR = (
        "append_dedup on lead_id: one upcoming tour per lead, moved to the record's time, "
        "or created when the lead has none"
    )
    MOVE_BY_EVENT_ID = "update: the appointment named by event_id is moved to the record's time"


@dataclass(frozen=True)
class Stream:
    """A configured stream: how its records are written."""

    mode: WriteMode = WriteMode.CREATE

    @property
    def uses_ledger(self) -> bool:
        """Whether its records need the booking ledger (lead lookups, turns)."""
        return self.mode is not WriteMode.CREATE


SUPPORTED_MODES = ("append", "append_dedup", "update")
# An append_dedup primary key made of these API fields means one upcoming tour per lead.
LEAD_KEYS = (frozenset({"lead_id"}), frozenset({"integration_id", "lead_id"}))


def configured_streams(
    catalog: Mapping[str, Any], matcher: FieldMatcher | None = None
) -> dict[StreamKey, Stream]:
    """Stream name/namespace -> how it is written; an unsupported sync mode is a ConfigError.

    Primary-key columns are matched to API fields like record columns: by name as people
    read it (`normalise_column`), and through `field_mappings` (`matcher`). A stream whose
    schema declares two columns that name one field is a ConfigError naming both, raised
    once before any record is read rather than for every row. An empty namespace is none."""
    matcher = matcher or FieldMatcher.build()
    streams: dict[StreamKey, Stream] = {}
    entries = catalog.get("streams")
    if not isinstance(entries, list):
        raise ConfigError("The configured catalog has no streams list.")
    for entry in entries:
        stream = entry.get("stream") if isinstance(entry, dict) else None
        if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
            raise ConfigError("A configured catalog stream has no name.")
        name = stream["name"]
        namespace = stream.get("namespace")
        mode = entry.get("destination_sync_mode", "append")
        if mode not in SUPPORTED_MODES:
            raise ConfigError(
                f"Stream {name!r} uses the {mode!r} sync mode. Propexo appointments can only be "
                "added or moved, never deleted or replaced, so choose 'append', 'append_dedup' "
                "(create if absent, or one upcoming tour per lead) or 'update' (move by "
                "event_id)."
            )
        _refuse_clashes(name, stream, matcher)
        key = primary_key(entry, stream)
        fields = {matcher.field_of(column) for column in key}
        streams[(name, namespace or None if isinstance(namespace, str) else None)] = Stream(
            write_mode(name, mode, key, fields)
        )
    return streams


def _refuse_clashes(name: str, stream: Mapping[str, Any], matcher: FieldMatcher) -> None:
    schema = stream.get("json_schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return
    clashes = matcher.clashes(str(column) for column in properties)
    if clashes:
        named = "; ".join(
            f"{', '.join(map(repr, columns))} all read as {field}"
            for field, columns in clashes.items()
        )
        raise ConfigError(
            f"Stream {name!r} has columns whose names differ only in case, spacing, "
            f"separators or invisible characters: {named}. Column names are matched as "
            "people read them, so these cannot be told apart; deselect all but one in the "
            "connection, or rename them in the source."
        )


def primary_key(entry: Mapping[str, Any], stream: Mapping[str, Any]) -> list[str]:
    """The stream's primary-key columns: the configured one, else the source's own.

    Records are flat rows, so each key path names one top-level column (its first part)."""
    paths = entry.get("primary_key") or stream.get("source_defined_primary_key") or []
    if not isinstance(paths, list):
        return []
    return [
        path[0] for path in paths if isinstance(path, list) and path and isinstance(path[0], str)
    ]


def write_mode(name: str, mode: str, key: list[str], fields: set[str | None]) -> WriteMode:
    """The write mode of one stream from its sync mode and its key's API fields (pure)."""
    if mode == "append":
        return WriteMode.CREATE
    if mode == "append_dedup":
        lead_key = fields in [set(k) for k in LEAD_KEYS]
        return WriteMode.ONE_UPCOMING_TOUR if lead_key else WriteMode.CREATE_IF_ABSENT
    if key and fields != {"event_id"}:
        raise ConfigError(
            f"Stream {name!r} uses the 'update' sync mode with the primary key {key}; an "
            "update moves the appointment named by its Propexo id, so the key must be "
            "event_id (map your column to event_id in field_mappings if it is named otherwise)."
        )
    return WriteMode.MOVE_BY_EVENT_ID
