"""The retry policy decides from the failure alone: retry, read back, or give up."""

from __future__ import annotations

import pytest

from destination_propexo.errors import FailureKind, RequestFailure
from destination_propexo.propexo.retry import Action, RetryPolicy

POLICY = RetryPolicy(max_attempts=4, max_total_seconds=60, backoff_initial=1, jitter=0)


def failure(kind: FailureKind, retry_after: float | None = None) -> RequestFailure:
    return RequestFailure(kind, kind.value, retry_after=retry_after)


@pytest.mark.parametrize("kind", [FailureKind.RATE_LIMITED, FailureKind.CONNECT])
def test_failures_that_created_nothing_are_retried_even_for_a_create(kind: FailureKind) -> None:
    decision = POLICY.decide(failure(kind), attempt=1, elapsed=0, idempotent=False, rand=0.5)
    assert decision.action is Action.RETRY


@pytest.mark.parametrize(
    "kind",
    [FailureKind.SERVER_ERROR, FailureKind.READ_TIMEOUT, FailureKind.DROPPED, FailureKind.GARBLED],
)
def test_unclear_failures_of_a_create_are_read_back_never_resent(kind: FailureKind) -> None:
    decision = POLICY.decide(failure(kind), attempt=1, elapsed=0, idempotent=False, rand=0.5)
    assert decision.action is Action.READ_BACK
    assert decision.may_resend


@pytest.mark.parametrize(
    "kind",
    [FailureKind.SERVER_ERROR, FailureKind.READ_TIMEOUT, FailureKind.DROPPED],
)
def test_unclear_failures_of_a_read_are_simply_retried(kind: FailureKind) -> None:
    decision = POLICY.decide(failure(kind), attempt=1, elapsed=0, idempotent=True, rand=0.5)
    assert decision.action is Action.RETRY


@pytest.mark.parametrize(
    "kind", [FailureKind.BAD_REQUEST, FailureKind.NOT_FOUND, FailureKind.UNEXPECTED]
)
@pytest.mark.parametrize("idempotent", [True, False])
def test_deterministic_failures_are_not_retried(kind: FailureKind, idempotent: bool) -> None:
    decision = POLICY.decide(failure(kind), attempt=1, elapsed=0, idempotent=idempotent)
    assert decision.action is Action.GIVE_UP


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_initial=1, backoff_factor=2, backoff_max=5, jitter=0)
    assert [policy.backoff(n, 0.5) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_jitter_spreads_the_delay_both_ways() -> None:
    policy = RetryPolicy(backoff_initial=10, jitter=0.25)
    assert policy.backoff(1, 0.0) == pytest.approx(7.5)
    assert policy.backoff(1, 0.999999) == pytest.approx(12.5, rel=1e-4)


def test_retry_after_is_honoured_with_a_cap() -> None:
    policy = RetryPolicy(retry_after_cap=30, max_total_seconds=1000)
    short = policy.decide(
        failure(FailureKind.RATE_LIMITED, 7), attempt=1, elapsed=0, idempotent=False
    )
    long = policy.decide(
        failure(FailureKind.RATE_LIMITED, 600), attempt=1, elapsed=0, idempotent=False
    )
    assert (short.delay, long.delay) == (7, 30)


def test_attempts_run_out() -> None:
    decision = POLICY.decide(
        failure(FailureKind.CONNECT), attempt=4, elapsed=0, idempotent=False, rand=0.5
    )
    assert decision.action is Action.GIVE_UP


def test_total_time_runs_out() -> None:
    decision = POLICY.decide(
        failure(FailureKind.CONNECT), attempt=1, elapsed=59.5, idempotent=False, rand=0.5
    )
    assert decision.action is Action.GIVE_UP


def test_an_unclear_create_past_its_budget_is_read_back_but_not_resent() -> None:
    decision = POLICY.decide(
        failure(FailureKind.READ_TIMEOUT), attempt=4, elapsed=0, idempotent=False, rand=0.5
    )
    assert decision.action is Action.READ_BACK
    assert not decision.may_resend
