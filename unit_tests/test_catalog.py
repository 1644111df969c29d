"""The configured catalog: each stream's write mode from its sync mode and primary key."""

from __future__ import annotations

from typing import Any

import pytest

from destination_propexo.airbyte.catalog import WriteMode, configured_streams
from destination_propexo.errors import ConfigError
from destination_propexo.records.mapping import FieldMatcher


def catalog(mode: str, key: list[list[str]] | None = None, **stream: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "stream": {"name": "tours", "json_schema": {}, **stream},
        "destination_sync_mode": mode,
    }
    if key is not None:
        entry["primary_key"] = key
    return {"streams": [entry]}


def mode_of(catalog_: dict[str, Any], matcher: FieldMatcher | None = None) -> WriteMode:
    return configured_streams(catalog_, matcher)[("tours", None)].mode


@pytest.mark.parametrize(
    ("mode", "key", "expected"),
    [
        ("append", None, WriteMode.CREATE),
        ("append", [["lead_id"]], WriteMode.CREATE),
        ("append_dedup", None, WriteMode.CREATE_IF_ABSENT),
        ("append_dedup", [], WriteMode.CREATE_IF_ABSENT),
        ("append_dedup", [["lead_id"]], WriteMode.ONE_UPCOMING_TOUR),
        ("append_dedup", [["LEAD_ID "]], WriteMode.ONE_UPCOMING_TOUR),
        ("append_dedup", [["integration_id"], ["lead_id"]], WriteMode.ONE_UPCOMING_TOUR),
        (
            "append_dedup",
            [["lead_id"], ["appointment_date"], ["appointment_time"]],
            WriteMode.CREATE_IF_ABSENT,
        ),
        ("append_dedup", [["lead_id"], ["appointment_datetime"]], WriteMode.CREATE_IF_ABSENT),
        ("append_dedup", [["tour_id"]], WriteMode.CREATE_IF_ABSENT),
        ("update", [["event_id"]], WriteMode.MOVE_BY_EVENT_ID),
        ("update", None, WriteMode.MOVE_BY_EVENT_ID),
    ],
)
def test_the_write_mode_follows_the_sync_mode_and_the_primary_key(
    mode: str, key: list[list[str]] | None, expected: WriteMode
) -> None:
    assert mode_of(catalog(mode, key)) is expected


def test_the_sources_own_primary_key_counts_when_none_is_configured() -> None:
    keyed_by_source = catalog("append_dedup", source_defined_primary_key=[["lead_id"]])
    assert mode_of(keyed_by_source) is WriteMode.ONE_UPCOMING_TOUR


def test_primary_key_columns_are_matched_through_field_mappings() -> None:
    matcher = FieldMatcher.build({"PROSPECT": "lead_id", "appt_ref": "event_id"})
    assert mode_of(catalog("append_dedup", [["prospect"]]), matcher) is WriteMode.ONE_UPCOMING_TOUR
    assert mode_of(catalog("update", [["APPT_REF"]]), matcher) is WriteMode.MOVE_BY_EVENT_ID
    # Without the mapping the column is just another column.
    assert mode_of(catalog("append_dedup", [["prospect"]])) is WriteMode.CREATE_IF_ABSENT


def test_an_update_stream_keyed_on_anything_but_event_id_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'update' sync mode with the primary key \['tour_id'\]"):
        configured_streams(catalog("update", [["tour_id"]]))


@pytest.mark.parametrize("mode", ["overwrite", "overwrite_dedup", "soft_delete"])
def test_modes_that_delete_or_replace_are_config_errors(mode: str) -> None:
    with pytest.raises(ConfigError, match=f"'{mode}' sync mode"):
        configured_streams(catalog(mode))
