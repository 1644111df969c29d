"""Tours already booked but not yet readable: the creates Propexo's write-logs feed shows done
at a vendor whose new appointments appear only after Propexo's next data sync (Entrata,
Yardi REST).

Airbyte retries a stopped attempt by re-sending every row after the last echoed STATE, and
the ledger settles a re-sent row as already booked when the lead's appointments show it
(`ledger.found_before`, `ledger.claim`). At these vendors they do not show it for hours, so
without this a retry would book every such row of the earlier attempt again. Propexo's
write logs do show it: each finished job with its `parameters` (the body sent, whose
`appointment_date` + `appointment_time` are the vendor's wall clock).

    recent(integration_id, lead_id, zone) -> [BookedAppointment(id="", UTC date, UTC time)]

Per integration, every SUCCESS create of the last day (`GET /v1/admin/logs/writes/?
integration_id=…&status=SUCCESS&time_range=day`, 100 a page) that finished before this sync
started (this sync's own creates are the ledger's) is read once, on the first lead of that
integration asked about. Each wall clock is read in `zone`, the zone the row's vendor reads
(America/Denver for Entrata; the property's for Yardi REST), the first of a repeated
fall-back hour as the connector sends it. Limits: a job still PENDING when the earlier attempt
stopped, or finished after this sync started, is not seen; nor a create older than a day.
A feed Propexo refuses (400, 404) is taken as empty, with create-if-absent as weak as before;
a service failure reading it stops the sync, as a lead read's does.
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

from destination_propexo.errors import Owner, Request, RequestFailure, owner
from destination_propexo.propexo.client import BookedAppointment, PropexoClient, WriteLog
from destination_propexo.stop import Stop

CREATE_JOB = "CREATE_LEAD_APPOINTMENT"
WAIT_RECHECK_SECONDS = 0.1
# A lead's create as the feed shows it: (lead id, wall date, wall time).
_Written = tuple[str, str, str]


class RecentWrites:
    """Per integration, the creates its write logs show done before `sync_start`; thread-safe."""

    def __init__(self, client: PropexoClient, stop: Stop, *, sync_start: dt.datetime) -> None:
        self._client = client
        self._stop = stop
        self._since = sync_start.timestamp()
        self._lock = threading.Lock()
        self._read: dict[str, list[_Written]] = {}
        self._reading: dict[str, threading.Event] = {}

    def recent(self, integration_id: str, lead_id: str, zone: str) -> list[BookedAppointment]:
        """The lead's creates done before this sync, as UTC slots without an id."""
        written = self._of_integration(integration_id)
        tz = zoneinfo.ZoneInfo(zone)
        found = []
        for lead, date, time in written:
            if lead != lead_id:
                continue
            try:
                local = dt.datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=tz, fold=0)
            except ValueError:
                continue
            utc = local.astimezone(dt.UTC)
            found.append(BookedAppointment("", utc.strftime("%Y-%m-%d"), utc.strftime("%H:%M:%S")))
        return found

    def _of_integration(self, integration_id: str) -> list[_Written]:
        while True:
            with self._lock:
                if integration_id in self._read:
                    return self._read[integration_id]
                reading = self._reading.get(integration_id)
                if reading is None:
                    reading = self._reading[integration_id] = threading.Event()
                    mine = True
                else:
                    mine = False
            if not mine:
                self._stop.wait_for(reading, WAIT_RECHECK_SECONDS)
                continue
            try:
                written = self._read_feed(integration_id)
                with self._lock:
                    self._read[integration_id] = written
                return written
            finally:
                with self._lock:
                    self._reading.pop(integration_id, None)
                reading.set()

    def _read_feed(self, integration_id: str) -> list[_Written]:
        written: list[_Written] = []
        offset = 0
        while True:
            try:
                page = self._client.write_logs(
                    integration_id, offset=offset, time_range="day", status="SUCCESS"
                )
            except RequestFailure as failure:
                if owner(failure, Request.LEAD_READ) is Owner.ROW:
                    return written  # a feed Propexo will not serve: nothing more is known
                raise
            written.extend(w for entry in page.entries if (w := _created(entry, self._since)))
            if page.size == 0:
                return written
            offset += page.size


def _created(entry: WriteLog, before: float) -> _Written | None:
    """The lead and wall clock of a finished create, or None (another job, or unreadable)."""
    parameters = entry.parameters
    if entry.status != "SUCCESS" or parameters is None:
        return None
    if entry.job_type is not None and entry.job_type != CREATE_JOB:
        return None
    if "event_id" in parameters:  # a move's parameters name the appointment moved
        return None
    finished = entry.finished_at
    if finished is not None and finished >= before:
        return None
    lead, date, time = (
        parameters.get(k) for k in ("lead_id", "appointment_date", "appointment_time")
    )
    if not (isinstance(lead, str) and isinstance(date, str) and isinstance(time, str)):
        return None
    return lead, date[:10], time
