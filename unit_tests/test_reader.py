"""The stdin reader: a broken stream stops at its line; odd but valid JSON reaches the mapper."""

from __future__ import annotations

import pytest

from destination_propexo.airbyte.protocol import RecordMessage, StateMessage, read_messages
from destination_propexo.errors import InputError
from destination_propexo.records.mapping import FieldMatcher, Rejection, map_record

RECORD = b'{"type": "RECORD", "record": {"stream": "tours", "data": {"lead_id": "l1"}}}\n'
STATE = b'{"type": "STATE", "state": {"type": "LEGACY", "data": {"cursor": 1}}}\n'


def error_of(lines: list[bytes]) -> InputError:
    with pytest.raises(InputError) as raised:
        list(read_messages(lines))
    return raised.value


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"type": "RECORD", "record": {"stream": "tours", "da', "not a JSON message"),
        (b"tours,lead-1,2024-07-20\n", "not a JSON message"),
        (b'[{"type": "RECORD"}]\n', "not a JSON object"),
        (b"NaN\n", "not a JSON message"),
        (b'{"type": "RECORD", "record": {"stream": "t", "data": {"x": Infinity}}}', "not a JSON"),
        (b"\xff\xfe{}\n", "not a JSON message"),
        (b"[" * 5000 + b"\n", "not a JSON message"),
        (b'{"type": "record", "record": {}}\n', "unknown message type 'record'"),
        (b'{"record": {}}\n', "message without a type"),
        (b'{"type": "RECORD", "record": {"stream": "t", "data": []}}\n', "a data object"),
        (b'{"type": "RECORD", "record": {"stream": "t", "namespace": 5, "data": {}}}', "namespace"),
        (b'{"type": "STATE", "state": {"type": "STREAM", "stream": "tours"}}\n', "STREAM state"),
    ],
)
def test_a_broken_line_stops_the_reader_naming_its_number(line: bytes, reason: str) -> None:
    error = error_of([RECORD, STATE, b"\n", line, RECORD])
    assert error.line_number == 4
    assert reason in str(error)
    assert str(error).startswith("line 4: ")


def test_a_state_is_kept_as_its_own_text_whatever_orjson_makes_of_it() -> None:
    state = b'{"type": "LEGACY", "data": {"id": 18446744073709551617, "s": "\\ud800", "f": 1e400}}'
    line = b'{"type": "STATE",  "state": ' + state + b', "sourceStats": {"recordCount": 1.0}}\n'
    (message,) = read_messages([line])
    assert isinstance(message, StateMessage)
    assert message.raw == state
    assert message.state["data"]["id"] == 18446744073709551617
    assert message.stream_key is None


def test_a_stream_state_knows_its_stream() -> None:
    line = (
        b'{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": '
        b'{"name": "tours", "namespace": "crm"}, "stream_state": {}}}}'
    )
    (message,) = read_messages([line])
    assert isinstance(message, StateMessage)
    assert message.stream_key == ("tours", "crm")


def test_a_truncated_last_line_is_an_error_after_the_messages_before_it() -> None:
    messages = read_messages([RECORD, STATE, RECORD[:-20]])
    assert isinstance(next(messages), RecordMessage)
    assert isinstance(next(messages), StateMessage)
    with pytest.raises(InputError, match="line 3: not a JSON message"):
        next(messages)


def test_a_lone_surrogate_in_a_record_reaches_the_mapper_which_rejects_the_field() -> None:
    line = (
        b'{"type": "RECORD", "record": {"stream": "tours", "data": {"lead_id": "l1", '
        b'"lead_source_id": "s", "appointment_datetime": "2024-07-20T14:00:00Z", '
        b'"notes": "call \\ud83d back"}}}'
    )
    (message,) = read_messages([line])
    assert isinstance(message, RecordMessage)
    assert message.data["notes"] == "call \ud83d back"
    result = map_record(
        message.data, default_integration_id="i", zone="UTC", matcher=FieldMatcher.build()
    )
    assert isinstance(result, Rejection)
    assert result.reason.startswith("notes: contains control characters")


def test_a_valid_surrogate_pair_is_one_character() -> None:
    line = b'{"type": "RECORD", "record": {"stream": "tours", "data": {"notes": "\\ud83d\\ude00"}}}'
    (message,) = read_messages([line])
    assert isinstance(message, RecordMessage)
    assert message.data["notes"] == "\N{GRINNING FACE}"


def test_non_data_messages_are_read_past() -> None:
    log = b'{"type": "LOG", "log": {"level": "INFO", "message": "hi"}}\n'
    trace = b'{"type": "TRACE", "trace": {"type": "ESTIMATE"}}\n'
    messages = list(read_messages([log, RECORD, trace, STATE]))
    assert [m.line_number for m in messages] == [2, 4]
