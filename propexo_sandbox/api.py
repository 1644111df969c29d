"""The Propexo endpoints the sandbox serves, as functions from a parsed request to a `Reply`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from propexo_sandbox.faults import CreateFault, FaultPlan
from propexo_sandbox.state import (
    REFUSED_LEAD_PREFIX,
    Integration,
    Job,
    JobStatus,
    Store,
    iso_timestamp,
)
from propexo_sandbox.validation import Fields, summarize, validate_body
from propexo_sandbox.vendors import VENDOR_SPECS, Schema, VendorSpec

Query = Mapping[str, list[str]]
JSONObject = dict[str, object]

JOB_FAILURE_ERROR = "ResMan: PostLeadManagement4_0 failed: the appointment could not be saved"
# `time_range` of the write-logs feed: a window ending now (the docs name the values only).
_TIME_RANGES = {"hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0, "month": 30 * 86400.0}
_LOG_STATUSES = ("SUCCESS", "FAILURE")
# `write_category` is an enum of snake_case names (amenities, applicants, ..., events, ...).
_WRITE_CATEGORY = re.compile(r"[a-z]+(?:_[a-z]+)*")


@dataclass(frozen=True)
class Reply:
    """An answer to send after `delay` seconds, or a connection to drop without answering."""

    status: int
    body: JSONObject | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    # Sent as is instead of `body` (an answer that is not JSON at all).
    raw: bytes | None = None


DROP = Reply(status=0, drop=True)


# 200 answers of the wrong shape, in turn: not JSON, a list, no status, a status of the
# wrong type, an unknown status value.
_GARBLED_STATUS: tuple[Reply, ...] = (
    Reply(200, raw=b"<html>upstream hiccup</html>"),
    Reply(200, raw=b"[]"),
    Reply(200, body={"errors": []}),
    Reply(200, body={"write_status": 1}),
    Reply(200, body={"write_status": "MAYBE"}),
)


def garbled_status(draw: int) -> Reply:
    """A write-status answer the client cannot read (chosen by `draw`)."""
    return _GARBLED_STATUS[draw % len(_GARBLED_STATUS)]


def error(status: int, code: str, message: str, details: JSONObject | None = None) -> Reply:
    """A Propexo error answer."""
    body: JSONObject = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return Reply(status, {"error": body})


def with_retry_after(reply: Reply, retry_after: float | None) -> Reply:
    """The reply with a Retry-After header when the plan sets one."""
    if retry_after is None:
        return reply
    return replace(reply, headers={**reply.headers, "Retry-After": f"{retry_after:g}"})


def rate_limited(retry_after: float | None) -> Reply:
    """The 429 Propexo sends once a minute's budget is spent."""
    refused = error(429, "rate_limited", "Rate limit exceeded, try again later")
    return with_retry_after(refused, retry_after)


def unavailable(retry_after: float | None) -> Reply:
    """A 503 as a gateway in front of Propexo sends it."""
    down = error(503, "service_unavailable", "Service temporarily unavailable")
    return with_retry_after(down, retry_after)


def internal_error() -> Reply:
    """A 500 from Propexo."""
    return error(500, "internal_error", "An internal error occurred")


def integration(store: Store, integration_id: str) -> Reply:
    """`GET /v1/admin/integrations/{id}/`."""
    found = store.integration(integration_id)
    if found is None:
        return error(404, "not_found", f"Integration {integration_id} not found")
    return Reply(200, {"meta": {}, "results": found.to_json()})


def timezones(store: Store, query: Query) -> Reply:
    """`GET /v1/timezones/`: rows filtered by integration_id, property_id and
    integration_vendor, paged (`limit` 1..250, default 100)."""
    try:
        limit = _int_param(query, "limit", default=100, low=1, high=250)
        offset = _int_param(query, "offset", default=0, low=0, high=None)
    except ValueError as exc:
        return error(400, "invalid_request", str(exc))
    wanted = {
        name: _first(query, name)
        for name in ("integration_id", "property_id", "integration_vendor")
    }
    rows = [
        row
        for row in store.timezones()
        if all(value in (None, row[name]) for name, value in wanted.items())
    ]
    page = rows[offset : offset + limit]
    meta = {
        "offset": offset,
        "limit": limit,
        "orderBy": ["created_at:desc"],
        "hasMore": offset + len(page) < len(rows),
        "total": len(rows),
    }
    return Reply(200, {"meta": meta, "results": page})


def no_vendor(slug: str) -> Reply | None:
    """The 404 for a path of a vendor the sandbox does not serve, or None."""
    if slug in VENDOR_SPECS:
        return None
    return error(404, "not_found", f"No lead appointment endpoint for {slug!r}")


def create_appointment(
    store: Store, slug: str, fault: CreateFault, plan: FaultPlan, query: Query, raw_body: bytes
) -> Reply:
    """`POST /v1/events/appointments/leads/{slug}/` with the fault drawn for this request."""
    vendor = VENDOR_SPECS[slug]
    refused = _refused_before_queueing(fault, plan)
    if refused is not None:
        return refused
    fields, invalid = _parsed_body(query, raw_body, vendor.create)
    if invalid is not None:
        return invalid
    target = store.integration(str(fields["integration_id"]))
    if target is None:
        return error(400, "invalid_request", f"Integration {fields['integration_id']} not found")
    if str(fields["lead_id"]).startswith(REFUSED_LEAD_PREFIX):
        return error(400, "invalid_request", f"Lead {fields['lead_id']} cannot be booked")
    unfit = _unfit_integration(target, vendor)
    if unfit is not None:
        return unfit
    job = store.create_job(
        target, vendor, fields, _forced_error(fault), _forced_pending(fault, plan)
    )
    accepted = Reply(200, {"meta": {"job_id": job.id}, "result": dict(fields)})
    return _answer_after_queueing(fault, plan, accepted)


def update_appointment(
    store: Store,
    slug: str,
    fault: CreateFault,
    plan: FaultPlan,
    event_id: str,
    query: Query,
    raw_body: bytes,
) -> Reply:
    """`PUT /v1/events/appointments/leads/{slug}/{event_id}`: reschedule, as an async job.

    The body is checked first (Zod runs before the handler), then the event: an id that
    read-back does not show now (unknown, or its create job not yet SUCCESS) is a 404. The new
    time shows in read-back once the job's write status is SUCCESS; see `Store`.
    """
    vendor = VENDOR_SPECS[slug]
    if vendor.update is None:
        return error(404, "not_found", f"No lead appointment update for {slug!r}")
    refused = _refused_before_queueing(fault, plan)
    if refused is not None:
        return refused
    fields, invalid = _parsed_body(query, raw_body, vendor.update)
    if invalid is not None:
        return invalid
    event = store.appointment(event_id)
    if event is None:
        return error(404, "not_found", f"Appointment {event_id} not found")
    target = store.integration(str(event["integration_id"]))
    if target is None:  # seeding only takes known integrations
        return error(404, "not_found", f"Appointment {event_id} not found")
    unfit = _unfit_integration(target, vendor)
    if unfit is not None:
        return unfit
    job = store.update_job(
        event, target, vendor, fields, _forced_error(fault), _forced_pending(fault, plan)
    )
    accepted = Reply(200, {"meta": {"job_id": job.id}, "result": {"event_id": event_id, **fields}})
    return _answer_after_queueing(fault, plan, accepted)


def _refused_before_queueing(fault: CreateFault, plan: FaultPlan) -> Reply | None:
    """The answer of a write fault that queues nothing, or None to go on."""
    return refusal(fault, plan.retry_after)


def refusal(fault: CreateFault, retry_after: float | None) -> Reply | None:
    """The answer of a fault that lets no handler run (429, 503, 500, 400, 404, a dropped
    connection), for any endpoint; None for a fault that lets the request through."""
    if fault is CreateFault.RATE_429:
        return rate_limited(retry_after)
    if fault is CreateFault.RATE_503:
        return unavailable(retry_after)
    if fault is CreateFault.RATE_500:
        return internal_error()
    if fault is CreateFault.BAD_REQUEST:
        return error(400, "invalid_request", "The request could not be processed")
    if fault is CreateFault.NOT_FOUND:
        return error(404, "not_found", "Not found")
    if fault is CreateFault.DROP:
        return DROP
    return None


def _answer_after_queueing(fault: CreateFault, plan: FaultPlan, accepted: Reply) -> Reply:
    """What the client gets once the job is queued: the answer, or a lost one."""
    if fault is CreateFault.CREATED_THEN_500:
        return internal_error()
    if fault in (CreateFault.CREATED_THEN_HANG, CreateFault.HANG):
        return replace(accepted, delay=plan.hang_seconds)
    if fault is CreateFault.CREATED_THEN_DROP:
        return DROP
    return accepted


def _forced_error(fault: CreateFault) -> str | None:
    return JOB_FAILURE_ERROR if fault is CreateFault.JOB_FAILURE else None


def _forced_pending(fault: CreateFault, plan: FaultPlan) -> float | None:
    return plan.pending_seconds if fault is CreateFault.JOB_PENDING else None


def _parsed_body(query: Query, raw_body: bytes, schema: Schema) -> tuple[Fields, Reply | None]:
    """The validated fields, or the 400 to answer."""
    try:
        body = json.loads(raw_body)
    except ValueError:
        return {}, error(400, "invalid_request", "Request body is not valid JSON")
    ignore_unknown = _first(query, "ignore_unknown_fields") == "true"
    fields, issues = validate_body(body, schema, ignore_unknown=ignore_unknown)
    if issues:
        details: JSONObject = {"issues": list(issues), "name": "ZodError"}
        return fields, error(400, "invalid_request", summarize(issues), details)
    return fields, None


def _unfit_integration(target: Integration, vendor: VendorSpec) -> Reply | None:
    """The 400 for an integration of another vendor than the endpoint's, or None."""
    if target.vendor != vendor.code:
        message = f"Integration {target.id} is a {target.vendor} integration, not {vendor.code}"
        return error(400, "invalid_request", message)
    if not target.active:
        return error(400, "invalid_request", f"Integration {target.id} is not active")
    return None


def write_status(store: Store, job_id: str) -> Reply:
    """`GET /v1/admin/write-status/{job_id}`."""
    job = store.job(job_id)
    if job is None:
        return error(404, "not_found", f"Job {job_id} not found")
    status = job.status(store.clock())
    # A create's new appointment id; for a reschedule, the moved appointment's id.
    # Entrata and Yardi REST cannot retrieve the new record's id: it shows after a data sync.
    created = (
        job.event_id if status == "SUCCESS" and (job.reports_id or job.kind == "update") else None
    )
    errors = [job.error] if status == "FAILURE" and job.error is not None else []
    return Reply(200, {"write_status": status, "errors": errors, "created_record_id": created})


def write_logs(store: Store, query: Query) -> Reply:
    """`GET /v1/admin/logs/writes/`: one record per finished job, most recently finished first.

    - Pending jobs are absent; a record is the job's last one (here each job has exactly
      one finished record: SUCCESS or FAILURE), its `created_at` the time it finished.
    - `limit` 1..100 (default 100), `offset` >= 0 (default 0); outside them: 400.
    - `integration_id`: exact match. `status`: SUCCESS or FAILURE, anything else a 400.
    - `time_range`: hour, day, week (7 days) or month (30 days), a window ending now,
      matched on `created_at`; anything else a 400.
    - `write_category`: every job here is an `events` write, so only `events` lists them; any
      other snake_case category lists nothing; a value that is not one is a 400.
    - `job_type`: `CREATE_LEAD_APPOINTMENT` or `UPDATE_LEAD_APPOINTMENT` (a reschedule);
      `parameters` is the create's fields, or the reschedule's `event_id` and fields.
    """
    try:
        limit = _int_param(query, "limit", default=100, low=1, high=100)
        offset = _int_param(query, "offset", default=0, low=0, high=None)
    except ValueError as exc:
        return error(400, "invalid_request", str(exc))
    time_range = _first(query, "time_range")
    if time_range is not None and time_range not in _TIME_RANGES:
        return error(400, "invalid_request", f"time_range must be one of {sorted(_TIME_RANGES)}")
    status_filter = _first(query, "status")
    if status_filter is not None and status_filter not in _LOG_STATUSES:
        return error(400, "invalid_request", "status must be SUCCESS or FAILURE")
    category = _first(query, "write_category")
    if category is not None and not _WRITE_CATEGORY.fullmatch(category):
        return error(400, "invalid_request", f"write_category {category!r} is not a category")
    integration_id = _first(query, "integration_id")
    since = store.clock() - _TIME_RANGES[time_range] if time_range is not None else None
    logs = [
        _log_entry(job, status)
        for job, status in store.finished_jobs()
        if category in (None, "events")
        and integration_id in (None, job.integration.id)
        and status_filter in (None, status)
        and (since is None or (job.finishes_at or 0.0) >= since)
    ]
    return Reply(200, {"results": {"logs": logs[offset : offset + limit]}})


def read_back(store: Store, query: Query) -> Reply:
    """`GET /v1/appointments/`: booked appointments, filtered, ordered and paged.

    - `limit` 1..250 (default 100), `offset` >= 0; outside them: 400.
    - `order-by`: `field[:asc|:desc]` (asc without a suffix; default `created_at:desc`), the
      field one of `ORDER_FIELDS`; anything else a 400. A null value sorts last either way;
      ties keep the order the appointments came to exist in (reversed for desc).
    - `meta.orderBy` lists the order applied, e.g. `["created_at:desc"]`.
    """
    try:
        limit = _int_param(query, "limit", default=100, low=1, high=250)
        offset = _int_param(query, "offset", default=0, low=0, high=None)
        field_name, descending = _order_by(_first(query, "order-by") or "created_at:desc")
    except ValueError as exc:
        return error(400, "invalid_request", str(exc))
    lead_id = _first(query, "lead_id")
    integration_id = _first(query, "integration_id")
    matching = [
        event
        for event in store.appointments()
        if integration_id in (None, event["integration_id"])
        and (lead_id is None or lead_id in _lead_ids(event))
    ]
    if descending:
        matching.reverse()
    # Stable: ties keep the existing order; nulls last (a separate, second key).
    matching.sort(key=lambda event: str(event.get(field_name) or ""), reverse=descending)
    matching.sort(key=lambda event: event.get(field_name) is None)
    page = matching[offset : offset + limit]
    more = offset + len(page) < len(matching)
    meta = {
        "offset": offset,
        "limit": limit,
        "orderBy": [f"{field_name}:{'desc' if descending else 'asc'}"],
        "hasMore": more,
        "total": len(matching),
    }
    return Reply(200, {"meta": meta, "results": page})


# The fields `order-by` takes here (timestamps in one ISO format sort as text).
ORDER_FIELDS = ("created_at", "appointment_datetime", "event_datetime", "id")


def _order_by(raw: str) -> tuple[str, bool]:
    field_name, _, direction = raw.partition(":")
    if field_name not in ORDER_FIELDS or direction not in ("", "asc", "desc"):
        raise ValueError(
            f"order-by must be field[:asc|:desc] with a field of {list(ORDER_FIELDS)}, got {raw!r}"
        )
    return field_name, direction == "desc"


def _log_entry(job: Job, status: JobStatus) -> JSONObject:
    return {
        "id": job.log_id,
        "created_at": iso_timestamp(job.finishes_at or job.created_at),
        "job_id": job.id,
        "job_log_id": job.job_log_id,
        "status": status,
        "integration_id": job.integration.id,
        "job_type": job.job_type,
        "parameters": dict(job.parameters),
        "error": job.error if status == "FAILURE" else None,
        "name": job.integration.name,
        "vendor": job.integration.vendor,
    }


def _lead_ids(event: JSONObject) -> list[object]:
    ids = event["associated_lead_ids"]
    return ids if isinstance(ids, list) else []


def _first(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _int_param(query: Query, name: str, *, default: int, low: int, high: int | None) -> int:
    raw = _first(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be within {bound}, got {value}")
    return value
