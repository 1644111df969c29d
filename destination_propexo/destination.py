"""The destination: spec, check and write, wired from the modules that do the work.

`DestinationPropexo`, the CDK's face of the connector, is built on first use: importing the
CDK takes seconds, which `spec` and `check` on the command line never pay."""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from requests.adapters import BaseAdapter

from destination_propexo.airbyte.catalog import configured_streams
from destination_propexo.airbyte.discover import destination_catalog
from destination_propexo.airbyte.protocol import Emitter
from destination_propexo.airbyte.secrets import get_secrets, update_secrets
from destination_propexo.config import load_config, unknown_options
from destination_propexo.errors import ConfigError, FailureKind, RequestFailure, TransientError
from destination_propexo.outputs.datasets import check_outputs
from destination_propexo.propexo.client import PropexoClient
from destination_propexo.propexo.retry import RetryPolicy
from destination_propexo.records.mapping import FieldMatcher
from destination_propexo.records.values import dumps_python
from destination_propexo.records.vendors import (
    TimeRule,
    UnusableIntegration,
    VendorFieldError,
    mode_caveats,
    refusal,
    vendor_terms,
    zone_terms,
)
from destination_propexo.stop import Stop
from destination_propexo.sync.integrations import usable_vendor
from destination_propexo.sync.session import WINDOW_SIZE, build_client, write_sync
from destination_propexo.sync.writer import WriteSummary

logger = logging.getLogger("destination_propexo")

CHECK_POLICY = RetryPolicy(max_attempts=3, max_total_seconds=10, backoff_initial=0.5)


@functools.cache
def _spec_text() -> str:
    return resources.files("destination_propexo").joinpath("spec.yaml").read_text(encoding="utf-8")


def load_spec() -> dict[str, Any]:
    """The ConnectorSpecification (a JSON object) from the package's spec.yaml (package data:
    in the wheel, the image and a copy holding only main.py and the package)."""
    spec: dict[str, Any] = yaml.load(_spec_text(), Loader=_YamlLoader)  # noqa: S506
    return spec


# libyaml's loader when PyYAML has it (a tenth of the pure-Python one's time), safe either way.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def check_connection(
    raw_config: Mapping[str, Any], *, adapter: BaseAdapter | None = None
) -> tuple[bool, str]:
    """Whether the token is accepted and the integration is an active one of a PMS this
    destination books (with that PMS's terms), and why."""
    try:
        config = load_config(raw_config)
        check_outputs(config)
    except ConfigError as exc:
        return False, str(exc)
    # A person is waiting for `check`: a short retry budget, then a clear answer.
    client, _ = build_client(config, Stop(), policy=CHECK_POLICY, adapter=adapter)
    try:
        return _check_integration(config.integration_id, client)
    except ConfigError as exc:
        return False, str(exc)
    except RequestFailure as failure:
        if failure.kind is FailureKind.NOT_FOUND:
            return False, (
                f"Integration {config.integration_id!r} was not found for this token. Copy the "
                "integration id from the Propexo dashboard."
            )
        return False, f"Could not check the integration at {config.api_url}: {failure}"
    except TransientError as exc:
        return False, f"Could not check the integration at {config.api_url}: {exc}"
    finally:
        client.close()


def _check_integration(integration_id: str, client: PropexoClient) -> tuple[bool, str]:
    """The integration's vendor and, for a vendor reading property time, its zone rows."""
    integration = client.get_integration(integration_id)
    name = integration.name or integration_id
    try:
        vendor = usable_vendor(integration_id, integration)
    except UnusableIntegration as exc:
        return False, f"{str(exc).removeprefix('integration_id: ')}."
    refused = refusal(vendor, moves=False)
    if refused is not None:
        return (
            False,
            f"Integration {integration_id!r} ({name}) is an {vendor.name} integration: {refused}",
        )
    terms = vendor_terms(vendor)
    if vendor.time_rule is TimeRule.PROPERTY_ZONE:
        try:
            terms += "; " + zone_terms(vendor, tuple(client.timezones(integration_id)))
        except VendorFieldError as exc:
            return (
                False,
                f"Integration {integration_id!r} ({name}): "
                f"{str(exc).removeprefix('property_id: ')}.",
            )
    caveats = mode_caveats(vendor)
    if caveats:
        # `check` sees no catalog: what the vendor cannot do is said whatever the modes.
        logger.warning("Integration %s is %s: %s.", integration_id, vendor.name, "; ".join(caveats))
    system = integration.system or "unknown system"
    return (
        True,
        f"Integration {integration_id!r} ({name}) is an active {vendor.name} integration "
        f"({system}); {terms}.",
    )


def discover_catalog(
    raw_config: Mapping[str, Any], *, adapter: BaseAdapter | None = None
) -> dict[str, Any]:
    """The destination catalog for the configured integration's PMS (its vendor read from
    Propexo); raises ConfigError when the integration cannot be booked in, TransientError
    when Propexo cannot be asked."""
    config = load_config(raw_config)
    client, _ = build_client(config, Stop(), policy=CHECK_POLICY, adapter=adapter)
    try:
        integration = client.get_integration(config.integration_id)
    except RequestFailure as failure:
        if failure.kind is FailureKind.NOT_FOUND:
            raise ConfigError(
                f"Integration {config.integration_id!r} was not found for this token."
            ) from None
        raise TransientError(
            f"Could not read integration {config.integration_id!r} at {config.api_url} to "
            f"describe its PMS's appointment: {failure}"
        ) from None
    finally:
        client.close()
    try:
        vendor = usable_vendor(config.integration_id, integration)
    except UnusableIntegration as exc:
        raise ConfigError(f"The configured {exc}.") from None
    refused = refusal(vendor, moves=False)
    if refused is not None:
        # As at `check`: no appointment to map for a PMS whose every row would be refused.
        raise ConfigError(
            f"Integration {config.integration_id!r} is an {vendor.name} integration: {refused}"
        )
    return destination_catalog(vendor, config.appointment_defaults)


def unknown_options_warning(raw_config: Mapping[str, Any]) -> str | None:
    """A warning naming config keys the spec does not know, or None."""
    unknown = unknown_options(raw_config)
    if not unknown:
        return None
    return (
        f"ignored unknown configuration option(s) {', '.join(map(repr, unknown))}: not in "
        "this destination's spec (misspelt?)"
    )


def write_records(
    raw_config: Mapping[str, Any],
    catalog: Mapping[str, Any],
    lines: Iterable[Sequence[bytes]],
    emitter: Emitter,
) -> WriteSummary:
    """`write` from the raw config and catalog: every record to an outcome, STATEs when due.
    `lines` are batches of input lines (`protocol.line_batches`)."""
    config = load_config(raw_config)
    streams = configured_streams(catalog, FieldMatcher.build(config.column_renames))
    warning = unknown_options_warning(raw_config)
    if warning:
        logger.warning(warning)
    for (name, namespace), stream in streams.items():
        qualified = f"{namespace}.{name}" if namespace else name
        logger.info(f"stream {qualified}: {stream.mode.value}")
    return write_sync(config, streams, lines, emitter)


def __getattr__(name: str) -> Any:
    if name == "DestinationPropexo":
        return cdk_destination()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def cdk_destination() -> type[Any]:
    """The `airbyte_cdk.destinations.Destination` of this connector (PyAirbyte, the CDK's
    test helpers), importable as `destination_propexo.destination.DestinationPropexo`."""
    from airbyte_cdk.destinations import Destination
    from airbyte_cdk.models import (
        AirbyteConnectionStatus,
        AirbyteMessage,
        AirbyteMessageSerializer,
        ConfiguredAirbyteCatalog,
        ConfiguredAirbyteCatalogSerializer,
        ConnectorSpecification,
        ConnectorSpecificationSerializer,
        Status,
    )

    from destination_propexo.airbyte.cdk_models import load_output_message

    class DestinationPropexo(Destination):
        """The CDK face of the connector."""

        def spec(self, logger: logging.Logger) -> ConnectorSpecification:
            return ConnectorSpecificationSerializer.load(load_spec())

        def check(
            self, logger: logging.Logger, config: Mapping[str, Any]
        ) -> AirbyteConnectionStatus:
            _mask_secrets_of(config)
            ok, message = check_connection(config)
            return AirbyteConnectionStatus(
                status=Status.SUCCEEDED if ok else Status.FAILED, message=message
            )

        def write(
            self,
            config: Mapping[str, Any],
            configured_catalog: ConfiguredAirbyteCatalog,
            input_messages: Iterable[AirbyteMessage],
        ) -> Iterable[AirbyteMessage]:
            """The CDK's write interface: the messages the CLI prints, as the CDK's models. A
            STATE's `destinationStats` is a `DestinationStateStats`, so it keeps
            `rejectedRecordCount` (the CDK's own model has no such field; the CLI prints it
            with its own serializer)."""
            _mask_secrets_of(config)
            catalog = ConfiguredAirbyteCatalogSerializer.dump(configured_catalog)
            lines = ([dumps_python(AirbyteMessageSerializer.dump(m))] for m in input_messages)
            out: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=WINDOW_SIZE)

            def produce() -> None:
                emitter = Emitter(_QueueStream(out))
                try:
                    write_records(config, catalog, lines, emitter)
                    emitter.flush()
                    out.put(None)
                except BaseException as exc:  # re-raised in the consuming generator below
                    emitter.flush()
                    out.put(exc)

            threading.Thread(target=produce, name="write", daemon=True).start()
            while (item := out.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                # The standard library's reader: a STATE may hold integers past 64 bits
                # and NaN, which orjson would alter or refuse.
                yield load_output_message(json.loads(item))

    return DestinationPropexo


def _mask_secrets_of(config: Mapping[str, Any]) -> None:
    """Mask the config's secrets in everything written (the CLI does it in `run`)."""
    update_secrets(get_secrets(load_spec()["connectionSpecification"], config))


class _QueueStream:
    """A write-only binary stream that hands each written line to a queue."""

    def __init__(self, out: queue.Queue[bytes | BaseException | None]) -> None:
        self._out = out

    def write(self, lines: bytes) -> int:
        for line in lines.splitlines():
            self._out.put(line)
        return len(lines)

    def flush(self) -> None:
        return None
