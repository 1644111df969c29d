"""The write pipeline: records in, outcomes out in input order, each STATE when it is due.

    stdin -> reader thread -> [bounded inbox] -> map -> [ordered window] -> STATE / summary
                                                          |        ^
                                                   create pool -- outcomes
                                                          |
                                                    status tracker

Four promises hold at once (see docs/design.md):
- order: a STATE leaves only after every record before it has its final outcome, and
  states leave in the order they came;
- accounting: every record ends Accepted or Rejected, and each echoed STATE carries the
  counts of its window (per stream for STREAM states);
- budget: every request waits on the one `RateBudget` inside the client;
- bounded memory: at most `window_size` records are held; reading waits when it is full.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from destination_propexo import outcomes
from destination_propexo.errors import PropexoError
from destination_propexo.inbox import Inbox
from destination_propexo.mapping import AppointmentRequest, FieldMatcher, Rejection, map_record
from destination_propexo.outcomes import Accepted, Outcome, Queued, Rejected
from destination_propexo.protocol import InputMessage, RecordMessage, StateMessage

logger = logging.getLogger("destination_propexo")

StreamKey = tuple[str, str | None]
PROGRESS_EVERY = 5.0
QUEUE_WAIT = 0.5


@dataclass(frozen=True)
class Stream:
    """A configured stream: how its records are written."""

    dedup: bool = False


@dataclass
class _Slot:
    record: RecordMessage
    lead_id: str | None
    outcome: Future[Outcome] = field(default_factory=Future)
    booking: tuple[str, str, str, str] | None = None
    # Set once the outcome is logged (and filed), so no STATE can overtake that line.
    announced: threading.Event = field(default_factory=threading.Event)
    time_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Decided:
    """A record rejected before any request: final, and logged, the moment it is read.

    It needs none of a `_Slot`'s future and event, whose creation and hand-offs were a
    quarter of the cost of a locally rejected record."""

    record: RecordMessage
    outcome: Rejected


@dataclass
class WriteSummary:
    received: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    pending: int = 0
    states: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return sum(self.accepted.values()) + sum(self.rejected.values())


class RequestSender(Protocol):
    """What the pipeline needs to get one request to an outcome (real or dry run)."""

    def send(self, request: AppointmentRequest) -> Accepted | Rejected | Queued: ...


class Pipeline:
    """Runs one `write`: see the module docstring for what it promises."""

    def __init__(
        self,
        *,
        streams: dict[StreamKey, Stream],
        sender: RequestSender,
        track: Callable[[str, Callable[[Outcome], None]], None] | None,
        matcher: FieldMatcher,
        integration_id: str,
        zone: str,
        workers: int,
        window_size: int,
        emit_state: Callable[[StateMessage, int, int], None],
        on_outcome: Callable[[RecordMessage, str | None, Outcome, tuple[str, ...]], None],
        progress: Callable[[WriteSummary, int], None] | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self._streams = streams
        self._sender = sender
        self._track = track
        self._matcher = matcher
        self._integration_id = integration_id
        self._zone = zone
        self._window_size = window_size
        self._emit_state = emit_state
        self._on_outcome = on_outcome
        self._progress = progress
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="create")
        self._window: deque[_Slot | _Decided | StateMessage] = deque()
        self._records_in_window = 0
        self._counts: dict[StreamKey, list[int]] = {}
        self._first_of_booking: dict[tuple[str, str, str, str], Future[Outcome]] = {}
        self._fatal: BaseException | None = None
        # Shared with the sender, so a read-back or back-off wakes as soon as the sync stops.
        self._stopping = stopping or threading.Event()
        self._last_progress = time.monotonic()
        self.summary = WriteSummary()

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def fail(self, error: BaseException) -> None:
        """Stop the sync: no new request is sent and no further STATE is echoed."""
        if self._fatal is None:
            self._fatal = error
        self._stopping.set()

    def run(self, messages: Iterable[InputMessage]) -> WriteSummary:
        # Half the window: read-ahead plus the batch being mapped stay within one window.
        inbox: Inbox[InputMessage | BaseException | None] = Inbox(max(1, self._window_size // 2))
        reader = threading.Thread(
            target=_read_into, args=(messages, inbox, self._stopping), daemon=True, name="reader"
        )
        reader.start()
        try:
            self._consume(inbox)
            self._drain(until_empty=True)
        finally:
            if self._fatal is not None:
                self._stopping.set()
            self._pool.shutdown(wait=self._fatal is None, cancel_futures=True)
        if self._fatal is not None:
            raise self._fatal
        return self.summary

    def _consume(self, inbox: Inbox[InputMessage | BaseException | None]) -> None:
        while self._fatal is None:
            items = inbox.take_all(timeout=QUEUE_WAIT)
            for item in items:
                if self._fatal is not None:
                    return
                if item is None:
                    return
                if isinstance(item, BaseException):
                    self.fail(item)
                    return
                if isinstance(item, StateMessage):
                    self._window.append(item)
                else:
                    self._accept_record(item)
                while self._records_in_window >= self._window_size and self._fatal is None:
                    self._drain(block=True)
            # Once per batch rather than per message: a batch is what was waiting, so the
            # states in it leave as promptly, and the window check above bounds memory.
            self._drain()

    def _accept_record(self, record: RecordMessage) -> None:
        self.summary.received += 1
        stream = self._streams.get(record.stream_key)
        if stream is None:
            reason = f"stream {_stream_name(record)!r} is not in the configured catalog"
            self._decide(record, Rejected(outcomes.UNKNOWN_STREAM, reason))
            return
        mapped = map_record(
            record.data,
            default_integration_id=self._integration_id,
            zone=self._zone,
            matcher=self._matcher,
        )
        if isinstance(mapped, Rejection):
            self._decide(record, Rejected(outcomes.INVALID_RECORD, mapped.reason))
            return
        slot = _Slot(record, mapped.lead_id, time_notes=mapped.time_notes)
        self._dispatch(slot, mapped, stream)
        self._window.append(slot)
        self._records_in_window += 1
        slot.outcome.add_done_callback(lambda done: self._announce(slot, done))

    def _decide(self, record: RecordMessage, outcome: Rejected) -> None:
        self._on_outcome(record, None, outcome, ())
        self._window.append(_Decided(record, outcome))
        self._records_in_window += 1

    def _dispatch(self, slot: _Slot, request: AppointmentRequest, stream: Stream) -> None:
        if stream.dedup:
            first = self._first_of_booking.get(request.slot_key)
            if first is not None:
                first.add_done_callback(lambda done: slot.outcome.set_result(_mirror(done)))
                return
            # Held only while the first row is in the window; after that the sender's
            # per-lead cache knows the booking, so memory stays bounded by the window.
            self._first_of_booking[request.slot_key] = slot.outcome
            slot.booking = request.slot_key
        self._pool.submit(self._send, slot, request)

    def _send(self, slot: _Slot, request: AppointmentRequest) -> None:
        if self._stopping.is_set():
            return
        try:
            result = self._sender.send(request)
        except PropexoError as exc:  # a refused token, a stop: the whole sync ends
            self.fail(exc)
            return
        except Exception as exc:  # a bug: stop the sync loudly rather than lose the record
            logger.exception("unexpected error while sending a record")
            self.fail(exc)
            return
        if isinstance(result, Queued):
            if self._track is not None:
                self._track(result.job_id, slot.outcome.set_result)
            else:
                slot.outcome.set_result(Accepted(job_id=result.job_id))
        else:
            slot.outcome.set_result(result)

    def _announce(self, slot: _Slot, done: Future[Outcome]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        try:
            self._on_outcome(slot.record, slot.lead_id, done.result(), slot.time_notes)
        finally:
            slot.announced.set()

    def _drain(self, *, block: bool = False, until_empty: bool = False) -> None:
        """Release finished records from the head of the window, and the states behind them."""
        while self._window and self._fatal is None:
            head = self._window[0]
            if isinstance(head, StateMessage):
                self._window.popleft()
                self._release_state(head)
                continue
            if isinstance(head, _Decided):
                self._window.popleft()
                self._records_in_window -= 1
                self._count(head.record, head.outcome)
                continue
            if not head.announced.is_set():
                if not (block or until_empty):
                    break
                self._wait(head.announced)
                if not until_empty:
                    block = False
                continue
            self._window.popleft()
            self._records_in_window -= 1
            if (
                head.booking is not None
                and self._first_of_booking.get(head.booking) is head.outcome
            ):
                del self._first_of_booking[head.booking]
            self._count(head.record, head.outcome.result())
        self._maybe_report_progress()

    def _wait(self, announced: threading.Event) -> None:
        if not announced.wait(timeout=QUEUE_WAIT):
            self._maybe_report_progress()

    def _count(self, record: RecordMessage, outcome: Outcome) -> None:
        window = self._counts.setdefault(record.stream_key, [0, 0])
        if isinstance(outcome, Accepted):
            window[0] += 1
            self.summary.accepted[outcome.how] += 1
            self.summary.pending += outcome.write_status == "PENDING"
        else:
            window[1] += 1
            self.summary.rejected[outcome.category] += 1

    def _release_state(self, state: StateMessage) -> None:
        key = state.stream_key
        if key is None:
            accepted = sum(c[0] for c in self._counts.values())
            rejected = sum(c[1] for c in self._counts.values())
            self._counts.clear()
        else:
            accepted, rejected = self._counts.pop(key, [0, 0])
        self.summary.states += 1
        self._emit_state(state, accepted, rejected)

    def _maybe_report_progress(self) -> None:
        now = time.monotonic()
        if self._progress is not None and now - self._last_progress >= PROGRESS_EVERY:
            self._last_progress = now
            self._progress(self.summary, self._records_in_window)


def _read_into(
    messages: Iterable[InputMessage],
    inbox: Inbox[InputMessage | BaseException | None],
    stopping: threading.Event,
) -> None:
    def hand_over(item: InputMessage | BaseException | None) -> None:
        while not stopping.is_set() and not inbox.put(item, timeout=QUEUE_WAIT):
            continue

    try:
        for message in messages:
            hand_over(message)
            if stopping.is_set():
                return
        hand_over(None)
    except BaseException as exc:  # handed to the main thread, which stops the sync with it
        hand_over(exc)


def _mirror(first: Future[Outcome]) -> Outcome:
    """A repeated row of the same booking shares the first row's fate."""
    if first.cancelled() or first.exception() is not None:
        return Rejected(outcomes.NOT_BOOKED, "the same booking earlier in this sync was not tried")
    outcome = first.result()
    if isinstance(outcome, Accepted):
        return Accepted(
            how=outcomes.DUPLICATE_ROW,
            job_id=outcome.job_id,
            write_status=outcome.write_status,
            created_record_id=outcome.created_record_id,
        )
    return Rejected(
        outcome.category, f"same booking as an earlier row, which was rejected: {outcome.reason}"
    )


def _stream_name(record: RecordMessage) -> str:
    return f"{record.namespace}.{record.stream}" if record.namespace else record.stream


def iter_outcome_fields(
    record: RecordMessage,
    lead_id: str | None,
    outcome: Outcome,
    time_notes: tuple[str, ...] = (),
) -> Iterator[tuple[str, object]]:
    """The fields of one outcome's log line: ids, statuses and how the time was read.

    Never the record's free-text `notes` (they may hold personal details), never a token.
    """
    yield "stream", _stream_name(record)
    yield "line", record.line_number
    yield "lead_id", lead_id
    if isinstance(outcome, Accepted):
        yield "outcome", "accepted"
        yield "how", outcome.how
    else:
        yield "outcome", "rejected"
        yield "category", outcome.category
        yield "reason", outcome.reason
    yield "job_id", outcome.job_id
    yield "write_status", outcome.write_status
    yield "created_record_id", getattr(outcome, "created_record_id", None)
    yield "errors", list(outcome.errors)
    # e.g. a fall-back local time that happens twice, and which occurrence was booked
    yield "time_notes", list(time_notes)
