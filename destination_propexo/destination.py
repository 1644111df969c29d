"""The destination: spec, check and write, wired from the modules that do the work."""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml
from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConnectorSpecification,
    ConnectorSpecificationSerializer,
    Status,
)

from destination_propexo.catalog import configured_streams
from destination_propexo.client import PropexoClient
from destination_propexo.config import PropexoConfig, load_config
from destination_propexo.dryrun import DryRunSender
from destination_propexo.errors import ConfigError, FailureKind, RequestFailure
from destination_propexo.mapping import FieldMatcher
from destination_propexo.outcomes import Accepted, Outcome, Rejected
from destination_propexo.protocol import Emitter, RecordMessage, StateMessage, read_messages
from destination_propexo.ratelimit import RateBudget
from destination_propexo.rejection_sinks import check_sinks, close_sinks, open_sinks
from destination_propexo.retry import RetryPolicy
from destination_propexo.sender import AppointmentSender, LeadAppointments
from destination_propexo.status import StatusTracker
from destination_propexo.writer import Pipeline, RequestSender, WriteSummary, iter_outcome_fields

logger = logging.getLogger("destination_propexo")
WINDOW_SIZE = 1000
CHECK_POLICY = RetryPolicy(max_attempts=3, max_total_seconds=10, backoff_initial=0.5)


def load_spec() -> ConnectorSpecification:
    """The spec from spec.yaml: shipped inside the wheel, or at the top of a source checkout."""
    packaged = resources.files("destination_propexo").joinpath("spec.yaml")
    if packaged.is_file():
        text = packaged.read_text(encoding="utf-8")
    else:
        text = (Path(__file__).resolve().parent.parent / "spec.yaml").read_text(encoding="utf-8")
    return ConnectorSpecificationSerializer.load(yaml.safe_load(text))


def check_connection(raw_config: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the token is accepted and the integration is an active ResMan one, and why."""
    try:
        config = load_config(raw_config)
        check_sinks(config)
    except ConfigError as exc:
        return False, str(exc)
    # A person is waiting for `check`: a short retry budget, then a clear answer.
    client = _client(config, RateBudget(config.requests_per_minute), CHECK_POLICY)
    try:
        integration = client.get_integration(config.integration_id)
    except ConfigError as exc:
        return False, str(exc)
    except RequestFailure as failure:
        if failure.kind is FailureKind.NOT_FOUND:
            return False, (
                f"Integration {config.integration_id!r} was not found for this token. Copy the "
                "integration id of your ResMan integration from the Propexo dashboard."
            )
        return False, f"Could not check the integration at {config.api_url}: {failure}"
    finally:
        client.close()
    vendor = str(integration.get("vendor", "")).upper()
    name = integration.get("name") or config.integration_id
    if vendor != "RESMAN":
        return False, (
            f"Integration {config.integration_id!r} ({name}) is a {vendor or 'non-ResMan'} "
            "integration; this destination books ResMan lead appointments only. Use the id "
            "of a ResMan integration."
        )
    if integration.get("active") is not True:
        return False, (
            f"Integration {config.integration_id!r} ({name}) is not active. Re-activate it "
            "in the Propexo dashboard, or use an active ResMan integration."
        )
    system = integration.get("system") or "unknown system"
    return (
        True,
        f"Integration {config.integration_id!r} ({name}) is an active ResMan integration "
        f"({system}).",
    )


def _client(
    config: PropexoConfig, budget: RateBudget, policy: RetryPolicy | None = None
) -> PropexoClient:
    return PropexoClient(
        config.api_url,
        config.token.get_secret_value(),
        budget,
        timeout=config.request_timeout_seconds,
        pool_size=config.max_requests_in_flight,
        policy=policy or RetryPolicy(),
    )


def write_sync(
    raw_config: Mapping[str, Any],
    catalog: Mapping[str, Any],
    lines: Iterable[bytes],
    emitter: Emitter,
) -> WriteSummary:
    """Run one write: every record to an outcome, every STATE echoed when due."""
    config = load_config(raw_config)
    streams = configured_streams(catalog)
    sinks = open_sinks(config)
    budget = RateBudget(config.requests_per_minute)
    client = _client(config, budget)
    policy = RetryPolicy()
    tracker: StatusTracker | None = None
    pipeline: Pipeline | None = None

    def on_outcome(
        record: RecordMessage, lead_id: str | None, outcome: Outcome, time_notes: tuple[str, ...]
    ) -> None:
        if isinstance(outcome, Rejected):
            for sink in sinks:
                try:
                    sink.append(record, outcome)
                except ConfigError as exc:  # stop rather than lose a kept rejection
                    fatal(exc)
        fields = dict(iter_outcome_fields(record, lead_id, outcome, time_notes))
        level = "INFO" if isinstance(outcome, Accepted) else "WARN"
        emitter.log(level, "record outcome: " + orjson.dumps(fields).decode(), batch=True)

    def on_state(state: StateMessage, accepted: int, rejected: int) -> None:
        # An echoed state tells Airbyte its records are written: a dry run must not, or the
        # next real sync would start after records that were never sent.
        if not config.dry_run:
            for sink in sinks:  # a confirmed state must not cover a rejection held in memory
                sink.flush()
            emitter.state(state.state, accepted, rejected)

    def progress(summary: WriteSummary, in_window: int) -> None:
        elapsed = max(time.monotonic() - summary.started, 1e-9)
        emitter.log(
            "INFO",
            f"progress: {summary.done} of {summary.received} records done "
            f"({summary.done / elapsed:.1f}/s), {sum(summary.rejected.values())} rejected, "
            f"{in_window} in flight; {client.counts.total} requests "
            f"({client.counts.total / elapsed * 60:.0f}/min of {budget.limit}/min)",
        )

    def fatal(error: BaseException) -> None:
        if pipeline is not None:
            pipeline.fail(error)

    try:
        if config.track_write_status and not config.dry_run:
            tracker = StatusTracker(
                client,
                timeout_seconds=config.write_status_timeout_seconds,
                # Polls share the client's in-flight bound with creates; a smaller pool
                # here would cap the polls' share of the budget below what tracking needs.
                workers=config.max_requests_in_flight,
                on_fatal=fatal,
            )
        stopping = threading.Event()
        existing = LeadAppointments(client) if any(s.dedup for s in streams.values()) else None
        sender: RequestSender
        if config.dry_run:
            sender = DryRunSender(lambda text: emitter.log("INFO", text), existing=existing)
        else:
            sender = AppointmentSender(
                client,
                policy,
                existing=existing,
                stopping=stopping,
                # How long a queued job may take to show is the same question as how long its
                # write status may stay PENDING (clamped to 2..30 s in the sender).
                settle_seconds=config.write_status_timeout_seconds,
            )
        pipeline = Pipeline(
            streams=streams,
            sender=sender,
            track=tracker.track if tracker is not None else None,
            matcher=FieldMatcher.build(config.column_renames),
            integration_id=config.integration_id,
            zone=config.source_timezone,
            workers=config.max_requests_in_flight,
            window_size=WINDOW_SIZE,
            emit_state=on_state,
            on_outcome=on_outcome,
            progress=progress,
            stopping=stopping,
        )
        if config.dry_run:
            emitter.log(
                "INFO",
                f"dry run for {config.api_url}, integration {config.integration_id}: every "
                "record is mapped and validated, no write request is made and no state is echoed",
            )
        else:
            emitter.log(
                "INFO", f"writing to {config.api_url} for integration {config.integration_id}"
            )
        summary = pipeline.run(read_messages(lines))
    finally:
        if tracker is not None:
            tracker.close()
        client.close()
        # Uploads the open parts, also when the sync stops on an error (then the one reported).
        close_sinks(sinks, stopping=sys.exc_info()[1] is not None)
    line = _summary_line(summary, client, budget, tracker, dry_run=config.dry_run)
    line += "".join(f"; {sink.summary()}" for sink in sinks)
    emitter.log("INFO", line)
    return summary


def _summary_line(
    summary: WriteSummary,
    client: PropexoClient,
    budget: RateBudget,
    tracker: StatusTracker | None,
    *,
    dry_run: bool = False,
) -> str:
    elapsed = time.monotonic() - summary.started
    accepted = sum(summary.accepted.values())
    rejected = sum(summary.rejected.values())
    counts = client.counts
    parts = [
        f"write summary{' (dry run, nothing written)' if dry_run else ''}: "
        f"received {summary.received}",
        f"accepted {accepted} ({_breakdown(summary.accepted)})",
        f"rejected {rejected} ({_breakdown(summary.rejected)})",
        f"still pending in ResMan {summary.pending}",
        f"states {summary.states}",
        f"requests {counts.total} (create {counts.create}, write status {counts.write_status}, "
        f"read back {counts.read_back}, integration {counts.integration}), "
        f"429s {budget.stats.rate_limited}",
        f"polls per job {tracker.polls_per_job:.2f}" if tracker else "write status not tracked",
        f"duration {elapsed:.1f} s ({summary.received / max(elapsed, 1e-9):.1f} records/s)",
    ]
    return "; ".join(parts)


def _breakdown(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


class DestinationPropexo(Destination):
    """The CDK face of the connector (used by PyAirbyte and the CDK's test helpers)."""

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return load_spec()

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        ok, message = check_connection(config)
        return AirbyteConnectionStatus(
            status=Status.SUCCEEDED if ok else Status.FAILED, message=message
        )

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterable[AirbyteMessage]:
        """The CDK's write interface; the CLI uses `write_sync` directly, since the CDK's
        models drop `destinationStats.rejectedRecordCount` from the STATE messages here."""
        catalog = ConfiguredAirbyteCatalogSerializer.dump(configured_catalog)
        lines = (orjson.dumps(AirbyteMessageSerializer.dump(m)) for m in input_messages)
        out: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=WINDOW_SIZE)

        def produce() -> None:
            emitter = Emitter(_QueueStream(out))
            try:
                write_sync(config, catalog, lines, emitter)
                emitter.flush()
                out.put(None)
            except BaseException as exc:  # re-raised in the consuming generator below
                emitter.flush()
                out.put(exc)

        threading.Thread(target=produce, name="write", daemon=True).start()
        while (item := out.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield AirbyteMessageSerializer.load(orjson.loads(item))


class _QueueStream:
    """A write-only binary stream that hands each written line to a queue."""

    def __init__(self, out: queue.Queue[bytes | BaseException | None]) -> None:
        self._out = out

    def write(self, lines: bytes) -> int:
        for line in lines.splitlines():
            self._out.put(line)
        return len(lines)

    def flush(self) -> None:
        return None
