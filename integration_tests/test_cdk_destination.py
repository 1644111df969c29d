"""`DestinationPropexo.write`, the CDK's interface (its standard tests and Python callers),
against the sandbox: the STATE messages it yields keep every count the CLI prints."""

from __future__ import annotations

from airbyte_cdk.models import (
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    Type,
)

from destination_propexo.destination import DestinationPropexo
from integration_tests.conftest import INTEGRATION, TOKEN, catalog, stream_state, tour
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
