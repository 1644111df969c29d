"""Bookings per budgeted request, throughput and memory of the real CLI: `make bench`.

Every case runs `destination-propexo write` in a subprocess, exactly as Airbyte runs it,
against a fresh local sandbox. The rate-limited cases model Propexo as the issue describes
it: answers after 250 ms, 2 s slower past 80 % of each minute's limit, 429 past it; each
write job PENDING for 1.5 s (ResMan's time); write-status tracking on.

1. 150 a minute (the standard contract) and 3,600 a minute, each with the write-logs feed
   and without it (one write-status request per job, the way before the feed): confirmed
   bookings per budgeted request, the share of the limit used, 429s, jobs left unconfirmed.
2. append_dedup at 3,600 a minute, on both keys (lead + date + time: create if absent;
   lead_id: one upcoming tour per lead), against an integration holding 2,000 past
   appointments of other leads and the tours of the first dozen leads: finding what is
   already booked is part of the cost.
3. instant: no latency, no limit, jobs done at once: CPU and memory per record.
4. local: 1,000,000 records that mapping rejects (no lead_id), streamed in; no request.

Figures: "booked/req" is confirmed bookings (outcome lines with write status SUCCESS) per
request the sandbox counted, 429s included; "% limit" is the requests the sandbox counted
between the first and the last request it saw (so the CLI's start-up is not held against
the pacer) over what the limit allows in that time; "unconfirmed" counts records accepted
PENDING or rejected "outcome unknown"; peak RSS and CPU seconds are the connector
process's (from `wait4`). Each case also checks that every record was booked exactly once
and every STATE echoed. Numbers are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from propexo_sandbox import Sandbox

TOKEN = "sandbox-token"  # noqa: S105  # the sandbox's fixed, well-known token
INTEGRATION = "intg-sandbox-resman"
LATENCY = 0.25
SLOWDOWN = 2.0
JOB_SECONDS = 1.5
STATE_EVERY = 100


def catalog(mode: str, key: list[str] | None = None) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "stream": {
            "name": "tours",
            "json_schema": {},
            "supported_sync_modes": ["full_refresh"],
        },
        "sync_mode": "full_refresh",
        "destination_sync_mode": mode,
    }
    if key:
        stream["primary_key"] = [[column] for column in key]
    return {"streams": [stream]}


@dataclass
class Result:
    case: str
    records: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    returncode: int
    summary: str
    states: int
    write_statuses: Counter[str] = field(default_factory=Counter)
    unknown: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    request_seconds: float = 0.0
    booked_once: bool | None = None
    limit: int | None = None
    with_id: int = 0
    accepted: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def id_share(self) -> float | None:
        """Accepted outcomes that name their appointment id."""
        return self.with_id / self.accepted if self.accepted else None

    @property
    def id_lookups_per_booking(self) -> float | None:
        looked = self.by_kind.get("id look-up")
        return looked / self.confirmed if looked is not None and self.confirmed else None

    @property
    def requests(self) -> int:
        return self.stats.get("total", 0)

    @property
    def confirmed(self) -> int:
        return self.write_statuses["SUCCESS"]

    @property
    def unconfirmed(self) -> int:
        return self.write_statuses["PENDING"] + self.unknown

    @property
    def bookings_per_request(self) -> float | None:
        return self.confirmed / self.requests if self.requests else None

    @property
    def requests_per_booking(self) -> float | None:
        return self.requests / self.confirmed if self.confirmed else None

    @property
    def limit_share(self) -> float | None:
        if self.limit is None or self.request_seconds <= 0:
            return None
        return self.requests / (self.request_seconds * self.limit / 60)

    @property
    def share_429(self) -> float | None:
        return self.stats.get("status_429", 0) / self.requests if self.requests else None

    @property
    def states_ok(self) -> bool:
        return self.states == -(-self.records // STATE_EVERY)

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_seconds / self.records * 1000


TOUR_DATE = "2041-07-20"  # upcoming, so one-upcoming-tour streams judge each row as such


def tour_time(n: int) -> str:
    return f"{n % 24:02d}:{n % 60:02d}"


def tour_lines(count: int, *, valid: bool = True) -> Iterator[bytes]:
    """RECORD lines (unique leads, so each books one appointment) with a STATE every 100."""
    for n in range(1, count + 1):
        lead = f'"lead_id":"lead-{n}",' if valid else ""
        yield (
            '{"type":"RECORD","record":{"stream":"tours","emitted_at":0,"data":{'
            f'{lead}"lead_source_id":"src-web","appointment_date":"{TOUR_DATE}",'
            f'"appointment_time":"{tour_time(n)}","notes":"bench"}}}}}}\n'
        ).encode()
        if n % STATE_EVERY == 0 or n == count:
            yield (
                '{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":'
                f'{{"name":"tours"}},"stream_state":{{"row":{n}}}}}}}}}\n'
            ).encode()


def run_cli(
    case: str,
    config: dict[str, Any],
    mode: str,
    lines: Iterator[bytes],
    records: int,
    workdir: Path,
    on_start: Callable[[], None] = lambda: None,
    key: list[str] | None = None,
) -> Result:
    """Feed `lines` to the CLI's stdin as it reads them; measure the process with wait4."""
    config_path, catalog_path = workdir / "config.json", workdir / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog(mode, key)))
    command = [sys.executable, "-m", "destination_propexo.run", "write"]
    command += ["--config", str(config_path), "--catalog", str(catalog_path)]
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    on_start()
    assert process.stdout is not None

    def feed() -> None:
        stdin = process.stdin
        assert stdin is not None
        batch: list[bytes] = []
        try:
            for line in lines:
                batch.append(line)
                if len(batch) >= 1000:
                    stdin.write(b"".join(batch))
                    batch.clear()
            stdin.write(b"".join(batch))
        except BrokenPipeError:
            pass  # the connector stopped early; its exit code tells why
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    states, summary, trace = 0, "", ""
    write_statuses: Counter[str] = Counter()
    unknown = with_id = accepted = 0
    for line in process.stdout:
        if line.startswith(b'{"type":"STATE"'):
            states += 1
        elif b"record outcome: " in line:
            message = json.loads(line)["log"]["message"]
            outcome = json.loads(message[len("record outcome: ") :])
            write_statuses[outcome["write_status"]] += 1
            unknown += outcome.get("category") == "outcome unknown"
            accepted += outcome["outcome"] == "accepted"
            with_id += outcome["outcome"] == "accepted" and bool(outcome["created_record_id"])
        elif b"write summary:" in line:
            summary = json.loads(line)["log"]["message"]
        elif line.startswith(b'{"type":"TRACE"'):
            trace = line.decode()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    feeder.join()
    returncode = os.waitstatus_to_exitcode(status)
    if returncode != 0:
        print(f"  {case}: the connector exited {returncode}: {trace}", file=sys.stderr)
    return Result(
        case=case,
        records=records,
        seconds=seconds,
        # ru_maxrss is in KiB on Linux.
        peak_rss_mb=usage.ru_maxrss / 1024,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        returncode=returncode,
        summary=summary,
        states=states,
        write_statuses=write_statuses,
        unknown=unknown,
        with_id=with_id,
        accepted=accepted,
        # "requests N (create N, ..., id look-up N, integration reads N, ...)"
        by_kind={
            kind: int(count)
            for kind, count in re.findall(r"([a-z][a-z -]*?) (\d+)[,)]", summary.split("; ")[5])
        }
        if summary.count("; ") >= 5
        else {},
    )


class RequestClock:
    """Samples the sandbox's request count to find when the first and the last request came."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._stop = threading.Event()
        self.first: float | None = None
        self.last: float | None = None
        self._seen = 0
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        """Seconds between the first and the last request seen."""
        self._stop.set()
        self._thread.join()
        if self.first is None or self.last is None:
            return 0.0
        return self.last - self.first

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            total = self._sandbox.stats()["total"]
            now = time.monotonic()
            if total > self._seen:
                if self._seen == 0:
                    self.first = now
                self._seen, self.last = total, now


@dataclass(frozen=True)
class Case:
    key: str
    name: str
    records: int
    limit: int | None
    feed: bool = True
    mode: str = "append"
    primary_key: tuple[str, ...] = ()
    # Appointments the integration holds before the sync: past ones of other leads, and the
    # tours of the first `upcoming` leads at their rows' instants.
    past: int = 0
    upcoming: int = 0

    @property
    def limited(self) -> bool:
        return self.limit is not None


def api_case(case: Case, workdir: Path) -> Result:
    """One write of `case.records` valid tours against a fresh sandbox."""
    # The server's first minute window starts with the run (not at a wall-clock minute), so
    # each run meets the 80 % slow-down of every minute it lasts.
    opened = time.time()
    with Sandbox(
        latency=LATENCY if case.limited else 0.0,
        rate_limit_per_minute=case.limit,
        slowdown_seconds=SLOWDOWN,
        write_status_delay=JOB_SECONDS if case.limited else 0.0,
        minute_clock=lambda: time.time() - opened,
    ) as sandbox:
        seed(sandbox, case)
        config: dict[str, Any] = {
            "token": TOKEN,
            "integration_id": INTEGRATION,
            "api_url": sandbox.url,
            "requests_per_minute": case.limit or 100_000,
            "write_status_timeout_seconds": 120,
            "use_write_logs_feed": case.feed,
        }
        clock = RequestClock(sandbox)
        lines = tour_lines(case.records)
        key = list(case.primary_key) or None
        result = run_cli(
            case.name, config, case.mode, lines, case.records, workdir, clock.start, key
        )
        result.request_seconds = clock.stop()
        result.stats = sandbox.stats()
        leads = [
            str(a["associated_lead_ids"])
            for a in sandbox.appointments()
            if str(a["appointment_datetime"]).startswith(TOUR_DATE)
        ]
    result.booked_once = len(leads) == case.records and len(set(leads)) == case.records
    result.limit = case.limit
    return result


def seed(sandbox: Sandbox, case: Case) -> None:
    """The appointments the integration holds before the sync: tours of 2025, and the
    upcoming tours of the first leads (made before the sync)."""
    made = "2025-01-01T00:00:00Z"
    for n in range(case.past):
        day = f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
        sandbox.seed_appointment(
            lead_id=f"old-{n % 500}", utc=f"{day}T{n % 10 + 9:02d}:00:00Z", created_at=made
        )
    for n in range(1, case.upcoming + 1):
        sandbox.seed_appointment(
            lead_id=f"lead-{n}", utc=f"{TOUR_DATE}T{tour_time(n)}:00Z", created_at=made
        )


def local_case(records: int, workdir: Path) -> Result:
    """`records` records that mapping rejects: the local path alone (no server at all)."""
    config = {
        "token": TOKEN,
        "integration_id": INTEGRATION,
        # Nothing listens here; a request would fail the sync, so none is made.
        "api_url": "http://127.0.0.1:9",
    }
    lines = tour_lines(records, valid=False)
    return run_cli("local rejects", config, "append", lines, records, workdir)


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (
        f"{os.cpu_count()} CPUs ({model}), {kib / 1024 / 1024:.0f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_tables(results: list[Result]) -> None:
    header = (
        f"{'case':<28}{'records':>8}{'secs':>7}{'booked/req':>11}{'req/booked':>11}"
        f"{'% limit':>8}{'429 %':>7}{'create':>7}{'feed':>6}{'status':>7}{'read':>6}"
        f"{'unconf.':>8}{'states':>7}{'once':>6}{'ids %':>7}{'id req/bk':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if not r.stats:
            continue
        share = None if r.limit_share is None else r.limit_share * 100
        refused = None if r.share_429 is None else r.share_429 * 100
        s = r.stats
        print(
            f"{r.case:<28}{r.records:>8}{r.seconds:>7.1f}"
            f"{_fmt(r.bookings_per_request, '.3f'):>11}{_fmt(r.requests_per_booking, '.3f'):>11}"
            f"{_fmt(share, '.1f'):>8}{_fmt(refused, '.2f'):>7}"
            f"{s['create']:>7}{s['write_logs']:>6}{s['write_status']:>7}{s['read_back']:>6}"
            f"{r.unconfirmed:>8}{'ok' if r.states_ok else 'NO':>7}"
            f"{'yes' if r.booked_once else 'NO':>6}"
            f"{_fmt(None if r.id_share is None else r.id_share * 100, '.1f'):>7}"
            f"{_fmt(r.id_lookups_per_booking, '.4f'):>10}"
        )
    print()
    header = f"{'case':<28}{'records':>9}{'secs':>7}{'rec/s':>10}{'RSS MB':>8}{'CPU s/1k':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.case:<28}{r.records:>9}{r.seconds:>7.1f}{r.records / r.seconds:>10.1f}"
            f"{r.peak_rss_mb:>8.0f}{r.cpu_per_1000:>9.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # About 2.5 minutes each at 150 a minute (three minute windows, two of them slowed down
    # past 80 %), and about 70 s at 3,600 a minute; without the feed each booking costs two
    # requests, so half the records take as long.
    parser.add_argument("--records-150", type=int, default=360)
    parser.add_argument("--records-3600", type=int, default=4000)
    parser.add_argument("--dedup-records", type=int, default=2000)
    parser.add_argument("--instant-records", type=int, default=2000)
    parser.add_argument("--local-records", type=int, default=1_000_000)
    parser.add_argument(
        "--only",
        default="",
        help=(
            "cases to run, comma-separated: 150, 150-off, 3600, 3600-off, dedup, dedup-lead, "
            "instant, local"
        ),
    )
    args = parser.parse_args(argv)
    cases = [
        Case("150", "150/min, feed", args.records_150, 150),
        Case("150-off", "150/min, feed off", args.records_150 // 2, 150, feed=False),
        Case("3600", "3600/min, feed", args.records_3600, 3600),
        Case("3600-off", "3600/min, feed off", args.records_3600 // 2, 3600, feed=False),
        Case(
            "dedup",
            "3600/min, dedup lead+time",
            args.dedup_records,
            3600,
            mode="append_dedup",
            past=2000,
            upcoming=12,
        ),
        Case(
            "dedup-lead",
            "3600/min, dedup lead_id",
            args.dedup_records,
            3600,
            mode="append_dedup",
            primary_key=("lead_id",),
            past=2000,
            upcoming=12,
        ),
        Case("instant", "instant, feed", args.instant_records, None),
    ]
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    print(f"machine: {machine()}")
    print(
        f"sandbox: latency {LATENCY * 1000:.0f} ms, slow-down {SLOWDOWN:g} s past 80 % of "
        f"the limit, write jobs PENDING for {JOB_SECONDS:g} s; STATE every {STATE_EVERY}\n"
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for case in cases:
            if wanted and case.key not in wanted:
                continue
            print(f"running {case.name} ({case.records} records)...", file=sys.stderr, flush=True)
            result = api_case(case, workdir)
            results.append(result)
            print(f"  {result.summary}", file=sys.stderr)
        if args.local_records and (not wanted or "local" in wanted):
            print(f"running local rejects ({args.local_records} records)...", file=sys.stderr)
            local = local_case(args.local_records, workdir)
            print(f"  {local.summary}", file=sys.stderr)
            results.append(local)
    print_tables(results)
    failed = [
        r.case
        for r in results
        if r.returncode != 0 or r.booked_once is False or (r.stats and not r.states_ok)
    ]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
