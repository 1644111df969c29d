"""The Propexo HTTP client: integration lookup, create, write status, appointment read-back.

Every low-level failure is mapped here, at one boundary, to a `RequestFailure` of a known
kind (or `TokenRefused`), so the rest of the connector never sees a `requests` exception.
The token lives only in the session's Authorization header; redirects are not followed,
so it is never sent to another host.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from destination_propexo import __version__
from destination_propexo.errors import (
    CertificateRefused,
    FailureKind,
    RequestFailure,
    TokenRefused,
)
from destination_propexo.ratelimit import RateBudget
from destination_propexo.retry import Action, RetryPolicy

CREATE_PATH = "/v1/events/appointments/leads/resman/"
READ_BACK_PAGE = 250
MAX_MESSAGE = 300


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


@dataclass
class RequestCounts:
    create: int = 0
    write_status: int = 0
    read_back: int = 0
    integration: int = 0

    @property
    def total(self) -> int:
        return self.create + self.write_status + self.read_back + self.integration


class PropexoClient:
    """Thread-safe; at most `pool_size` requests in flight, each paced by the shared
    `RateBudget`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        budget: RateBudget,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        pool_size: int = 16,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._budget = budget
        self._timeout = (connect_timeout, timeout)
        self._policy = policy or RetryPolicy()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"destination-propexo/{__version__}",
            }
        )
        self._counts_lock = threading.Lock()
        # One bound on requests awaiting an answer, shared by creates, write-status polls and
        # read-backs (each from its own thread pool), so `max_requests_in_flight` holds as a
        # whole; taken before the rate budget, so a paced request leaves the moment it may.
        self._in_flight = threading.BoundedSemaphore(pool_size)
        self.counts = RequestCounts()

    def close(self) -> None:
        self._session.close()

    # -- endpoints -------------------------------------------------------------------------

    def get_integration(self, integration_id: str) -> Mapping[str, Any]:
        """The integration record (`results` of GET /v1/admin/integrations/{id}/)."""
        body = self._get_with_retry(
            f"/v1/admin/integrations/{quote(integration_id)}/", "integration"
        )
        results = body.get("results")
        if not isinstance(results, dict):
            raise RequestFailure(FailureKind.UNEXPECTED, "integration lookup returned no results")
        return results

    def create_appointment(self, body: Mapping[str, str]) -> str | None:
        """Queue one create; returns the job id. Sent once: the caller decides on retries."""
        answer = self._request("POST", CREATE_PATH, "create", json=body)
        meta = answer.get("meta")
        job_id = meta.get("job_id") if isinstance(meta, dict) else None
        return job_id if isinstance(job_id, str) and job_id else None

    def write_status(self, job_id: str) -> WriteStatus:
        body = self._get_with_retry(f"/v1/admin/write-status/{quote(job_id)}", "write_status")
        errors = body.get("errors") or []
        record_id = body.get("created_record_id")
        return WriteStatus(
            status=str(body.get("write_status", "UNKNOWN")),
            errors=tuple(str(e) for e in errors) if isinstance(errors, list) else (str(errors),),
            created_record_id=record_id if isinstance(record_id, str) else None,
        )

    def lead_appointments(self, integration_id: str, lead_id: str) -> list[BookedAppointment]:
        """Every appointment of one lead, all pages."""
        return list(self._iter_lead_appointments(integration_id, lead_id))

    def _iter_lead_appointments(
        self, integration_id: str, lead_id: str
    ) -> Iterator[BookedAppointment]:
        offset = 0
        while True:
            body = self._get_with_retry(
                "/v1/appointments/",
                "read_back",
                params={
                    "lead_id": lead_id,
                    "integration_id": integration_id,
                    "offset": offset,
                    "limit": READ_BACK_PAGE,
                },
            )
            results = body.get("results") or []
            for event in results:
                booked = _booked(event, lead_id)
                if booked is not None:
                    yield booked
            meta = body.get("meta") or {}
            if not meta.get("hasMore") or not results:
                return
            offset += len(results)

    # -- transport ---------------------------------------------------------------------------

    def _get_with_retry(
        self, path: str, counter: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._request("GET", path, counter, params=params)
            except RequestFailure as failure:
                decision = self._policy.decide(
                    failure,
                    attempt=attempt,
                    elapsed=time.monotonic() - started,
                    idempotent=True,
                    rand=random.random(),
                )
                if decision.action is not Action.RETRY:
                    raise
                time.sleep(decision.delay)

    def _request(
        self,
        method: str,
        path: str,
        counter: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self._in_flight:
            self._budget.acquire()
            with self._counts_lock:
                setattr(self.counts, counter, getattr(self.counts, counter) + 1)
            try:
                response = self._session.request(
                    method,
                    self._base + path,
                    json=json,
                    params=params,
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.ConnectTimeout:
                raise RequestFailure(
                    FailureKind.CONNECT, "connection to Propexo timed out"
                ) from None
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
            except requests.exceptions.RequestException as exc:
                raise RequestFailure(FailureKind.UNEXPECTED, type(exc).__name__) from None
        self._budget.observe(response.headers)
        return self._answer(response)

    def _answer(self, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        if 200 <= status < 300:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise RequestFailure(
                    FailureKind.GARBLED, f"HTTP {status} without a JSON object", status=status
                )
            return body
        message = error_message(response)
        if status in (401, 403):
            raise TokenRefused(
                f"Propexo refused the API token (HTTP {status}: {message}). Check that the "
                "token is current and belongs to this integration, then update the "
                "destination's configuration."
            )
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            self._budget.rate_limited(retry_after)
            raise RequestFailure(
                FailureKind.RATE_LIMITED,
                f"HTTP 429: {message}",
                status=status,
                retry_after=retry_after,
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
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        raise RequestFailure(FailureKind.UNEXPECTED, f"HTTP {status}: {message}", status=status)


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


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


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


def _booked(event: object, lead_id: str) -> BookedAppointment | None:
    if not isinstance(event, dict):
        return None
    leads = event.get("associated_lead_ids")
    if isinstance(leads, list) and leads and lead_id not in leads:
        return None
    instant = event.get("appointment_datetime") or event.get("event_datetime")
    if not isinstance(instant, str):
        return None
    date, time_of_day = utc_date_time(instant)
    if date is None or time_of_day is None:
        return None
    return BookedAppointment(id=str(event.get("id", "")), date=date, time=time_of_day)


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
