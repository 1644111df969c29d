"""The retry policy: a small immutable value, and a pure decision per failure.

Propexo has no idempotency keys, so a create (POST) is never re-sent blindly:
- SAFE failures (429, connection refused, connect time-out, DNS) reached no handler, so
  nothing was created and the request may be sent again after a delay;
- AMBIGUOUS failures (5xx, read time-out, connection dropped after the body was sent) may
  have queued a job: the caller must read the lead's appointments back before re-sending;
- FINAL failures (400, 404, 422, anything else unexpected) are not retried.
Reads (GET) are idempotent, so every transient failure is simply retried.

`retrying` is the one retry loop, used for reads and creates alike: the decision is the
pure `RetryPolicy.decide`, and the waits between attempts are waits on the stop event.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from destination_propexo.errors import FailureKind, RequestFailure, Unresolved
from destination_propexo.propexo.ratelimit import RETRY_AFTER_CAP_SECONDS
from destination_propexo.stop import Stop

Answer = TypeVar("Answer")

SAFE_KINDS = frozenset({FailureKind.RATE_LIMITED, FailureKind.CONNECT})
AMBIGUOUS_KINDS = frozenset(
    {FailureKind.SERVER_ERROR, FailureKind.READ_TIMEOUT, FailureKind.DROPPED, FailureKind.GARBLED}
)


class Action(enum.Enum):
    """What to do after a failed exchange."""

    RETRY = "retry"
    READ_BACK = "read back before re-sending"
    GIVE_UP = "give up"


@dataclass(frozen=True)
class Decision:
    """`delay` is the wait before the next send; for READ_BACK, `may_resend` says whether a
    read-back that finds nothing may be followed by another send at all."""

    action: Action
    delay: float = 0.0
    may_resend: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, how often, for how long, and how far apart."""

    max_attempts: int = 6
    max_total_seconds: float = 300.0
    backoff_initial: float = 1.0
    backoff_factor: float = 2.0
    backoff_max: float = 30.0
    jitter: float = 0.25
    retry_after_cap: float = RETRY_AFTER_CAP_SECONDS

    def backoff(self, attempt: int, rand: float) -> float:
        """Delay before attempt `attempt + 1`; `rand` in [0, 1) spreads retries apart."""
        base = min(self.backoff_max, self.backoff_initial * self.backoff_factor ** (attempt - 1))
        return base * (1.0 + self.jitter * (2.0 * rand - 1.0))

    def delay_for(self, failure: RequestFailure, attempt: int, rand: float) -> float:
        if failure.retry_after is not None:
            return max(0.0, min(failure.retry_after, self.retry_after_cap))
        return self.backoff(attempt, rand)

    def decide(
        self,
        failure: RequestFailure,
        *,
        attempt: int,
        elapsed: float,
        idempotent: bool,
        rand: float | None = None,
    ) -> Decision:
        """Decide after attempt number `attempt` (1-based) failed, `elapsed` s after the first."""
        delay = self.delay_for(failure, attempt, random.random() if rand is None else rand)
        within_budget = attempt < self.max_attempts and elapsed + delay <= self.max_total_seconds
        if failure.kind in SAFE_KINDS or (idempotent and failure.kind in AMBIGUOUS_KINDS):
            return Decision(Action.RETRY, delay) if within_budget else Decision(Action.GIVE_UP)
        if failure.kind in AMBIGUOUS_KINDS:
            return Decision(Action.READ_BACK, delay, may_resend=within_budget)
        return Decision(Action.GIVE_UP)


def retrying(
    exchange: Callable[[], Answer],
    *,
    policy: RetryPolicy,
    stop: Stop,
    idempotent: bool,
    read_back: Callable[[RequestFailure], Answer | None] | None = None,
) -> Answer:
    """Run `exchange` until it answers, as `policy` allows.

    Raises the last `RequestFailure` when the policy gives up (its `attempts` set), and
    `Unresolved` when an unclear failure was read back, nothing was found, and the policy
    allows no further send. `read_back` settles an unclear failure of a non-idempotent
    exchange: an answer adopts what the lost request did, None means it did nothing.
    """
    started = stop.clock.now()
    attempt = 0
    while True:
        attempt += 1
        try:
            return exchange()
        except RequestFailure as failure:
            decision = policy.decide(
                failure,
                attempt=attempt,
                elapsed=stop.clock.now() - started,
                idempotent=idempotent,
                rand=random.random(),
            )
            if decision.action is Action.GIVE_UP:
                failure.attempts = attempt
                raise
            if decision.action is Action.READ_BACK:
                if read_back is None:
                    raise Unresolved(failure, attempt) from None
                settled = read_back(failure)
                if settled is not None:
                    return settled
                if not decision.may_resend:
                    raise Unresolved(failure, attempt) from None
            stop.sleep(decision.delay)
