"""The Airbyte protocol edges: reading messages from stdin, writing them to stdout.

The CDK's reader skips lines it cannot parse and its serializer drops protocol fields
newer than its models (`destinationStats.rejectedRecordCount`, `DESTINATION_CATALOG`),
so both edges are owned here. Every line written is one complete JSON message; writes
from several threads never interleave.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
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


@dataclass(frozen=True)
class RecordMessage:
    stream: str
    namespace: str | None
    data: dict[str, Any]
    line_number: int

    @property
    def stream_key(self) -> tuple[str, str | None]:
        return (self.stream, self.namespace)


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
        return (str(descriptor.get("name")), descriptor.get("namespace"))


InputMessage = RecordMessage | StateMessage


def read_messages(lines: Iterable[bytes]) -> Iterator[InputMessage]:
    """Parse stdin lines; a broken line raises InputError naming its number."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(
                number, f"not a JSON message ({exc.msg}): {_shown_line(line)}"
            ) from None
        if not isinstance(message, dict):
            raise InputError(number, f"not a JSON object: {_shown_line(line)}")
        kind = message.get("type")
        if kind == "RECORD":
            yield _record(message, number)
        elif kind == "STATE":
            state = message.get("state")
            if not isinstance(state, dict):
                raise InputError(number, "STATE message without a state object")
            yield StateMessage(state, number)
        elif not isinstance(kind, str):
            raise InputError(number, f"message without a type: {_shown_line(line)}")


def _record(message: dict[str, Any], number: int) -> RecordMessage:
    record = message.get("record")
    if not isinstance(record, dict):
        raise InputError(number, "RECORD message without a record object")
    stream = record.get("stream")
    data = record.get("data")
    if not isinstance(stream, str) or not isinstance(data, dict):
        raise InputError(number, "RECORD message needs a stream name and a data object")
    namespace = record.get("namespace")
    return RecordMessage(stream, namespace if isinstance(namespace, str) else None, data, number)


def _shown_line(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace").rstrip("\n")
    return text if len(text) <= MAX_SHOWN_LINE else text[:MAX_SHOWN_LINE] + "..."


class LineSink(Protocol):
    """Where protocol lines go: stdout's binary buffer, or a queue."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class Emitter:
    """Writes protocol messages as JSON lines to one binary stream; thread-safe."""

    def __init__(self, out: LineSink) -> None:
        self._out = out
        self._lock = threading.Lock()

    def emit(self, message: dict[str, Any]) -> None:
        line = orjson.dumps(message) + b"\n"
        with self._lock:
            self._out.write(line)
            self._out.flush()

    def emit_model(self, message: AirbyteMessage) -> None:
        self.emit(AirbyteMessageSerializer.dump(message))

    def log(self, level: str, text: str) -> None:
        self.emit({"type": "LOG", "log": {"level": level, "message": filter_secrets(text)}})

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

    def state(self, state: dict[str, Any], accepted: int, rejected: int) -> None:
        """Echo a STATE with protocol v0.18 destination stats (which the CDK cannot write)."""
        echoed = dict(state)
        echoed["destinationStats"] = {"recordCount": accepted, "rejectedRecordCount": rejected}
        self.emit({"type": "STATE", "state": echoed})
