"""The connector's exception tree; each class names what happens to the sync.

    PropexoError             a bug if it ever escapes: the sync stops with a `system_error`
    ├── ConfigError          the sync stops with a `config_error` trace: the user must fix
    │   │                    the configuration (or the data feeding it)
    │   ├── TokenRefused     Propexo answered 401/403: the token is wrong, expired or revoked
    │   ├── CertificateRefused  the API's TLS certificate failed verification; nothing was sent
    │   └── TooManyRejected  more rows were rejected than `max_rejected_percent` allows
    ├── TransientError       the sync stops with a `transient_error` trace: Airbyte retries the
    │   │                    attempt, which re-sends from the last echoed STATE
    │   ├── ServiceUnavailable  Propexo (or object storage) failed a request past the retry
    │   │                    policy while answering nothing else: an outage, not the row's fault
    │   ├── LookupUnavailable  a lead's appointments could not be read to check for a booking
    │   ├── RateLimitedTooLong  Propexo kept asking for waits beyond the Retry-After cap
    │   └── Terminated       the process got SIGTERM (Airbyte cancelling the sync)
    ├── InputError           the sync stops with a `system_error` trace: broken input stream
    ├── SyncStopped          another error stopped the sync; this record is left without an
    │                        outcome, like every record not yet tried (never reported itself)
    └── RequestFailure       one HTTP exchange failed; `retry.decide` says what follows
        └── Unresolved       an unclear create that may not be sent again: outcome unknown

A record that cannot be written is not an exception: it becomes a `Rejected` outcome
(see `outcomes.py`) and the sync goes on. `failure_type` below is the one place that maps
an error to the trace Airbyte acts on, and `owner` the one place that says whose a failed
request is: the row's (rejected, the sync goes on), the service's (retried, then the sync
stops as transient) or the configuration's (the sync stops as a config error).
"""

from __future__ import annotations

import enum


class FailureType(enum.StrEnum):
    """The Airbyte protocol's trace failure types (`AirbyteErrorTraceMessage.failure_type`)."""

    config_error = "config_error"
    transient_error = "transient_error"
    system_error = "system_error"


class PropexoError(Exception):
    """Base of every error this connector raises on purpose."""


class ConfigError(PropexoError):
    """The configuration or catalog cannot work; the message says what to change."""


class TokenRefused(ConfigError):
    """Propexo refused the API token (401/403)."""


class CertificateRefused(ConfigError):
    """The API host's TLS certificate could not be verified (requests' default verify=True)."""


class TooManyRejected(ConfigError):
    """The rejected share of the records passed `max_rejected_percent`."""


class TransientError(PropexoError):
    """Propexo cannot be worked with right now; a later attempt of the sync may succeed."""


class ServiceUnavailable(TransientError):
    """A request kept failing past the retry policy and nothing showed the service working."""


class Terminated(TransientError):
    """SIGTERM: the sync was cancelled (or its pod stopped); it settles and stops."""


class LookupUnavailable(TransientError):
    """A lead's appointments could not be read back, so a create-if-absent cannot decide."""


class RateLimitedTooLong(TransientError):
    """Propexo answered 429 asking, again and again, for waits beyond the Retry-After cap."""


class InputError(PropexoError):
    """A line on stdin is not a valid Airbyte message."""

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason


class SyncStopped(PropexoError):
    """Raised by every wait and before every request once the sync is stopping."""


class FailureKind(enum.Enum):
    """What went wrong in one HTTP exchange, as far as the client can tell."""

    RATE_LIMITED = "429 rate limited"
    CONNECT = "connection failed before the request was sent"
    READ_TIMEOUT = "no answer within the read time-out"
    DROPPED = "connection dropped after the request was sent"
    SERVER_ERROR = "server error"
    GARBLED = "answer could not be read"
    BAD_REQUEST = "request rejected by Propexo"
    NOT_FOUND = "not found"
    UNEXPECTED = "unexpected answer"


class RequestFailure(PropexoError):
    """One HTTP exchange with Propexo failed."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        # Set by the retry loop when it gives up: how many exchanges were tried.
        self.attempts = 1


class Unresolved(RequestFailure):
    """A create got no clear answer, the read-back found nothing, and it may not be re-sent."""

    def __init__(self, failure: RequestFailure, attempts: int) -> None:
        super().__init__(failure.kind, str(failure), status=failure.status)
        self.attempts = attempts


class Owner(enum.Enum):
    """Whose failure a failed request is, and so what happens to the sync."""

    ROW = "the row"  # the row is rejected with the reason; the sync goes on
    SERVICE = "the service"  # retried within the policy, then the sync stops (transient)
    CONFIGURATION = "the configuration"  # the sync stops with a config error


class Request(enum.Enum):
    """What a request was for: the same answer means different things on different paths."""

    CREATE = "create"
    MOVE = "move"
    LEAD_READ = "lead read"
    WRITE_STATUS = "write status"
    WRITE_LOGS = "write logs"
    INTEGRATION = "integration"


# Answers that say the request went to the wrong place, whatever the row held.
_WRONG_PLACE = frozenset({301, 302, 303, 307, 308, 405})


def owner(failure: RequestFailure, request: Request) -> Owner:
    """Whose failure `failure` of a `request` is (pure; the one rule, see reliability.md).

    - the row's: Propexo refused what the row holds (400/422 or another 4xx about the body,
      a 404 for a move's event id, a 400 or 404 reading that row's lead);
    - the configuration's: the request went to the wrong place (a 404 on the create path or
      the integration, a redirect, 405), which no row can fix;
    - the service's: everything that says nothing about the row (refused, reset or timed-out
      connections, 5xx, 429, answers of the wrong shape, transport errors).
    A row the service keeps failing while it answers other rows is told apart by the caller
    (`sync/sender.py`): `owner` sees one exchange, not the others."""
    if failure.kind is FailureKind.BAD_REQUEST:
        return Owner.CONFIGURATION if request is Request.INTEGRATION else Owner.ROW
    if failure.kind is FailureKind.NOT_FOUND:
        if request in (Request.MOVE, Request.LEAD_READ, Request.WRITE_STATUS):
            return Owner.ROW
        return Owner.CONFIGURATION
    if failure.kind is FailureKind.UNEXPECTED and failure.status is not None:
        if failure.status in _WRONG_PLACE or failure.status < 400:
            return Owner.CONFIGURATION
        return Owner.ROW if failure.status < 500 else Owner.SERVICE
    return Owner.SERVICE


def failure_type(error: BaseException) -> FailureType:
    """The trace failure type that tells Airbyte what to do about an error that ends a sync."""
    if isinstance(error, ConfigError):
        return FailureType.config_error
    if isinstance(error, TransientError):
        return FailureType.transient_error
    return FailureType.system_error
