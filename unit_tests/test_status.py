"""The status tracker: jobs confirmed from the write-logs feed, many per request, paced; per job
and per sync fall-back to write status; the old rules of an outcome. Propexo is scripted at
the client's transport seam, time is a fake clock, and the tracker's schedule is pumped inline."""

from __future__ import annotations

import io
from collections.abc import Callable

import orjson
import pytest
import requests

from destination_propexo.airbyte.catalog import configured_streams
from destination_propexo.airbyte.protocol import Emitter
from destination_propexo.config import load_config
from destination_propexo.errors import FailureType, ServiceUnavailable, failure_type
from destination_propexo.propexo.client import PropexoClient
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.records import outcomes
from destination_propexo.records.outcomes import Accepted, Outcome, Rejected
from destination_propexo.stop import Stop
from destination_propexo.sync.feed import FEED_TRIES, MAX_HOLD_SECONDS
from destination_propexo.sync.session import write_sync
from destination_propexo.sync.status import FEED_BOUND_SECONDS, StatusTracker
from unit_tests.support import (
    Answer,
    FakeClock,
    ScriptedTransport,
    WriteLogFeed,
    appointments,
    event,
    job,
    logs,
    status,
)

INTEGRATION = "intg-1"
EPOCH = 1_721_484_000.0  # the wall clock of these syncs starts on 2024-07-20
FAILED = "ResMan: PostLeadManagement4_0 failed: the appointment could not be saved"


class Sync:
    """A tracker on a scripted Propexo, driven on a fake clock."""

    def __init__(
        self,
        *,
        write_logs: list[Answer] | Callable[..., Answer] | None = None,
        write_status: list[Answer] | None = None,
        per_minute: int = 60_000,
        timeout: float = 120.0,
        feed: bool = True,
        coming: int = 0,
    ) -> None:
        self.clock = FakeClock()
        self.feed = WriteLogFeed()
        self.transport = ScriptedTransport(
            write_logs=write_logs if write_logs is not None else self.feed,
            write_status=write_status or [status("PENDING")],
        )
        self.stop = stop = Stop(self.clock)
        client = PropexoClient(
            "https://propexo.test", "token", RateBudget(per_minute, stop=stop), stop=stop,
            adapter=self.transport,
        )  # fmt: skip
        self.coming = coming
        self.said: list[str] = []
        self.tracker = StatusTracker(
            client,
            stop,
            timeout_seconds=timeout,
            workers=1,
            feed=feed,
            coming=lambda: self.coming,
            say=self.said.append,
            wall=lambda: EPOCH + self.clock.time,
            start=False,
        )
        self.outcomes: dict[str, Outcome] = {}

    def track(self, *job_ids: str) -> None:
        for job_id in job_ids:
            self.tracker.track(
                job_id,
                lambda outcome, job_id=job_id: self.outcomes.__setitem__(job_id, outcome),
                integration_id=INTEGRATION,
            )

    def run(self, seconds: float) -> None:
        """Let `seconds` pass, doing whatever the tracker has due meanwhile."""
        end = self.clock.time + seconds
        for _ in range(100_000):
            wait = self.tracker.pump()
            if self.clock.time + wait > end:
                self.clock.time = max(self.clock.time, end)
                return
            self.clock.time += wait
        raise AssertionError("the tracker never came to rest")

    def count(self, endpoint: str) -> int:
        return self.transport.count(endpoint)


def jobs(count: int, prefix: str = "job") -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


def test_one_feed_read_confirms_every_due_job_it_shows_without_write_status() -> None:
    sync = Sync()
    batch = jobs(40)
    sync.track(*batch)
    for job_id in batch:
        sync.feed.finish(job_id)
    sync.run(5)
    assert sync.count("write_logs") == 1
    assert sync.count("write_status") == 0
    assert all(sync.outcomes[j] == Accepted(job_id=j, write_status="SUCCESS") for j in batch)
    assert (sync.tracker.stats.from_feed, sync.tracker.stats.feed_reads) == (40, 1)


def test_a_failure_in_the_feed_rejects_the_record_with_the_feeds_error() -> None:
    sync = Sync()
    sync.track("job-1")
    sync.feed.finish("job-1", "FAILURE", FAILED)
    sync.run(5)
    outcome = sync.outcomes["job-1"]
    assert isinstance(outcome, Rejected)
    assert outcome.category == outcomes.FAILED_IN_PMS
    assert outcome.reason == f"the PMS did not book the appointment: {FAILED}"
    assert (outcome.write_status, outcome.errors) == ("FAILURE", (FAILED,))
    assert sync.count("write_status") == 0


def test_the_feed_is_read_for_the_jobs_integration_event_writes_of_the_last_hour() -> None:
    sync = Sync()
    sync.track("job-1")
    sync.feed.finish("job-1")
    sync.run(5)
    (query,) = sync.feed.queries
    assert query == {
        "integration_id": INTEGRATION,
        "write_category": "events",
        "time_range": "hour",
        "limit": "100",
        "offset": "0",
    }


def test_while_creates_are_coming_due_jobs_wait_for_company_before_a_read() -> None:
    # 150 a minute: a read waits up to MAX_HOLD_SECONDS for more jobs to come due.
    sync = Sync(per_minute=150, coming=5)
    sync.track("job-1")
    sync.feed.finish("job-1")
    sync.run(MAX_HOLD_SECONDS - 1)
    assert sync.count("write_logs") == 0
    sync.run(3)
    assert sync.count("write_logs") == 1
    assert "job-1" in sync.outcomes


def test_with_nothing_more_coming_the_feed_is_read_as_soon_as_the_jobs_are_due() -> None:
    sync = Sync(per_minute=150, coming=0)
    sync.track("job-1")
    sync.feed.finish("job-1")
    sync.run(1.5)  # due after EXPECTED_SECONDS (1 s), and one request at 150 a minute
    assert sync.count("write_logs") == 1
    assert "job-1" in sync.outcomes


def test_a_job_not_finished_at_its_first_look_is_looked_for_again_later() -> None:
    sync = Sync()
    sync.track("job-1")
    sync.run(1.1)
    assert (sync.count("write_logs"), sync.outcomes) == (1, {})
    sync.feed.finish("job-1")
    sync.run(3)
    assert sync.count("write_logs") == 2
    assert sync.outcomes["job-1"].write_status == "SUCCESS"


def test_a_job_seen_finished_before_its_create_answer_is_confirmed_when_tracked() -> None:
    sync = Sync()
    sync.track("job-1")
    sync.feed.finish("job-2")  # not tracked yet: its create's answer is slow
    sync.feed.finish("job-1")
    sync.run(2)
    assert sync.count("write_logs") == 1
    sync.track("job-2")
    assert sync.outcomes["job-2"] == Accepted(job_id="job-2", write_status="SUCCESS")
    assert sync.count("write_logs") == 1


def test_a_read_pages_only_down_to_what_the_previous_read_saw() -> None:
    sync = Sync()
    for n in range(150):  # the integration's earlier writes
        sync.feed.finish(f"other-{n}")
    sync.track("job-1")
    sync.feed.finish("job-1")
    sync.run(2)
    first_read = len(sync.feed.offsets)
    # 120 jobs finish since; the oldest of them is on the second page, then what was seen.
    batch = jobs(120, "new")
    sync.track(*batch)
    for job_id in batch:
        sync.feed.finish(job_id)
    sync.run(2)
    assert sync.feed.offsets[first_read:] == [0, 99]
    assert all(sync.outcomes[j].write_status == "SUCCESS" for j in batch)


def test_a_first_read_pages_no_deeper_than_the_oldest_job_looked_for() -> None:
    sync = Sync()
    old = "2000-01-01T00:00:00.000Z"  # long before any job of this sync was queued
    for n in range(450):
        sync.feed.finish(f"other-{n}", created_at=old)
    batch = jobs(150)
    sync.track(*batch)
    for job_id in batch:
        sync.feed.finish(job_id)
    sync.run(2)
    assert sync.feed.offsets == [0, 99]
    assert len(sync.outcomes) == 150


def test_a_job_the_feed_never_shows_gets_its_write_status_after_the_bound() -> None:
    sync = Sync(write_status=[status("SUCCESS", record_id="appt-1")])
    sync.track("job-1", "job-2")
    sync.feed.finish("job-2")
    sync.run(FEED_BOUND_SECONDS - 1)
    assert "job-1" not in sync.outcomes
    assert sync.count("write_status") == 0
    sync.run(2)
    assert sync.count("write_status") == 1
    assert sync.outcomes["job-1"] == Accepted(
        job_id="job-1", write_status="SUCCESS", created_record_id="appt-1"
    )
    assert sync.tracker.feed_on  # it matched job-2: the feed stays on
    assert sync.said == []


def test_the_per_job_bound_is_at_most_half_the_write_status_time_out() -> None:
    sync = Sync(timeout=10, write_status=[status("SUCCESS")])
    sync.track("job-1", "job-2")
    sync.feed.finish("job-2")  # the feed works: only job-1 is missing from it
    sync.run(4.9)
    assert sync.count("write_status") == 0
    sync.run(0.2)
    assert sync.count("write_status") == 1


def test_a_feed_that_never_shows_the_syncs_jobs_is_turned_off_and_said_once() -> None:
    # The feed lists finished jobs, but under ids that are not the creates' job ids.
    sync = Sync(write_status=[status("SUCCESS")])
    sync.track(*jobs(5))
    for n in range(5):
        sync.feed.finish(f"root-{n}")
    sync.run(15)
    assert not sync.tracker.feed_on
    (line,) = sync.said
    assert line.startswith("write-logs feed turned off for the rest of this sync")
    assert f"{FEED_TRIES} reads of it showed none of this sync's jobs" in line
    assert all(sync.outcomes[j].write_status == "SUCCESS" for j in jobs(5))
    # Well before the per-job bound: a probe told the feed from slow jobs.
    assert sync.clock.time - 1000 < FEED_BOUND_SECONDS
    reads = sync.count("write_logs")
    sync.track(*jobs(3, "later"))
    sync.run(60)
    assert sync.count("write_logs") == reads
    assert all(sync.outcomes[j].write_status == "SUCCESS" for j in jobs(3, "later"))
    assert len(sync.said) == 1


def test_slow_jobs_do_not_turn_the_feed_off() -> None:
    sync = Sync(write_status=[status("PENDING")])
    sync.track(*jobs(3))
    sync.run(20)
    assert sync.count("write_logs") >= FEED_TRIES
    assert sync.count("write_status") >= 1  # a probe, which found the job still pending
    assert sync.tracker.feed_on
    assert sync.said == []


def test_a_feed_that_cannot_be_read_three_times_in_a_row_is_turned_off_and_said_once() -> None:
    sync = Sync(
        write_logs=[Answer(503, {"error": {"message": "down"}})], write_status=[status("SUCCESS")]
    )
    sync.track(*jobs(2))
    sync.run(40)
    assert sync.count("write_logs") == FEED_TRIES
    (line,) = sync.said
    assert "3 reads of it in a row failed" in line
    assert all(sync.outcomes[j].write_status == "SUCCESS" for j in jobs(2))


def test_a_job_still_pending_at_the_time_out_is_accepted_as_pending() -> None:
    sync = Sync(timeout=6, write_status=[status("PENDING")])
    sync.track("job-1")
    sync.run(10)
    assert sync.outcomes["job-1"] == Accepted(job_id="job-1", write_status="PENDING")


@pytest.mark.parametrize("feed", [True, False])
def test_a_job_whose_status_the_service_never_answers_stops_the_sync_not_the_row(
    feed: bool,
) -> None:
    # 503 on every poll (and on the feed): the service's failure (errors.owner), never a
    # rejected row; the sync stops as transient and the job is released as queued.
    down = Answer(503, {"error": {"message": "down"}})
    sync = Sync(timeout=6, write_status=[down], write_logs=[down], feed=feed)
    sync.track("job-1")
    sync.run(10)
    assert "job-1" not in sync.outcomes
    assert isinstance(sync.stop.error, ServiceUnavailable)
    assert "job-1" in str(sync.stop.error)
    assert failure_type(sync.stop.error) is FailureType.transient_error
    sync.tracker.release_at_stop()
    assert sync.outcomes["job-1"] == Accepted(job_id="job-1", write_status="QUEUED")


def test_a_job_propexo_says_it_does_not_know_ends_outcome_unknown() -> None:
    # A 404 for the job is about that job (errors.owner): the row's, the sync goes on.
    sync = Sync(timeout=6, feed=False, write_status=[Answer(404, {"error": {"message": "no"}})])
    sync.track("job-1")
    sync.run(10)
    outcome = sync.outcomes["job-1"]
    assert isinstance(outcome, Rejected)
    assert outcome.category == outcomes.OUTCOME_UNKNOWN
    assert "could not be read within 6 s" in outcome.reason
    assert not sync.stop.stopped


def test_with_the_feed_off_each_job_is_polled_and_the_feed_never_read() -> None:
    sync = Sync(feed=False, write_status=[status("PENDING"), status("SUCCESS", record_id="a-1")])
    sync.track("job-1")
    sync.run(10)
    assert sync.count("write_logs") == 0
    assert sync.count("write_status") == 2
    assert sync.outcomes["job-1"].created_record_id == "a-1"  # type: ignore[union-attr]


@pytest.mark.parametrize("finished", ["SUCCESS", "FAILURE"])
def test_a_job_the_feed_and_a_poll_both_find_is_resolved_once(finished: str) -> None:
    sync = Sync(timeout=4, write_status=[status(finished, "e")])
    resolved: list[Outcome] = []
    sync.tracker.track("job-1", resolved.append, integration_id=INTEGRATION)
    sync.run(2.5)  # past the bound (2 s): polled
    sync.feed.finish("job-1", finished, "e" if finished == "FAILURE" else None)
    sync.run(10)
    assert len(resolved) == 1


def test_a_write_logs_page_with_one_odd_entry_still_confirms_the_others() -> None:
    good = {"id": "w1", "job_id": "job-1", "status": "SUCCESS", "error": None}
    odd = {"id": "w2", "job_id": "job-2", "status": "RUNNING"}
    sync = Sync(write_logs=[logs(odd, good)])
    sync.track("job-1")
    sync.run(2)
    assert sync.outcomes["job-1"].write_status == "SUCCESS"


def test_a_sync_reads_the_feed_of_each_integration_its_jobs_were_queued_in() -> None:
    feed = WriteLogFeed()

    def create(sent: requests.PreparedRequest) -> Answer:
        body = orjson.loads(sent.body or b"{}")
        job_id = f"job-{body['lead_id']}"
        feed.finish(job_id, integration_id=body["integration_id"])  # done at once
        return job(job_id)

    def read_back(sent: requests.PreparedRequest) -> Answer:
        if "created_at" not in (sent.url or ""):  # the head of the run, read before its create
            return appointments()
        # The id look-up's read of the integration's newest appointments.
        lead = {"integration_id=intg-1": "lead-1", "integration_id=intg-2": "lead-2"}
        (shown,) = [lead for query, lead in lead.items() if query in (sent.url or "")]
        return appointments(event(f"appt-{shown}", shown, "2024-07-20T14:00:00.000Z"))

    transport = ScriptedTransport(create=create, write_logs=feed, read_back=read_back)
    records = [
        {
            "type": "RECORD",
            "record": {
                "stream": "tours",
                "emitted_at": 0,
                "data": {
                    "lead_id": lead,
                    "integration_id": integration,
                    "lead_source_id": "src",
                    "appointment_date": "2024-07-20",
                    "appointment_time": "14:00",
                },
            },
        }
        for lead, integration in [("lead-1", "intg-1"), ("lead-2", "intg-2")]
    ]
    state = {"type": "STATE", "state": {"type": "LEGACY", "data": {"cursor": 2}}}
    out = io.BytesIO()
    write_sync(
        load_config(
            {"token": "t", "integration_id": "intg-1", "api_url": "http://127.0.0.1:1"}
            | {"requests_per_minute": 60_000}
        ),
        configured_streams({"streams": [{"stream": {"name": "tours"}}]}),
        [[orjson.dumps(message) for message in [*records, state]]],
        Emitter(out),
        adapter=transport,
    )
    assert {query["integration_id"] for query in feed.queries} == {"intg-1", "intg-2"}
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [m["state"]["destinationStats"] for m in lines if m["type"] == "STATE"] == [
        {"recordCount": 2, "rejectedRecordCount": 0}
    ]
    assert transport.count("write_status") == 0
