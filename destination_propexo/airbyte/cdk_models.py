"""The CLI's output messages as the CDK's models, for `DestinationPropexo.write` only.

Imported only by the CDK-facing class (`destination.cdk_destination`): importing the CDK
costs seconds that `spec`, `check` and the CLI's `write` never pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, AirbyteStateStats


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
