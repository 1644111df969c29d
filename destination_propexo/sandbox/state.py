"""The sandbox's in-memory store: integrations, write jobs and the appointments they book."""

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

from destination_propexo.sandbox.validation import appointment_day

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
    Integration("intg-sandbox-entrata", "Sandbox Entrata", "ENTRATA", active=True),
    Integration("intg-sandbox-inactive", "Sandbox ResMan (inactive)", "RESMAN", active=False),
)


@dataclass(frozen=True)
class Job:
    """One create-appointment write job; its outcome is fixed when created, shown when done."""

    id: str
    log_id: str
    job_log_id: str
    integration: Integration
    parameters: dict[str, str]
    created_at: float
    finishes_at: float | None  # None: the job stays PENDING for ever
    error: str | None  # the PMS's error when the job ends FAILURE
    appointment: Event | None  # the appointment booked when the job ends SUCCESS

    def status(self, now: float) -> JobStatus:
        """The write status at time `now`."""
        if self.finishes_at is None or now < self.finishes_at:
            return "PENDING"
        return "FAILURE" if self.error is not None else "SUCCESS"


class Store:
    """Thread-safe store of jobs; appointments exist once their job has finished successfully."""

    def __init__(self, write_status_delay: float, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._write_status_delay = write_status_delay
        self._lock = threading.Lock()
        self._integrations = {integration.id: integration for integration in SEED_INTEGRATIONS}
        self._jobs: dict[str, Job] = {}
        self._x_ids = itertools.count(1)

    def integration(self, integration_id: str) -> Integration | None:
        """The integration with this id, if any."""
        return self._integrations.get(integration_id)

    def create_job(
        self, integration: Integration, parameters: dict[str, str], forced_error: str | None
    ) -> Job:
        """Queue a write job for a validated body; `forced_error` makes it end FAILURE."""
        now = self.clock()
        lead_id = parameters["lead_id"]
        error = forced_error
        if lead_id.startswith(MISSING_LEAD_PREFIX):
            error = f"ResMan: Lead {lead_id} was not found"
        finishes_at = now + self._write_status_delay
        with self._lock:
            appointment = None
            if error is None:
                appointment = self._event(integration, parameters, next(self._x_ids))
            job = Job(
                id=_new_id("job"),
                log_id=_new_id("wlog"),
                job_log_id=_new_id("jlog"),
                integration=integration,
                parameters=dict(parameters),
                created_at=now,
                finishes_at=None if lead_id.startswith(SLOW_LEAD_PREFIX) else finishes_at,
                error=error,
                appointment=appointment,
            )
            self._jobs[job.id] = job
        return job

    def job(self, job_id: str) -> Job | None:
        """The job with this id, if any."""
        with self._lock:
            return self._jobs.get(job_id)

    def finished_jobs(self) -> list[tuple[Job, JobStatus]]:
        """Finished jobs with their status, most recently finished first."""
        now = self.clock()
        with self._lock:
            jobs = list(self._jobs.values())
        finished = [(job, job.status(now)) for job in jobs]
        done = [(job, status) for job, status in finished if status != "PENDING"]
        return sorted(done, key=lambda pair: pair[0].finishes_at or 0.0, reverse=True)

    def appointments(self) -> list[Event]:
        """Appointments booked so far (finished SUCCESS jobs), in booking order."""
        now = self.clock()
        with self._lock:
            jobs = list(self._jobs.values())
        booked = [job for job in jobs if job.status(now) == "SUCCESS"]
        booked.sort(key=lambda job: job.finishes_at or 0.0)
        return [copy.deepcopy(job.appointment) for job in booked if job.appointment is not None]

    @staticmethod
    def _event(integration: Integration, parameters: dict[str, str], x_id: int) -> Event:
        day = appointment_day(parameters["appointment_date"])
        if day is None:
            raise ValueError("appointment_date was not validated")
        # ResMan reads date and time as UTC; the date part of a datetime value is the day.
        when = f"{day.isoformat()}T{parameters['appointment_time']}.000Z"
        return {
            "id": _new_id("appt"),
            "integration_id": integration.id,
            "property_id": PROPERTY_ID,
            "appointment_datetime": when,
            "event_datetime": when,
            "associated_lead_ids": [parameters["lead_id"]],
            "notes": parameters.get("notes"),
            "type_raw": "Appointment",
            "x_id": str(x_id),
            "unit_id": parameters.get("unit_id"),
            "lead_source_id": parameters["lead_source_id"],
        }


def iso_timestamp(seconds: float) -> str:
    """A UTC timestamp as Propexo writes them, e.g. `2024-07-20T14:00:00.000Z`."""
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"
