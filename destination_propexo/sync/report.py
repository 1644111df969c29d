"""What a sync tells its operator: one line per record outcome, the STATE echoes, progress
and the closing summary; each outcome (and each rejected record) filed where the user asked,
and the summary kept beside the outcomes as one JSON object (`summary_fields`).

`SyncReport` is the pipeline's one `OutcomeSink`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from destination_propexo.airbyte.protocol import Emitter, RecordMessage, StateMessage
from destination_propexo.errors import ConfigError, ServiceUnavailable, failure_type
from destination_propexo.outputs.datasets import SyncOutputs
from destination_propexo.outputs.outcome_entry import HOW, SyncIdentity
from destination_propexo.propexo.client import RequestCounts
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.records import outcomes
from destination_propexo.records.mapping import SentAs
from destination_propexo.records.outcomes import Accepted, Outcome, RecordKeys
from destination_propexo.sync.status import StatusTracker
from destination_propexo.sync.writer import WriteSummary


class SyncReport:
    """Reports one sync through the emitter; thread-safe (outcomes arrive from workers)."""

    def __init__(
        self,
        emitter: Emitter,
        *,
        counts: RequestCounts,
        budget: RateBudget,
        tracker: StatusTracker | None,
        outputs: SyncOutputs | None = None,
        dry_run: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """`extra` holds further summary sections, each a callable of no argument giving a
        JSON-able mapping read when the summary is made (e.g. the id look-up's counts)."""
        self._emitter = emitter
        self._counts = counts
        self._budget = budget
        self._tracker = tracker
        self._outputs = outputs
        self._dry_run = dry_run
        self._extra = dict(extra or {})
        # Only datasets that keep records are called per record.
        self._record_outputs = outputs if outputs is not None and outputs.keeps_records else None

    def outcome(
        self,
        record: RecordMessage,
        keys: RecordKeys,
        outcome: Outcome,
        time_notes: tuple[str, ...],
        sent: SentAs | None = None,
    ) -> None:
        fields = outcome_fields(record, keys.lead_id, outcome, time_notes, sent)
        level = "INFO" if isinstance(outcome, Accepted) else "WARN"
        # The line first: object storage that fails (and stops the sync) must not cost the
        # line of a write that was made.
        self._emitter.log_json(level, "record outcome: ", fields, batch=True)
        if self._record_outputs is not None:
            self._record_outputs.record(record, keys, outcome, time_notes, sent)

    def state(self, state: StateMessage, accepted: int, rejected: int) -> None:
        # An echoed state tells Airbyte its records are written: a dry run must not, or the
        # next real sync would start after records that were never sent.
        if not self._dry_run:
            if self._outputs is not None:  # a confirmed state must not cover an entry in memory
                self._outputs.flush()
            self._emitter.state(state.state, accepted, rejected)

    def progress(self, summary: WriteSummary, in_window: int) -> None:
        elapsed = max(time.monotonic() - summary.started, 1e-9)
        total = self._counts.total
        self._emitter.log(
            "INFO",
            f"progress: {summary.done} of {summary.received} records done "
            f"({summary.done / elapsed:.1f}/s), {sum(summary.rejected.values())} rejected, "
            f"{in_window} in flight; {total} requests "
            f"({total / elapsed * 60:.0f}/min of {self._budget.limit}/min)",
        )

    def summary(self, summary: WriteSummary) -> None:
        """The closing `write summary` line."""
        elapsed = time.monotonic() - summary.started
        counts = self._counts
        parts = [
            f"write summary{' (dry run, nothing written)' if self._dry_run else ''}: "
            f"received {summary.received}",
            f"accepted {sum(summary.accepted.values())} ({_breakdown(summary.accepted)})",
            f"rejected {sum(summary.rejected.values())} ({_breakdown(summary.rejected)})",
            f"still pending in the PMS {summary.pending}",
            f"states {summary.states}",
            f"requests {counts.total} (create {counts.create}, update {counts.update}, "
            f"write logs {counts.write_logs}, write status {counts.write_status}, read back "
            f"{counts.read_back}, id look-up {counts.id_lookup}, integration reads "
            f"{counts.integration_read}, integration {counts.integration}), 429s "
            f"{self._budget.stats.rate_limited}",
            _confirmations(self._tracker),
            f"duration {elapsed:.1f} s ({summary.received / max(elapsed, 1e-9):.1f} records/s)",
            *(self._outputs.describe() if self._outputs is not None else ()),
        ]
        self._emitter.log("INFO", "; ".join(parts))
        self.keep_summary(summary)

    def keep_summary(self, summary: WriteSummary, error: BaseException | None = None) -> None:
        """Write the machine-readable summary beside the outcomes (a failed sync's too, with
        its error) and log where it went. ConfigError if it cannot be written, unless the
        sync already failed on `error`."""
        if self._outputs is None or self._dry_run:
            return
        fields = summary_fields(
            summary,
            identity=self._outputs.identity,
            counts=self._counts,
            budget=self._budget,
            tracker=self._tracker,
            reasons=dict(summary.reasons.most_common()),
            error=error,
            extra={name: read() for name, read in self._extra.items()},
        )
        try:
            where = self._outputs.summary(fields)
        except (ConfigError, ServiceUnavailable):
            if error is None:
                raise
            return
        if where:
            self._emitter.log("INFO", "sync summary written to " + ", ".join(where))


def summary_fields(
    summary: WriteSummary,
    *,
    identity: SyncIdentity,
    counts: RequestCounts,
    budget: RateBudget,
    tracker: StatusTracker | None,
    reasons: Mapping[str, int],
    error: BaseException | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The sync's summary as one JSON-able object (docs/propexo.md shows one):
    counts by outcome and by reason group, requests by kind, budget use, duration."""
    elapsed = max(time.monotonic() - summary.started, 1e-9)
    ended = datetime.now(UTC)
    accepted = sum(summary.accepted.values())
    rejected = sum(summary.rejected.values())
    booked = summary.accepted[outcomes.CREATED] + summary.accepted[outcomes.RESCHEDULED]
    requests = dataclasses.asdict(counts)
    return {
        "sync_id": identity.sync_id,
        "attempt": identity.attempt,
        "started_at": identity.started.isoformat(timespec="milliseconds"),
        "ended_at": ended.isoformat(timespec="milliseconds"),
        "duration_seconds": round(elapsed, 3),
        "status": "succeeded" if error is None else "failed",
        "failure_type": None if error is None else failure_type(error).value,
        "error": None if error is None else str(error)[:1000],
        "records": {
            "received": summary.received,
            "accepted": accepted,
            "rejected": rejected,
            "not_final": summary.received - accepted - rejected,
            "pending_in_resman": summary.pending,
        },
        "states_confirmed": summary.states,
        "accepted_by_how": {HOW.get(k, k): v for k, v in sorted(summary.accepted.items())},
        "rejected_by_category": dict(sorted(summary.rejected.items())),
        "rejected_by_reason": dict(reasons),
        "requests": {**requests, "total": counts.total},
        # Bookings: appointments created or moved by this sync.
        "requests_per_booking": round(counts.total / booked, 3) if booked else None,
        "budget": {
            "requests_per_minute": budget.limit,
            "used_per_minute": round(counts.total / elapsed * 60, 1),
            "rate_limited": budget.stats.rate_limited,
        },
        "jobs": None
        if tracker is None
        else {
            "from_feed": tracker.stats.from_feed,
            "from_write_status": tracker.stats.from_status,
            "feed_reads": tracker.stats.feed_reads,
        },
        **dict(extra or {}),
    }


def _confirmations(tracker: StatusTracker | None) -> str:
    if tracker is None:
        return "write status not tracked"
    stats = tracker.stats
    return (
        f"jobs confirmed: from the write-logs feed {stats.from_feed}, by write status "
        f"{stats.from_status}; feed reads {stats.feed_reads}; polls per job "
        f"{tracker.polls_per_job:.2f}"
    )


def _breakdown(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def outcome_fields(
    record: RecordMessage,
    lead_id: str | None,
    outcome: Outcome,
    time_notes: tuple[str, ...] = (),
    sent: SentAs | None = None,
) -> dict[str, object]:
    """The fields of one outcome's log line: ids, statuses and how the time was read (for a
    record that was mapped: its vendor, the wall clock sent, and the rule that chose it).

    Never the record's free-text `notes` (they may hold personal details), never a token.
    """
    # Each dict made whole in one expression: this runs once per record.
    fields: dict[str, object]
    if isinstance(outcome, Accepted):
        fields = {
            "stream": record.qualified_name,
            "line": record.line_number,
            "lead_id": lead_id,
            "outcome": "accepted",
            "how": outcome.how,
            "job_id": outcome.job_id,
            "write_status": outcome.write_status,
            "created_record_id": outcome.created_record_id,
            "errors": outcome.errors,  # a tuple: orjson writes it as a list
        }
    else:
        fields = {
            "stream": record.qualified_name,
            "line": record.line_number,
            "lead_id": lead_id,
            "outcome": "rejected",
            "category": outcome.category,
            "reason": outcome.reason,
            "job_id": outcome.job_id,
            "write_status": outcome.write_status,
            "created_record_id": None,
            "errors": outcome.errors,
        }
    if outcome.reschedule is not None:
        # Which appointment a move touched, and from when to when (UTC).
        fields["event_id"] = outcome.reschedule.event_id
        fields["moved_from"] = outcome.reschedule.moved_from
        fields["moved_to"] = outcome.reschedule.moved_to
    if sent is not None:
        fields["vendor"] = sent.vendor
        fields["sent_date"] = sent.date
        fields["sent_time"] = sent.time
        fields["time_rule"] = sent.rule
    # e.g. a fall-back local time that happens twice, and which occurrence was booked
    fields["time_notes"] = time_notes
    return fields
