"""The connector's exception tree; each class names what happens to the sync.

    PropexoError
    ├── ConfigError          the sync stops with a `config_error` trace: fix the configuration
    │   ├── TokenRefused     Propexo answered 401/403: the token is wrong, expired or revoked
    │   └── CertificateRefused  the API's TLS certificate failed verification; nothing was sent
    ├── InputError           the sync stops with a `system_error` trace: broken input stream
    ├── SyncStopped          another error stopped the sync; this record is left without an
    │                        outcome, like every record not yet tried
    └── RequestFailure       one HTTP exchange failed; `retry.decide` says what follows
                             (send again, read back first, or give up on this record)

A record that cannot be written is not an exception: it becomes a `Rejected` outcome
(see `outcomes.py`) and the sync goes on.
"""

from __future__ import annotations

import enum


class PropexoError(Exception):
    """Base of every error this connector raises on purpose."""


class ConfigError(PropexoError):
    """The configuration or catalog cannot work; the message says what to change."""


class TokenRefused(ConfigError):
    """Propexo refused the API token (401/403)."""


class CertificateRefused(ConfigError):
    """The API host's TLS certificate could not be verified (requests' default verify=True)."""


class InputError(PropexoError):
    """A line on stdin is not a valid Airbyte message."""

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"input line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason


class SyncStopped(PropexoError):
    """Raised instead of sending again once the sync is stopping."""


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
    AUTH = "token refused"
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

    @property
    def message(self) -> str:
        return str(self)
