"""A local Propexo API server for the demo, the integration tests and the benchmark.

Served (bearer token, JSON): `POST /v1/events/appointments/leads/resman/` (create),
`PUT /v1/events/appointments/leads/resman/{event_id}` (reschedule), `GET
/v1/admin/write-status/{job_id}`, `GET /v1/admin/logs/writes/` (the feed), `GET
/v1/appointments/` (read-back), `GET /v1/admin/integrations/{id}/`. Creates and reschedules
are jobs: PENDING for `write_status_delay`, then SUCCESS or FAILURE; their effect (a new
appointment, a moved one) shows in read-back only from SUCCESS on. Request counters
(`Sandbox.stats()`) are per endpoint: create, update, write_status, write_logs, read_back,
integration, other.

Test hooks: `Sandbox.seed_appointment(...)` stores existing appointments; a `FaultPlan`
injects faults, drawn at rates or planned by request number and kind (`FaultRule`); lead ids
starting `lead-missing` make jobs fail, `lead-slow` keep them PENDING. `Sandbox.requests()`
is the request log (endpoint, start and end times, status), `wait_for_requests` waits for a
count, `jobs()` lists every write job, `settle()` waits until they are done,
`restore_token()` undoes a revocation. Unauthenticated admin routes under `/_sandbox/`:
`GET appointments`, `POST appointments` (seed; body: `seed_appointment`'s keyword
arguments), `GET stats`, `GET|POST faults`, `POST revoke`.
"""

from propexo_sandbox.faults import CreateFault, FaultPlan, FaultRule
from propexo_sandbox.server import Sandbox

__all__ = ["CreateFault", "FaultPlan", "FaultRule", "Sandbox"]
