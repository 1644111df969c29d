"""What must hold after a generated sync, checked against the sandbox's own record (its store
and its request log), never against what the connector says about itself alone.

Each check returns plain sentences, so a failing case reads as a list of what went wrong.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from integration_tests.simulation.airbyte import Run, SyncHistory
from integration_tests.simulation.model import (
    INVALID_FORMS,
    REFUSED_FORMS,
    TAG_PREFIX,
    UNKNOWN_EVENT,
    Case,
    Row,
    State,
    property_of,
)
from integration_tests.simulation.vendors import (
    PMSS,
    STATED_ZONE,
    property_zone,
    wall_clock,
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
# Faults after which a write may or may not have queued a job (the client cannot tell).
MAYBE_WRITTEN = frozenset(
    {
        CreateFault.RATE_500,
        CreateFault.RATE_503,
        CreateFault.DROP,
        CreateFault.HANG,
        CreateFault.CREATED_THEN_500,
        CreateFault.CREATED_THEN_DROP,
        CreateFault.CREATED_THEN_HANG,
    }
)
# A write answered this slowly may have met the client's time-out (1 s in the harness).
SLOW_ANSWER = 0.25
_TAG = re.compile(re.escape(TAG_PREFIX) + r"(?P<index>[0-9]+)\]$")


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
    *,
    timezones: Sequence[Mapping[str, object]] = (),
) -> list[str]:
    """Every violation of the suite's invariants, as sentences; empty when the sync held.

    `requests` is the sandbox's request log, `appointments` what it reads back after its next
    data sync, `timezones` the rows its GET /v1/timezones/ serves."""
    case = history.case
    fired = fired_rules(case, requests)
    problems: list[str] = []
    for number, run in enumerate(history.runs):
        until = history.runs[number + 1].started if number + 1 < len(history.runs) else float("inf")
        run_requests = _of_run(run, requests, until)
        run_fired = _of_run(run, fired, until)
        where = f"job {run.job} attempt {run.attempt}"
        problems += [
            f"{where}: {p}"
            for p in _check_run(history, run, run_requests, run_fired, appointments, timezones)
        ]
    problems += _check_vendor_requests(case, requests, timezones)
    problems += _check_configured(case, history, requests)
    first = history.runs[0] if history.runs else None
    if (
        first is not None
        and first.returncode != 0
        and not _plans_a_stop(case)
        and not _a_job_never_read(_of_run(first, requests, _end_of(history, 0)), fired)
        and not _an_unclear_create_unconfirmed(_of_run(first, requests, _end_of(history, 0)), fired)
    ):
        problems.append(
            f"the first attempt failed ({first.failure_type}) though no fault in the plan "
            "stops a sync: every fault planned ends, or is a row's own"
        )
    problems += _check_bookings(case, history, appointments, timezones)
    problems += _check_secrets(history, outputs, secrets)
    return problems


# --- each PMS on its own terms ----------------------------------------------------------------


def reading_zone(row: Row, timezones: Sequence[Mapping[str, object]]) -> tuple[str | None, str]:
    """The IANA zone whose wall clock `row`'s vendor reads for it, or None and the field the
    connector must name in refusing the row (no documented rule, no zone to read)."""
    pms = PMSS[row.vendor]
    if pms.reading == "undocumented":
        return None, "appointment_time"
    if pms.reading == "stated":
        stated = row.missing != "property_timezone"
        return (STATED_ZONE, "") if stated else (None, "property_timezone")
    if pms.reading == "property":
        named = None if row.missing == "property_id" else property_of(row.lead)
        zone = property_zone(timezones, row.integration_id, named)
        return (zone, "") if zone is not None else (None, "property_id")
    return pms.reading, ""


def refused_fields(case: Case, row: Row, timezones: Sequence[Mapping[str, object]]) -> set[str]:
    """The fields one of which the connector must name, with the vendor, in refusing `row` on
    its vendor's terms; empty when those terms let it be sent. A move (update stream) needs the
    vendor's update, a one-upcoming-tour row its create and its update, any other its create;
    the vendor's reading of time needs its zone, and a wall clock that happens twice can only
    be its first time."""
    pms = PMSS[row.vendor]
    mode = case.streams[row.stream].mode
    operations: tuple[Literal["create", "update"], ...] = ("create",)
    if mode == "update":
        operations = ("update",)
    elif mode == "dedup_lead":
        operations = ("create", "update")
    fields: set[str] = set()
    for operation in operations:
        if operation == "update" and not pms.has_update:
            fields.add("event_id")
        elif row.missing in pms.required(operation):
            fields.add(str(row.missing))
    zone, refused = reading_zone(row, timezones)
    if zone is None:
        fields.add(refused)
    elif wall_clock(row.instant, zone).repeated_second:
        fields.add("appointment_time")
    return fields


def bookable(case: Case, row: Row, timezones: Sequence[Mapping[str, object]]) -> bool:
    """Whether the connector may send `row` (not refused for its form or its vendor's terms)."""
    return row.form not in INVALID_FORMS and not refused_fields(case, row, timezones)


def tagged_row(case: Case, request: LoggedRequest) -> tuple[int | None, dict[str, Any] | None]:
    """The message index of the row a write request was made for (its notes end with the row's
    tag; None when it has none) and the request's body (None when it is not a JSON object)."""
    try:
        body = json.loads(request.body)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    match = _TAG.search(str(body.get("notes", "")))
    if match is None:
        return None, body
    index = int(match["index"])
    valid = index < len(case.messages) and isinstance(case.messages[index], Row)
    return (index if valid else None), body


def _check_vendor_requests(
    case: Case, requests: list[LoggedRequest], timezones: Sequence[Mapping[str, object]]
) -> list[str]:
    """Every create and move went to its row's vendor's endpoint, with only fields that vendor
    takes (and all it requires), and the wall clock the vendor reads for the row's instant."""
    problems: list[str] = []
    for request in requests:
        if request.endpoint not in ("create", "update"):
            continue
        said = f"{request.method} {request.path}"
        if "ignore_unknown_fields" in request.query:
            problems.append(f"{said} asked Propexo to ignore unknown fields ({request.query})")
        index, body = tagged_row(case, request)
        if body is None:
            problems.append(f"{said} sent a body that is not a JSON object: {request.body[:200]!r}")
            continue
        if index is None:
            problems.append(f"{said} was sent for no row of the input (no row tag in its notes)")
            continue
        row = case.messages[index]
        assert isinstance(row, Row)
        problems += [
            f"{said} for message {index} ({row}): {p}"
            for p in _vendor_request_problems(case, row, request, body, timezones)
        ]
    return problems


def _vendor_request_problems(
    case: Case,
    row: Row,
    request: LoggedRequest,
    body: dict[str, Any],
    timezones: Sequence[Mapping[str, object]],
) -> list[str]:
    pms = PMSS[row.vendor]
    operation: Literal["create", "update"] = "create" if request.endpoint == "create" else "update"
    problems: list[str] = []
    refused = refused_fields(case, row, timezones)
    if row.form in INVALID_FORMS or refused:
        why = sorted(refused) or [row.form]
        return [f"sent, though the row must be refused ({', '.join(why)})"]
    slug = request.path.removeprefix("/v1/events/appointments/leads/").split("/")[0]
    if slug != pms.slug:
        problems.append(f"sent to the {slug!r} endpoint; {pms.name} books at {pms.slug!r}")
    if operation == "create" and body.get("integration_id") != row.integration_id:
        problems.append(f"integration_id {body.get('integration_id')!r}, not the row's")
    schema = pms.spec.create if operation == "create" else pms.spec.update
    if schema is None:
        return [*problems, f"{pms.name} has no update, yet a move was sent"]
    extra = sorted(set(body) - pms.takes(operation))
    if extra:
        problems.append(f"fields {pms.name}'s {operation} does not take: {extra}")
    absent = sorted({f.name for f in schema if f.required} - set(body))
    if absent:
        problems.append(f"without fields {pms.name}'s {operation} requires: {absent}")
    zone, _ = reading_zone(row, timezones)
    assert zone is not None  # a row without a zone is refused above
    want = wall_clock(row.instant, zone)
    date, time = str(body.get("appointment_date", "")), str(body.get("appointment_time", ""))
    if zone == "UTC" and len(date) > 10 and date != f"{date[:10]}T{time}Z":
        problems.append(f"appointment_date {date!r} is another instant than {time!r}")
    elif zone != "UTC" and len(date) != 10:
        problems.append(f"appointment_date {date!r} is not the plain date a {zone} wall clock is")
    if (date[:10], time) != (want.date, want.time):
        problems.append(
            f"{pms.name} was sent {date[:10]} {time}; it reads {zone}, where the row's instant "
            f"({row.date} {row.time} UTC) is {want.date} {want.time}"
        )
    return problems


def _unclear_writes(
    case: Case, requests: list[LoggedRequest], fired: list[Fired], *, slow: bool = False
) -> dict[int, list[LoggedRequest]]:
    """The creates of unreadable-at-once vendors (Entrata, Yardi REST) whose answer left
    unclear whether a job was queued, by the message index of their row: a 5xx, a dropped
    connection or a planned hang. `slow`: also any answer slower than `SLOW_ANSWER` (on a
    loaded machine the client may time out where no fault was planned)."""
    covered = {id(hit.request): hit.rule.fault for hit in fired}
    unclear: dict[int, list[LoggedRequest]] = collections.defaultdict(list)
    for request in requests:
        if request.endpoint != "create":
            continue
        index, _ = tagged_row(case, request)
        if index is None:
            continue
        row = case.messages[index]
        assert isinstance(row, Row)
        if PMSS[row.vendor].readable_at_once:
            continue
        fault = covered.get(id(request))
        took = None if request.finished is None else request.finished - request.started
        if (
            request.status is None
            or request.status >= 500
            or fault in MAYBE_WRITTEN
            or (slow and (took is None or took >= SLOW_ANSWER))
        ):
            unclear[index].append(request)
    return unclear


def _check_unclear_creates(
    case: Case, run: Run, requests: list[LoggedRequest], fired: list[Fired]
) -> list[str]:
    """At a vendor that shows a new appointment only after Propexo's next data sync, a create
    without a clear answer cannot be read back: the row ends `outcome unknown` (or, at a stop
    while it was on the wire, without an outcome) and its create is never sent again in the run
    (docs/reliability.md, "Entrata and Yardi REST")."""
    problems: list[str] = []
    unclear = _unclear_writes(case, requests, fired)
    for index, first in unclear.items():
        row = case.messages[index]
        assert isinstance(row, Row)
        after = [
            r
            for r in requests
            if r.endpoint == "create"
            and r.started > first[0].started
            and tagged_row(case, r)[0] == index
        ]
        if after:
            problems.append(
                f"message {index} ({row}): its create got no clear answer "
                f"(status {first[0].status}), and it was sent again {len(after)} time(s) in the "
                f"same run, though {PMSS[row.vendor].name} cannot show whether the first booked"
            )
        for line, sent in enumerate(run.sent, start=1):
            if sent != index:
                continue
            for outcome in run.outcomes:
                if outcome.get("line") == line and outcome.get("category") != "outcome unknown":
                    problems.append(
                        f"message {index} ({row}): its create got no clear answer, yet it ended "
                        f"{outcome.get('outcome')} {outcome.get('category') or ''}: {outcome}"
                    )
    return problems


def configured_refusal(case: Case) -> str | None:
    """Why the connector must refuse the configured integration before any row (its vendor
    reads time by no documented rule, or a stream moves tours and it has no update), or None."""
    pms = PMSS[case.configured]
    if pms.reading == "undocumented":
        return f"{pms.name} reads time by no documented rule"
    if not pms.has_update and any(s.mode in ("update", "dedup_lead") for s in case.streams):
        return f"{pms.name} has no update, and a stream moves tours"
    return None


def _check_configured(case: Case, history: SyncHistory, requests: list[LoggedRequest]) -> list[str]:
    """A configured integration the connector must refuse stops every attempt before any
    write, with a config_error naming its vendor (unless another fault stopped it first)."""
    why = configured_refusal(case)
    if why is None:
        return []
    problems: list[str] = []
    writes = [r for r in requests if r.endpoint in ("create", "update")]
    if writes:
        problems.append(
            f"{len(writes)} writes were sent, though the configuration is refused: {why}"
        )
    for run in history.runs:
        if run.returncode == 0:
            where = f"job {run.job} attempt {run.attempt}"
            problems.append(f"{where}: exit 0, though the configuration is refused: {why}")
    return problems


def _end_of(history: SyncHistory, number: int) -> float:
    """When run `number` of the history ended for the request log: the next run's start."""
    runs = history.runs
    return runs[number + 1].started if number + 1 < len(runs) else float("inf")


def _a_job_never_read(requests: list[LoggedRequest], fired: list[Fired]) -> bool:
    """Whether every poll of some job's write status met a planned service fault. A job is
    polled only a few times within `write_status_timeout_seconds` (2 s in the harness), so a
    fault that ends after two or three requests may still take all of them: the connector then
    stops, as documented ("write status never answered by write_status_timeout_seconds")."""
    failed = {id(hit.request) for hit in fired if hit.rule.fault in SERVICE_FAULTS}
    polls: dict[str, list[bool]] = collections.defaultdict(list)
    for request in requests:
        if request.endpoint == "write_status":
            polls[request.path.rstrip("/")].append(id(request) in failed)
    return any(all(answers) for answers in polls.values())


def _an_unclear_create_unconfirmed(requests: list[LoggedRequest], fired: list[Fired]) -> bool:
    """Whether a create at a PMS that cannot read a new tour back at once (Entrata, Yardi
    REST) met a planned fault that may have written it, with no write started after it
    answered 2xx: the connector cannot tell that from an outage, and stops
    (docs/reliability.md, "an unclear create")."""
    late_paths = {
        f"/v1/events/appointments/leads/{pms.slug}/"
        for pms in PMSS.values()
        if not pms.readable_at_once
    }
    unclear = [
        hit.request
        for hit in fired
        if hit.rule.fault in MAYBE_WRITTEN
        and hit.request.endpoint == "create"
        and hit.request.path in late_paths
    ]
    return any(
        not any(
            other.endpoint in ("create", "update")
            and other.started > request.started
            and other.status is not None
            and 200 <= other.status < 300
            for other in requests
        )
        for request in unclear
    )


def _plans_a_stop(case: Case) -> bool:
    """Whether the plan has a fault that may rightly stop a sync: a refused token, a broken
    line, a SIGTERM, object storage going down, an outage that does not end, a 404 on the
    create path or the integration; or a configured integration that must be refused."""
    if configured_refusal(case) is not None:
        return True
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
    timezones: Sequence[Mapping[str, object]],
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
    problems += _check_stop(case, run, requests, fired)
    problems += _check_rejections(
        case, run, records, outcomes_by_line, fired, appointments, timezones, requests
    )
    problems += _check_unclear_creates(case, run, requests, fired)
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


def _check_stop(
    case: Case, run: Run, requests: list[LoggedRequest], fired: list[Fired]
) -> list[str]:
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
        allowed = _allowed_failure_types(case, run, requests, fired)
        kind = run.failure_type
        others = _allowed_failure_types(case, run, requests, fired, configured=False)
        name = PMSS[case.configured].name
        said = traces[-1][1]["error"].get("message", "")
        if (
            configured_refusal(case) is not None
            and kind == "config_error"
            and others is not None
            and "config_error" not in others
            and name not in said
        ):
            problems.append(f"the config_error does not name {name}: {said[:200]}")
        if allowed is not None and kind not in allowed:
            why = sorted(allowed) or "no fatal fault in this run"
            said = traces[-1][1]["error"].get("message", "")[:200]
            problems.append(f"stopped with {kind} ({said}); expected {why}")
    if run.sigterm_at is not None and run.ended - run.sigterm_at > EXIT_AFTER_SIGTERM:
        problems.append(f"exited {run.ended - run.sigterm_at:.1f} s after SIGTERM")
    return problems


def _allowed_failure_types(
    case: Case,
    run: Run,
    requests: list[LoggedRequest],
    fired: list[Fired],
    *,
    configured: bool = True,
) -> set[str] | None:
    """The TRACE failure types this run's faults (and, `configured`, a configured integration
    that must be refused) justify; None: any (a SIGTERM)."""
    if run.sigterm_at is not None:
        return None
    allowed: set[str] = set()
    if configured and configured_refusal(case) is not None:
        allowed.add("config_error")
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
    timezones: Sequence[Mapping[str, object]],
    requests: list[LoggedRequest],
) -> list[str]:
    problems: list[str] = []
    faults = {(hit.rule.endpoint, hit.rule.fault) for hit in fired}
    unclear = _unclear_writes(case, requests, fired, slow=True)
    unclear_leads = {
        (row.integration_id, row.lead)
        for index in unclear
        if isinstance(row := case.messages[index], Row)
    }
    for line, given in outcomes.items():
        row = case.messages[records[line]]
        assert isinstance(row, Row)
        outcome = given[0]
        pms = PMSS[row.vendor]
        refused = refused_fields(case, row, timezones)
        if row.form in INVALID_FORMS or refused:
            reason = str(outcome.get("reason", ""))
            if outcome.get("category") != "invalid record":
                why = sorted(refused) or [row.form]
                problems.append(
                    f"line {line} ({row}) should be rejected as invalid ({', '.join(why)}): "
                    f"{outcome}"
                )
            elif row.form not in INVALID_FORMS and not (
                any(reason.startswith(f"{field}:") for field in refused) and pms.name in reason
            ):
                problems.append(
                    f"line {line} ({row}) is rejected, but its reason names neither one of "
                    f"{sorted(refused)} nor {pms.name}: {reason}"
                )
            continue
        if outcome["outcome"] != "rejected":
            continue
        category = outcome.get("category")
        if (
            category == "invalid record"
            and str(outcome.get("reason", "")).startswith("integration_id:")
            and ("integration", CreateFault.NOT_FOUND) in faults
        ):
            continue  # Propexo said the row's integration is not there
        if not pms.readable_at_once and (
            (category == "outcome unknown" and (row.integration_id, row.lead) in unclear_leads)
            or (
                category
                in ("earlier write of the lead not confirmed", "lead has several upcoming tours")
                and case.streams[row.stream].mode == "dedup_lead"
            )
        ):
            continue  # docs/reliability.md, "Entrata and Yardi REST"
        if category == "outcome unknown" and faults & {
            ("read_back", CreateFault.BAD_REQUEST),
            ("read_back", CreateFault.NOT_FOUND),
        }:
            continue  # an unclear write whose lead Propexo refused to read back (the row's)
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


def _same_tour_place(appointment: Mapping[str, Any], integration_id: str, lead: str) -> bool:
    return (
        appointment["associated_lead_ids"] == [lead]
        and appointment.get("integration_id") == integration_id
    )


def _several_upcoming_possible(case: Case, row: Row, appointments: list[dict[str, Any]]) -> bool:
    key = (row.integration_id, row.lead)
    other_modes = any(
        (r.integration_id, r.lead) == key
        and case.streams[r.stream].mode in ("append", "dedup_slot")
        for _, r in case.rows()
    )
    booked = sum(_same_tour_place(a, *key) for a in appointments)
    seeded = sum((s.integration_id, s.lead) == key for s in case.seeded)
    return other_modes or booked >= 2 or seeded >= 2


def _check_bookings(
    case: Case,
    history: SyncHistory,
    appointments: list[dict[str, Any]],
    timezones: Sequence[Mapping[str, object]],
) -> list[str]:
    """No tour is booked twice across Airbyte's retries, nor where no row puts it. At a vendor
    that shows a new appointment only after Propexo's next data sync, a row re-sent by a later
    attempt cannot be checked and may book again (docs/reliability.md): there, each run may
    book each of the rows it was sent once."""
    problems: list[str] = []
    booked = collections.Counter(
        (
            str(a.get("integration_id")),
            str(a["associated_lead_ids"][0]),
            str(a["appointment_datetime"]),
        )
        for a in appointments
    )
    allowed = collections.Counter(s.slot for s in case.seeded)
    for index, row in case.rows():
        if not bookable(case, row, timezones) or row.form in REFUSED_FORMS:
            continue
        runs = sum(index in run.sent for run in history.runs)
        allowed[row.slot] += 1 if PMSS[row.vendor].readable_at_once else max(1, runs)
    for slot, count in sorted(booked.items()):
        if count <= allowed[slot]:
            continue
        integration, lead, when = slot
        if allowed[slot] == 0:
            problems.append(
                f"an appointment for {lead} at {when} in {integration}, where no input row or "
                "seeded appointment puts one: booked at a wrong time or in a wrong PMS"
            )
        else:
            problems.append(
                f"{count} appointments for {lead} at {when} in {integration}, but only "
                f"{allowed[slot]} input rows and seeded appointments for it: a row was booked "
                "twice"
            )
    problems += _check_one_upcoming(case, history, appointments)
    return problems


def _check_one_upcoming(
    case: Case, history: SyncHistory, appointments: list[dict[str, Any]]
) -> list[str]:
    """A lead only ever written by lead_id-keyed and update rows ends with one tour in each
    integration, at its last accepted row's time there (in the order the runs applied them).
    Not at a vendor that shows a new appointment only after Propexo's next data sync: a later
    attempt cannot see the tour an earlier one booked (docs/reliability.md)."""
    problems: list[str] = []
    places = {(row.integration_id, row.lead) for _, row in case.rows()}
    for integration, lead in sorted(places):
        rows = [
            row for _, row in case.rows() if (row.integration_id, row.lead) == (integration, lead)
        ]
        if not PMSS[rows[0].vendor].readable_at_once:
            continue
        if any(case.streams[r.stream].mode not in ("dedup_lead", "update") for r in rows):
            continue
        if sum(s.slot[:2] == (integration, lead) for s in case.seeded) > 1:
            continue
        verdicts = _latest_verdicts(case, history)
        accepted = [
            (order, index, outcome)
            for index, (order, outcome) in verdicts.items()
            if case.messages[index] in rows and outcome["outcome"] == "accepted"
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
            if _same_tour_place(a, integration, lead)
        )
        if tours != [last.slot[2]]:
            problems.append(
                f"{lead} ends with tours {tours} in {integration}; its last accepted row "
                f"({last}) says one at {last.slot[2]}"
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
