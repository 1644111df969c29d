"""The sandbox's in-memory store: integrations, write jobs, the appointments they book or move."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from propexo_sandbox.validation import appointment_day

JobStatus = Literal["PENDING", "SUCCESS", "FAILURE"]
Event = dict[str, object]

PROPERTY_ID = "prop-sandbox-1"
# Lead ids with these prefixes steer the job's outcome, so tests can provoke each case.
MISSING_LEAD_PREFIX = "lead-missing"
SLOW_LEAD_PREFIX = "lead-slow"


@dataclass(frozen=True)
class Integration:
    """One PMS connection as `GET /v1/admin/integrations/{id}/` shows it."""

    id: str
    name: str
    vendor: str
    active: bool
    system: str = "SANDBOX"

    def to_json(self) -> dict[str, object]:
        """The integration as the API returns it."""
        return {
            "id": self.id,
            "name": self.name,
            "vendor": self.vendor,
            "active": self.active,
            "system": self.system,
        }


SEED_INTEGRATIONS = (
    Integration("intg-sandbox-resman", "Sandbox ResMan", "RESMAN", active=True),
    # A second ResMan connection: appointments and write logs of another integration.
    Integration("intg-sandbox-resman-2", "Sandbox ResMan 2", "RESMAN", active=True),
    Integration("intg-sandbox-entrata", "Sandbox Entrata", "ENTRATA", active=True),
    Integration("intg-sandbox-inactive", "Sandbox ResMan (inactive)", "RESMAN", active=False),
)


JobKind = Literal["create", "update"]
_JOB_TYPES: dict[JobKind, str] = {
    "create": "CREATE_LEAD_APPOINTMENT",
    "update": "UPDATE_LEAD_APPOINTMENT",
}


@dataclass(frozen=True)
class Job:
    """One write job (a create or a reschedule); its outcome is fixed when queued, shown when done.

    `event_id` is the appointment the job books (create) or moves (update); None for a create
    that will fail. It is the write status's `created_record_id` once the job succeeded.
    """

    id: str
    log_id: str
    job_log_id: str
    kind: JobKind
    integration: Integration
    parameters: dict[str, str]
    created_at: float
    finishes_at: float | None  # None: the job stays PENDING for ever
    error: str | None  # the PMS's error when the job ends FAILURE
    event_id: str | None
    seq: int  # queueing order, which breaks ties between equal times

    def status(self, now: float) -> JobStatus:
        """The write status at time `now`."""
        if self.finishes_at is None or now < self.finishes_at:
            return "PENDING"
        return "FAILURE" if self.error is not None else "SUCCESS"

    @property
    def job_type(self) -> str:
        """The write-logs feed's `job_type`: CREATE_LEAD_APPOINTMENT or UPDATE_LEAD_APPOINTMENT."""
        return _JOB_TYPES[self.kind]

    def sort_key(self) -> tuple[float, int]:
        """When the job finished (or will), then queueing order."""
        return (self.finishes_at if self.finishes_at is not None else float("inf"), self.seq)


@dataclass(frozen=True)
class _Record:
    """An appointment as booked or seeded; reschedules are applied on top when read."""

    event: Event
    visible_at: float | None  # None: its create job never finishes, so it never shows
    seq: int


class Store:
    """Thread-safe store of jobs and appointments.

    Nothing changes at queue time: a create's appointment exists, and a reschedule's new time
    shows, from the moment the job's write status turns SUCCESS (the realistic choice: Propexo
    refreshes its cache after the PMS answered). A FAILURE or forever-PENDING job changes
    nothing. Seeded appointments exist from the moment they are seeded.
    """

    def __init__(self, write_status_delay: float, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._write_status_delay = write_status_delay
        self._lock = threading.Lock()
        self._integrations = {integration.id: integration for integration in SEED_INTEGRATIONS}
        self._jobs: dict[str, Job] = {}
        self._records: dict[str, _Record] = {}
        self._updates: dict[str, list[Job]] = {}  # event id -> its reschedule jobs
        self._x_ids = itertools.count(1)
        self._seqs = itertools.count(1)

    def integration(self, integration_id: str) -> Integration | None:
        """The integration with this id, if any."""
        return self._integrations.get(integration_id)

    def create_job(
        self,
        integration: Integration,
        parameters: dict[str, str],
        forced_error: str | None,
        pending_for: float | None = None,
    ) -> Job:
        """Queue a create job for a validated body; `forced_error` makes it end FAILURE,
        `pending_for` keeps it PENDING that many seconds instead of the usual delay."""
        now = self.clock()
        lead_id = parameters["lead_id"]
        error, finishes_at = self._outcome(lead_id, now, forced_error, pending_for)
        with self._lock:
            seq = next(self._seqs)
            event_id = None
            if error is None:
                when = _appointment_datetime(parameters)
                event = self._event(integration.id, lead_id, when, next(self._x_ids))
                event.update(notes=parameters.get("notes"), unit_id=parameters.get("unit_id"))
                # Propexo's row is made when the PMS confirmed the write (its cache refresh).
                event["created_at"] = iso_timestamp(finishes_at) if finishes_at else None
                event["lead_source_id"] = parameters["lead_source_id"]
                event_id = str(event["id"])
                self._records[event_id] = _Record(event, finishes_at, seq)
            job = self._job("create", integration, parameters, now, finishes_at, error, event_id)
            self._jobs[job.id] = job
        return job

    def update_job(
        self,
        event: Event,
        integration: Integration,
        fields: dict[str, str],
        forced_error: str | None,
        pending_for: float | None = None,
    ) -> Job:
        """Queue a reschedule of `event` (as read now) with validated fields.

        The lead-id prefixes steer it as they steer a create: a missing lead ends FAILURE, a
        slow one stays PENDING. `forced_error` makes it end FAILURE, `pending_for` keeps it
        PENDING that many seconds.
        """
        now = self.clock()
        event_id = str(event["id"])
        lead_ids = event["associated_lead_ids"]
        lead_id = str(lead_ids[0]) if isinstance(lead_ids, list) and lead_ids else ""
        error, finishes_at = self._outcome(lead_id, now, forced_error, pending_for)
        parameters = {"event_id": event_id, **fields}
        with self._lock:
            job = self._job("update", integration, parameters, now, finishes_at, error, event_id)
            self._jobs[job.id] = job
            self._updates.setdefault(event_id, []).append(job)
        return job

    def seed_appointment(
        self,
        *,
        lead_id: str,
        utc: str | dt.datetime,
        integration_id: str,
        unit_id: str | None = None,
        notes: str | None = None,
        lead_source_id: str | None = None,
        created_at: str | dt.datetime | None = None,
    ) -> Event:
        """Store an existing appointment, visible at once and without a write job.

        `utc` is an ISO 8601 date-time with an offset (`2030-01-02T15:00:00Z`) or an aware
        `datetime`; it is stored in UTC. `created_at` (the same forms; now by default) is when
        Propexo's row was made, what `order-by=created_at` sorts on. Raises ValueError on a
        bad value.
        """
        if not isinstance(lead_id, str) or not lead_id:
            raise ValueError("lead_id must be a non-empty string")
        if not isinstance(integration_id, str) or self.integration(integration_id) is None:
            known = sorted(self._integrations)
            raise ValueError(f"unknown integration_id {integration_id!r}; known: {known}")
        for name, value in (
            ("unit_id", unit_id),
            ("notes", notes),
            ("lead_source_id", lead_source_id),
        ):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string or null")
        when = utc_timestamp(utc)
        made = iso_timestamp(self.clock()) if created_at is None else utc_timestamp(created_at)
        with self._lock:
            event = self._event(integration_id, lead_id, when, next(self._x_ids))
            event.update(notes=notes, unit_id=unit_id, lead_source_id=lead_source_id)
            event["created_at"] = made
            self._records[str(event["id"])] = _Record(event, self.clock(), next(self._seqs))
        return copy.deepcopy(event)

    def job(self, job_id: str) -> Job | None:
        """The job with this id, if any."""
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        """Every job queued so far, in queueing order."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.seq)

    def finished_jobs(self) -> list[tuple[Job, JobStatus]]:
        """Finished jobs with their status, most recently finished first."""
        now = self.clock()
        with self._lock:
            jobs = list(self._jobs.values())
        finished = [(job, job.status(now)) for job in jobs]
        done = [(job, status) for job, status in finished if status != "PENDING"]
        return sorted(done, key=lambda pair: pair[0].sort_key(), reverse=True)

    def appointment(self, event_id: str) -> Event | None:
        """The appointment with this id as read back now, if it exists yet."""
        now = self.clock()
        with self._lock:
            record = self._records.get(event_id)
            updates = list(self._updates.get(event_id, ()))
        if record is None or not _visible(record, now):
            return None
        return _current(record, updates, now)

    def appointments(self) -> list[Event]:
        """Appointments that exist now, in booking order, each with its successful moves."""
        now = self.clock()
        with self._lock:
            records = list(self._records.values())
            updates = {event_id: list(jobs) for event_id, jobs in self._updates.items()}
        shown = sorted(
            (record for record in records if _visible(record, now)),
            key=lambda record: (record.visible_at, record.seq),
        )
        return [_current(record, updates.get(str(record.event["id"]), []), now) for record in shown]

    def _outcome(
        self, lead_id: str, now: float, forced_error: str | None, pending_for: float | None
    ) -> tuple[str | None, float | None]:
        error = forced_error
        if lead_id.startswith(MISSING_LEAD_PREFIX):
            error = f"ResMan: Lead {lead_id} was not found"
        if lead_id.startswith(SLOW_LEAD_PREFIX):
            return error, None
        return error, now + (self._write_status_delay if pending_for is None else pending_for)

    def _job(
        self,
        kind: JobKind,
        integration: Integration,
        parameters: dict[str, str],
        now: float,
        finishes_at: float | None,
        error: str | None,
        event_id: str | None,
    ) -> Job:
        # Called with the lock held.
        return Job(
            id=_new_id("job"),
            log_id=_new_id("wlog"),
            job_log_id=_new_id("jlog"),
            kind=kind,
            integration=integration,
            parameters=dict(parameters),
            created_at=now,
            finishes_at=finishes_at,
            error=error,
            event_id=event_id,
            seq=next(self._seqs),
        )

    @staticmethod
    def _event(integration_id: str, lead_id: str, when: str, x_id: int) -> Event:
        return {
            "id": _new_id("appt"),
            "integration_id": integration_id,
            "property_id": PROPERTY_ID,
            "appointment_datetime": when,
            "event_datetime": when,
            "associated_lead_ids": [lead_id],
            "notes": None,
            "type_raw": "Appointment",
            "x_id": str(x_id),
            "unit_id": None,
            "lead_source_id": None,
            "created_at": None,
        }


def _visible(record: _Record, now: float) -> bool:
    return record.visible_at is not None and now >= record.visible_at


def _current(record: _Record, updates: list[Job], now: float) -> Event:
    """The record with every reschedule that succeeded by `now`, in the order they finished."""
    event = copy.deepcopy(record.event)
    done = sorted((job for job in updates if job.status(now) == "SUCCESS"), key=Job.sort_key)
    for job in done:
        when = _appointment_datetime(job.parameters)
        event["appointment_datetime"] = event["event_datetime"] = when
        # Optional fields left out of a PUT keep their value; a given one replaces it.
        for name in ("unit_id", "notes"):
            if name in job.parameters:
                event[name] = job.parameters[name]
    return event


def _appointment_datetime(parameters: dict[str, str]) -> str:
    """`YYYY-MM-DDTHH:MM:SS.000Z` from validated `appointment_date` and `appointment_time`."""
    day = appointment_day(parameters["appointment_date"])
    if day is None:
        raise ValueError("appointment_date was not validated")
    # ResMan reads date and time as UTC; the date part of a datetime value is the day.
    return f"{day.isoformat()}T{parameters['appointment_time']}.000Z"


def utc_timestamp(value: str | dt.datetime) -> str:
    """An aware date-time (ISO 8601 text or `datetime`) as `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC."""
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"utc must be an ISO 8601 date-time, got {value!r}") from None
    elif isinstance(value, dt.datetime):
        moment = value
    else:
        raise ValueError(f"utc must be an ISO 8601 date-time string, got {value!r}")
    if moment.utcoffset() is None:
        raise ValueError(f"utc needs a UTC offset such as Z, got {value!r}")
    return _format(moment.astimezone(dt.UTC))


def iso_timestamp(seconds: float) -> str:
    """A UTC timestamp as Propexo writes them, e.g. `2024-07-20T14:00:00.000Z`."""
    return _format(dt.datetime.fromtimestamp(seconds, tz=dt.UTC))


def _format(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"
