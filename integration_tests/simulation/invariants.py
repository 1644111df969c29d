"""What must hold after a generated sync, checked against the sandbox's own record (its store
and its request log), never against what the connector says about itself alone.

Each check returns plain sentences, so a failing case reads as a list of what went wrong.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from integration_tests.simulation.airbyte import Run, SyncHistory
from integration_tests.simulation.model import (
    INVALID_FORMS,
    REFUSED_FORMS,
    UNKNOWN_EVENT,
    Case,
    Row,
    State,
)
from propexo_sandbox import CreateFault, FaultRule
from propexo_sandbox.stats import LoggedRequest

# A request the connector sent before its TRACE may reach the sandbox's handler a moment
# after the harness read the TRACE line; later than this is a request started after it.
AFTER_TRACE_SLACK = 0.1
EXIT_AFTER_TRACE = 5.0
EXIT_AFTER_SIGTERM = 15.0

SERVICE_FAULTS = frozenset(
    {
        CreateFault.RATE_429,
        CreateFault.RATE_503,
        CreateFault.RATE_500,
        CreateFault.DROP,
        CreateFault.HANG,
        CreateFault.CREATED_THEN_500,
        CreateFault.CREATED_THEN_HANG,
        CreateFault.CREATED_THEN_DROP,
    }
)
MISSING_LEAD_PREFIX = "lead-missing"


@dataclass(frozen=True)
class Fired:
    """A rule that covered a request of a run."""

    rule: FaultRule
    request: LoggedRequest


def fired_rules(case: Case, log: list[LoggedRequest]) -> list[Fired]:
    """Which planned rules covered which logged requests, numbered as the sandbox numbers them."""
    per_endpoint: collections.Counter[str] = collections.Counter()
    fired = []
    for overall, request in enumerate(log, start=1):
        per_endpoint[request.endpoint] += 1
        for rule in case.faults.rules:
            if rule.endpoint == request.endpoint and rule.covers(per_endpoint[request.endpoint]):
                fired.append(Fired(rule, request))
                break
            if rule.endpoint == "any" and rule.covers(overall):
                fired.append(Fired(rule, request))
                break
    return fired


def _of_run(run: Run, items: Iterable[Any], until: float) -> list[Any]:
    return [i for i in items if run.started <= _started(i) < until]


def _started(item: Any) -> float:
    return float(item.request.started if isinstance(item, Fired) else item.started)


def check(
    history: SyncHistory,
    requests: list[LoggedRequest],
    appointments: list[dict[str, Any]],
    outputs: dict[str, str],
    secrets: list[str],
) -> list[str]:
    """Every violation of the suite's invariants, as sentences; empty when the sync held."""
    case = history.case
    fired = fired_rules(case, requests)
    problems: list[str] = []
    for number, run in enumerate(history.runs):
        until = history.runs[number + 1].started if number + 1 < len(history.runs) else float("inf")
        run_requests = _of_run(run, requests, until)
        run_fired = _of_run(run, fired, until)
        where = f"job {run.job} attempt {run.attempt}"
        problems += [
            f"{where}: {p}" for p in _check_run(history, run, run_requests, run_fired, appointments)
        ]
    first = history.runs[0] if history.runs else None
    if first is not None and first.returncode != 0 and not _plans_a_stop(case):
        problems.append(
            f"the first attempt failed ({first.failure_type}) though no fault in the plan "
            "stops a sync: every fault planned ends, or is a row's own"
        )
    problems += _check_bookings(case, history, appointments)
    problems += _check_secrets(history, outputs, secrets)
    return problems


def _plans_a_stop(case: Case) -> bool:
    """Whether the plan has a fault that may rightly stop a sync: a refused token, a broken
    line, a SIGTERM, object storage going down, an outage that does not end, a 404 on the
    create path or the integration."""
    faults = case.faults
    if any(
        value is not None
        for value in (
            faults.revoke_after_requests,
            faults.broken_line_at,
            faults.sigterm_after_requests,
            faults.storage_down_after,
        )
    ):
        return True
    return any(
        (rule.count is None and rule.fault in SERVICE_FAULTS)
        or (rule.fault is CreateFault.NOT_FOUND and rule.endpoint in ("create", "integration"))
        for rule in faults.rules
    )


def _check_run(
    history: SyncHistory,
    run: Run,
    requests: list[LoggedRequest],
    fired: list[Fired],
    appointments: list[dict[str, Any]],
) -> list[str]:
    case = history.case
    problems: list[str] = []
    if run.timed_out:
        return ["the connector did not exit within the run time-out"]
    records = {
        line: index
        for line, index in enumerate(run.sent, start=1)
        if index is not None and isinstance(case.messages[index], Row)
    }
    outcomes_by_line: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
    for outcome in run.outcomes:
        line = outcome.get("line")
        if line not in records:
            problems.append(f"an outcome for line {line}, which is not a record: {outcome}")
            continue
        outcomes_by_line[line].append(outcome)
    for line, given in outcomes_by_line.items():
        if len(given) > 1:
            problems.append(f"record line {line} got {len(given)} outcomes: {given}")
    if run.returncode == 0:
        missing = sorted(set(records) - set(outcomes_by_line))
        if missing:
            problems.append(f"exit 0 but record lines {missing} got no outcome")
    problems += _check_states(history, run, records, outcomes_by_line, requests)
    problems += _check_stop(run, requests, fired)
    problems += _check_rejections(case, run, records, outcomes_by_line, fired, appointments)
    return problems


def _check_states(
    history: SyncHistory,
    run: Run,
    records: dict[int, int],
    outcomes: dict[int, list[dict[str, Any]]],
    requests: list[LoggedRequest],
) -> list[str]:
    case = history.case
    before_input = _stopped_before_input(run, requests)
    problems: list[str] = []
    state_lines = [
        line
        for line, index in enumerate(run.sent, start=1)
        if index is not None and isinstance(case.messages[index], State)
    ]
    echoed = run.states
    if len(echoed) > len(state_lines):
        return [f"{len(echoed)} states echoed, {len(state_lines)} sent"]
    if run.returncode == 0 and len(echoed) != len(state_lines):
        problems.append(f"exit 0 but only {len(echoed)} of {len(state_lines)} states echoed")
    previous: dict[int | None, int] = {}
    for position, line in enumerate(state_lines):
        index = run.sent[line - 1]
        assert index is not None
        state = case.messages[index]
        assert isinstance(state, State)
        key = state.stream if case.state_type == "STREAM" else None
        window = [
            n
            for n in records
            if previous.get(key, 0) < n < line
            and (key is None or case.messages[records[n]].stream == key)
        ]
        previous[key] = line
        if position >= len(echoed):
            before = [n for n in records if n < line]
            # A stop at a broken line, or a rejection object storage refused to file, holds it.
            # So does a stop (SIGTERM, a refused token) while the connector still reads its
            # integrations, before it takes any input: a STATE it never read is not owed.
            held = _after_broken_line(run, line) or run.storage_refused or before_input
            if all(n in outcomes for n in before) and not held:
                problems.append(
                    f"the STATE on line {line} was not echoed though every record before it "
                    "was final"
                )
            continue
        got = dict(echoed[position])
        stats = got.pop("destinationStats", None)
        sent_state = history.sent_messages[index]["state"]
        if got != sent_state:
            problems.append(f"STATE on line {line} echoed changed: sent {sent_state}, echoed {got}")
        verdicts = [outcomes[n][0]["outcome"] for n in window if n in outcomes]
        accepted, rejected = verdicts.count("accepted"), verdicts.count("rejected")
        unfinished = [n for n in window if n not in outcomes]
        expected = {"recordCount": accepted, "rejectedRecordCount": rejected}
        if unfinished:
            problems.append(
                f"STATE on line {line} echoed before record lines {unfinished} had outcomes"
            )
        elif stats != expected:
            problems.append(
                f"STATE on line {line} counts {stats}, its window (lines {window}) has {expected}"
            )
    trace_at = min((at for at, _ in run.error_traces), default=None)
    if trace_at is not None:
        late = [m for at, m in run.messages() if at > trace_at and m.get("type") == "STATE"]
        if late:
            problems.append(f"{len(late)} STATE messages came after the TRACE")
    return problems


# What a sync reads before it takes its first input message: each integration's PMS and zones.
STARTUP_ENDPOINTS = frozenset({"integration", "timezones"})


def _stopped_before_input(run: Run, requests: list[LoggedRequest]) -> bool:
    """The run was stopped (a SIGTERM, or an error such as a refused token on its first
    read) while every request it had made was a start-up read."""
    traces = run.error_traces
    stopped_at = run.sigterm_at if run.sigterm_at is not None else traces[0][0] if traces else None
    if stopped_at is None:
        return False
    return all(
        r.endpoint in STARTUP_ENDPOINTS for r in requests if run.started <= r.started <= stopped_at
    )


def _after_broken_line(run: Run, line: int) -> bool:
    return any(index is None for index in run.sent[: line - 1])


def _check_stop(run: Run, requests: list[LoggedRequest], fired: list[Fired]) -> list[str]:
    problems: list[str] = []
    traces = run.error_traces
    if run.returncode != 0 and not traces:
        problems.append(f"exit {run.returncode} without an error TRACE")
    if run.returncode == 0 and traces:
        problems.append(f"exit 0 with an error TRACE: {traces[-1][1]}")
    if traces:
        trace_at = traces[0][0]
        late = [r for r in requests if r.started > trace_at + AFTER_TRACE_SLACK]
        if late:
            shown = ", ".join(
                f"{r.method} {r.endpoint} +{r.started - trace_at:.2f}s" for r in late[:5]
            )
            problems.append(f"{len(late)} requests started after the TRACE: {shown}")
        if run.ended - trace_at > EXIT_AFTER_TRACE:
            problems.append(f"exited {run.ended - trace_at:.1f} s after its TRACE")
        allowed = _allowed_failure_types(run, requests, fired)
        kind = run.failure_type
        if allowed is not None and kind not in allowed:
            why = sorted(allowed) or "no fatal fault in this run"
            said = traces[-1][1]["error"].get("message", "")[:200]
            problems.append(f"stopped with {kind} ({said}); expected {why}")
    if run.sigterm_at is not None and run.ended - run.sigterm_at > EXIT_AFTER_SIGTERM:
        problems.append(f"exited {run.ended - run.sigterm_at:.1f} s after SIGTERM")
    return problems


def _allowed_failure_types(
    run: Run, requests: list[LoggedRequest], fired: list[Fired]
) -> set[str] | None:
    """The TRACE failure types this run's faults justify; None: any (a SIGTERM)."""
    if run.sigterm_at is not None:
        return None
    allowed: set[str] = set()
    if any(index is None for index in run.sent):
        allowed.add("system_error")
    if any(r.status == 401 for r in requests):
        allowed.add("config_error")
    for hit in fired:
        if hit.rule.fault in SERVICE_FAULTS:
            allowed.add("transient_error")
        if hit.rule.fault is CreateFault.NOT_FOUND and hit.rule.endpoint in (
            "create",
            "integration",
            "any",
        ):
            allowed.add("config_error")
    if run.storage_refused:
        # Object storage that worked in this run and then failed is the service's failure;
        # one refused from the start (the check) is the configuration's.
        allowed.add("transient_error" if run.storage_worked else "config_error")
    return allowed


def _check_rejections(
    case: Case,
    run: Run,
    records: dict[int, int],
    outcomes: dict[int, list[dict[str, Any]]],
    fired: list[Fired],
    appointments: list[dict[str, Any]],
) -> list[str]:
    problems: list[str] = []
    faults = {(hit.rule.endpoint, hit.rule.fault) for hit in fired}
    for line, given in outcomes.items():
        row = case.messages[records[line]]
        assert isinstance(row, Row)
        outcome = given[0]
        if row.form in INVALID_FORMS:
            if outcome.get("category") != "invalid record":
                problems.append(f"line {line} ({row}) should be rejected as invalid: {outcome}")
            continue
        if outcome["outcome"] != "rejected":
            continue
        category = outcome.get("category")
        if category == "refused by Propexo" and (
            row.form in REFUSED_FORMS
            or row.event == UNKNOWN_EVENT
            or faults
            & {
                ("create", CreateFault.BAD_REQUEST),
                ("update", CreateFault.BAD_REQUEST),
                ("update", CreateFault.NOT_FOUND),
                ("read_back", CreateFault.BAD_REQUEST),
                ("read_back", CreateFault.NOT_FOUND),
            }
        ):
            continue
        if category == "write failed in the PMS" and (
            row.lead.startswith(MISSING_LEAD_PREFIX)
            or ("create", CreateFault.JOB_FAILURE) in faults
            or ("update", CreateFault.JOB_FAILURE) in faults
        ):
            continue
        if category == "lead has several upcoming tours" and _several_upcoming_possible(
            case, row, appointments
        ):
            continue
        if category == "earlier write of the lead not confirmed" and any(
            fault is CreateFault.JOB_PENDING for _, fault in faults
        ):
            continue
        problems.append(
            f"line {line} ({row}) rejected '{category}' with no row fault to justify it "
            f"(a service fault must stop the sync, not reject rows): {outcome.get('reason')}"
        )
    return problems


def _several_upcoming_possible(case: Case, row: Row, appointments: list[dict[str, Any]]) -> bool:
    other_modes = any(
        r.lead == row.lead and case.streams[r.stream].mode in ("append", "dedup_slot")
        for _, r in case.rows()
    )
    booked = sum(a["associated_lead_ids"] == [row.lead] for a in appointments)
    return other_modes or booked >= 2 or sum(s.lead == row.lead for s in case.seeded) >= 2


def _check_bookings(
    case: Case, history: SyncHistory, appointments: list[dict[str, Any]]
) -> list[str]:
    problems: list[str] = []
    booked = collections.Counter(
        (str(a["associated_lead_ids"][0]), str(a["appointment_datetime"])) for a in appointments
    )
    allowed = collections.Counter(s.slot for s in case.seeded)
    for _, row in case.rows():
        if row.valid and row.form not in REFUSED_FORMS:
            allowed[row.slot] += 1
    for slot, count in sorted(booked.items()):
        if count > allowed[slot]:
            problems.append(
                f"{count} appointments for {slot[0]} at {slot[1]}, but only {allowed[slot]} input "
                "rows and seeded appointments for it: a row was booked twice"
            )
    problems += _check_one_upcoming(case, history, appointments)
    return problems


def _check_one_upcoming(
    case: Case, history: SyncHistory, appointments: list[dict[str, Any]]
) -> list[str]:
    """A lead only ever written by lead_id-keyed and update rows ends with one tour, at its
    last accepted row's time (in the order the runs applied them)."""
    problems: list[str] = []
    leads = {row.lead for _, row in case.rows()}
    for lead in sorted(leads):
        rows = [row for _, row in case.rows() if row.lead == lead]
        if any(case.streams[r.stream].mode not in ("dedup_lead", "update") for r in rows):
            continue
        if sum(s.lead == lead for s in case.seeded) > 1:
            continue
        verdicts = _latest_verdicts(case, history)
        accepted = [
            (order, index, outcome)
            for index, (order, outcome) in verdicts.items()
            if case.messages[index].lead == lead  # type: ignore[union-attr]
            and outcome["outcome"] == "accepted"
        ]
        if not accepted:
            continue
        _, index, outcome = max(accepted, key=lambda found: found[0])
        if outcome.get("write_status") == "QUEUED":
            continue  # accepted at a stop, unconfirmed: where the tour ends is not known
        last = case.messages[index]
        assert isinstance(last, Row)
        tours = sorted(
            str(a["appointment_datetime"])
            for a in appointments
            if a["associated_lead_ids"] == [lead]
        )
        if tours != [last.slot[1]]:
            problems.append(
                f"{lead} ends with tours {tours}; its last accepted row ({last}) says one at "
                f"{last.slot[1]}"
            )
    return problems


def _latest_verdicts(
    case: Case, history: SyncHistory
) -> dict[int, tuple[tuple[int, int], dict[str, Any]]]:
    """Each row's latest outcome, by message index, with when it was applied: (run, line). A
    row sent again after a failed attempt is decided again; the later verdict stands."""
    latest: dict[int, tuple[tuple[int, int], dict[str, Any]]] = {}
    for number, run in enumerate(history.runs):
        for outcome in run.outcomes:
            line = outcome.get("line")
            if not isinstance(line, int) or not 0 < line <= len(run.sent):
                continue
            index = run.sent[line - 1]
            if index is not None and isinstance(case.messages[index], Row):
                latest[index] = ((number, line), outcome)
    return latest


def _check_secrets(history: SyncHistory, outputs: dict[str, str], secrets: list[str]) -> list[str]:
    problems = []
    texts = {
        f"stdout of job {r.job} attempt {r.attempt}": "\n".join(line for _, line in r.lines)
        for r in history.runs
    }
    texts |= {f"stderr of job {r.job} attempt {r.attempt}": r.stderr for r in history.runs}
    texts |= outputs
    for where, text in texts.items():
        for secret in secrets:
            if secret and secret in text:
                problems.append(f"a secret ({secret[:4]}...) appears in the {where}")
    return problems


def describe_outcomes(run: Run) -> str:
    return json.dumps(run.outcomes, ensure_ascii=False)[:2000]
