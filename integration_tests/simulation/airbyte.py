"""Airbyte's side of a sync: run the real connector, and retry a failed attempt as Airbyte does.

A job makes up to `ATTEMPTS` attempts (`WORKER_JOB_ATTEMPT` 0, 1, 2); each re-sends every
message after the last STATE the destination echoed (per stream for STREAM states, as
Airbyte resumes each stream from its own state). When every attempt of a job failed, the
next job (a new `WORKER_JOB_ID`, attempt 0) re-sends the same way, up to `JOBS` jobs. A
`config_error` is not retried within its job: the user fixes the configuration (the
sandbox accepts the token again) and the next job runs. A SIGTERM is a cancelled sync, and
the next job follows it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_tests.simulation.model import Case, State, message_json
from propexo_sandbox import Sandbox

ATTEMPTS = 3
JOBS = 2
RUN_TIMEOUT = 150.0
RETRY_WAIT = 10.0
BROKEN_LINE = b'{"type": "RECORD", "record": {"stream": "tou\n'


@dataclass
class Run:
    """One attempt: what was sent, what came back and when (Unix seconds)."""

    job: int
    attempt: int
    sent: list[int | None]  # per stdin line: the case's message index; None for a broken line
    lines: list[tuple[float, str]] = field(default_factory=list)  # stdout, with arrival times
    stderr: str = ""
    returncode: int | None = None
    started: float = 0.0
    ended: float = 0.0
    sigterm_at: float | None = None
    timed_out: bool = False
    requests_before: int = 0  # sandbox requests counted before this run started
    storage_refused: int = 0  # object-storage requests answered 503 during this run
    storage_worked: bool = False  # object storage answered a request of this run first

    def messages(self) -> list[tuple[float, dict[str, Any]]]:
        parsed = []
        for at, line in self.lines:
            with contextlib.suppress(ValueError):
                parsed.append((at, json.loads(line)))
        return parsed

    @property
    def traces(self) -> list[tuple[float, dict[str, Any]]]:
        return [(at, m["trace"]) for at, m in self.messages() if m.get("type") == "TRACE"]

    @property
    def error_traces(self) -> list[tuple[float, dict[str, Any]]]:
        return [(at, t) for at, t in self.traces if t.get("type") == "ERROR"]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for _, m in self.messages() if m.get("type") == "STATE"]

    @property
    def outcomes(self) -> list[dict[str, Any]]:
        prefix = "record outcome: "
        found = []
        for _, m in self.messages():
            text = m.get("log", {}).get("message", "") if m.get("type") == "LOG" else ""
            if text.startswith(prefix):
                found.append(json.loads(text[len(prefix) :]))
        return found

    @property
    def failure_type(self) -> str | None:
        errors = self.error_traces
        return errors[-1][1].get("error", {}).get("failure_type") if errors else None

    def summary(self) -> str:
        outcomes = self.outcomes
        accepted = sum(o["outcome"] == "accepted" for o in outcomes)
        trace = self.error_traces
        said = trace[-1][1]["error"].get("message", "")[:160] if trace else ""
        return (
            f"job {self.job} attempt {self.attempt}: exit {self.returncode}, "
            f"{len([s for s in self.sent if s is not None])} messages sent, "
            f"{accepted} accepted, {len(outcomes) - accepted} rejected, "
            f"{len(self.states)} states echoed"
            + (", SIGTERM sent" if self.sigterm_at else "")
            + (f", {self.failure_type}: {said}" if trace else "")
        )


class ForkServer:
    """A pre-imported connector that forks a real CLI process per run (see forkserver.py)."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "integration_tests.simulation.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert self._process.stdout is not None
        ready = self._process.stdout.readline()
        if "ready" not in ready:
            raise RuntimeError(f"the fork server did not start: {ready!r}")
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)

    def restart(self) -> None:
        """Start afresh after a run was interrupted half-way (its answers would be stale)."""
        self._process.kill()
        self._process.wait(timeout=30)
        self._start()

    def start(
        self, argv: list[str], env: dict[str, str], stdin: Path, stdout: Path, stderr: Path
    ) -> int:
        assert self._process.stdin is not None and self._process.stdout is not None
        request = {
            "argv": argv,
            "env": env,
            "stdin": str(stdin),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        return int(json.loads(self._process.stdout.readline())["pid"])

    def wait(self) -> int:
        assert self._process.stdout is not None
        return int(json.loads(self._process.stdout.readline())["exit"])


class Connector:
    """Runs `destination-propexo write` as Airbyte does: config and catalog files, messages
    on stdin, environment `WORKER_JOB_ID` and `WORKER_JOB_ATTEMPT`. In a process forked
    from a `ForkServer`, or (`forks` None) by executing the installed console script."""

    def __init__(self, forks: ForkServer | None) -> None:
        self._forks = forks

    def write(
        self,
        run: Run,
        workdir: Path,
        config: dict[str, Any],
        catalog: dict[str, Any],
        stdin: bytes,
        sandbox: Sandbox,
        sigterm_after_requests: int | None,
    ) -> None:
        config_path = workdir / "config.json"
        catalog_path = workdir / "catalog.json"
        config_path.write_text(json.dumps(config))
        catalog_path.write_text(json.dumps(catalog))
        stdin_path = workdir / f"stdin-{run.job}-{run.attempt}.jsonl"
        stdin_path.write_bytes(stdin)
        stderr_path = workdir / f"stderr-{run.job}-{run.attempt}.txt"
        argv = ["write", "--config", str(config_path), "--catalog", str(catalog_path)]
        env = {"WORKER_JOB_ID": str(run.job), "WORKER_JOB_ATTEMPT": str(run.attempt)}
        run.requests_before = len(sandbox.requests())
        run.started = time.time()
        if self._forks is None:
            self._exec(run, argv, env, stdin_path, stderr_path, sandbox, sigterm_after_requests)
        else:
            self._fork(run, argv, env, stdin_path, stderr_path, sandbox, sigterm_after_requests)
        run.ended = time.time()
        run.stderr = stderr_path.read_text(errors="replace")

    def _exec(
        self,
        run: Run,
        argv: list[str],
        env: dict[str, str],
        stdin: Path,
        stderr: Path,
        sandbox: Sandbox,
        sigterm: int | None,
    ) -> None:
        script = shutil.which("destination-propexo", path=str(Path(sys.executable).parent))
        if script is None:
            raise RuntimeError("destination-propexo is not installed in this environment")
        with stdin.open("rb") as given, stderr.open("wb") as errors:
            process = subprocess.Popen(
                [script, *argv],
                stdin=given,
                stdout=subprocess.PIPE,
                stderr=errors,
                env={**os.environ, **env},
            )
            assert process.stdout is not None
            reader = threading.Thread(target=_read_lines, args=(process.stdout, run), daemon=True)
            reader.start()
            killer = _sigterm_after(sandbox, run, process.pid, sigterm, process.poll)
            try:
                run.returncode = process.wait(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                run.timed_out = True
                process.kill()
                run.returncode = process.wait()
            reader.join(timeout=10)
            if killer is not None:
                killer.join(timeout=1)

    def _fork(
        self,
        run: Run,
        argv: list[str],
        env: dict[str, str],
        stdin: Path,
        stderr: Path,
        sandbox: Sandbox,
        sigterm: int | None,
    ) -> None:
        assert self._forks is not None
        fifo = stdin.with_suffix(".out")
        os.mkfifo(fifo)
        opened = threading.Event()

        def read() -> None:
            with open(fifo, "rb") as out:  # blocks until the child opens it
                opened.set()
                _read_lines(out, run)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        pid = self._forks.start(argv, env, stdin, fifo, stderr)
        alive = threading.Event()
        alive.set()
        killer = _sigterm_after(sandbox, run, pid, sigterm, lambda: None if alive.is_set() else 0)
        watchdog = threading.Timer(RUN_TIMEOUT, _kill_timed_out, args=(pid, run))
        watchdog.start()
        try:
            run.returncode = self._forks.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._forks.restart()
            raise
        finally:
            watchdog.cancel()
            alive.clear()
        if not opened.is_set():  # the child died before opening its stdout: unblock the reader
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
        if killer is not None:
            killer.join(timeout=1)


def _kill_timed_out(pid: int, run: Run) -> None:
    run.timed_out = True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _read_lines(stream: Any, run: Run) -> None:
    for raw in stream:
        run.lines.append((time.time(), raw.decode("utf-8", errors="replace").rstrip("\n")))


def _sigterm_after(
    sandbox: Sandbox, run: Run, pid: int, requests: int | None, poll: Any
) -> threading.Thread | None:
    """Send SIGTERM once the run has made `requests` API requests (if it is still running)."""
    if requests is None:
        return None

    def wait_then_terminate() -> None:
        if (
            sandbox.wait_for_requests(run.requests_before + requests, timeout=RUN_TIMEOUT)
            and poll() is None
        ):
            run.sigterm_at = time.time()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    thread = threading.Thread(target=wait_then_terminate, daemon=True)
    thread.start()
    return thread


@dataclass
class SyncHistory:
    """Every run of one generated sync, and the case's messages as JSON (event ids resolved)."""

    case: Case
    sent_messages: list[dict[str, Any]]
    runs: list[Run] = field(default_factory=list)

    def describe(self) -> str:
        return "\n".join(run.summary() for run in self.runs)


def remaining(case: Case, committed: dict[int | None, int]) -> list[int]:
    """Message indices Airbyte sends again: each after its stream's last echoed STATE (or,
    for GLOBAL and LEGACY states, after the last echoed one)."""
    left = []
    for index, message in enumerate(case.messages):
        stream = message.stream if case.state_type == "STREAM" else None
        if index > committed.get(stream, -1):
            left.append(index)
    return left


def stdin_for(
    history: SyncHistory, indices: list[int], broken_at: int | None
) -> tuple[bytes, list[int | None]]:
    lines: list[bytes] = []
    sent: list[int | None] = []
    for position, index in enumerate(indices):
        if broken_at is not None and position == broken_at:
            lines.append(BROKEN_LINE)
            sent.append(None)
        lines.append(json.dumps(history.sent_messages[index], ensure_ascii=False).encode() + b"\n")
        sent.append(index)
    if broken_at is not None and broken_at >= len(indices):
        lines.append(BROKEN_LINE)
        sent.append(None)
    return b"".join(lines), sent


def sync(
    case: Case,
    sandbox: Sandbox,
    connector: Connector,
    config: dict[str, Any],
    event_ids: list[str],
    after_run: Callable[[Run], None] = lambda run: None,
) -> SyncHistory:
    """Run the case as Airbyte would, until an attempt succeeds or the jobs run out;
    `after_run` sees each run as it ends."""
    history = SyncHistory(
        case, [message_json(case, m, event_ids, i) for i, m in enumerate(case.messages)]
    )
    committed: dict[int | None, int] = {}
    with tempfile.TemporaryDirectory(prefix="propexo-sim-") as tmp:
        workdir = Path(tmp)
        for job in range(1, JOBS + 1):
            for attempt in range(ATTEMPTS):
                first = not history.runs
                indices = remaining(case, committed)
                broken = case.faults.broken_line_at if first else None
                stdin, sent = stdin_for(history, indices, broken)
                run = Run(job=job, attempt=attempt, sent=sent)
                history.runs.append(run)
                sigterm = case.faults.sigterm_after_requests if first else None
                connector.write(run, workdir, config, case.catalog(), stdin, sandbox, sigterm)
                after_run(run)
                _commit(case, run, committed)
                if run.returncode == 0:
                    return history
                sandbox.settle(timeout=RETRY_WAIT)
                if run.failure_type == "config_error" or run.sigterm_at is not None:
                    sandbox.restore_token()
                    break
    return history


def _commit(case: Case, run: Run, committed: dict[int | None, int]) -> None:
    """Move each stream's resume point to its last STATE the run echoed."""
    sent_states = [
        index for index in run.sent if index is not None and isinstance(case.messages[index], State)
    ]
    for index in sent_states[: len(run.states)]:
        message = case.messages[index]
        assert isinstance(message, State)
        key = message.stream if case.state_type == "STREAM" else None
        committed[key] = max(committed.get(key, -1), index)
