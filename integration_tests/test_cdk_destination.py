"""`DestinationPropexo.write`, the CDK's interface (its standard tests and Python callers),
against the sandbox: the STATE messages it yields keep every count the CLI prints."""

from __future__ import annotations

import json
import math

from airbyte_cdk.models import (
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    Type,
)

from destination_propexo.destination import DestinationPropexo
from integration_tests.conftest import (
    INTEGRATION,
    TOKEN,
    booked_slots,
    catalog,
    record,
    stream_state,
    tour,
)
from propexo_sandbox import Sandbox


def test_write_yields_states_with_the_accepted_and_the_rejected_counts(sandbox: Sandbox) -> None:
    config = {"token": TOKEN, "integration_id": INTEGRATION, "api_url": sandbox.url}
    messages = [
        tour("lead-1"),
        tour("lead-2", time="25:00"),  # not a time of day: rejected before any request
        tour("lead-3", time="15:00"),
        stream_state("tours", "3"),
    ]
    out = list(
        DestinationPropexo().write(
            config,
            ConfiguredAirbyteCatalogSerializer.load(catalog(("tours", "append"))),
            (AirbyteMessageSerializer.load(m) for m in messages),
        )
    )
    (state,) = [m.state for m in out if m.type == Type.STATE and m.state is not None]
    assert state.stream is not None and state.stream.stream_state is not None
    assert state.destinationStats is not None
    assert (state.destinationStats.recordCount, state.destinationStats.rejectedRecordCount) == (
        2,
        1,
    )


def test_nan_and_infinity_from_a_python_caller_are_the_values_they_name(sandbox: Sandbox) -> None:
    # A Python caller (PyAirbyte, a source's own floats) hands float NaN and Infinity: a
    # row is rejected when a field the connector uses holds one, naming the field, and a
    # STATE comes back with them, as the CLI does with the tokens. orjson writes them as
    # null: the NaN row was booked without its unit and the STATE came back with None.
    config = {"token": TOKEN, "integration_id": INTEGRATION, "api_url": sandbox.url}
    messages = [
        tour("lead-1", unit_id=float("nan")),
        record(
            lead_id="lead-2", lead_source_id=float("inf"), appointment_datetime="2024-07-20 14:00"
        ),
        tour("lead-3", ignored=float("-inf")),
        stream_state("tours", {"nan": float("nan"), "low": float("-inf"), "big": 10**30}),
    ]
    out = list(
        DestinationPropexo().write(
            config,
            ConfiguredAirbyteCatalogSerializer.load(catalog(("tours", "append"))),
            (AirbyteMessageSerializer.load(m) for m in messages),
        )
    )
    prefix = "record outcome: "
    outcomes = {
        o["lead_id"]: o
        for o in (
            json.loads(m.log.message[len(prefix) :])
            for m in out
            if m.type == Type.LOG and m.log is not None and m.log.message.startswith(prefix)
        )
    }
    assert outcomes["lead-1"]["reason"].startswith("unit_id: is NaN"), outcomes["lead-1"]
    assert outcomes["lead-2"]["reason"].startswith("lead_source_id: "), outcomes["lead-2"]
    assert "Infinity" in outcomes["lead-2"]["reason"]
    assert outcomes["lead-3"]["outcome"] == "accepted"
    assert [lead for lead, _ in booked_slots(sandbox)] == ["lead-3"]
    (state,) = [AirbyteMessageSerializer.dump(m) for m in out if m.type == Type.STATE]
    cursor = state["state"]["stream"]["stream_state"]["cursor"]
    assert math.isnan(cursor["nan"])
    assert (cursor["low"], cursor["big"]) == (float("-inf"), 10**30)
