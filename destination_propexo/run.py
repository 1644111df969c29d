"""The command line: `destination-propexo spec | check | discover | write` (Airbyte protocol)."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from destination_propexo.airbyte.protocol import Emitter, line_batches
from destination_propexo.airbyte.secrets import get_secrets, update_secrets
from destination_propexo.destination import (
    check_connection,
    discover_catalog,
    load_spec,
    unknown_options_warning,
    write_records,
)
from destination_propexo.errors import ConfigError, InputError, PropexoError, failure_type

logger = logging.getLogger("destination_propexo")


class _ProtocolLogHandler(logging.Handler):
    """Sends Python log records to stdout as Airbyte LOG messages (never plain text).

    A record of the connector's own loggers keeps its traceback; a library's (botocore warns
    with one when a role cannot be assumed, before the connector reports the failure as a
    config error) carries only the exception's type and message, on the same line."""

    LEVELS: ClassVar[dict[str, str]] = {"CRITICAL": "FATAL", "WARNING": "WARN"}

    def __init__(self, emitter: Emitter) -> None:
        super().__init__(logging.INFO)
        self._emitter = emitter

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            if record.name == logger.name or record.name.startswith(logger.name + "."):
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            else:
                error = record.exc_info[1]
                text += f" ({type(error).__name__}: {error})"
        self._emitter.log(self.LEVELS.get(record.levelname, record.levelname), text)


def secret_forms(secrets: list[str]) -> list[str]:
    """Every form a secret may be sent or echoed in: as given, and without the white space
    around it (the config strips the token before it goes into the Authorization header)."""
    forms = list(secrets)
    for secret in secrets:
        stripped = secret.strip()
        if stripped and stripped not in forms:
            forms.append(stripped)
    return forms


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="destination-propexo",
        description=(
            "Airbyte destination: books lead appointments (tours) in the PMSs behind Propexo."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="print the connector specification")
    check = commands.add_parser("check", help="check the token and the integration")
    check.add_argument("--config", required=True, help="path to the JSON config")
    discover = commands.add_parser(
        "discover",
        help="describe the configured PMS's appointment object for data-activation mapping",
    )
    discover.add_argument("--config", required=True, help="path to the JSON config")
    write = commands.add_parser("write", help="book the records read from stdin")
    write.add_argument("--config", required=True, help="path to the JSON config")
    write.add_argument("--catalog", required=True, help="path to the configured catalog JSON")
    return parser


def _read_json(path: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read the {what} file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"The {what} file {path} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"The {what} file {path} must hold a JSON object.")
    return value


def main(
    argv: Sequence[str] | None = None,
    *,
    emitter: Emitter | None = None,
    stdin: BinaryIO | None = None,
) -> int:
    """Run one command; returns the process exit code. `emitter` and `stdin` default to the
    process's stdout and stdin (tests run commands in-process with their own)."""
    args = _parser().parse_args(argv)
    emitter = emitter or Emitter(sys.stdout.buffer)
    # Ours is the only handler while a command runs: the CDK puts one of its own on the
    # root logger at import, and with both every log line was printed twice.
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers[:] = [_ProtocolLogHandler(emitter)]
    root.setLevel(logging.INFO)
    try:
        return _dispatch(args, emitter, stdin or sys.stdin.buffer)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        emitter.flush()


def _dispatch(args: argparse.Namespace, emitter: Emitter, stdin: BinaryIO) -> int:
    spec = load_spec()
    if args.command == "spec":
        emitter.spec(spec)
        return 0
    try:
        config = _read_json(args.config, "config")
        update_secrets(secret_forms(get_secrets(spec["connectionSpecification"], config)))
        if args.command == "check":
            warning = unknown_options_warning(config)
            if warning:
                logger.warning(warning)
            ok, message = check_connection(config)
            emitter.connection_status(ok, f"{message} Warning: {warning}." if warning else message)
            return 0
        if args.command == "discover":
            emitter.destination_catalog(discover_catalog(config))
            return 0
        catalog = _read_json(args.catalog, "catalog")
        write_records(config, catalog, line_batches(stdin), emitter)
        return 0
    except ConfigError as exc:
        if args.command == "check":
            emitter.connection_status(False, str(exc))
            return 0
        emitter.error_trace(str(exc), failure_type(exc))
    except InputError as exc:
        emitter.error_trace(
            f"The sync stopped at input {exc}. No state after that line was confirmed, so "
            "the next attempt re-sends from the last confirmed state.",
            failure_type(exc),
        )
    except PropexoError as exc:
        emitter.error_trace(str(exc), failure_type(exc))
    except Exception as exc:
        # A worker's error keeps its traceback when the main thread raises it again here.
        logger.error("the sync failed unexpectedly", exc_info=exc)
        emitter.error_trace(
            f"destination-propexo failed unexpectedly: {type(exc).__name__}: {exc}",
            failure_type(exc),
            internal=str(exc),
        )
    return 1


def run() -> None:
    """Console-script entry point: exits with `main`'s code.

    A stop (SIGTERM, a refused token, the brake) can leave the input reader blocked on
    stdin, which Airbyte keeps open when it cancels; interpreter shutdown would then abort
    on the stdin lock (SIGABRT) instead of exiting with the code. Everything is written
    and flushed by then, so the process ends at once with its code."""
    # What was imported lives as long as the process: kept out of the collector's full
    # passes, which walked all of it (about 30 ms each, once or twice a write).
    gc.freeze()
    code = main()
    if any(thread.is_alive() for thread in threading.enumerate() if thread.daemon):
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
