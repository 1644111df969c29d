"""The connector's exception tree; each class names what happens to the sync.

    PropexoError             a bug if it ever escapes: the sync stops with a `system_error`
    ├── ConfigError          the sync stops with a `config_error` trace: the user must fix
    │   │                    the configuration (or the data feeding it)
    │   ├── TokenRefused     Propexo answered 401/403: the token is wrong, expired or revoked
    │   ├── CertificateRefused  the API's TLS certificate failed verification; nothing was sent
    │   └── TooManyRejected  more rows were rejected than `max_rejected_percent` allows
    ├── TransientError       the sync stops with a `transient_error` trace: Airbyte retries the
    │   │                    attempt, which re-sends from the last echoed STATE
    │   ├── LookupUnavailable  a lead's appointments could not be read to check for a booking
    │   └── RateLimitedTooLong  Propexo kept asking for waits beyond the Retry-After cap
    ├── InputError           the sync stops with a `system_error` trace: broken input stream
    ├── SyncStopped          another error stopped the sync; this record is left without an
    │                        outcome, like every record not yet tried (never reported itself)
    └── RequestFailure       one HTTP exchange failed; `retry.decide` says what follows
        └── Unresolved       an unclear create that may not be sent again: outcome unknown

A record that cannot be written is not an exception: it becomes a `Rejected` outcome
(see `outcomes.py`) and the sync goes on. `failure_type` below is the one place that maps
an error to the trace Airbyte acts on.
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


def failure_type(error: BaseException) -> FailureType:
    """The trace failure type that tells Airbyte what to do about an error that ends a sync."""
    if isinstance(error, ConfigError):
        return FailureType.config_error
    if isinstance(error, TransientError):
        return FailureType.transient_error
    return FailureType.system_error
