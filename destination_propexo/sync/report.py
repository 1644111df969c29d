"""What a sync tells its operator: one line per record outcome, the STATE echoes, progress
and the closing summary, and each rejected record filed where the user asked.

`SyncReport` is the pipeline's one `OutcomeSink`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import orjson

from destination_propexo.airbyte.protocol import Emitter, RecordMessage, StateMessage
from destination_propexo.outputs.rejection import RejectionSink
from destination_propexo.propexo.client import RequestCounts
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.records.outcomes import Accepted, Outcome, Rejected
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
        rejection_sinks: Sequence[RejectionSink] = (),
        dry_run: bool = False,
    ) -> None:
        self._emitter = emitter
        self._counts = counts
        self._budget = budget
        self._tracker = tracker
        self._sinks = rejection_sinks
        self._dry_run = dry_run

    def outcome(
        self,
        record: RecordMessage,
        lead_id: str | None,
        outcome: Outcome,
        time_notes: tuple[str, ...],
    ) -> None:
        if isinstance(outcome, Rejected):
            for sink in self._sinks:
                sink.append(record, outcome)
        fields = outcome_fields(record, lead_id, outcome, time_notes)
        level = "INFO" if isinstance(outcome, Accepted) else "WARN"
        self._emitter.log_line(level, b"record outcome: " + orjson.dumps(fields), batch=True)

    def state(self, state: StateMessage, accepted: int, rejected: int) -> None:
        # An echoed state tells Airbyte its records are written: a dry run must not, or the
        # next real sync would start after records that were never sent.
        if not self._dry_run:
            for sink in self._sinks:  # a confirmed state must not cover a rejection in memory
                sink.flush()
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
            f"still pending in ResMan {summary.pending}",
            f"states {summary.states}",
            f"requests {counts.total} (create {counts.create}, update {counts.update}, "
            f"write logs {counts.write_logs}, write status {counts.write_status}, read back "
            f"{counts.read_back}, integration {counts.integration}), 429s "
            f"{self._budget.stats.rate_limited}",
            _confirmations(self._tracker),
            f"duration {elapsed:.1f} s ({summary.received / max(elapsed, 1e-9):.1f} records/s)",
            *(sink.describe() for sink in self._sinks),
        ]
        self._emitter.log("INFO", "; ".join(parts))


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
) -> dict[str, object]:
    """The fields of one outcome's log line: ids, statuses and how the time was read.

    Never the record's free-text `notes` (they may hold personal details), never a token.
    """
    fields: dict[str, object] = {
        "stream": record.qualified_name,
        "line": record.line_number,
        "lead_id": lead_id,
    }
    if isinstance(outcome, Accepted):
        fields["outcome"] = "accepted"
        fields["how"] = outcome.how
        fields["job_id"] = outcome.job_id
        fields["write_status"] = outcome.write_status
        fields["created_record_id"] = outcome.created_record_id
    else:
        fields["outcome"] = "rejected"
        fields["category"] = outcome.category
        fields["reason"] = outcome.reason
        fields["job_id"] = outcome.job_id
        fields["write_status"] = outcome.write_status
        fields["created_record_id"] = None
    fields["errors"] = list(outcome.errors)
    if outcome.reschedule is not None:
        # Which appointment a move touched, and from when to when (UTC).
        fields["event_id"] = outcome.reschedule.event_id
        fields["moved_from"] = outcome.reschedule.moved_from
        fields["moved_to"] = outcome.reschedule.moved_to
    # e.g. a fall-back local time that happens twice, and which occurrence was booked
    fields["time_notes"] = list(time_notes)
    return fields
