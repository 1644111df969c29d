"""The stdin reader: a broken stream stops at its line; odd but valid JSON reaches the mapper."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_propexo.airbyte.protocol import (
    Emitter,
    InputMessage,
    RecordMessage,
    StateMessage,
    line_batches,
    message_batches,
)
from destination_propexo.errors import InputError
from destination_propexo.records.mapping import FieldMatcher, Rejection, SourceChange, map_record
from destination_propexo.records.values import JsonNumber, dumps_exact, loads_exact


def read_messages(lines: list[bytes]) -> Iterator[InputMessage]:
    """The messages of `lines`, read as one batch, one at a time."""
    for batch in message_batches([lines]):
        yield from batch


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
        (b"NaN\n", "not a JSON object"),
        (b'{"type": "RECORD", "record": {"stream": "t", "data": {"x": Infinit}}}', "not a JSON"),
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


@pytest.mark.parametrize(
    "line",
    [
        # One brace short; the valid 1E400 is where orjson gives up, not what is wrong.
        b'{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": '
        b'{"name": "tours"}, "stream_state": {"c": 1E400}}}\n',
        b'{"type": "RECORD", "record": {"stream": "tours", "data": {"unit_id": NaN, '
        b'"lead_id" "l1"}}}\n',
    ],
)
def test_a_broken_line_with_a_valid_nan_or_huge_number_names_the_real_fault(line: bytes) -> None:
    reason = str(error_of([RECORD, line]))
    assert reason.startswith("line 2: not a JSON message (Expecting ")
    assert "infinity" not in reason
    assert "NaN" not in reason.split(":", 2)[1]


def test_a_byte_order_mark_opening_the_input_is_read_past() -> None:
    # A messages file saved as "UTF-8 with BOM" (Notepad, Excel): the mark is the encoding's
    # signature, not a character of the first message. Anywhere else it stays an error.
    first, second = read_messages([b"\xef\xbb\xbf" + RECORD, STATE])
    assert isinstance(first, RecordMessage)
    assert first.data == {"lead_id": "l1"}
    assert isinstance(second, StateMessage)
    assert error_of([RECORD, b"\xef\xbb\xbf" + STATE]).line_number == 2


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


# Every value exactly as received: the inputs, byte for byte.
BIG_STATE = (
    b'{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": '
    b'"tours"}, "stream_state": {"seq": 123456789012345678901234567890, "updated_at_epoch": '
    b'1721484000.123456789, "big_u64": 18446744073709551615, "low": -9223372036854775809, '
    b'"tiny": 1e-400, "c": "\\ud800", "nan": NaN}}}}'
)


def echoed(state: StateMessage) -> bytes:
    out = io.BytesIO()
    Emitter(out).state(state.state, 1, 0)
    return out.getvalue()


def test_a_state_is_echoed_with_every_number_as_written() -> None:
    (state,) = read_messages([BIG_STATE])
    assert isinstance(state, StateMessage)
    line = echoed(state)
    for text in (
        b'"seq":123456789012345678901234567890',
        b'"updated_at_epoch":1721484000.123456789',
        b'"big_u64":18446744073709551615',
        b'"low":-9223372036854775809',
        b'"tiny":1e-400',
        b'"c":"\\ud800"',
        b'"nan":NaN',
        b'"destinationStats":{"recordCount":1,"rejectedRecordCount":0}',
    ):
        assert text in line


def test_nan_and_infinity_are_read_as_the_values_they_name() -> None:
    line = b'{"type": "RECORD", "record": {"stream": "t", "data": {"x": NaN, "y": -Infinity}}}'
    (message,) = read_messages([line])
    assert isinstance(message, RecordMessage)
    assert message.data["x"].value.is_nan()
    assert message.data["y"].value == Decimal("-Infinity")


def test_integers_past_64_bits_and_long_decimals_keep_every_digit() -> None:
    line = (
        b'{"type": "RECORD", "record": {"stream": "t", "data": {"lead_id": 18446744073709551616,'
        b' "d": 1721484000.123456789}}}'
    )
    (message,) = read_messages([line])
    assert isinstance(message, RecordMessage)
    assert message.data["lead_id"] == 18446744073709551616
    assert message.data["d"].value == Decimal("1721484000.123456789")


def test_an_empty_namespace_is_no_namespace() -> None:
    record = b'{"type": "RECORD", "record": {"stream": "t", "namespace": "", "data": {}}}'
    state = (
        b'{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": '
        b'{"name": "t", "namespace": ""}}}}'
    )
    message, echo = read_messages([record, state])
    assert isinstance(message, RecordMessage)
    assert isinstance(echo, StateMessage)
    assert message.stream_key == ("t", None) == echo.stream_key


def test_the_sources_changes_are_read_from_meta() -> None:
    line = (
        b'{"type": "RECORD", "record": {"stream": "t", "data": {}, "meta": {"changes": [{"field":'
        b' "notes", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}, 5]}}}'
    )
    (message,) = read_messages([line])
    assert isinstance(message, RecordMessage)
    assert message.changes == (SourceChange("notes", "TRUNCATED", "SOURCE_FIELD_SIZE_LIMITATION"),)


def test_a_change_or_reason_that_is_not_a_word_reads_as_unknown_and_stays_short() -> None:
    # A change type that is not a string (NaN, an object) says nothing; a reason is quoted
    # into every note and rejection of the row, so a runaway one is cut.
    line = (
        b'{"type": "RECORD", "record": {"stream": "t", "data": {}, "meta": {"changes": ['
        b'{"field": "notes", "change": NaN, "reason": {"deep": [1, 2]}}, '
        b'{"field": "unit_id", "change": "NULLED", "reason": "%s"}]}}}' % (b"x" * 5000)
    )
    (message,) = read_messages([line])
    assert isinstance(message, RecordMessage)
    first, second = message.changes
    assert first == SourceChange("notes", "CHANGED", "no reason given")
    assert second.change == "NULLED"
    assert second.reason.startswith("xxx")
    assert second.reason.endswith("... (5000 characters)")
    assert len(second.said()) < 120


def test_a_record_nested_deeper_than_pythons_stack_is_still_read() -> None:
    line = b'{"type": "RECORD", "record": {"stream": "t", "data": {"x": %s%s}}}' % (
        b"[" * 1000,
        b"]" * 1000,
    )
    (message,) = read_messages([line])
    assert isinstance(message, RecordMessage)


def test_a_line_too_deep_for_the_exact_reader_is_refused_for_its_depth_not_its_nan() -> None:
    # orjson reads the depth but not the NaN, the exact reader the NaN but not the depth:
    # the reason names the depth (the NaN alone is valid input).
    line = b'{"type": "RECORD", "record": {"stream": "t", "data": {"x": %sNaN%s}}}' % (
        b"[" * 1000,
        b"]" * 1000,
    )
    reason = str(error_of([line]))
    assert "nested deeper than" in reason
    assert "unexpected character" not in reason


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=False, allow_infinity=False, places=9).map(lambda d: JsonNumber(str(d))),
    st.sampled_from([JsonNumber("NaN"), JsonNumber("-Infinity"), JsonNumber("1E400")]),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    namespace=st.sampled_from([None, "", "public"]),
    state=json_values,
)
def test_every_line_reads_as_the_exact_reader_reads_it(
    data: dict[str, Any], namespace: str | None, state: Any
) -> None:
    # The one-pass reader (msgspec) and the exact reader agree on every value: a decimal as
    # its text, an integer of any size, NaN and Infinity, a namespace "" as none.
    record = {
        "stream": "tours",
        "data": data,
        **({} if namespace is None else {"namespace": namespace}),
    }
    lines = [
        dumps_exact({"type": "RECORD", "record": record}) + b"\n",
        dumps_exact({"type": "STATE", "state": {"type": "LEGACY", "data": state}}) + b"\n",
    ]
    read, echoed = read_messages(lines)
    assert isinstance(read, RecordMessage) and isinstance(echoed, StateMessage)
    exact = [loads_exact(line) for line in lines]
    assert (read.stream, read.namespace, read.data) == (
        "tours",
        namespace or None,
        exact[0]["record"]["data"],
    )
    assert dumps_exact(read.data) == dumps_exact(exact[0]["record"]["data"])
    assert dumps_exact(echoed.state) == dumps_exact(exact[1]["state"])


# -- reading stdin in batches ------------------------------------------------------------------


class Reads(io.RawIOBase):
    """A stream whose every read brings the next of `chunks`, as a pipe brings what was
    written (never more than one chunk a read)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    def read1(self, size: int = -1) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


def test_each_batch_is_the_complete_lines_one_read_brought() -> None:
    batches = list(line_batches(Reads(b'{"a": 1}\n{"b"', b': 2}\n\n{"c": 3}\n', b'{"d": 4}')))
    assert batches == [[b'{"a": 1}'], [b'{"b": 2}', b"", b'{"c": 3}'], [b'{"d": 4}']]


def test_a_line_over_the_limit_stops_after_the_lines_before_it_and_names_its_size() -> None:
    # The long line spans three reads; it is measured as it comes, never held whole.
    reads = Reads(b"ok\nfine\n" + b"x" * 8, b"x" * 8, b"x" * 4 + b"\nafter\n")
    batches = line_batches(reads, limit=10)
    assert next(batches) == [b"ok", b"fine"]
    with pytest.raises(InputError, match="line 3: the line is 20 bytes, over the 10-byte limit"):
        next(batches)
    # A complete long line within one read: the lines before it come first, then the error.
    batches = line_batches(Reads(b"ok\n" + b"y" * 12 + b"\nnever\n"), limit=10)
    assert next(batches) == [b"ok"]
    with pytest.raises(InputError, match="line 2: the line is 12 bytes"):
        next(batches)
    assert list(line_batches(Reads(b"y" * 10 + b"\n"), limit=10)) == [[b"y" * 10]]


def test_a_batch_is_handed_over_without_waiting_for_more_input() -> None:
    # A source that sends a line and then thinks: its line is read at once, not when the
    # next one comes (the pipe stays open).
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stdin, os.fdopen(write_end, "wb", buffering=0) as source:
        source.write(RECORD)
        batches = message_batches(line_batches(stdin))
        got: list[list[InputMessage]] = []
        reader = threading.Thread(target=lambda: got.append(next(batches)), daemon=True)
        reader.start()
        reader.join(5)
        assert [type(message) for message in got[0]] == [RecordMessage]
        source.write(STATE)
        assert [type(message) for message in next(batches)] == [StateMessage]


class MeteredReads(io.RawIOBase):
    """`data` in reads of `size` bytes, adding up the memory the reader allocates between
    one read and the next (tracemalloc: the peak above what was held when the read
    returned), so what reading costs shows as bytes, not as time."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size, self.at = data, size, 0
        self.allocated = 0
        self._held = 0

    def read1(self, size: int = -1) -> bytes:
        self.allocated += tracemalloc.get_traced_memory()[1] - self._held
        chunk = self.data[self.at : self.at + min(size, self.size)]
        self.at += len(chunk)
        tracemalloc.reset_peak()
        self._held = tracemalloc.get_traced_memory()[0]
        return chunk


def test_a_long_line_over_many_reads_is_joined_once_not_once_per_read() -> None:
    # A 2 MiB STATE that comes 16 KiB a read (a source writing through a small buffer):
    # joining the start kept so far to every read copied it 128 times (1.5 s of one core
    # for a 16 MiB line, where reading it whole takes 0.04 s).
    line = b'{"type": "STATE", "state": {"type": "LEGACY", "data": "' + b"x" * (2 << 20) + b'"}}'
    reads = MeteredReads(line + b"\n" + STATE, 16 * 1024)
    tracemalloc.start()
    try:
        lines = [line for batch in line_batches(reads) for line in batch]
        reads.read1(0)  # the allocations after the last read
    finally:
        tracemalloc.stop()
    assert lines == [line, STATE.rstrip(b"\n")]
    # The reads themselves, the line's pieces and the line once whole: about 3x its size.
    assert reads.allocated < 4 * len(line), f"{reads.allocated:,} bytes for {len(line):,}"


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=14).map(lambda b: b.replace(b"\n", b"")), max_size=6),
    unfinished=st.binary(max_size=14).map(lambda b: b.replace(b"\n", b"")),
    cuts=st.lists(st.integers(min_value=1, max_value=120), max_size=6),
    limit=st.integers(min_value=1, max_value=12),
)
def test_lines_read_in_any_reads_are_the_lines_of_the_whole_input(
    lines: list[bytes], unfinished: bytes, cuts: list[int], limit: int
) -> None:
    # However the reads cut the input (inside a line, at its newline, between \r and \n),
    # the lines are those of the whole input, up to the first one over the limit.
    data = b"".join(line + b"\n" for line in lines) + unfinished
    at = sorted({cut for cut in cuts if cut < len(data)})
    chunks = [data[start:end] for start, end in zip([0, *at], [*at, len(data)], strict=True)]
    whole = [*lines, unfinished] if unfinished else lines
    over = [n for n, line in enumerate(whole) if len(line) > limit]
    expected = whole[: over[0]] if over else whole
    got: list[bytes] = []
    with pytest.raises(InputError) if len(expected) < len(whole) else contextlib.nullcontext():
        for batch in line_batches(Reads(*chunks), limit=limit):
            got += batch
    assert got == expected
