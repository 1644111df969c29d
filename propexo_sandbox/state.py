"""The sandbox's in-memory store: integrations, write jobs, the appointments they book or move."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from propexo_sandbox.validation import Fields, appointment_day
from propexo_sandbox.vendors import VendorSpec, setting_zone, utc_of_wall_clock

JobStatus = Literal["PENDING", "SUCCESS", "FAILURE"]
Event = dict[str, object]

PROPERTY_ID = "prop-sandbox-1"
# Lead ids with these prefixes steer the job's outcome, so tests can provoke each case.
MISSING_LEAD_PREFIX = "lead-missing"
SLOW_LEAD_PREFIX = "lead-slow"
# A create for a lead id with this prefix is refused at once with a 400 (not queued).
REFUSED_LEAD_PREFIX = "lead-refused"


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
    Integration("intg-sandbox-rentmanager", "Sandbox Rent Manager", "RENTMANAGER", active=True),
    Integration("intg-sandbox-yardi", "Sandbox Yardi", "YARDI", active=True),
    Integration("intg-sandbox-yardi-rest", "Sandbox Yardi REST", "YARDI_REST", active=True),
    Integration("intg-sandbox-appfolio", "Sandbox AppFolio", "APPFOLIO", active=True),
    Integration("intg-sandbox-realpage-rpx", "Sandbox RealPage RPX", "REALPAGE_RPX", active=True),
    Integration("intg-sandbox-mri", "Sandbox MRI", "MRI", active=True),
    Integration("intg-sandbox-inactive", "Sandbox ResMan (inactive)", "RESMAN", active=False),
)
# GET /v1/timezones/ rows (integration, property or None for the integration-wide row, standard
# offset, DST observed): Rent Manager and Yardi integrations are Central-wide with one Eastern
# property, `prop-east`.
SEED_TIMEZONES: tuple[tuple[str, str | None, str, bool], ...] = tuple(
    row
    for integration_id in (
        "intg-sandbox-rentmanager",
        "intg-sandbox-yardi",
        "intg-sandbox-yardi-rest",
    )
    for row in (
        (integration_id, None, "-06:00", True),
        (integration_id, "prop-east", "-05:00", True),
    )
)
# The zone RealPage keeps per property, which no API exposes.
HIDDEN_ZONE = "America/Chicago"


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
    parameters: Fields
    created_at: float
    finishes_at: float | None  # None: the job stays PENDING for ever
    error: str | None  # the PMS's error when the job ends FAILURE
    event_id: str | None
    seq: int  # queueing order, which breaks ties between equal times
    # The instant the PMS read from the body's date and time (None: the body moved no time).
    utc: str | None = None
    # False where the new record's id cannot be retrieved (Entrata, Yardi REST).
    reports_id: bool = True

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
        self._lead_properties: dict[str, str] = {}
        # Appointments of vendors that show them only after Propexo's next data sync.
        self._unsynced: set[str] = set()
        self._timezones = [
            _timezone_row(n, integration_id, property_id, offset, dst)
            for n, (integration_id, property_id, offset, dst) in enumerate(SEED_TIMEZONES, 1)
        ]
        self._tz_ids = itertools.count(len(self._timezones) + 1)

    def integration(self, integration_id: str) -> Integration | None:
        """The integration with this id, if any."""
        return self._integrations.get(integration_id)

    def seed_lead(self, lead_id: str, property_id: str) -> None:
        """Place a lead at a property (leads are at `PROPERTY_ID` unless seeded)."""
        with self._lock:
            self._lead_properties[lead_id] = property_id

    def property_of(self, lead_id: str) -> str:
        with self._lock:
            return self._lead_properties.get(lead_id, PROPERTY_ID)

    def timezones(self) -> list[dict[str, object]]:
        """The GET /v1/timezones/ rows."""
        with self._lock:
            return copy.deepcopy(self._timezones)

    def set_timezones(
        self, integration_id: str, rows: Sequence[tuple[str | None, str, bool]]
    ) -> None:
        """Replace the integration's GET /v1/timezones/ rows with `rows` (property id or None
        for the integration-wide row, standard offset, DST observed); ValueError for an
        integration the sandbox does not have."""
        if integration_id not in self._integrations:
            raise ValueError(f"no sandbox integration {integration_id!r}")
        with self._lock:
            kept = [r for r in self._timezones if r["integration_id"] != integration_id]
            self._timezones = kept + [
                _timezone_row(next(self._tz_ids), integration_id, property_id, offset, dst)
                for property_id, offset, dst in rows
            ]

    def data_sync(self) -> None:
        """Propexo's next data sync: appointments whose create succeeded by now show."""
        now = self.clock()
        with self._lock:
            for event_id in list(self._unsynced):
                record = self._records[event_id]
                job = next(j for j in self._jobs.values() if j.event_id == event_id)
                if job.status(now) == "SUCCESS":
                    self._records[event_id] = _Record(record.event, now, record.seq)
                    self._unsynced.discard(event_id)

    def create_job(
        self,
        integration: Integration,
        vendor: VendorSpec,
        parameters: Fields,
        forced_error: str | None,
        pending_for: float | None = None,
    ) -> Job:
        """Queue a create job for a validated body; `forced_error` makes it end FAILURE,
        `pending_for` keeps it PENDING that many seconds instead of the usual delay."""
        now = self.clock()
        lead_id = str(parameters["lead_id"])
        error, finishes_at = self._outcome(lead_id, now, forced_error, pending_for)
        when = self._read_time(integration, vendor, lead_id, parameters)
        with self._lock:
            seq = next(self._seqs)
            event_id = None
            if error is None and when is not None:
                event = self._event(integration.id, lead_id, when, next(self._x_ids))
                event["property_id"] = self._lead_properties.get(lead_id, PROPERTY_ID)
                event.update(notes=parameters.get("notes"), unit_id=parameters.get("unit_id"))
                # Propexo's row is made when the PMS confirmed the write (its cache refresh).
                event["created_at"] = iso_timestamp(finishes_at) if finishes_at else None
                event["lead_source_id"] = parameters.get("lead_source_id")
                # Fields of other vendors show where the vendor takes them.
                for name in ("employee_id", "title"):
                    if name in parameters:
                        event[name] = parameters[name]
                event_id = str(event["id"])
                visible = finishes_at if vendor.readable_at_once else None
                if not vendor.readable_at_once:
                    self._unsynced.add(event_id)
                self._records[event_id] = _Record(event, visible, seq)
            job = self._job("create", integration, parameters, now, finishes_at, error, event_id)
            job = replace(job, utc=when, reports_id=vendor.readable_at_once)
            self._jobs[job.id] = job
        return job

    def _read_time(
        self, integration: Integration, vendor: VendorSpec, lead_id: str, parameters: Fields
    ) -> str | None:
        """The UTC instant the PMS reads from the body's date and time, as read-back shows it."""
        date, clock = parameters.get("appointment_date"), parameters.get("appointment_time")
        if not isinstance(date, str):
            return None
        day = appointment_day(date)
        if day is None:
            raise ValueError("appointment_date was not validated")
        zone = vendor.zone
        if zone == "property":
            zone = self._property_zone(integration.id, self.property_of(lead_id))
        elif zone == "hidden":
            zone = HIDDEN_ZONE
        instant = utc_of_wall_clock(day, clock if isinstance(clock, str) else "00:00:00", zone)
        return _format(instant)

    def _property_zone(self, integration_id: str, property_id: str) -> str:
        rows = [r for r in self._timezones if r["integration_id"] == integration_id]
        for row in sorted(rows, key=lambda r: r["property_id"] is None):
            if row["property_id"] in (property_id, None):
                return setting_zone(str(row["offset"]), bool(row["observes_daylight_savings"]))
        # Rent Manager suggests Eastern when nothing is set; the sandbox does so for all.
        return "America/New_York"

    def update_job(
        self,
        event: Event,
        integration: Integration,
        vendor: VendorSpec,
        fields: Fields,
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
        when = self._read_time(integration, vendor, lead_id, fields)
        with self._lock:
            job = self._job("update", integration, parameters, now, finishes_at, error, event_id)
            job = replace(job, utc=when)
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
            event["property_id"] = self._lead_properties.get(lead_id, PROPERTY_ID)
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
        parameters: Fields,
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
        if job.utc is not None:
            event["appointment_datetime"] = event["event_datetime"] = job.utc
        # Optional fields left out of a PUT keep their value; a given one replaces it.
        for name in ("unit_id", "notes", "employee_id", "title"):
            if name in job.parameters:
                event[name] = job.parameters[name]
    return event


def _timezone_row(
    n: int, integration_id: str, property_id: str | None, offset: str, dst: bool
) -> dict[str, object]:
    stamp = "2026-01-01T00:00:00.000Z"
    return {
        "id": f"tz-{n}",
        "created_at": stamp,
        "updated_at": stamp,
        "last_seen": stamp,
        "x_id": str(n),
        "x_property_id": property_id,
        "x_location_id": None,
        "is_active": True,
        "observes_daylight_savings": dst,
        "offset": offset,
        "server_time_error_seconds": 0,
        "integration_id": integration_id,
        "integration_vendor": integration_id.removeprefix("intg-sandbox-")
        .upper()
        .replace("-", "_"),
        "property_id": property_id,
    }


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
