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
injects faults; lead ids starting `lead-missing` make jobs fail, `lead-slow` keep them
PENDING. Unauthenticated admin routes under `/_sandbox/`: `GET appointments`, `POST
appointments` (seed; body: `seed_appointment`'s keyword arguments), `GET stats`, `GET|POST
faults`, `POST revoke`.
"""

from propexo_sandbox.faults import CreateFault, FaultPlan, FaultRule
from propexo_sandbox.server import Sandbox

__all__ = ["CreateFault", "FaultPlan", "FaultRule", "Sandbox"]
