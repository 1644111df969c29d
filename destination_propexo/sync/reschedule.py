"""The one-upcoming-tour-per-lead rule of append_dedup streams keyed on `lead_id` (pure).

    plan_for_lead(record instant, sync start, the lead's appointments)
        -> Nothing(appointment)    an appointment of the lead is already at the record's instant
         | Move(appointment, to)   the record is upcoming and the lead has exactly one upcoming tour
         | Create()                the lead has no upcoming tour, or the record is in the past
         | Refuse(reason)          the record is upcoming and the lead has several upcoming tours

"Upcoming" means later than the sync's start, so every record of one sync is judged against
the same moment. A past appointment is history: this rule never moves one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from destination_propexo.propexo.client import BookedAppointment


@dataclass(frozen=True)
class Nothing:
    """Already booked at that instant: no request."""

    appointment: BookedAppointment


@dataclass(frozen=True)
class Move:
    """Reschedule the lead's one upcoming appointment to the record's instant."""

    appointment: BookedAppointment
    to: dt.datetime

    @property
    def moved_from(self) -> str:
        return utc_text(instant_of(self.appointment))


@dataclass(frozen=True)
class Create:
    """Book the record as a new appointment."""


@dataclass(frozen=True)
class Refuse:
    """Change nothing; `reason` names the lead's upcoming appointments."""

    reason: str


Plan = Nothing | Move | Create | Refuse


def plan_for_lead(
    record: dt.datetime,
    sync_start: dt.datetime,
    appointments: Sequence[BookedAppointment],
) -> Plan:
    """What one record of a lead does, given the lead's appointments as this sync knows them.

    `record` and `sync_start` are aware datetimes; appointments are in UTC."""
    for appointment in appointments:
        if instant_of(appointment) == record:
            return Nothing(appointment)
    if record <= sync_start:
        return Create()
    upcoming = sorted(
        (a for a in appointments if instant_of(a) > sync_start), key=lambda a: (instant_of(a), a.id)
    )
    if not upcoming:
        return Create()
    if len(upcoming) == 1:
        return Move(upcoming[0], record)
    listed = ", ".join(f"{a.id or 'one booked by this sync'} at {_shown(a)}" for a in upcoming)
    return Refuse(
        f"the lead has {len(upcoming)} upcoming tours ({listed}), so which one this row "
        "reschedules is not clear; nothing was changed. To move one, send the row with its "
        "event_id through a stream in 'update' sync mode"
    )


def instant_of(appointment: BookedAppointment) -> dt.datetime:
    """The appointment's UTC date and time as an aware datetime."""
    return utc_instant(appointment.date, appointment.time)


def utc_instant(date: str, time: str) -> dt.datetime:
    """`("2041-07-21", "15:15:00")` in UTC as an aware datetime."""
    return dt.datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=dt.UTC)


def utc_text(instant: dt.datetime) -> str:
    """An instant as the logs show it: `2041-07-21T15:15:00Z`."""
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(appointment: BookedAppointment) -> str:
    return f"{appointment.date} {appointment.time} UTC"
