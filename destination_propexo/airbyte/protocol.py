"""The Airbyte protocol edges: reading messages from stdin, writing them to stdout.

The CDK's reader skips lines it cannot parse and its serializer drops protocol fields
newer than its models (`destinationStats.rejectedRecordCount`, `DESTINATION_CATALOG`),
so both edges are owned here, as plain JSON (importing the CDK's models costs seconds of
every `spec` and `check`). Every line written is one complete JSON message; writes from
several threads never interleave.

Values pass through unchanged (`records.values`): msgspec reads every line keeping each
number as written (a decimal as its text, integers exact), so a STATE is echoed with each
value exactly as received; a line it refuses (`NaN`, `Infinity`, an integer past its range,
a lone surrogate escape) is read again by the exact reader, which decides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import msgspec
import orjson

from destination_propexo.airbyte.secrets import filter_secrets
from destination_propexo.errors import FailureType, InputError
from destination_propexo.records.mapping import SourceChange
from destination_propexo.records.values import (
    CUT_MARK,
    SHOWN_VALUE_LENGTH,
    JsonNumber,
    dumps_exact,
    has_float,
    loads_exact,
)

MAX_SHOWN_LINE = 120
UTF8_BOM = b"\xef\xbb\xbf"


class RecordMessage(msgspec.Struct):
    """A RECORD: `namespace` None when absent or empty; `changes` from `meta.changes`.

    A msgspec Struct, built in C: a dataclass's `__init__` cost a sixth of reading a record.
    Nothing changes one after it is read."""

    stream: str
    namespace: str | None
    data: dict[str, Any]
    line_number: int
    changes: tuple[SourceChange, ...] = ()

    @property
    def stream_key(self) -> tuple[str, str | None]:
        return (self.stream, self.namespace)

    @property
    def qualified_name(self) -> str:
        """`namespace.stream`, or the stream alone, as logs name it."""
        return f"{self.namespace}.{self.stream}" if self.namespace else self.stream


@dataclass(frozen=True)
class StateMessage:
    """A STATE message kept as received, so it is echoed back unchanged."""

    state: dict[str, Any]
    line_number: int

    @property
    def stream_key(self) -> tuple[str, str | None] | None:
        """The stream a STREAM state belongs to; None for GLOBAL and LEGACY states."""
        if self.state.get("type") != "STREAM":
            return None
        descriptor = (self.state.get("stream") or {}).get("stream_descriptor") or {}
        return (str(descriptor.get("name")), descriptor.get("namespace") or None)


InputMessage = RecordMessage | StateMessage


# Message types a source or the platform may send a destination that carry no records.
NON_DATA_TYPES = frozenset(
    {"LOG", "TRACE", "CONTROL", "SPEC", "CONNECTION_STATUS", "CATALOG", "DESTINATION_CATALOG"}
)


# The longest input line read (16 MiB): an appointment row is a few hundred bytes and a
# state rarely a few megabytes; a longer line stops the sync without being held whole.
MAX_LINE_BYTES = 16 * 1024 * 1024
# The most one read of stdin takes (64 KiB, what a Linux pipe holds by default): a batch of
# lines is what one read brought.
READ_BYTES = 64 * 1024


def line_batches(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[list[bytes]]:
    """The lines of `stream` (without their newline) in batches, each the complete lines
    one read brought: reading never waits for more input than is there, and the pipeline
    takes thousands of lines for one hand-off instead of one.

    A line longer than `limit` bytes raises InputError naming its number and size, after
    a batch of the lines before it; it is measured as it comes, never held whole. A line
    that spans reads grows in one buffer and is copied out once, when its end comes:
    joining the start kept so far to each read would copy a long line once per read."""
    read = getattr(stream, "read1", stream.read)
    number = 0  # lines yielded so far
    start = bytearray()  # the start of a line whose end is still to come
    while chunk := read(READ_BYTES):
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if lines:
            if start:
                start += lines[0]
                lines[0] = bytes(start)
                start.clear()
            if max(map(len, lines)) > limit:
                at = next(n for n, line in enumerate(lines) if len(line) > limit)
                if at:
                    yield lines[:at]
                raise InputError(number + at + 1, _too_long(len(lines[at]), limit))
            yield lines
            number += len(lines)
        if tail:
            start += tail
            if len(start) > limit:
                size = len(start)
                del start
                while (chunk := read(READ_BYTES)) and (end := chunk.find(b"\n")) < 0:
                    size += len(chunk)
                size += end if chunk else 0
                raise InputError(number + 1, _too_long(size, limit))
    if start:
        yield [bytes(start)]


def _too_long(size: int, limit: int) -> str:
    return f"the line is {size:,} bytes, over the {limit:,}-byte limit"


def message_batches(batches: Iterable[Sequence[bytes]]) -> Iterator[list[InputMessage]]:
    """The messages of each batch of lines (`line_batches`); a broken line raises
    InputError naming its number, after a batch of the messages before it. A byte order
    mark opening the input (a file saved as "UTF-8 with BOM") is read past.

    A line is never skipped unread: anything that is not a RECORD, a STATE or a known
    non-data message stops the sync, so a record cannot disappear silently.
    """
    number = 0
    for lines in batches:
        messages: list[InputMessage] = []
        add = messages.append
        try:
            for line in lines:
                number += 1
                if not line.startswith(b"{"):  # else a JSON object's line: no copy to check
                    if number == 1 and line.startswith(UTF8_BOM):
                        line = line[len(UTF8_BOM) :]  # "UTF-8 with BOM": not content
                    if not line.strip():
                        continue
                try:  # the common case, in one pass (inline: once per line)
                    envelope: _Envelope | None = _decode_envelope(line)
                except (msgspec.DecodeError, RecursionError):
                    envelope = None  # another type, another shape, or no JSON: judged below
                if envelope is not None:
                    if envelope.type == "RECORD" and envelope.record is not None:
                        record = envelope.record
                        meta = record.meta
                        changes = _changes(meta.get("changes")) if type(meta) is dict else ()
                        add(
                            RecordMessage(
                                record.stream,
                                record.namespace or None,
                                record.data,
                                number,
                                changes,
                            )
                        )
                        continue
                    if envelope.type == "STATE":
                        add(_state({"state": envelope.state}, number))
                        continue
                message = _message(line, number)
                if message is not None:
                    add(message)
        except InputError:
            if messages:
                yield messages
            raise
        yield messages


def _message(line: bytes, number: int) -> InputMessage | None:
    """A line msgspec's common shape did not take, read in full: its RECORD or STATE, None
    for a known non-data message; InputError for anything else."""
    message = _parse(line, number)
    if not isinstance(message, dict):
        raise InputError(number, f"not a JSON object: {_shown_line(line)}")
    kind = message.get("type")
    if kind == "RECORD":
        return _record(message, number)
    if kind == "STATE":
        return _state(message, number)
    if not isinstance(kind, str):
        raise InputError(number, f"message without a type: {_shown_line(line)}")
    if kind not in NON_DATA_TYPES:
        raise InputError(number, f"unknown message type {kind[:40]!r}")
    return None


class _Record(msgspec.Struct):
    stream: str
    data: dict[str, Any]
    namespace: str | None = None
    meta: Any = None


class _Envelope(msgspec.Struct):
    """The common message's shape, checked as it is read (other fields are left unread)."""

    type: str
    record: _Record | None = None
    state: Any = None


# msgspec reads every number as written in one pass: a decimal through `float_hook` as its
# text, an integer of any size it can hold as an int.
_decode_envelope = msgspec.json.Decoder(_Envelope, float_hook=JsonNumber).decode
_decode = msgspec.json.Decoder(float_hook=JsonNumber).decode


def _parse(line: bytes, number: int) -> object:
    """The parsed line, every value as written (see the module docstring)."""
    try:
        return _decode(line)
    except msgspec.DecodeError:
        # NaN, Infinity, an integer past msgspec's range, a lone surrogate escape, or no JSON
        # at all: the exact reader decides, and names the fault.
        return _parse_exact(line, number)
    except RecursionError:
        return _parse_deep(line, number)


def _parse_deep(line: bytes, number: int) -> object:
    """A line nested deeper than msgspec reads (about 1,000 levels): orjson reads 1,024."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _parse_exact(line, number)
    if type(message) is dict:
        kind = message.get("type")
        if kind == "STATE":
            return _parse_exact(line, number)
        if kind == "RECORD":
            record = message.get("record")
            try:
                altered = type(record) is dict and has_float(record.get("data"))
            except RecursionError:
                # Nested deeper than Python's stack (orjson reads 1,024 levels): no exact
                # parse could read it, and such a column is no field the connector reads.
                altered = False
            if altered:
                return _parse_exact(line, number)
    return message


def _parse_exact(line: bytes, number: int) -> object:
    # The exact reader decides, so its words name the fault: orjson's would point at the
    # first NaN or 1E400 it refuses, which is valid here, while the real fault is elsewhere
    # (past Python's stack too: the depth is the fault, not the NaN orjson stopped at).
    try:
        return loads_exact(line)
    except ValueError as exc:
        why = str(exc)
    except RecursionError:
        why = "nested deeper than Python's stack allows (about 1,000 levels)"
    raise InputError(number, f"not a JSON message ({why}): {_shown_line(line)}")


def _state(message: dict[str, Any], number: int) -> StateMessage:
    state = message.get("state")
    if not isinstance(state, dict):
        raise InputError(number, "STATE message without a state object")
    if state.get("type") == "STREAM":
        stream = state.get("stream")
        descriptor = stream.get("stream_descriptor") if isinstance(stream, dict) else None
        if not isinstance(descriptor, dict) or not isinstance(descriptor.get("name"), str):
            raise InputError(number, "STREAM state without a stream_descriptor name")
        namespace = descriptor.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise InputError(number, "STREAM state with a namespace that is not a string")
    return StateMessage(state, number)


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
    meta = record.get("meta")
    changes = _changes(meta.get("changes")) if type(meta) is dict else ()
    return RecordMessage(stream, namespace or None, data, number, changes)


def _changes(entries: object) -> tuple[SourceChange, ...]:
    """`meta.changes` (AirbyteRecordMessageMeta): what the source did to which field, and why."""
    if not isinstance(entries, list):
        return ()
    return tuple(
        SourceChange(
            field=entry["field"],
            change=_word(entry.get("change"), "CHANGED"),
            reason=_word(entry.get("reason"), "no reason given"),
        )
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("field"), str)
    )


def _word(value: object, default: str) -> str:
    """A change type or reason as the notes quote it: a string, cut when runaway; anything
    else (NaN, an object) says nothing, so `default`."""
    if not isinstance(value, str) or not value.strip():
        return default
    text = value.strip()
    if len(text) > SHOWN_VALUE_LENGTH:
        return f"{text[: SHOWN_VALUE_LENGTH - 3]}{CUT_MARK}{len(text)} characters)"
    return text


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

    BATCH_BYTES = 1024 * 1024
    BATCH_SECONDS = 1.0

    def __init__(self, out: LineSink, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._written_at = clock()

    def emit(self, message: dict[str, Any], *, batch: bool = False) -> None:
        self._add(dumps_exact(message) + b"\n", batch)

    def _add(self, line: bytes, batch: bool) -> None:
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

    def log(self, level: str, text: str, *, batch: bool = False) -> None:
        message = {"type": "LOG", "log": {"level": level, "message": filter_secrets(text)}}
        self.emit(message, batch=batch)

    def log_json(self, level: str, prefix: str, value: object, *, batch: bool = False) -> None:
        """A LOG whose message is `prefix` + `value` as compact JSON (`dumps_exact`: a lone
        surrogate from the input, in a stream name or the source's words, as its escape),
        secrets masked however JSON writes them; built without a message dict (one per
        record outcome)."""
        text = filter_secrets(prefix + dumps_exact(value).decode())
        line = b'{"type":"LOG","log":{"level":"%s","message":%s}}\n' % (
            level.encode(),
            orjson.dumps(text),
        )
        self._add(line, batch)

    def spec(self, spec: Mapping[str, Any]) -> None:
        """A SPEC message; `spec` is the ConnectorSpecification as a JSON object."""
        self.emit({"type": "SPEC", "spec": dict(spec)})

    def connection_status(self, succeeded: bool, message: str | None = None) -> None:
        status: dict[str, str] = {"status": "SUCCEEDED" if succeeded else "FAILED"}
        if message:
            status["message"] = filter_secrets(message)
        self.emit({"type": "CONNECTION_STATUS", "connectionStatus": status})

    def error_trace(
        self, message: str, failure_type: FailureType, internal: str | None = None
    ) -> None:
        error: dict[str, str] = {
            "message": filter_secrets(message),
            "failure_type": failure_type.value,
        }
        if internal:
            error["internal_message"] = filter_secrets(internal)
        trace = {"type": "ERROR", "emitted_at": time.time() * 1000, "error": error}
        self.emit({"type": "TRACE", "trace": trace})

    def destination_catalog(self, catalog: dict[str, Any]) -> None:
        """A protocol v0.18 DESTINATION_CATALOG message (the CDK's serializer drops its payload)."""
        self.emit({"type": "DESTINATION_CATALOG", "destination_catalog": catalog})

    def state(self, state: dict[str, Any], accepted: int, rejected: int) -> None:
        """Echo a STATE with protocol v0.18 destination stats (which the CDK cannot write)."""
        echoed = dict(state)
        echoed["destinationStats"] = {"recordCount": accepted, "rejectedRecordCount": rejected}
        self.emit({"type": "STATE", "state": echoed})
