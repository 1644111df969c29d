"""Tours already booked but not yet readable: the creates Propexo's write-logs feed shows done
at a vendor whose new appointments appear only after Propexo's next data sync (Entrata,
Yardi REST).

Airbyte retries a stopped attempt by re-sending every row after the last echoed STATE, and
the ledger settles a re-sent row as already booked when the lead's appointments show it
(`ledger.found_before`, `ledger.claim`). At these vendors they do not show it for hours, so
without this a retry would book every such row of the earlier attempt again. Propexo's
write logs do show it: each finished job with its `parameters` (the body sent, whose
`appointment_date` + `appointment_time` are the vendor's wall clock).

    not_yet_readable(integration_id, lead_id, zone, found)
        -> [BookedAppointment(id="", UTC date, UTC time)]: creates `found` does not show

A tour booked, shown after Propexo's data sync and then moved within the day is listed by
the feed at its first time; each such moved appointment of the lead (an UPDATE job of its
id) stands for the latest create finished before the move, so it is not taken for a second
tour.

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
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from destination_propexo.errors import Owner, Request, RequestFailure, owner
from destination_propexo.propexo.client import BookedAppointment, PropexoClient, WriteLog
from destination_propexo.stop import Stop

CREATE_JOB = "CREATE_LEAD_APPOINTMENT"
WAIT_RECHECK_SECONDS = 0.1


@dataclass(frozen=True)
class _Create:
    """A finished create as the feed shows it: its lead, wall clock and when it finished."""

    lead_id: str
    date: str
    time: str
    finished: float


@dataclass(frozen=True)
class _Feed:
    creates: tuple[_Create, ...] = ()
    # Appointment id -> when the latest move (UPDATE job) of it finished.
    moves: Mapping[str, float] = field(default_factory=dict)


class RecentWrites:
    """Per integration, the creates its write logs show done before `sync_start`; thread-safe."""

    def __init__(self, client: PropexoClient, stop: Stop, *, sync_start: dt.datetime) -> None:
        self._client = client
        self._stop = stop
        self._since = sync_start.timestamp()
        self._lock = threading.Lock()
        self._read: dict[str, _Feed] = {}
        self._reading: dict[str, threading.Event] = {}

    def not_yet_readable(
        self, integration_id: str, lead_id: str, zone: str, found: Sequence[BookedAppointment]
    ) -> list[BookedAppointment]:
        """The lead's creates done before this sync that `found` (the lead's appointments as
        Propexo shows them) does not show, as UTC slots without an id: `zone` is the one the
        vendor read their wall clock in. A create at the time of a found appointment is that
        one; a found appointment moved after a create finished may be that create moved."""
        feed = self._of_integration(integration_id)
        tz = zoneinfo.ZoneInfo(zone)
        shown = Counter((a.date, a.time) for a in found)
        left: list[tuple[float, str, str]] = []
        for create in feed.creates:
            if create.lead_id != lead_id:
                continue
            try:
                local = dt.datetime.fromisoformat(f"{create.date}T{create.time}")
            except ValueError:
                continue
            utc = local.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
            slot = (utc.strftime("%Y-%m-%d"), utc.strftime("%H:%M:%S"))
            if shown[slot] > 0:
                shown[slot] -= 1  # Propexo shows it already (its data sync ran since)
            else:
                left.append((create.finished, *slot))
        # Each found appointment moved since stands for the latest create finished before
        # its move (listed at its first time).
        for moved_at in sorted(feed.moves[a.id] for a in found if a.id in feed.moves):
            earlier = [c for c in left if c[0] <= moved_at]
            if earlier:
                left.remove(max(earlier))
        return [BookedAppointment("", date, time) for _, date, time in left]

    def _of_integration(self, integration_id: str) -> _Feed:
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
                feed = self._read_feed(integration_id)
                with self._lock:
                    self._read[integration_id] = feed
                return feed
            finally:
                with self._lock:
                    self._reading.pop(integration_id, None)
                reading.set()

    def _read_feed(self, integration_id: str) -> _Feed:
        creates: list[_Create] = []
        moves: dict[str, float] = {}
        offset = 0
        while True:
            try:
                page = self._client.write_logs(
                    integration_id, offset=offset, time_range="day", status="SUCCESS"
                )
            except RequestFailure as failure:
                if owner(failure, Request.LEAD_READ) is Owner.ROW:
                    # A feed Propexo will not serve: nothing more is known.
                    return _Feed(tuple(creates), moves)
                raise
            for entry in page.entries:
                finished = entry.finished_at
                parameters = entry.parameters
                if entry.status != "SUCCESS" or parameters is None or finished is None:
                    continue
                event_id = parameters.get("event_id")
                if isinstance(event_id, str):  # a move names the appointment it moved
                    moves[event_id] = max(finished, moves.get(event_id, finished))
                    continue
                created = _created(entry, parameters, finished)
                if created is not None and finished < self._since:
                    creates.append(created)
            if page.size == 0:
                return _Feed(tuple(creates), moves)
            offset += page.size


def _created(entry: WriteLog, parameters: Mapping[str, Any], finished: float) -> _Create | None:
    """The lead and wall clock of a finished create, or None (another job, or unreadable)."""
    if entry.job_type is not None and entry.job_type != CREATE_JOB:
        return None
    lead, date, time = (
        parameters.get(k) for k in ("lead_id", "appointment_date", "appointment_time")
    )
    if not (isinstance(lead, str) and isinstance(date, str) and isinstance(time, str)):
        return None
    return _Create(lead, date[:10], time, finished)
