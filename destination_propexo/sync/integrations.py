"""The integrations of one sync: each one's vendor (GET /v1/admin/integrations/{id}/) and
zone settings (GET /v1/timezones/), read from Propexo the first time a row names it, then
kept for the sync; the zones the config states per property (`property_timezones`).

It is the `records.mapping.Integrations` that mapping asks; records are mapped on the
pipeline's one thread, and the lock only guards the caches against a second caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from destination_propexo.errors import (
    ConfigError,
    FailureKind,
    Owner,
    Request,
    RequestFailure,
    ServiceUnavailable,
    owner,
)
from destination_propexo.propexo.client import Integration, PropexoClient
from destination_propexo.records.timezones import ZoneSetting
from destination_propexo.records.vendors import (
    VENDORS,
    UnusableIntegration,
    Vendor,
    vendor_named,
)

Value = TypeVar("Value")


def usable_vendor(integration_id: str, integration: Integration) -> Vendor:
    """The vendor to book `integration` with; raises UnusableIntegration naming why not."""
    name = integration.name or integration_id
    vendor = vendor_named(integration.vendor)
    if vendor is None:
        books = ", ".join(v.name for v in VENDORS.values())
        raise UnusableIntegration(
            f"integration_id: {integration_id!r} ({name}) is a "
            f"{integration.vendor or 'vendor-less'} integration; this destination books lead "
            f"appointments in {books} only"
        )
    if integration.active is not True:
        raise UnusableIntegration(
            f"integration_id: {integration_id!r} ({name}) is not active; re-activate it in the "
            "Propexo dashboard"
        )
    return vendor


class SyncIntegrations:
    """`records.mapping.Integrations` over Propexo, each integration read once per sync."""

    def __init__(self, client: PropexoClient, stated_zones: Mapping[str, str]) -> None:
        self._client = client
        self._stated = dict(stated_zones)
        self._lock = threading.Lock()
        self._vendors: dict[str, Vendor | UnusableIntegration] = {}
        self._settings: dict[str, tuple[ZoneSetting, ...]] = {}

    def vendor(self, integration_id: str) -> Vendor:
        """The integration's vendor; UnusableIntegration (a new one for each call: a kept
        exception raised again would gather every caller's traceback) if rows cannot be
        booked in it."""
        # Read without the lock (asked once per row): entries are only ever added, whole.
        found = self._vendors.get(integration_id)
        if found is None:
            found = self._once(self._vendors, integration_id, self._read_vendor)
        if isinstance(found, UnusableIntegration):
            raise UnusableIntegration(*found.args)
        return found

    def zone_settings(self, integration_id: str) -> tuple[ZoneSetting, ...]:
        return self._once(self._settings, integration_id, self._read_settings)

    def stated_zone(self, property_id: str | None) -> str | None:
        return self._stated.get(property_id) if property_id is not None else None

    @property
    def vendors(self) -> dict[str, Vendor]:
        """The vendor of each usable integration read so far (for the summary)."""
        with self._lock:
            return {k: v for k, v in self._vendors.items() if isinstance(v, Vendor)}

    def _once(
        self, cache: dict[str, Value], integration_id: str, read: Callable[[str], Value]
    ) -> Value:
        with self._lock:
            if integration_id in cache:
                return cache[integration_id]
        value = read(integration_id)
        with self._lock:
            return cache.setdefault(integration_id, value)

    def _read_vendor(self, integration_id: str) -> Vendor | UnusableIntegration:
        try:
            integration = self._client.get_integration(integration_id)
        except RequestFailure as failure:
            if failure.kind is FailureKind.NOT_FOUND:
                # The path works (the configured integration was read through it first):
                # the row names an integration this token does not have.
                return UnusableIntegration(
                    f"integration_id: Propexo has no integration {integration_id!r} for this token"
                )
            raise _unreadable(
                f"integration {integration_id!r} to find its vendor", failure
            ) from None
        try:
            return usable_vendor(integration_id, integration)
        except UnusableIntegration as unusable:
            return unusable

    def _read_settings(self, integration_id: str) -> tuple[ZoneSetting, ...]:
        try:
            return tuple(self._client.timezones(integration_id))
        except RequestFailure as failure:
            raise _unreadable(
                f"the zone settings (GET /v1/timezones/) of integration {integration_id!r}",
                failure,
            ) from None


def _unreadable(what: str, failure: RequestFailure) -> ConfigError | ServiceUnavailable:
    """The error that stops the sync when `what` cannot be read: the configuration's (a
    redirect, a path that is not there) or the service's (`errors.owner`)."""
    message = (
        f"Could not read {what}: {failure}. Nothing was sent for its rows; the next attempt "
        "re-sends from the last confirmed state."
    )
    if owner(failure, Request.INTEGRATION) is Owner.CONFIGURATION:
        return ConfigError(message + " Check api_url (the API's base URL only).")
    return ServiceUnavailable(message)
