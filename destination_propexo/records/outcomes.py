"""The final outcome of one record: accepted or rejected, never both, never neither."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

# How an accepted record came to be accepted.
CREATED = "created"
EXISTING = "already booked"
ADOPTED = "adopted after an unclear answer"
DUPLICATE_ROW = "duplicate row in this sync"
DRY_RUN = "dry run"
RESCHEDULED = "rescheduled"

# Why a record was rejected, grouped by what the user must do about it.
INVALID_RECORD = "invalid record"
UNKNOWN_STREAM = "stream not in catalog"
REFUSED_BY_PROPEXO = "refused by Propexo"
FAILED_IN_PMS = "write failed in the PMS"
OUTCOME_UNKNOWN = "outcome unknown"
NOT_BOOKED = "not booked after retries"
SEVERAL_UPCOMING = "lead has several upcoming tours"
NOT_CONFIRMED_YET = "earlier write of the lead not confirmed"


# msgspec Structs, not dataclasses: one of each is made for every record (a locally rejected
# one makes nothing else), and a Struct is built in C, with no Python frame: a dataclass's
# `__init__` cost a tenth of a locally rejected record. Nothing changes one after it is made
# (a changed copy is `msgspec.structs.replace`).
class RecordKeys(msgspec.Struct):
    """A record's key fields as mapped, for its outcome line: the lead, the appointment an
    update moves, the integration, and the UTC instant sent (`2041-07-21T15:15:00Z`). None
    where the record does not say (or was rejected before its time was read)."""

    lead_id: str | None = None
    event_id: str | None = None
    integration_id: str | None = None
    appointment_utc: str | None = None


@dataclass(frozen=True)
class Reschedule:
    """Which appointment a record moves, from when to when (UTC, `2041-07-21T15:15:00Z`).

    `event_id` is None when the appointment was booked earlier in this sync and its id is
    not known; `moved_from` is None when only the appointment's id is known (update mode)."""

    event_id: str | None
    moved_from: str | None
    moved_to: str


class Accepted(msgspec.Struct):  # a Struct: see RecordKeys
    """Propexo queued (and, when tracked, confirmed) the appointment or its move, or it already
    existed."""

    how: str = CREATED
    job_id: str | None = None
    write_status: str = "UNTRACKED"
    created_record_id: str | None = None
    errors: tuple[str, ...] = ()
    reschedule: Reschedule | None = None


class Rejected(msgspec.Struct):  # a Struct: see RecordKeys
    """The record was not booked; `reason` says why and names the field or the answer.

    `group` is the reason without the values it quotes, when the code that wrote the reason
    knows it (a local rejection: the field and what is wrong); like reasons count together
    under it in the summary and the brake (`brake.reason_group`)."""

    category: str
    reason: str
    job_id: str | None = None
    write_status: str | None = None
    errors: tuple[str, ...] = ()
    reschedule: Reschedule | None = None
    group: str | None = None


@dataclass(frozen=True)
class Queued:
    """An intermediate result: the write (a create or a move) was answered with a job still to
    be confirmed."""

    job_id: str


Outcome = Accepted | Rejected
