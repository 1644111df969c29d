"""One `write`, as a context manager that builds its parts and closes them.

    with WriteSession(config, streams, emitter) as session:
        summary = session.run(lines)

The parts, in the order data meets them: the stop event and clock (`stop.py`), the rate
budget, the HTTP client, the booking ledger (unless every stream is append), the sender (or
the dry run's), the status tracker, the booker's worker pool, the report, the pipeline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from requests.adapters import BaseAdapter

from destination_propexo.airbyte.catalog import Stream, StreamKey, WriteMode
from destination_propexo.airbyte.protocol import Emitter, message_batches
from destination_propexo.config import PropexoConfig
from destination_propexo.errors import ConfigError, Terminated
from destination_propexo.outputs.datasets import SyncOutputs, open_outputs
from destination_propexo.propexo.client import CONNECT_TIMEOUT_SECONDS, PropexoClient
from destination_propexo.propexo.inflight import MAX_IN_FLIGHT
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.propexo.retry import RetryPolicy
from destination_propexo.records.mapping import FieldMatcher
from destination_propexo.records.vendors import UnusableIntegration, refusal, vendor_terms
from destination_propexo.stop import Clock, Stop
from destination_propexo.sync.appointment_ids import AppointmentIds
from destination_propexo.sync.appointment_view import AppointmentView
from destination_propexo.sync.booking import Booker, RequestSender
from destination_propexo.sync.brake import RejectionBrake
from destination_propexo.sync.dryrun import DryRunSender
from destination_propexo.sync.integrations import SyncIntegrations
from destination_propexo.sync.ledger import BookingLedger
from destination_propexo.sync.recent_writes import RecentWrites
from destination_propexo.sync.report import SyncReport
from destination_propexo.sync.sender import AppointmentSender
from destination_propexo.sync.status import StatusTracker
from destination_propexo.sync.writer import Pipeline, RecordMapper, WriteSummary

WINDOW_SIZE = 1000
# Streams whose leads are looked up: append_dedup, and append for the head of a run.
_VIEW_MODES = (WriteMode.CREATE, WriteMode.CREATE_IF_ABSENT, WriteMode.ONE_UPCOMING_TOUR)


def build_client(
    config: PropexoConfig,
    stop: Stop,
    *,
    policy: RetryPolicy | None = None,
    adapter: BaseAdapter | None = None,
) -> tuple[PropexoClient, RateBudget]:
    """The client of one sync (or check), with the rate budget every request waits on."""
    budget = RateBudget(config.requests_per_minute, stop=stop)
    client = PropexoClient(
        config.api_url,
        config.token.get_secret_value(),
        budget,
        stop=stop,
        timeout=config.request_timeout_seconds,
        max_in_flight=config.max_requests_in_flight or MAX_IN_FLIGHT,
        policy=policy,
        adapter=adapter,
    )
    return client, budget


class WriteSession:
    """Builds the parts of one write from the typed config; closes them on exit."""

    def __init__(
        self,
        config: PropexoConfig,
        streams: Mapping[StreamKey, Stream],
        emitter: Emitter,
        *,
        clock: Clock | None = None,
        adapter: BaseAdapter | None = None,
        window_size: int = WINDOW_SIZE,
    ) -> None:
        self.config = config
        self._emitter = emitter
        self._streams = dict(streams)
        self.stop = Stop(clock)
        self.client, self.budget = build_client(config, self.stop, adapter=adapter)
        self.integrations = SyncIntegrations(self.client, config.stated_zones)
        self._outputs: SyncOutputs | None = None
        self._closed = False
        self._parts_closed = False
        self.tracker: StatusTracker | None = None
        self.ids: AppointmentIds | None = None
        self._booker: Booker | None = None
        try:
            self._outputs = open_outputs(config)
            # Every pool may use the client's whole in-flight bound (its threads start only
            # as tasks need them): a smaller pool would cap its share of the budget.
            workers = config.max_requests_in_flight or MAX_IN_FLIGHT
            if config.track_write_status and not config.dry_run:
                self.tracker = StatusTracker(
                    self.client,
                    self.stop,
                    timeout_seconds=config.write_status_timeout_seconds,
                    workers=workers,
                    feed=config.use_write_logs_feed,
                    coming=lambda: self._booker.unsent if self._booker is not None else 0,
                    say=lambda text: emitter.log("WARN", text),
                )
                # Ids of bookings the feed confirmed, from the integration's newest
                # appointments (appointment_ids.py); a sync without the feed has them all.
                if config.use_write_logs_feed:
                    self.ids = AppointmentIds(
                        self.client, self.stop, since=time.time(), coming=self._coming
                    )
            # append_dedup streams: the integration's appointments in pages where that is
            # cheaper than a read per lead (appointment_view.py).
            self.view = (
                AppointmentView(self.client, self.stop)
                if any(s.mode in _VIEW_MODES for s in streams.values())
                else None
            )
            self._booker = Booker(
                sender=self._sender(),
                stop=self.stop,
                workers=workers,
                # Every mode uses it: the lead's turns, the one view of its appointments,
                # and the head of a run created only if absent.
                ledger=BookingLedger(
                    self.client.lead_appointments,
                    self.stop,
                    view=self.view,
                    recent=RecentWrites(self.client, self.stop, sync_start=dt.datetime.now(dt.UTC)),
                ),
                tracker=self.tracker,
                check_head=not config.dry_run,
                ids=self.ids,
                inline=config.dry_run,
            )
            self.report = SyncReport(
                emitter,
                counts=self.client.counts,
                budget=self.budget,
                tracker=self.tracker,
                outputs=self._outputs,
                extra={
                    **({"appointment_ids": self.ids.summary} if self.ids is not None else {}),
                    **({"integration_reads": self.view.summary} if self.view is not None else {}),
                },
                dry_run=config.dry_run,
            )
            self._pipeline = Pipeline(
                streams=dict(streams),
                mapper=RecordMapper(
                    FieldMatcher.build(config.column_renames),
                    config.integration_id,
                    config.source_timezone,
                    integrations=self.integrations,
                    defaults=config.appointment_defaults,
                ),
                booker=self._booker,
                sink=self.report,
                stop=self.stop,
                window_size=window_size,
                brake=(
                    RejectionBrake(config.max_rejected_percent)
                    if config.max_rejected_percent is not None
                    else None
                ),
                # A request on the wire at a stop may take its connect and read time-outs.
                settle_seconds=config.request_timeout_seconds + CONNECT_TIMEOUT_SECONDS,
                release_at_stop=self.tracker.release_at_stop if self.tracker else None,
            )
        except BaseException:
            self.close(stopping=True)
            raise

    def _coming(self) -> int:
        """Bookings on their way to a final outcome: writes not answered, jobs not final."""
        unsent = self._booker.unsent if self._booker is not None else 0
        return unsent + (self.tracker.outstanding if self.tracker is not None else 0)

    def _sender(self) -> RequestSender:
        if self.config.dry_run:
            return DryRunSender(lambda text: self._emitter.log("INFO", text, batch=True))
        return AppointmentSender(
            self.client,
            RetryPolicy(),
            self.stop,
            # How long a queued job may take to show is the same question as how long its
            # write status may stay PENDING (clamped to 2..30 s in the sender).
            settle_seconds=self.config.write_status_timeout_seconds,
        )

    def __enter__(self) -> WriteSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close(stopping=error is not None)

    def run(self, lines: Iterable[Sequence[bytes]]) -> WriteSummary:
        """Write every message read from `lines` (batches of lines, `line_batches`); raises
        the error that stopped the sync."""
        config = self.config
        if config.dry_run:
            self._emitter.log(
                "INFO",
                f"dry run for {config.api_url}, integration {config.integration_id}: every "
                "record is mapped and validated, no write request is made and no state is echoed",
            )
        else:
            self._emitter.log(
                "INFO", f"writing to {config.api_url} for integration {config.integration_id}"
            )
        try:
            with _terminated_stops(self.stop):
                self._check_integration()
                summary = self._pipeline.run(message_batches(lines))
        except BaseException as exc:
            self._close_parts()
            self.report.keep_summary(self._pipeline.summary, error=exc)
            raise
        self._close_parts()
        self.report.summary(summary)
        self.close()
        return summary

    def _check_integration(self) -> None:
        """The configured integration, read once: a PMS this destination books, with an
        update if a stream may move tours; else the sync stops before any row is sent."""
        integration_id = self.config.integration_id
        try:
            vendor = self.integrations.vendor(integration_id)
        except UnusableIntegration as exc:
            raise ConfigError(f"The configured {exc}.") from None
        moves = any(stream.moves for stream in self._streams.values())
        refused = refusal(vendor, moves=moves)
        if refused is not None:
            raise ConfigError(f"Integration {integration_id!r} is a {vendor.name} one: {refused}")
        self._emitter.log(
            "INFO", f"integration {integration_id} is {vendor.name}: {vendor_terms(vendor)}"
        )

    def close(self, *, stopping: bool = False) -> None:
        """Stop the workers and close the client and the outputs (idempotent).

        Outputs are closed on a fatal stop too, so every entry before it is kept; one that
        cannot be closed raises, unless the sync is already `stopping` on another error."""
        if self._closed:
            return
        self._closed = True
        self._close_parts()
        if self._outputs is not None:
            self._outputs.close(stopping=stopping)

    def _close_parts(self) -> None:
        """Stop the workers and close the client (idempotent); the outputs stay open."""
        if self._parts_closed:
            return
        self._parts_closed = True
        if self._booker is not None:
            self._booker.close()
        if self.tracker is not None:
            self.tracker.close()
        if self.ids is not None:
            self.ids.close()
        self.client.close()


@contextlib.contextmanager
def _terminated_stops(stop: Stop) -> Iterator[None]:
    """While a write runs, SIGTERM (how Airbyte cancels a sync) stops it like any other
    fatal stop: the wire is settled, due STATEs are echoed, then one TRACE. Only the main
    thread may set a signal handler; elsewhere (tests) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        stop.stop(
            Terminated(
                "The sync was stopped by SIGTERM (cancelled, or its container is stopping). "
                "Requests already sent were awaited and every state whose records were all "
                "written was confirmed; the next attempt re-sends from the last confirmed state."
            )
        )

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_sync(
    config: PropexoConfig,
    streams: Mapping[StreamKey, Stream],
    lines: Iterable[Sequence[bytes]],
    emitter: Emitter,
    **options: Any,
) -> WriteSummary:
    """Run one write: every record to an outcome, every STATE echoed when due."""
    with WriteSession(config, streams, emitter, **options) as session:
        return session.run(lines)
