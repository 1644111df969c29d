"""The write pipeline: records in, outcomes out in input order, each STATE when it is due.

    stdin -> reader thread -> [bounded inbox] -> map -> [ordered window] -> STATE / summary
                                                          |        ^
                                                     booking (ledger, sender, status)

Four promises hold at once (see docs/design.md):
- order: a STATE leaves only after every record before it has its final outcome (and its
  outcome line), and states leave in the order they came;
- accounting: every record ends Accepted or Rejected, and each echoed STATE carries the
  counts of its window (per stream for STREAM states);
- budget: every request waits on the one `RateBudget` inside the client;
- bounded memory: at most `window_size` records and states are held (a state counts like a
  record); reading waits when it is full (read-ahead: half a window, plus one read of stdin
  of at most `READ_BYTES`), and no line over `MAX_LINE_BYTES` is read whole.

Everything the pipeline tells the world goes to one `OutcomeSink`. A stop (`stop.py`) ends
the run, and settles it first: no new request starts, the requests already on the wire are
awaited (up to `settle_seconds`), jobs still followed are released as queued, the outcomes
that came are logged, and every STATE whose records are all final is echoed (except after
the rejection brake, which stops because too many rows are rejected). Then `run` raises the
error that stopped it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from destination_propexo.airbyte.catalog import Stream, StreamKey, WriteMode
from destination_propexo.airbyte.inbox import Inbox
from destination_propexo.airbyte.protocol import InputMessage, RecordMessage, StateMessage
from destination_propexo.errors import PropexoError, SyncStopped, TooManyRejected
from destination_propexo.records import outcomes
from destination_propexo.records.mapping import (
    NO_DEFAULTS,
    RESMAN_ONLY,
    AppointmentRequest,
    FieldMatcher,
    Integrations,
    MoveRequest,
    Rejection,
    SentAs,
    map_move,
    map_record,
)
from destination_propexo.records.outcomes import Accepted, Outcome, RecordKeys, Rejected
from destination_propexo.records.vendors import AppointmentDefaults
from destination_propexo.stop import Stop
from destination_propexo.sync.booking import Booker
from destination_propexo.sync.brake import RejectionBrake, reason_group

PROGRESS_EVERY = 5.0
QUEUE_WAIT = 0.5
# Reason groups counted one by one in the summary; the rest count as "other".
MAX_REASON_GROUPS = 50


@dataclass
class _Slot:
    record: RecordMessage
    keys: RecordKeys
    time_notes: tuple[str, ...]
    sent: SentAs
    outcome: Future[Outcome]
    # Set once the outcome is logged (and filed), so no STATE can overtake that line.
    announced: threading.Event = field(default_factory=threading.Event)


class _Decided(msgspec.Struct):  # a Struct, built in C: made for every record decided at once
    """A record decided without a request (rejected by mapping, or a dry run's create):
    final, and logged, the moment it is read.

    It needs none of a `_Slot`'s future and event, whose creation and hand-offs were a
    quarter of the cost of a locally rejected record."""

    record: RecordMessage
    outcome: Outcome


@dataclass
class WriteSummary:
    """The sync's counts: records received, and each final outcome counted as it becomes
    final (the outcomes dataset's order), so a stopped sync's counts match what its outcomes
    hold; `received - done` records had no final outcome."""

    received: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    # Rejections by `brake.reason_group`: MAX_REASON_GROUPS groups, then "other".
    reasons: Counter[str] = field(default_factory=Counter)
    pending: int = 0
    states: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return sum(self.accepted.values()) + sum(self.rejected.values())


class OutcomeSink(Protocol):
    """Where the pipeline reports: each record's outcome, each due STATE, progress."""

    def outcome(
        self,
        record: RecordMessage,
        keys: RecordKeys,
        outcome: Outcome,
        time_notes: tuple[str, ...],
        sent: SentAs | None = None,
    ) -> None: ...

    def state(self, state: StateMessage, accepted: int, rejected: int) -> None: ...

    def progress(self, summary: WriteSummary, in_window: int) -> None: ...


@dataclass(frozen=True)
class RecordMapper:
    """How a record's data becomes a request: column matching, default integration, zone,
    the integrations' vendors and the defaults of vendor fields."""

    matcher: FieldMatcher
    integration_id: str
    zone: str
    integrations: Integrations = RESMAN_ONLY
    defaults: AppointmentDefaults = NO_DEFAULTS


def record_keys(request: AppointmentRequest | MoveRequest) -> RecordKeys:
    """The key fields of a mapped record, its instant as sent (UTC)."""
    return RecordKeys(
        lead_id=request.lead_id,
        event_id=request.event_id if isinstance(request, MoveRequest) else None,
        integration_id=request.integration_id,
        appointment_utc=f"{request.appointment_date}T{request.appointment_time}Z",
    )


class Pipeline:
    """Runs one `write`: see the module docstring for what it promises."""

    def __init__(
        self,
        *,
        streams: dict[StreamKey, Stream],
        mapper: RecordMapper,
        booker: Booker,
        sink: OutcomeSink,
        stop: Stop,
        window_size: int,
        brake: RejectionBrake | None = None,
        settle_seconds: float = 0.0,
        release_at_stop: Callable[[], None] | None = None,
    ) -> None:
        """`settle_seconds`: how long a stop awaits the requests on the wire;
        `release_at_stop`: ends what is still being followed once they are in (the status
        tracker's jobs)."""
        self._streams = streams
        self._mapper = mapper
        self._booker = booker
        self._sink = sink
        self._stop = stop
        self._window_size = window_size
        self._brake = brake
        self._settle_seconds = settle_seconds
        self._release_at_stop = release_at_stop
        self._window: deque[_Slot | _Decided | StateMessage] = deque()
        self._records_in_window = 0
        self._decided = 0  # records rejected before any request (read by the brake)
        self._counts: dict[StreamKey, list[int]] = {}
        # Records read before the run's first STATE (None until it comes).
        self._first_state_at: int | None = None
        self._last_progress = time.monotonic()
        self.summary = WriteSummary()
        self._summary_lock = threading.Lock()  # outcomes become final in worker threads

    def run(self, batches: Iterable[Sequence[InputMessage]]) -> WriteSummary:
        """Write every message of `batches` (`protocol.message_batches`), in order; raises
        the error that stopped the sync, if one did."""
        # Half the window: read-ahead plus the batch being mapped stay within one window.
        inbox: Inbox[InputMessage | BaseException | None] = Inbox(max(1, self._window_size // 2))
        self._stop.start_thread(lambda: self._read_into(batches, inbox), "reader")
        try:
            self._consume(inbox)
            self._drain(until_empty=True)
        except SyncStopped:
            pass
        except PropexoError as exc:
            # Failed in this thread (object storage, as a STATE's entries are made durable):
            # a stop like any other, so the wire is settled before the error is raised.
            self._stop.stop(exc)
        if self._stop.error is not None:
            self._settle(self._stop.error)
            raise self._stop.error
        return self.summary

    def _settle(self, error: BaseException) -> None:
        """After a stop: await the wire, record what came, echo every STATE now due."""
        self._stop.wait_for_tasks(self._settle_seconds)
        if self._release_at_stop is not None:
            self._release_at_stop()
        if isinstance(error, TooManyRejected):
            return
        while self._window:
            head = self._window[0]
            if isinstance(head, StateMessage):
                try:
                    self._release_state(head)
                except PropexoError:
                    return  # its entries cannot be kept (object storage): nor can later ones
                self._records_in_window -= 1
            elif isinstance(head, _Decided):
                self._tally(head.record, head.outcome)
                self._records_in_window -= 1
            elif head.announced.is_set():
                self._tally(head.record, head.outcome.result())
                self._records_in_window -= 1
            else:
                return
            self._window.popleft()

    def _consume(self, inbox: Inbox[InputMessage | BaseException | None]) -> None:
        while True:
            self._stop.check()
            for item in inbox.take_all(timeout=QUEUE_WAIT):
                if item is None:
                    return
                if isinstance(item, BaseException):
                    # A broken line stops the sync where it stands in the input: records
                    # before it keep the outcomes they already have, nothing more is sent.
                    self._stop.stop(item)
                    raise SyncStopped("the input stream is broken")
                if isinstance(item, StateMessage):
                    if self._first_state_at is None:
                        self._first_state_at = self.summary.received
                    if self._window or self._brake is not None:
                        # A state held counts toward the window like a record: 40,000
                        # states behind one slow record must not all be held. With a brake,
                        # it leaves with the batch's `_drain`, after the brake judged the
                        # rows read with it: rows it stops for are not committed first.
                        self._window.append(item)
                        self._records_in_window += 1
                    else:
                        # Every record before it is final: it leaves at once (as `_drain`
                        # would release it next), and the records after it need not queue.
                        self._release_state(item)
                else:
                    self._accept_record(item)
                while self._records_in_window >= self._window_size:
                    self._drain(block=True)
            # Once per batch rather than per message: a batch is what was waiting, so the
            # states in it leave as promptly, and the window check above bounds memory.
            self._drain()

    def _accept_record(self, record: RecordMessage) -> None:
        self.summary.received += 1
        stream = self._streams.get((record.stream, record.namespace))  # its stream_key
        if stream is None:
            reason = f"stream {record.qualified_name!r} is not in the configured catalog"
            self._decide(record, RecordKeys(), Rejected(outcomes.UNKNOWN_STREAM, reason))
            return
        try:
            mapped = self._map(stream, record)
        except PropexoError as exc:
            # Reading an integration's vendor or zones failed for good (token, Propexo down).
            self._stop.stop(exc)
            raise SyncStopped("an integration could not be read") from None
        if isinstance(mapped, Rejection):
            rejected = Rejected(outcomes.INVALID_RECORD, mapped.reason, group=mapped.group)
            self._decided += 1
            self._final(record, RecordKeys(lead_id=mapped.lead_id), rejected, ())
            self._release_decided(record, rejected)
            return
        keys = record_keys(mapped)
        outcome = self._start(stream, mapped)
        sent = mapped.sent_as
        if outcome.done() and outcome.exception() is None:
            # Decided in this thread (a dry run's create): final, logged at once.
            self._final(record, keys, outcome.result(), mapped.time_notes, sent=sent)
            self._release_decided(record, outcome.result())
            return
        slot = _Slot(record, keys, mapped.time_notes, sent, outcome)
        self._window.append(slot)
        self._records_in_window += 1
        slot.outcome.add_done_callback(
            self._stop.guarded(lambda done: self._announce(slot, done), "an outcome report")
        )

    def _map(
        self, stream: Stream, record: RecordMessage
    ) -> AppointmentRequest | MoveRequest | Rejection:
        mapper = self._mapper
        if stream.mode is WriteMode.MOVE_BY_EVENT_ID:
            return map_move(
                record.data,
                default_integration_id=mapper.integration_id,
                zone=mapper.zone,
                matcher=mapper.matcher,
                changes=record.changes,
                integrations=mapper.integrations,
                defaults=mapper.defaults,
            )
        return map_record(
            record.data,
            default_integration_id=mapper.integration_id,
            zone=mapper.zone,
            matcher=mapper.matcher,
            changes=record.changes,
            integrations=mapper.integrations,
            defaults=mapper.defaults,
            may_move=stream.mode is WriteMode.ONE_UPCOMING_TOUR,
        )

    def _start(self, stream: Stream, request: AppointmentRequest | MoveRequest) -> Future[Outcome]:
        if isinstance(request, MoveRequest):
            return self._booker.move(request)
        if stream.mode is WriteMode.ONE_UPCOMING_TOUR:
            return self._booker.book_upcoming(request)
        return self._booker.book(
            request, dedup=stream.mode is WriteMode.CREATE_IF_ABSENT, head=self._at_head()
        )

    def _at_head(self) -> bool:
        """Whether the record being read is at the head of the run: before the run's first
        STATE, or within one window after it. Those are the rows an earlier attempt may have
        booked without confirming their STATE (it stopped with them in its window)."""
        if self._first_state_at is None:
            return True
        return self.summary.received - self._first_state_at <= self._window_size

    def _decide(self, record: RecordMessage, keys: RecordKeys, outcome: Outcome) -> None:
        self._decided += 1
        self._final(record, keys, outcome, ())
        self._release_decided(record, outcome)

    def _release_decided(self, record: RecordMessage, outcome: Outcome) -> None:
        """A record final the moment it is read: released at once when nothing is ahead of
        it in the window (as `_drain` would release it next), else queued in input order."""
        if self._window:
            self._window.append(_Decided(record, outcome))
            self._records_in_window += 1
            return
        self._judge(outcome)
        self._tally(record, outcome)

    def _announce(self, slot: _Slot, done: Future[Outcome]) -> None:
        self._final(
            slot.record, slot.keys, done.result(), slot.time_notes, slot.announced, slot.sent
        )

    def _final(
        self,
        record: RecordMessage,
        keys: RecordKeys,
        outcome: Outcome,
        time_notes: tuple[str, ...],
        announced: threading.Event | None = None,
        sent: SentAs | None = None,
    ) -> None:
        """The one place a record's outcome becomes final: reported (log, outcomes
        dataset), counted in the summary (by category and reason), then judged by the
        brake's early bound."""
        self._sink.outcome(record, keys, outcome, time_notes, sent)
        with self._summary_lock:
            if isinstance(outcome, Accepted):
                self.summary.accepted[outcome.how] += 1
                self.summary.pending += outcome.write_status == "PENDING"
            else:
                summary = self.summary
                summary.rejected[outcome.category] += 1
                group = reason_group(outcome)
                if group not in summary.reasons and len(summary.reasons) >= MAX_REASON_GROUPS:
                    group = "other"
                summary.reasons[group] += 1
        if announced is not None:
            announced.set()
        if self._brake is not None:
            self._brake_early(outcome)

    def _brake_early(self, outcome: Outcome) -> None:
        """The brake's early bound, as the outcome arrives (see brake.py); stops the sync."""
        assert self._brake is not None
        try:
            self._brake.arrived(outcome, started=self._decided + self._booker.began)
        except TooManyRejected as exc:
            self._stop.stop(exc)
            raise SyncStopped("the rejection brake stopped the sync") from None

    def _drain(self, *, block: bool = False, until_empty: bool = False) -> None:
        """Release finished records from the head of the window, and the states behind them."""
        while self._window:
            self._stop.check()
            head = self._window[0]
            if isinstance(head, StateMessage):
                self._window.popleft()
                self._records_in_window -= 1
                self._release_state(head)
                continue
            if isinstance(head, _Decided):
                self._window.popleft()
                self._records_in_window -= 1
                self._judge(head.outcome)
                self._tally(head.record, head.outcome)
                continue
            if not head.announced.is_set():
                if not (block or until_empty):
                    break
                if not self._stop.wait_for(head.announced, QUEUE_WAIT):
                    self._maybe_report_progress()
                elif not until_empty:
                    block = False
                continue
            self._window.popleft()
            self._records_in_window -= 1
            outcome = head.outcome.result()
            self._judge(outcome)
            self._tally(head.record, outcome)
        self._maybe_report_progress()

    def _judge(self, outcome: Outcome) -> None:
        if self._brake is not None:
            # Judged in input order, as records leave the window: local rejections are
            # known at once and accepts later, so judging as outcomes arrive would be biased.
            try:
                self._brake.observe(outcome)
            except TooManyRejected as exc:
                self._stop.stop(exc)
                raise SyncStopped("the rejection brake stopped the sync") from None

    def _tally(self, record: RecordMessage, outcome: Outcome) -> None:
        key = (record.stream, record.namespace)  # its stream_key, without a call per record
        window = self._counts.get(key)
        if window is None:
            window = self._counts[key] = [0, 0]
        window[0 if isinstance(outcome, Accepted) else 1] += 1

    def _release_state(self, state: StateMessage) -> None:
        key = state.stream_key
        if key is None:
            accepted = sum(c[0] for c in self._counts.values())
            rejected = sum(c[1] for c in self._counts.values())
            self._counts.clear()
        else:
            accepted, rejected = self._counts.pop(key, [0, 0])
        self.summary.states += 1
        self._sink.state(state, accepted, rejected)

    def _maybe_report_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY:
            self._last_progress = now
            self._sink.progress(self.summary, self._records_in_window)

    def _read_into(
        self,
        batches: Iterable[Sequence[InputMessage]],
        inbox: Inbox[InputMessage | BaseException | None],
    ) -> None:
        try:
            put, check = inbox.put, self._stop.check
            for batch in batches:
                while not put(batch, QUEUE_WAIT):  # `_hand_over`, inline: once per batch
                    check()
            self._hand_over(inbox, None)
        except SyncStopped:
            raise
        except Exception as exc:  # handed over in input order; the main thread stops with it
            self._hand_over(inbox, exc)

    def _hand_over(
        self,
        inbox: Inbox[InputMessage | BaseException | None],
        item: BaseException | None,
    ) -> None:
        while not inbox.put((item,), timeout=QUEUE_WAIT):
            self._stop.check()
