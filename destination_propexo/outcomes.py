"""The final outcome of one record: accepted or rejected, never both, never neither."""

from __future__ import annotations

from dataclasses import dataclass

# How an accepted record came to be accepted.
CREATED = "created"
EXISTING = "already booked"
ADOPTED = "adopted after an unclear answer"
DUPLICATE_ROW = "duplicate row in this sync"
DRY_RUN = "dry run"

# Why a record was rejected, grouped by what the user must do about it.
INVALID_RECORD = "invalid record"
UNKNOWN_STREAM = "stream not in catalog"
REFUSED_BY_PROPEXO = "refused by Propexo"
FAILED_IN_RESMAN = "write failed in ResMan"
OUTCOME_UNKNOWN = "outcome unknown"
NOT_BOOKED = "not booked after retries"


@dataclass(frozen=True)
class Accepted:
    """Propexo queued (and, when tracked, confirmed) the appointment, or it already existed."""

    how: str = CREATED
    job_id: str | None = None
    write_status: str = "UNTRACKED"
    created_record_id: str | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejected:
    """The record was not booked; `reason` says why and names the field or the answer."""

    category: str
    reason: str
    job_id: str | None = None
    write_status: str | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Queued:
    """An intermediate result: the create was answered with a job still to be confirmed."""

    job_id: str


Outcome = Accepted | Rejected
