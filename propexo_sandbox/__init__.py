"""A local Propexo API server for the demo, the integration tests and the benchmark.

Served (bearer token, JSON): `POST /v1/events/appointments/leads/{vendor}/` (create) and
`PUT /v1/events/appointments/leads/{vendor}/{event_id}` (reschedule) for ResMan, Entrata,
Rent Manager, RealPage RPX, Yardi, Yardi REST, AppFolio and MRI, each with its own fields and
reading of time (`vendors.py`; Yardi and Yardi REST have no update); `GET
/v1/admin/write-status/{job_id}`, `GET /v1/admin/logs/writes/` (the feed), `GET
/v1/appointments/` (read-back, times in UTC), `GET /v1/admin/integrations/{id}/` (one
integration per vendor, `intg-sandbox-{vendor}`), `GET /v1/timezones/`. Creates and
reschedules are jobs: PENDING for `write_status_delay`, then SUCCESS or FAILURE; their effect
(a new appointment, a moved one) shows in read-back only from SUCCESS on, and an Entrata or
Yardi REST appointment only after `Sandbox.data_sync()` (Propexo's next data sync; their write
status has no created_record_id). Request counters (`Sandbox.stats()`) are per endpoint:
create, update, write_status, write_logs, read_back, integration, timezones, other.

Test hooks: `Sandbox.seed_appointment(...)` stores existing appointments;
`Sandbox.seed_lead(lead_id, property_id=...)` places a lead at a property (`prop-east` is the
Eastern property of the Rent Manager and Yardi integrations, Central otherwise);
`Sandbox.set_timezones(integration_id, rows)` replaces an integration's zone rows; a `FaultPlan`
injects faults, drawn at rates or planned by request number and kind (`FaultRule`); lead ids
starting `lead-missing` make jobs fail, `lead-slow` keep them PENDING, `lead-refused` get a
400 at create. `Sandbox.requests()` is the request log (endpoint, start and end times,
status, query string, and the raw body of each create and update), `wait_for_requests` waits
for a count, `jobs()` lists every write job, `settle()` waits until they are done,
`timezones()` gives the rows GET /v1/timezones/ serves, `restore_token()` undoes a
revocation. Unauthenticated admin
routes under `/_sandbox/`: `GET appointments`, `POST appointments` (seed; body:
`seed_appointment`'s keyword arguments), `POST leads` (body: lead_id, property_id), `POST
data-sync`, `GET stats`, `GET|POST faults`, `POST revoke`.
"""

from propexo_sandbox.faults import CreateFault, FaultPlan, FaultRule
from propexo_sandbox.server import Sandbox

__all__ = ["CreateFault", "FaultPlan", "FaultRule", "Sandbox"]
