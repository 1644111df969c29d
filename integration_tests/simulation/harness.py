"""Run one generated case end to end: a fresh sandbox with the case's appointments and fault
plan, the real connector retried as Airbyte retries it, then every invariant checked."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration_tests.object_storage import BUCKET, SECRET, S3Server
from integration_tests.simulation.airbyte import Connector, ForkServer, Run, SyncHistory, sync
from integration_tests.simulation.invariants import check
from integration_tests.simulation.model import LEAD_PROPERTIES, Case
from integration_tests.simulation.storage import FailingStorage
from integration_tests.simulation.vendors import PMSS
from propexo_sandbox import FaultPlan, Sandbox

# The API token: distinctive, so finding it in any output cannot be chance.
TOKEN = "pxo_live_Sim9QmZ2kV7sRt4Lw8Xy"
TOKEN_FORMS = {"plain": TOKEN, "spaces": f"  {TOKEN} ", "newline": f"{TOKEN}\n"}
# Small latencies and a high rate limit keep a generated sync to a few seconds.
WRITE_STATUS_DELAY = 0.05
LATENCY = 0.005


@dataclass
class Outcome:
    """What one generated sync did and what it broke."""

    history: SyncHistory
    problems: list[str]

    def report(self) -> str:
        lines = ["runs:", *(f"  {run.summary()}" for run in self.history.runs)]
        if self.problems:
            lines += ["violations:", *(f"  - {p}" for p in self.problems)]
        return "\n".join(lines)


class Simulation:
    """The long-lived parts: the connector launcher and, when a case asks, object storage."""

    def __init__(self) -> None:
        self._forks = None if os.environ.get("SIMULATION_EXEC") else ForkServer()
        self._connector = Connector(self._forks)
        self._s3: S3Server | None = None
        self._storage: FailingStorage | None = None

    def close(self) -> None:
        if self._forks is not None:
            self._forks.close()
        if self._storage is not None:
            self._storage.stop()
        if self._s3 is not None:
            self._s3.stop()

    def run(self, case: Case, workdir: Path) -> Outcome:
        plan = FaultPlan(
            rules=case.faults.rules,
            revoke_after_requests=case.faults.revoke_after_requests,
            echo_authorization=case.faults.echo_authorization,
            pending_seconds=case.faults.pending_seconds,
            hang_seconds=case.faults.hang_seconds,
        )
        rejected_file = workdir / "rejected.jsonl"
        with Sandbox(
            token=TOKEN, write_status_delay=WRITE_STATUS_DELAY, latency=LATENCY
        ) as sandbox:
            for lead, property_id in LEAD_PROPERTIES.items():
                sandbox.seed_lead(lead, property_id=property_id)
            event_ids = [
                sandbox.seed_appointment(
                    lead_id=s.lead, utc=f"{s.date}T{s.time}:00Z", integration_id=s.integration_id
                )
                for s in case.seeded
            ]
            sandbox.set_faults(plan)
            config = self._config(case, sandbox, rejected_file)
            storage_seen = 0

            def observe(run: Run) -> None:
                nonlocal storage_seen
                if self._storage is not None and case.faults.storage_down_after is not None:
                    seen, up_for = self._storage.requests, case.faults.storage_down_after
                    run.storage_refused = max(0, seen - max(storage_seen, up_for))
                    run.storage_worked = storage_seen < up_for and seen > storage_seen
                    storage_seen = seen

            history = sync(case, sandbox, self._connector, config, event_ids, observe)
            sandbox.settle(timeout=case.faults.pending_seconds + 5)
            # Propexo's next data sync, long after the sync: Entrata and Yardi REST tours show.
            sandbox.data_sync()
            appointments = sandbox.appointments()
            requests = sandbox.requests()
            timezones = sandbox.timezones()
        outputs = {
            "rejected records file": rejected_file.read_text(errors="replace")
            if rejected_file.exists()
            else ""
        }
        if "object_storage_config" in config and self._s3 is not None:
            objects = self._s3.objects()
            outputs["rejected records in object storage"] = "\n".join(
                body.decode(errors="replace") for body in objects.values()
            )
        problems = check(
            history, requests, appointments, outputs, [TOKEN, SECRET], timezones=timezones
        )
        return Outcome(history, problems)

    def _config(self, case: Case, sandbox: Sandbox, rejected_file: Path) -> dict[str, Any]:
        config: dict[str, Any] = {
            "token": TOKEN_FORMS[case.faults.token_form],
            "integration_id": PMSS[case.configured].integration_id,
            "api_url": sandbox.url,
            "requests_per_minute": 100_000,
            "request_timeout_seconds": 1,
            "write_status_timeout_seconds": 2,
            "use_write_logs_feed": case.use_write_logs_feed,
            "rejected_records_path": str(rejected_file),
        }
        if case.max_requests_in_flight is not None:
            config["max_requests_in_flight"] = case.max_requests_in_flight
        if case.faults.storage_down_after is not None:
            storage = self._object_storage()
            storage.reset(case.faults.storage_down_after)
            config["object_storage_config"] = {
                **self._s3_server().storage(),
                "s3_endpoint": storage.url,
                "s3_bucket_name": BUCKET,
            }
        return config

    def _s3_server(self) -> S3Server:
        if self._s3 is None:
            self._s3 = S3Server()
        return self._s3

    def _object_storage(self) -> FailingStorage:
        s3 = self._s3_server()
        s3.reset()
        s3.create_bucket()
        if self._storage is None:
            self._storage = FailingStorage(s3.url)
        return self._storage
