"""One record's final outcome as the outcomes dataset keeps it, written alike by every sink.

The dataset is the sync's result for the warehouse: one entry per record, accepted or
rejected, with the PMS appointment id of every booking, so a later `update` stream can
move it, and for every record that was mapped the PMS it went to, the wall clock sent and
the rule that chose the zone. It never holds the record's data (notes may hold personal
details) or the configuration; known secrets in a reason are masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from destination_propexo.airbyte.protocol import RecordMessage
from destination_propexo.outputs.rejection import masked
from destination_propexo.records import outcomes
from destination_propexo.records.mapping import SentAs
from destination_propexo.records.outcomes import Accepted, Outcome, RecordKeys

# The order of an entry's fields, and of the CSV columns (docs/propexo.md gives the types).
# Columns are only ever appended, so a CSV table defined by position reads older files too.
OUTCOME_FIELDS = (
    "stream",
    "namespace",
    "line",
    "lead_id",
    "event_id",
    "integration_id",
    "appointment_utc",
    "outcome",
    "how",
    "appointment_id",
    "job_id",
    "write_status",
    "moved_from",
    "moved_to",
    "category",
    "reason",
    "errors",
    "time_notes",
    "sync_id",
    "attempt",
    "recorded_at",
    "dry_run",
    # How the time left, for a record that was mapped (`records.mapping.SentAs`).
    "vendor",
    "sent_date",
    "sent_time",
    "time_rule",
)

# `how` of an accepted record, as a warehouse column holds it.
HOW = {
    outcomes.CREATED: "created",
    outcomes.RESCHEDULED: "moved",
    outcomes.EXISTING: "already_booked",
    outcomes.ADOPTED: "adopted",
    outcomes.DUPLICATE_ROW: "duplicate_row",
    outcomes.DRY_RUN: "dry_run",
}


@dataclass(frozen=True)
class SyncIdentity:
    """Which sync wrote an entry: Airbyte's job id (or the UTC start outside Airbyte), the
    attempt number (`WORKER_JOB_ATTEMPT`; None outside Airbyte) and when it started."""

    sync_id: str
    attempt: int | None
    started: datetime


def outcome_entry(
    record: RecordMessage,
    keys: RecordKeys,
    outcome: Outcome,
    time_notes: tuple[str, ...],
    *,
    sync: SyncIdentity,
    dry_run: bool,
    sent: SentAs | None = None,
) -> dict[str, Any]:
    """The entry of one record's final outcome: `OUTCOME_FIELDS`, secrets masked.

    `sent`: how the record's time left (its vendor's name, the date and time that vendor
    reads, the rule that chose the zone), for a record that was mapped; None (those columns
    null) for one rejected before."""
    accepted = isinstance(outcome, Accepted)
    moved = outcome.reschedule
    appointment_id = outcome.created_record_id if isinstance(outcome, Accepted) else None
    if appointment_id is None and moved is not None and accepted:
        appointment_id = moved.event_id
    entry = {
        "stream": record.stream,
        "namespace": record.namespace,
        "line": record.line_number,
        "lead_id": keys.lead_id,
        "event_id": keys.event_id,
        "integration_id": keys.integration_id,
        "appointment_utc": keys.appointment_utc,
        "outcome": "accepted" if accepted else "rejected",
        "how": HOW.get(outcome.how, outcome.how) if isinstance(outcome, Accepted) else None,
        "appointment_id": appointment_id,
        "job_id": outcome.job_id,
        "write_status": outcome.write_status,
        "moved_from": moved.moved_from if moved is not None else None,
        "moved_to": moved.moved_to if moved is not None else None,
        "category": None if isinstance(outcome, Accepted) else outcome.category,
        "reason": None if isinstance(outcome, Accepted) else outcome.reason,
        "errors": list(outcome.errors),
        "time_notes": list(time_notes),
        "sync_id": sync.sync_id,
        "attempt": sync.attempt,
        "recorded_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "dry_run": dry_run,
        "vendor": sent.vendor if sent is not None else None,
        "sent_date": sent.date if sent is not None else None,
        "sent_time": sent.time if sent is not None else None,
        "time_rule": sent.rule if sent is not None else None,
    }
    entry_masked: dict[str, Any] = masked(entry)
    return entry_masked
