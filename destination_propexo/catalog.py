"""The configured catalog: which streams are written, and how."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from destination_propexo.errors import ConfigError

StreamKey = tuple[str, str | None]


@dataclass(frozen=True)
class Stream:
    """A configured stream: how its records are written."""

    dedup: bool = False


SUPPORTED_MODES = {"append": Stream(dedup=False), "append_dedup": Stream(dedup=True)}


def configured_streams(catalog: Mapping[str, Any]) -> dict[StreamKey, Stream]:
    """Stream name/namespace -> how it is written; an unsupported sync mode is a ConfigError."""
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
                "added, never deleted or replaced, so choose 'append' or 'append_dedup' "
                "(create-if-absent)."
            )
        streams[(name, namespace if isinstance(namespace, str) else None)] = SUPPORTED_MODES[mode]
    return streams
