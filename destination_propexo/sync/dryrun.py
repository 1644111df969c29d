"""The dry run: every record mapped and validated, nothing written.

`DryRunSender` stands where `sender.AppointmentSender` stands in the booking. It makes no
write request: each valid record is logged as the request it would become (ids, the UTC
slot, the PMS and the wall clock it would get, never notes), a create (`would send`) or a
move (`would move`, from and to), and accepted as `DRY_RUN`. On append_dedup streams the
booking ledger still reads each lead's booked appointments (reads are not writes), so the dry
run tells which records would be created, moved, left alone (already booked) or rejected, as
a real sync would.

A dry run echoes no STATE (see `report.SyncReport.state`): an echoed state tells Airbyte
its records were written, and the next real sync would then skip them.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from destination_propexo.records import outcomes
from destination_propexo.records.mapping import AppointmentRequest, MoveRequest
from destination_propexo.records.outcomes import Accepted

DRY_RUN_STATUS = "DRY_RUN"


class DryRunSender:
    """A `booking.RequestSender` that reports what it would send instead of sending it."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report

    def send(self, request: AppointmentRequest) -> Accepted:
        self._report("dry run, would send: " + orjson.dumps(would_send(request)).decode())
        return Accepted(how=outcomes.DRY_RUN, write_status=DRY_RUN_STATUS)

    def move(self, request: MoveRequest) -> Accepted:
        self._report("dry run, would move: " + orjson.dumps(would_move(request)).decode())
        return Accepted(how=outcomes.DRY_RUN, write_status=DRY_RUN_STATUS)


def would_send(request: AppointmentRequest) -> dict[str, str | None]:
    """What the create request would carry, without its free-text notes."""
    sent = request.sent_as
    return {
        "integration_id": request.integration_id,
        "lead_id": request.lead_id,
        "lead_source_id": request.lead_source_id,
        "unit_id": request.unit_id,
        "appointment_utc": f"{request.appointment_date}T{request.appointment_time}Z",
        "vendor": sent.vendor,
        "sent_as": f"{sent.date} {sent.time}",
        "time_rule": sent.rule,
    }


def would_move(request: MoveRequest) -> dict[str, str | None]:
    """What the move would carry, without its free-text notes; a null event_id is a tour
    this sync would book first."""
    sent = request.sent_as
    return {
        "event_id": request.event_id,
        "lead_id": request.lead_id,
        "unit_id": request.unit_id,
        "from_utc": request.moved_from,
        "to_utc": request.moved_to,
        "vendor": sent.vendor,
        "sent_as": f"{sent.date} {sent.time}",
        "time_rule": sent.rule,
    }
