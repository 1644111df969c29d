"""The Airbyte protocol edges: reading messages from stdin, writing them to stdout.

The CDK's reader skips lines it cannot parse and its serializer drops protocol fields
newer than its models (`destinationStats.rejectedRecordCount`, `DESTINATION_CATALOG`),
so both edges are owned here. Every line written is one complete JSON message; writes
from several threads never interleave.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import orjson
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateStats,
    AirbyteTraceMessage,
    ConnectorSpecification,
    FailureType,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets

from destination_propexo.errors import InputError

MAX_SHOWN_LINE = 120


@dataclass
class DestinationStateStats(AirbyteStateStats):  # type: ignore[misc]
    """A STATE's `destinationStats` as protocol 0.18 has it: the CDK's model (0.17) has no
    `rejectedRecordCount`."""

    rejectedRecordCount: float | None = None


def load_output_message(raw: dict[str, Any]) -> AirbyteMessage:
    """One message this connector wrote, as the CDK's model, keeping a STATE's
    `destinationStats.rejectedRecordCount` (DestinationStateStats), which the CDK's
    serializer drops."""
    message = AirbyteMessageSerializer.load(raw)
    stats = (raw.get("state") or {}).get("destinationStats") or {}
    if message.state is not None and "rejectedRecordCount" in stats:
        message.state.destinationStats = DestinationStateStats(
            recordCount=stats.get("recordCount"),
            rejectedRecordCount=stats["rejectedRecordCount"],
        )
    return message


@dataclass(frozen=True)
class RecordMessage:
    stream: str
    namespace: str | None
    data: dict[str, Any]
    line_number: int

    @property
    def stream_key(self) -> tuple[str, str | None]:
        return (self.stream, self.namespace)

    @property
    def qualified_name(self) -> str:
        """`namespace.stream`, or the stream alone, as logs name it."""
        return f"{self.namespace}.{self.stream}" if self.namespace else self.stream


@dataclass(frozen=True)
class StateMessage:
    """A STATE message kept as the exact JSON text of its `state` object (UTF-8), so it is
    echoed back unchanged: integers past 64 bits, decimals past a double's precision,
    escapes and white space as the source wrote them. `stream_key` is the stream a STREAM
    state belongs to; None for GLOBAL and LEGACY states."""

    raw: bytes
    line_number: int
    stream_key: tuple[str, str | None] | None = None

    @property
    def state(self) -> dict[str, Any]:
        """The state object, parsed (numbers as Python reads them)."""
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


InputMessage = RecordMessage | StateMessage


# Message types a source or the platform may send a destination that carry no records.
NON_DATA_TYPES = frozenset(
    {"LOG", "TRACE", "CONTROL", "SPEC", "CONNECTION_STATUS", "CATALOG", "DESTINATION_CATALOG"}
)


# The longest input line read (16 MiB): an appointment row is a few hundred bytes and a
# state rarely a few megabytes; a longer line stops the sync without being held whole.
MAX_LINE_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024


def lines_of(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of `stream`; a line longer than `limit` bytes raises InputError naming its
    number and size, measured in chunks, never held whole."""
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        del line
        while chunk := stream.readline(_CHUNK):
            size += len(chunk) - chunk.endswith(b"\n")
            if chunk.endswith(b"\n"):
                break
        raise InputError(number, f"the line is {size:,} bytes, over the {limit:,}-byte limit")


def read_messages(lines: Iterable[bytes]) -> Iterator[InputMessage]:
    """Parse stdin lines; a broken line raises InputError naming its number.

    A line is never skipped unread: anything that is not a RECORD, a STATE or a known
    non-data message stops the sync, so a record cannot disappear silently.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        message = _parse(line, number)
        if not isinstance(message, dict):
            raise InputError(number, f"not a JSON object: {_shown_line(line)}")
        kind = message.get("type")
        if kind == "RECORD":
            yield _record(message, number)
        elif kind == "STATE":
            yield _state(message, line, number)
        elif not isinstance(kind, str):
            raise InputError(number, f"message without a type: {_shown_line(line)}")
        elif kind not in NON_DATA_TYPES:
            raise InputError(number, f"unknown message type {kind[:40]!r}")


def _parse(line: bytes, number: int) -> object:
    """The parsed line.

    orjson refuses `\\ud800`-style escapes of lone surrogates and numbers past a double's
    range (`1e400`). Such a line is still valid JSON, so it is parsed again by the standard
    library (NaN and Infinity still refused); the mapper then rejects a record whose
    appointment fields hold one, with a reason, and a STATE is echoed from its own text.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        strict_error = exc.msg
    try:
        return json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise InputError(
            number, f"not a JSON message ({strict_error}): {_shown_line(line)}"
        ) from None


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _state(message: dict[str, Any], line: bytes, number: int) -> StateMessage:
    state = message.get("state")
    if not isinstance(state, dict):
        raise InputError(number, "STATE message without a state object")
    key: tuple[str, str | None] | None = None
    if state.get("type") == "STREAM":
        stream = state.get("stream")
        descriptor = stream.get("stream_descriptor") if isinstance(stream, dict) else None
        if not isinstance(descriptor, dict) or not isinstance(descriptor.get("name"), str):
            raise InputError(number, "STREAM state without a stream_descriptor name")
        namespace = descriptor.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise InputError(number, "STREAM state with a namespace that is not a string")
        key = (descriptor["name"], namespace)
    raw = _raw_member(line.decode("utf-8"), "state")
    if raw is None or "destinationStats" in state:
        # Never for a line parsed as one JSON object; a source's own destinationStats is
        # replaced by ours rather than sent twice.
        state.pop("destinationStats", None)
        return StateMessage(orjson.dumps(state), number, key)
    return StateMessage(raw.encode("utf-8"), number, key)


_DECODER = json.JSONDecoder()
_WHITE_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_white_space(text: str, at: int) -> int:
    match = _WHITE_SPACE.match(text, at)
    return match.end() if match else at


def _raw_member(text: str, name: str) -> str | None:
    """The exact JSON text of the value of top-level member `name` of the object in `text`
    (the last one, as parsers read a repeated name), or None.

    `text` has parsed as one JSON object already, so the scan only finds where values lie.
    """
    found = None
    at = _skip_white_space(text, 0)
    if text[at : at + 1] != "{":
        return None
    at = _skip_white_space(text, at + 1)
    while text[at : at + 1] == '"':
        key, at = json.decoder.scanstring(text, at + 1)  # type: ignore[attr-defined]
        at = _skip_white_space(text, at)
        if text[at : at + 1] != ":":
            return None
        start = _skip_white_space(text, at + 1)
        _, at = _DECODER.raw_decode(text, start)
        if key == name:
            found = text[start:at]
        at = _skip_white_space(text, at)
        if text[at : at + 1] != ",":
            break
        at = _skip_white_space(text, at + 1)
    return found


def _record(message: dict[str, Any], number: int) -> RecordMessage:
    record = message.get("record")
    if not isinstance(record, dict):
        raise InputError(number, "RECORD message without a record object")
    stream = record.get("stream")
    data = record.get("data")
    if not isinstance(stream, str) or not isinstance(data, dict):
        raise InputError(number, "RECORD message needs a stream name and a data object")
    namespace = record.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise InputError(number, "RECORD message with a namespace that is not a string")
    return RecordMessage(stream, namespace, data, number)


def _shown_line(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace").rstrip("\n")
    return text if len(text) <= MAX_SHOWN_LINE else text[:MAX_SHOWN_LINE] + "..."


class LineSink(Protocol):
    """Where protocol lines go: stdout's binary buffer, or a queue. Each write holds one or
    more complete lines."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class Emitter:
    """Writes protocol messages as JSON lines to one binary stream; thread-safe.

    A message sent with `batch=True` (the per-record outcome logs) may wait in a small
    buffer: written one by one, each would be a system call of its own (stdout is unbuffered
    under PYTHONUNBUFFERED, as in most connector images), costing more than the rest of the
    record's processing. The buffer leaves with the next other message (so outcome lines
    always precede the STATE that counts them, and a write's progress logs carry them out at
    least every few seconds), with a batched message once it holds `BATCH_BYTES` or has
    waited `BATCH_SECONDS`, and at `flush()`.
    """

    BATCH_BYTES = 64 * 1024
    BATCH_SECONDS = 1.0

    def __init__(self, out: LineSink, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._written_at = clock()

    def emit(self, message: dict[str, Any], *, batch: bool = False) -> None:
        self._emit_line(orjson.dumps(message) + b"\n", batch=batch)

    def _emit_line(self, line: bytes, *, batch: bool = False) -> None:
        with self._lock:
            self._pending.append(line)
            self._pending_bytes += len(line)
            if (
                batch
                and self._pending_bytes < self.BATCH_BYTES
                and self._clock() - self._written_at < self.BATCH_SECONDS
            ):
                return
            self._write_pending()

    def flush(self) -> None:
        """Write out any batched lines now."""
        with self._lock:
            if self._pending:
                self._write_pending()

    def _write_pending(self) -> None:
        self._out.write(b"".join(self._pending))
        self._out.flush()
        self._pending.clear()
        self._pending_bytes = 0
        self._written_at = self._clock()

    def emit_model(self, message: AirbyteMessage) -> None:
        self.emit(AirbyteMessageSerializer.dump(message))

    def log(self, level: str, text: str, *, batch: bool = False) -> None:
        message = {"type": "LOG", "log": {"level": level, "message": filter_secrets(text)}}
        self.emit(message, batch=batch)

    def spec(self, spec: ConnectorSpecification) -> None:
        self.emit_model(AirbyteMessage(type=Type.SPEC, spec=spec))

    def connection_status(self, succeeded: bool, message: str | None = None) -> None:
        status = AirbyteConnectionStatus(
            status=Status.SUCCEEDED if succeeded else Status.FAILED,
            message=filter_secrets(message) if message else None,
        )
        self.emit_model(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status))

    def error_trace(
        self, message: str, failure_type: FailureType, internal: str | None = None
    ) -> None:
        trace = AirbyteTraceMessage(
            type=TraceType.ERROR,
            emitted_at=time.time() * 1000,
            error=AirbyteErrorTraceMessage(
                message=filter_secrets(message),
                internal_message=filter_secrets(internal) if internal else None,
                failure_type=failure_type,
            ),
        )
        self.emit_model(AirbyteMessage(type=Type.TRACE, trace=trace))

    def destination_catalog(self, catalog: dict[str, Any]) -> None:
        """A protocol v0.18 DESTINATION_CATALOG message (the CDK's serializer drops its payload)."""
        self.emit({"type": "DESTINATION_CATALOG", "destination_catalog": catalog})

    def state(self, state: bytes, accepted: int, rejected: int) -> None:
        """Echo a STATE, given as the exact JSON text of its state object (`StateMessage.raw`),
        unchanged but for protocol v0.18 destination stats (which the CDK cannot write)."""
        stats = orjson.dumps({"recordCount": accepted, "rejectedRecordCount": rejected})
        body = state.rstrip()
        if not body.startswith(b"{") or not body.endswith(b"}"):
            raise ValueError("a state must be the JSON text of an object")
        comma = b"," if body[1:-1].strip() else b""
        echoed = body[:-1] + comma + b'"destinationStats":' + stats + b"}"
        self._emit_line(b'{"type":"STATE","state":' + echoed + b"}\n")
