"""Throughput and memory of the real CLI against the local sandbox: `make bench`.

Cases, each run as `destination-propexo write` in a subprocess, exactly as Airbyte runs it:
1. rate-limited: the sandbox answers after 250 ms and allows 3,600 requests a minute (the
   standard 150 scaled up so a run takes seconds, its 2 s slow-down scaled alike); write
   status tracking on. The connector with its defaults, then the same code path with one
   request in flight (the sequential baseline).
2. instant: the sandbox answers at once, no limit; default concurrency against one in flight.
3. local: 1,000,000 records that mapping rejects (no lead_id), streamed in; no request at all.

Figures per case: records/s; the share of the rate limit used, from the requests the sandbox
counted between the first and the last request it saw (so the CLI's start-up is not counted
against the pacer); 429s; write-status polls per create; peak RSS and CPU seconds of the
connector process (from `wait4`, so only that process). It also checks that every record was
booked exactly once. Numbers are printed, never asserted: this is not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from destination_propexo.sandbox import Sandbox

TOKEN = "sandbox-token"  # noqa: S105  # the sandbox's fixed, well-known token
INTEGRATION = "intg-sandbox-resman"
LIMIT = 3600
LATENCY = 0.25
# Propexo slows answers by ~2 s past 80 % of 150 a minute; scaled to the benchmark's limit.
SLOWDOWN = 2.0 * 150 / LIMIT
WRITE_STATUS_DELAY = 0.5
STATE_EVERY = 100
CATALOG = {
    "streams": [
        {
            "stream": {
                "name": "tours",
                "json_schema": {},
                "supported_sync_modes": ["full_refresh"],
            },
            "sync_mode": "full_refresh",
            "destination_sync_mode": "append",
        }
    ]
}


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
    requests: int = 0
    request_seconds: float = 0.0
    rate_429: int = 0
    creates: int = 0
    polls: int = 0
    booked_once: bool | None = None
    peak_per_minute: int | None = None
    limit: int | None = None

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds

    @property
    def limit_share(self) -> float | None:
        if self.limit is None or self.request_seconds <= 0:
            return None
        return self.requests / (self.request_seconds * self.limit / 60)

    @property
    def polls_per_job(self) -> float | None:
        return self.polls / self.creates if self.creates else None

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_seconds / self.records * 1000


def tour_lines(count: int, *, valid: bool = True) -> Iterator[bytes]:
    """RECORD lines (unique leads, so each books one appointment) with a STATE every 100."""
    for n in range(1, count + 1):
        lead = f'"lead_id":"lead-{n}",' if valid else ""
        yield (
            '{"type":"RECORD","record":{"stream":"tours","emitted_at":0,"data":{'
            f'{lead}"lead_source_id":"src-web","appointment_date":"2024-07-20",'
            f'"appointment_time":"{n % 24:02d}:{n % 60:02d}","notes":"bench"}}}}}}\n'
        ).encode()
        if n % STATE_EVERY == 0 or n == count:
            yield (
                '{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":'
                f'{{"name":"tours"}},"stream_state":{{"row":{n}}}}}}}}}\n'
            ).encode()


def run_cli(
    case: str,
    config: dict[str, Any],
    lines: Iterator[bytes],
    records: int,
    workdir: Path,
    on_start: Callable[[], None] = lambda: None,
) -> Result:
    """Feed `lines` to the CLI's stdin as it reads them; measure the process with wait4."""
    config_path, catalog_path = workdir / "config.json", workdir / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(CATALOG))
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
    for line in process.stdout:
        if line.startswith(b'{"type":"STATE"'):
            states += 1
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


def api_case(
    case: str,
    records: int,
    workdir: Path,
    *,
    in_flight: int | None,
    latency: float,
    limit: int | None,
    write_status_delay: float,
) -> Result:
    """One write of `records` valid tours against a fresh sandbox."""
    # The server's first minute window starts with the run (not at a wall-clock minute), so
    # a run of about a minute spends one whole window and meets the 80 % slow-down.
    opened = time.time()
    with Sandbox(
        latency=latency,
        rate_limit_per_minute=limit,
        slowdown_seconds=SLOWDOWN,
        write_status_delay=write_status_delay,
        minute_clock=lambda: time.time() - opened,
    ) as sandbox:
        config: dict[str, Any] = {
            "token": TOKEN,
            "integration_id": INTEGRATION,
            "api_url": sandbox.url,
            "requests_per_minute": limit or 100_000,
            "write_status_timeout_seconds": 60,
        }
        if in_flight is not None:
            config["max_requests_in_flight"] = in_flight
        clock = RequestClock(sandbox)
        result = run_cli(case, config, tour_lines(records), records, workdir, clock.start)
        result.request_seconds = clock.stop()
        stats = sandbox.stats()
        leads = [str(a["associated_lead_ids"]) for a in sandbox.appointments()]
    result.requests = stats["total"]
    result.rate_429 = stats["status_429"]
    result.creates = stats["create"]
    result.polls = stats["write_status"]
    result.peak_per_minute = stats["peak_per_minute"]
    result.booked_once = len(leads) == records and len(set(leads)) == records
    result.limit = limit
    return result


def local_case(records: int, workdir: Path) -> Result:
    """`records` records that mapping rejects: the local path alone (no server at all)."""
    config = {
        "token": TOKEN,
        "integration_id": INTEGRATION,
        # Nothing listens here; a request would fail the sync, so none is made.
        "api_url": "http://127.0.0.1:9",
    }
    lines = tour_lines(records, valid=False)
    return run_cli("local rejects", config, lines, records, workdir)


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


def print_table(results: list[Result]) -> None:
    header = (
        f"{'case':<26}{'records':>9}{'secs':>7}{'rec/s':>9}{'% limit':>9}{'peak/min':>9}{'429s':>6}"
        f"{'polls/job':>10}{'RSS MB':>8}{'CPU s/1k':>9}{'booked once':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        share = r.limit_share
        booked = "-" if r.booked_once is None else ("yes" if r.booked_once else "NO")
        print(
            f"{r.case:<26}{r.records:>9}{r.seconds:>7.1f}{r.records_per_second:>9.1f}"
            f"{_fmt(share and share * 100, '.1f'):>9}{r.peak_per_minute or '-':>9}{r.rate_429:>6}"
            f"{_fmt(r.polls_per_job, '.2f'):>10}{r.peak_rss_mb:>8.0f}{r.cpu_per_1000:>9.2f}"
            f"{booked:>13}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 1,600 records are ~3,200 requests: 55 s at the pace, past 80 % of the window for ~5 s.
    parser.add_argument("--records", type=int, default=1600, help="rate-limited case, concurrent")
    parser.add_argument("--sequential-records", type=int, default=30)
    parser.add_argument("--instant-records", type=int, default=2000)
    parser.add_argument("--local-records", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(
        f"sandbox: latency {LATENCY * 1000:.0f} ms, limit {LIMIT}/min, slow-down "
        f"{SLOWDOWN:.3f} s past 80 %, write status PENDING for {WRITE_STATUS_DELAY} s\n"
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        limited = {"latency": LATENCY, "limit": LIMIT, "write_status_delay": WRITE_STATUS_DELAY}
        instant = {"latency": 0.0, "limit": None, "write_status_delay": 0.0}
        cases: list[tuple[str, int, int | None, dict[str, Any]]] = [
            ("rate-limited, default", args.records, None, limited),
            ("rate-limited, sequential", args.sequential_records, 1, limited),
            ("instant, default", args.instant_records, None, instant),
            ("instant, sequential", args.instant_records, 1, instant),
        ]
        for case, records, in_flight, server in cases:
            print(f"running {case} ({records} records)...", file=sys.stderr, flush=True)
            result = api_case(case, records, workdir, in_flight=in_flight, **server)
            results.append(result)
            print(f"  {result.summary}", file=sys.stderr)
        if args.local_records:
            print(f"running local rejects ({args.local_records} records)...", file=sys.stderr)
            local = local_case(args.local_records, workdir)
            print(f"  {local.summary}", file=sys.stderr)
            results.append(local)
    print_table(results)
    by_case = {r.case: r for r in results}
    for kind in ("rate-limited", "instant"):
        fast, slow = by_case[f"{kind}, default"], by_case[f"{kind}, sequential"]
        ratio = fast.records_per_second / slow.records_per_second
        print(f"{kind}: default / sequential = {ratio:.2f}x records/s")
    failed = [r.case for r in results if r.returncode != 0 or r.booked_once is False]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
