"""Properties of the two pure edges that meet hostile input: the mapper and the stdin reader.

Whatever a record holds, `map_record` returns a request the API accepts or a rejection that
names the field; whatever bytes arrive, `message_batches` yields typed messages or stops with
an `InputError` naming the right line, and never raises anything else.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_propexo.airbyte.protocol import RecordMessage, StateMessage, message_batches
from destination_propexo.errors import InputError
from destination_propexo.records.mapping import (
    API_FIELDS,
    AppointmentRequest,
    FieldMatcher,
    Rejection,
    map_record,
)

# The API's own pattern for appointment_time (see the reference), anchored.
API_TIME = re.compile(r"(?:[01]\d|2[0123]):(?:[012345]\d):(?:[012345]\d)")
API_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0123]):[0-5]\d:[0-5]\dZ")
REQUIRED_KEYS = {
    "integration_id",
    "lead_id",
    "lead_source_id",
    "appointment_date",
    "appointment_time",
}
OPTIONAL_KEYS = {"unit_id", "notes"}
ZONES = ("UTC", "America/Chicago", "Asia/Kolkata", "Pacific/Chatham", "Europe/Dublin")

# Any text, lone surrogates and control characters included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
WIRE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
    st.sampled_from(["", " ", "\t", "\u200b", "\ufeff", "\x00", "\ud800", "x" * 300]),
)
# Past the int-to-str limit: only reachable from Python callers, never from the wire.
SCALARS = WIRE_SCALARS | st.just(5000).map(lambda digits: 10**digits)


def _json(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
        max_leaves=6,
    )


JSON_VALUES = _json(SCALARS)
WIRE_VALUES = _json(WIRE_SCALARS)
PLAUSIBLE = {
    "lead_id": st.sampled_from(["lead-1", " lead-2 ", "123", "リード-3"]) | st.integers(),
    "lead_source_id": st.sampled_from(["src-web", "77"]),
    "integration_id": st.sampled_from(["intg-a", "", None]),
    "unit_id": st.sampled_from(["unit-1", None, ""]),
    "notes": ANY_TEXT,
    "appointment_date": st.sampled_from(
        ["2024-07-20", "07/20/2024", "2024-03-10", "2024-11-03", "2024-02-30", "20240720"]
    ),
    "appointment_time": st.sampled_from(
        ["14:00", "02:30", "01:30:00", "2:30 PM", "23:59:59", "24:00", "14:00:00+02:00"]
    ),
    "appointment_datetime": st.sampled_from(
        ["2024-07-20T14:00:00Z", "2024-03-10 02:30", "2024-07-20T14:00:00+05:45", "noon"]
    ),
}
COLUMN_NAMES = st.sampled_from([*API_FIELDS, "Lead_ID", " notes ", "extra", "_ab_cdc"])


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """Records near the valid shape, with any field replaced by any JSON value or dropped."""
    data: dict[str, Any] = {}
    for name, plausible in PLAUSIBLE.items():
        choice = draw(st.sampled_from(["plausible", "plausible", "hostile", "absent"]))
        if choice == "plausible":
            data[name] = draw(plausible)
        elif choice == "hostile":
            data[name] = draw(JSON_VALUES)
    extra = draw(st.dictionaries(COLUMN_NAMES | ANY_TEXT, JSON_VALUES, max_size=3))
    return {**data, **extra}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.sampled_from(ZONES))
def test_map_record_always_returns_a_valid_request_or_a_rejection_naming_a_field(
    data: dict[str, Any], zone: str
) -> None:
    result = map_record(
        data, default_integration_id="intg-default", zone=zone, matcher=FieldMatcher.build()
    )
    if isinstance(result, Rejection):
        field = result.reason.split(":", 1)[0]
        assert field in API_FIELDS, result.reason
        return
    assert isinstance(result, AppointmentRequest)
    body = result.body()
    assert REQUIRED_KEYS <= set(body) <= REQUIRED_KEYS | OPTIONAL_KEYS
    assert all(isinstance(value, str) and value for value in body.values())
    assert API_TIME.fullmatch(body["appointment_time"])
    assert API_DATE.fullmatch(body["appointment_date"])
    assert body["appointment_date"].endswith(f"T{body['appointment_time']}Z")
    # What is sent is encodable as the UTF-8 JSON body requests will send.
    json.dumps(body).encode("utf-8")


def _message(kind: str, payload: object) -> dict[str, Any]:
    if kind == "RECORD":
        return {"type": "RECORD", "record": payload}
    return {"type": kind, "state": payload}


MESSAGE_LINES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"",
            b"  \n",
            b"[]",
            b'"text"',
            b"NaN",
            b'{"type": "RECORD"',
            b'{"type": "record", "record": {}}',
            b'{"type": "LOG", "log": {"level": "INFO", "message": "x"}}',
            b'{"type": "RECORD", "record": {"stream": "tours", "data": {"notes": "\\ud800"}}}',
            b'{"type": "STATE", "state": {"type": "LEGACY", "data": {"x": "\\udfff"}}}',
            b"\xff\xfe{}",
            b"[" * 3000,
        ]
    ),
    st.builds(
        lambda kind, payload: json.dumps(_message(kind, payload)).encode(),
        st.sampled_from(["RECORD", "STATE", "TRACE", "UNKNOWN"]),
        st.fixed_dictionaries(
            {},
            optional={
                "stream": WIRE_VALUES,
                "namespace": WIRE_VALUES,
                "data": WIRE_VALUES,
                "type": st.sampled_from(["STREAM", "GLOBAL", "LEGACY"]) | WIRE_VALUES,
            },
        )
        | WIRE_VALUES,
    ),
)


def read_all(lines: list[bytes]) -> tuple[list[RecordMessage | StateMessage], InputError | None]:
    """The messages read, and the error that stopped the reader, if any."""
    yielded: list[RecordMessage | StateMessage] = []
    try:
        for batch in message_batches([lines]):
            yielded += batch
    except InputError as error:
        return yielded, error
    return yielded, None


@settings(max_examples=400, deadline=None)
@given(st.lists(MESSAGE_LINES, max_size=6))
def test_the_reader_yields_typed_messages_or_stops_at_the_right_line(lines: list[bytes]) -> None:
    yielded, error = read_all(lines)
    if error is not None:
        assert 1 <= error.line_number <= len(lines)
        assert lines[error.line_number - 1].strip()
        assert str(error).startswith(f"line {error.line_number}: ")
        # The lines before the broken one read cleanly; the broken one alone does not (after
        # a blank line: a byte order mark opening the input is read past).
        before, none = read_all(lines[: error.line_number - 1])
        assert none is None and len(before) == len(yielded)
        _, alone = read_all([b"\n", lines[error.line_number - 1]])
        assert alone is not None and alone.line_number == 2
    for message in yielded:
        if isinstance(message, RecordMessage):
            assert isinstance(message.stream, str) and isinstance(message.data, dict)
            assert message.namespace is None or isinstance(message.namespace, str)
        else:
            assert isinstance(message.state, dict)
            key = message.stream_key
            assert key is None or isinstance(key[0], str)
            assert key is None or key[1] is None or isinstance(key[1], str)
