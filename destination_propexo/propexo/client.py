"""The Propexo HTTP client: integration lookup, create, write status, the write-logs feed,
appointment read-back.

Every low-level failure is mapped here, at one boundary, to a `RequestFailure` of a known
kind (or `TokenRefused`), so the rest of the connector never sees a `requests` exception.
Answers are parsed into typed models here too: a 2xx whose body is not the documented
shape is a `GARBLED` failure, retried (reads) or read back (creates) like a lost answer.
The token lives only in the session's Authorization header; redirects are not followed,
so it is never sent to another host.

The transport is a seam: `adapter` (a `requests` transport adapter) carries every request,
so unit tests script Propexo's answers without a socket, and the sandbox tests use the
real one.

Requests awaiting an answer are bounded by one `InFlightLimit` (`inflight.py`), shared by
every endpoint, and each waits on the one `RateBudget` before it leaves.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from destination_propexo import __version__
from destination_propexo.errors import (
    CertificateRefused,
    FailureKind,
    RequestFailure,
    TokenRefused,
)
from destination_propexo.propexo.inflight import MAX_IN_FLIGHT, InFlightLimit
from destination_propexo.propexo.ratelimit import RateBudget, parse_retry_after
from destination_propexo.propexo.retry import RetryPolicy, retrying
from destination_propexo.records.timezones import ZoneSetting
from destination_propexo.records.vendors import VENDORS, Vendor
from destination_propexo.stop import Stop

RESMAN = VENDORS["RESMAN"]
TIMEZONES_PATH = "/v1/timezones/"
TIMEZONES_PAGE = 250
WRITE_LOGS_PATH = "/v1/admin/logs/writes/"
READ_BACK_PAGE = 250
# The feed's largest page (`limit` is 1..100).
WRITE_LOGS_PAGE = 100
MAX_MESSAGE = 300
# How long a connection may take to open (the read time-out is the config's).
CONNECT_TIMEOUT_SECONDS = 10.0
# Requests that confirm jobs already queued go ahead of creates for a place in flight.
CONFIRMING = frozenset({"write_logs", "write_status"})
# Requests that write: whether Propexo answers them tells an outage from one row's problem.
WRITES = frozenset({"create", "update"})
# One exchange, no retry: for callers that retry on their own terms (the status tracker).
ONE_ATTEMPT = RetryPolicy(max_attempts=1)

Model = TypeVar("Model", bound=BaseModel)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _JobMeta(_Answer):
    job_id: str = Field(min_length=1)


class CreateAnswer(_Answer):
    """200 of a create: the queued job."""

    meta: _JobMeta


class UpdateAnswer(_Answer):
    """200 of a reschedule (PUT): the queued job."""

    meta: _JobMeta


class WriteStatusAnswer(_Answer):
    """GET /v1/admin/write-status/{job_id}."""

    write_status: Literal["SUCCESS", "PARTIAL_SUCCESS", "FAILURE", "PENDING"]
    errors: tuple[str, ...] = ()
    created_record_id: str | None = None

    @field_validator("errors", mode="before")
    @classmethod
    def _errors_list(cls, value: object) -> object:
        # Seen as null, and a lone string is still the PMS's words: keep them.
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else value


class WriteLog(_Answer):
    """One entry of GET /v1/admin/logs/writes/: the latest record of one finished write job."""

    id: str = Field(min_length=1)
    job_id: str = Field(min_length=1)
    status: Literal["SUCCESS", "FAILURE"]
    error: str | None = None
    created_at: str | None = None
    # What the job wrote: `CREATE_LEAD_APPOINTMENT` and the create's fields (lead_id,
    # appointment_date, appointment_time ...); None when Propexo does not say.
    job_type: str | None = None
    parameters: dict[str, Any] | None = None

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters_object(cls, value: object) -> object:
        # Only an object names what was written; anything else says nothing.
        return value if isinstance(value, dict) else None

    @field_validator("error", mode="before")
    @classmethod
    def _error_text(cls, value: object) -> object:
        # Documented as a string; anything else is still the PMS's words: keep them as text.
        if value is None or isinstance(value, str):
            return value
        return str(value)

    @property
    def finished_at(self) -> float | None:
        """`created_at` (when the job finished) as POSIX seconds, or None if unreadable."""
        if self.created_at is None:
            return None
        try:
            moment = datetime.fromisoformat(self.created_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()


class _WriteLogResults(_Answer):
    # Entries are checked one by one: one odd entry must not hide the page's other jobs.
    logs: tuple[dict[str, Any], ...] = ()


class WriteLogsAnswer(_Answer):
    results: _WriteLogResults


@dataclass(frozen=True)
class WriteLogPage:
    """One page of the feed: its readable entries, newest first, and how many it held."""

    entries: tuple[WriteLog, ...]
    size: int


class Event(_Answer):
    """One appointment of GET /v1/appointments/ (only the fields the connector reads)."""

    id: str
    associated_lead_ids: tuple[str, ...] = ()
    appointment_datetime: str | None = None
    event_datetime: str | None = None
    created_at: str | None = None


class _PageMeta(_Answer):
    hasMore: bool = False
    total: int | None = None


class AppointmentsPage(_Answer):
    meta: _PageMeta = _PageMeta()
    # Events are checked one by one: one odd event must not hide the lead's other bookings.
    results: tuple[dict[str, Any], ...] = ()


class TimezoneRow(_Answer):
    """One row of GET /v1/timezones/ (only the fields the connector reads).

    An offset or DST flag of another shape is kept as unreadable (the offset as text, the flag
    as None), never dropped: left out, its property would fall back to another row's zone,
    while kept, `zone_for_setting` refuses the property's rows with the reason."""

    offset: str | None = None
    observes_daylight_savings: bool | None = None
    property_id: str | None = None
    is_active: bool | None = None

    @field_validator("offset", mode="before")
    @classmethod
    def _offset_as_text(cls, value: object) -> object:
        return value if value is None or isinstance(value, str) else repr(value)

    @field_validator("observes_daylight_savings", mode="before")
    @classmethod
    def _flag_or_unknown(cls, value: object) -> object:
        return value if isinstance(value, bool) else None

    @field_validator("property_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Integration(_Answer):
    id: str | None = None
    name: str | None = None
    vendor: str | None = None
    active: bool | None = None
    system: str | None = None


class IntegrationAnswer(_Answer):
    results: Integration


@dataclass(frozen=True)
class WriteStatus:
    """The state of one asynchronous write job."""

    status: str
    errors: tuple[str, ...] = ()
    created_record_id: str | None = None

    @property
    def pending(self) -> bool:
        return self.status == "PENDING"


@dataclass(frozen=True)
class BookedAppointment:
    """An appointment read back from Propexo: its id and UTC date and time."""

    id: str
    date: str
    time: str


@dataclass(frozen=True)
class ListedAppointment:
    """One appointment of an integration-wide page: its id, leads, UTC date and time, and
    when Propexo made its row (epoch seconds; None when not given)."""

    id: str
    lead_ids: tuple[str, ...]
    date: str
    time: str
    created_at: float | None


@dataclass(frozen=True)
class IntegrationPage:
    """One page of an integration's appointments: the readable ones, how many rows the page
    had (`size`, odd ones included), whether more follow, and `meta.total` (None if absent)."""

    appointments: tuple[ListedAppointment, ...]
    size: int
    more: bool
    total: int | None


@dataclass
class RequestCounts:
    """Requests sent, by kind: `read_back` reads one lead's appointments, `id_lookup` pages an
    integration's newest appointments for booked ids, `integration_read` pages an integration's
    appointments for append_dedup."""

    create: int = 0
    update: int = 0
    write_logs: int = 0
    write_status: int = 0
    read_back: int = 0
    id_lookup: int = 0
    integration_read: int = 0
    integration: int = 0
    timezones: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


class PropexoClient:
    """Thread-safe; requests in flight bounded by Little's law within `max_in_flight`, each
    paced by the shared `RateBudget`, none started once `stop` is set."""

    def __init__(
        self,
        base_url: str,
        token: str,
        budget: RateBudget,
        *,
        stop: Stop,
        timeout: float = 30.0,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        max_in_flight: int = MAX_IN_FLIGHT,
        policy: RetryPolicy | None = None,
        adapter: BaseAdapter | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._budget = budget
        self._stop = stop
        self._timeout = (connect_timeout, timeout)
        self._policy = policy or RetryPolicy()
        self._session = requests.Session()
        transport = adapter or HTTPAdapter(
            pool_connections=2, pool_maxsize=max_in_flight, max_retries=0
        )
        self._session.mount("https://", transport)
        self._session.mount("http://", transport)
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"destination-propexo/{__version__}",
            }
        )
        self._counts_lock = threading.Lock()
        # One bound on requests awaiting an answer, shared by creates, feed reads, polls and
        # read-backs (each from its own thread pool), so `max_requests_in_flight` holds as a
        # whole; taken before the rate budget, so a paced request leaves the moment it may.
        self._in_flight = InFlightLimit(stop, lambda: 1.0 / budget.interval, cap=max_in_flight)
        self.counts = RequestCounts()
        # Writes Propexo has answered 2xx so far in this sync.
        self._writes_answered = 0

    @property
    def base_url(self) -> str:
        return self._base

    def write_mark(self) -> int:
        """How many writes Propexo has answered 2xx so far (taken at a row's first failure)."""
        with self._counts_lock:
            return self._writes_answered

    def writes_answered_since(self, mark: int) -> bool:
        """Whether Propexo answered 2xx to a write since `mark` was taken: it works."""
        with self._counts_lock:
            return self._writes_answered > mark

    def close(self) -> None:
        self._session.close()

    @property
    def request_interval(self) -> float:
        """Seconds between two requests at the rate budget's pace."""
        return self._budget.interval

    # -- endpoints -------------------------------------------------------------------------

    def get_integration(self, integration_id: str) -> Integration:
        """The integration record (`results` of GET /v1/admin/integrations/{id}/)."""
        path = f"/v1/admin/integrations/{quote(integration_id, safe='')}/"
        return self._get(path, "integration", IntegrationAnswer).results

    def create_appointment(self, body: Mapping[str, object], *, vendor: Vendor = RESMAN) -> str:
        """Queue one create at `vendor`'s endpoint; returns the job id. Sent once: the caller
        decides on retries."""
        answer = self._request("POST", vendor.create_path, "create", json=body)
        return _parsed(answer, CreateAnswer).meta.job_id

    def update_appointment(
        self, event_id: str, body: Mapping[str, object], *, vendor: Vendor = RESMAN
    ) -> str:
        """Queue one reschedule of appointment `event_id` at `vendor`'s endpoint; returns the
        job id. Sent once, like a create: the caller decides on retries. An unknown event is a
        NOT_FOUND failure."""
        path = vendor.update_path(event_id)
        answer = self._request("PUT", path, "update", json=body)
        return _parsed(answer, UpdateAnswer).meta.job_id

    def timezones(self, integration_id: str) -> list[ZoneSetting]:
        """The integration's zone settings (GET /v1/timezones/, all pages; inactive rows and
        rows that are not objects left out; an unreadable offset or flag is kept as such, see
        `TimezoneRow`)."""
        settings: list[ZoneSetting] = []
        offset = 0
        while True:
            page = self._get(
                TIMEZONES_PATH,
                "timezones",
                AppointmentsPage,
                params={
                    "integration_id": integration_id,
                    "offset": offset,
                    "limit": TIMEZONES_PAGE,
                },
            )
            for raw in page.results:
                try:
                    row = TimezoneRow.model_validate(raw)
                except ValidationError:
                    continue
                if row.is_active is not False:
                    settings.append(
                        ZoneSetting(row.offset, row.observes_daylight_savings, row.property_id)
                    )
            if not page.meta.hasMore or not page.results:
                return settings
            offset += len(page.results)

    def write_status(self, job_id: str, *, policy: RetryPolicy | None = None) -> WriteStatus:
        path = f"/v1/admin/write-status/{quote(job_id, safe='')}"
        answer = self._get(path, "write_status", WriteStatusAnswer, policy=policy)
        return WriteStatus(answer.write_status, answer.errors, answer.created_record_id)

    def write_logs(
        self,
        integration_id: str | None,
        *,
        offset: int,
        limit: int = WRITE_LOGS_PAGE,
        policy: RetryPolicy | None = None,
        time_range: Literal["hour", "day"] = "hour",
        status: Literal["SUCCESS", "FAILURE"] | None = None,
    ) -> WriteLogPage:
        """One page of the write-logs feed of the last hour (or day), event writes only,
        newest first; every integration's when `integration_id` is None; only jobs of
        `status` when given."""
        params: dict[str, Any] = {
            "write_category": "events",
            "time_range": time_range,
            "limit": limit,
            "offset": offset,
        }
        if integration_id is not None:
            params["integration_id"] = integration_id
        if status is not None:
            params["status"] = status
        answer = self._get(
            WRITE_LOGS_PATH, "write_logs", WriteLogsAnswer, params=params, policy=policy
        )
        entries = []
        for raw in answer.results.logs:
            try:
                entries.append(WriteLog.model_validate(raw))
            except ValidationError:
                continue
        return WriteLogPage(tuple(entries), len(answer.results.logs))

    def integration_appointments(
        self,
        integration_id: str,
        *,
        order_by: str,
        offset: int,
        counter: Literal["id_lookup", "integration_read"],
        limit: int = READ_BACK_PAGE,
    ) -> IntegrationPage:
        """One page of GET /v1/appointments/?integration_id=… in `order_by` order (such as
        `created_at:desc`), counted as `counter`. Rows without an id, a lead or a readable
        date-time are left out (counted in `size`); RequestFailure as for every read."""
        answer = self._get(
            "/v1/appointments/",
            counter,
            AppointmentsPage,
            params={
                "integration_id": integration_id,
                "order-by": order_by,
                "offset": offset,
                "limit": limit,
            },
        )
        listed = []
        for raw in answer.results:
            try:
                event = Event.model_validate(raw)
            except ValidationError:
                continue
            instant = event.appointment_datetime or event.event_datetime
            date, time_of_day = utc_date_time(instant) if instant else (None, None)
            if date is None or time_of_day is None or not event.associated_lead_ids:
                continue
            made = _epoch(event.created_at)
            listed.append(
                ListedAppointment(event.id, event.associated_lead_ids, date, time_of_day, made)
            )
        return IntegrationPage(
            tuple(listed), len(answer.results), answer.meta.hasMore, answer.meta.total
        )

    def lead_appointments(self, integration_id: str, lead_id: str) -> list[BookedAppointment]:
        """Every appointment of one lead, all pages."""
        return list(self._iter_lead_appointments(integration_id, lead_id))

    def _iter_lead_appointments(
        self, integration_id: str, lead_id: str
    ) -> Iterator[BookedAppointment]:
        offset = 0
        while True:
            page = self._get(
                "/v1/appointments/",
                "read_back",
                AppointmentsPage,
                params={
                    "lead_id": lead_id,
                    "integration_id": integration_id,
                    "offset": offset,
                    "limit": READ_BACK_PAGE,
                },
            )
            for raw in page.results:
                try:
                    event = Event.model_validate(raw)
                except ValidationError:
                    continue
                booked = _booked(event, lead_id)
                if booked is not None:
                    yield booked
            if not page.meta.hasMore or not page.results:
                return
            offset += len(page.results)

    # -- transport ---------------------------------------------------------------------------

    def _get(
        self,
        path: str,
        counter: str,
        model: type[Model],
        *,
        params: Mapping[str, Any] | None = None,
        policy: RetryPolicy | None = None,
    ) -> Model:
        return retrying(
            lambda: _parsed(self._request("GET", path, counter, params=params), model),
            policy=policy or self._policy,
            stop=self._stop,
            idempotent=True,
        )

    def _request(
        self,
        method: str,
        path: str,
        counter: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> object:
        ticket = self._in_flight.take(first=counter in CONFIRMING)
        try:
            self._budget.acquire()
            # The last look before anything leaves: after a stop, no request starts.
            self._stop.check()
            with self._counts_lock:
                setattr(self.counts, counter, getattr(self.counts, counter) + 1)
            self._in_flight.sent(ticket)
            response = self._send(method, path, json=json, params=params)
        finally:
            self._in_flight.give_back(ticket)
        if counter in WRITES and 200 <= response.status_code < 300:
            with self._counts_lock:
                self._writes_answered += 1
        return self._answer(response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> requests.Response:
        try:
            return self._session.request(
                method,
                self._base + path,
                json=json,
                params=params,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.exceptions.ConnectTimeout:
            raise RequestFailure(FailureKind.CONNECT, "connection to Propexo timed out") from None
        except requests.exceptions.ReadTimeout:
            raise RequestFailure(
                FailureKind.READ_TIMEOUT,
                f"no answer from Propexo within {self._timeout[1]:g} s",
            ) from None
        except requests.exceptions.SSLError as exc:
            if _certificate_refused(exc):
                raise CertificateRefused(
                    f"The TLS certificate of {urlsplit(self._base).hostname} could not be "
                    "verified, so nothing was sent. Check api_url, or the proxy or CA bundle "
                    "between this connector and Propexo."
                ) from None
            raise _connection_failure(exc) from None
        except requests.exceptions.ConnectionError as exc:
            raise _connection_failure(exc) from None
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ):
            # The answer broke off (or came mangled) after the request went out.
            raise RequestFailure(FailureKind.DROPPED, "answer from Propexo broke off") from None
        except requests.exceptions.RequestException as exc:
            raise RequestFailure(FailureKind.UNEXPECTED, type(exc).__name__) from None

    def _retry_after(self, response: requests.Response) -> float | None:
        header = response.headers.get("Retry-After")
        seconds = parse_retry_after(header, datetime.now(UTC))
        if seconds is None and header is not None and header.strip():
            self._budget.odd_header("Retry-After", header)
        return seconds

    def _answer(self, response: requests.Response) -> object:
        status = response.status_code
        if status == 429:
            retry_after = self._retry_after(response)
            self._budget.rate_limited(retry_after)
            raise RequestFailure(
                FailureKind.RATE_LIMITED,
                f"HTTP 429: {error_message(response)}",
                status=status,
                retry_after=retry_after,
            )
        self._budget.observe(response.headers)
        if 200 <= status < 300:
            try:
                return response.json()
            except ValueError:
                raise RequestFailure(
                    FailureKind.GARBLED, f"HTTP {status} without a JSON body", status=status
                ) from None
        message = error_message(response)
        if status in (401, 403):
            raise TokenRefused(
                f"Propexo refused the API token (HTTP {status}: {message}). Check that the "
                "token is current and belongs to this integration, then update the "
                "destination's configuration."
            )
        if status in (400, 422):
            raise RequestFailure(FailureKind.BAD_REQUEST, message, status=status)
        if status == 404:
            raise RequestFailure(FailureKind.NOT_FOUND, f"HTTP 404: {message}", status=status)
        if status >= 500:
            raise RequestFailure(
                FailureKind.SERVER_ERROR,
                f"HTTP {status}: {message}",
                status=status,
                retry_after=self._retry_after(response),
            )
        raise RequestFailure(FailureKind.UNEXPECTED, f"HTTP {status}: {message}", status=status)


def _parsed(body: object, model: type[Model]) -> Model:
    """A 2xx body as its typed answer; any other shape is a GARBLED failure."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)[:3]
        )
        raise RequestFailure(
            FailureKind.GARBLED, f"an answer of the wrong shape ({problems})", status=200
        ) from None


def _connection_failure(exc: requests.exceptions.ConnectionError) -> RequestFailure:
    # Refused connections and DNS failures never reached Propexo: safe to send again.
    # Anything else (reset, remote disconnect) happened after the request went out.
    reason: object = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    if isinstance(reason, NewConnectionError | NameResolutionError):
        return RequestFailure(FailureKind.CONNECT, "could not connect to Propexo")
    return RequestFailure(FailureKind.DROPPED, "connection to Propexo dropped before an answer")


def _certificate_refused(exc: BaseException) -> bool:
    # requests wraps urllib3's MaxRetryError, which wraps urllib3's SSLError, which wraps ssl's.
    seen: object = exc
    for _ in range(4):
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        args = seen.args if isinstance(seen, BaseException) else ()
        seen = getattr(seen, "reason", None) or (args[0] if args else None)
    return False


def error_message(response: requests.Response) -> str:
    """Propexo's error body summarised: message, then each Zod issue's path and message."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "no details")[:MAX_MESSAGE]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)[:MAX_MESSAGE]
    parts = [str(error.get("message") or error.get("code") or "no details")]
    details = error.get("details")
    issues = details.get("issues") if isinstance(details, dict) else None
    for issue in issues if isinstance(issues, list) else []:
        if isinstance(issue, dict):
            path = ".".join(str(p) for p in issue.get("path") or []) or "(body)"
            parts.append(f"{path}: {issue.get('message', issue.get('code', '?'))}")
    return "; ".join(parts)[:MAX_MESSAGE]


def _booked(event: Event, lead_id: str) -> BookedAppointment | None:
    if event.associated_lead_ids and lead_id not in event.associated_lead_ids:
        return None
    instant = event.appointment_datetime or event.event_datetime
    if instant is None:
        return None
    date, time_of_day = utc_date_time(instant)
    if date is None or time_of_day is None:
        return None
    return BookedAppointment(id=event.id, date=date, time=time_of_day)


def _epoch(instant: str | None) -> float | None:
    if not instant:
        return None
    try:
        parsed = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def utc_date_time(instant: str) -> tuple[str | None, str | None]:
    """ "2024-07-20T14:00:00.000Z" (or with an offset) -> ("2024-07-20", "14:00:00") in UTC."""
    try:
        parsed = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return None, None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d"), parsed.strftime("%H:%M:%S")
