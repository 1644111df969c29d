"""The typed connector configuration, loaded once from the JSON that `spec.yaml` describes."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from destination_propexo.errors import ConfigError
from destination_propexo.timezones import InvalidTimeValue, validate_zone

PRODUCTION_URL = "https://api.propexo.com"
SANDBOX_URL = "https://api.sandbox.propexo.com"


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses, the only hosts allowed over plain http."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PropexoConfig(BaseModel):
    """What the user configures; see spec.yaml for each option's meaning."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    token: SecretStr
    integration_id: str = Field(min_length=1)
    api_url: str = PRODUCTION_URL
    source_timezone: str = "UTC"
    requests_per_minute: int = Field(default=150, ge=1, le=100_000)
    max_requests_in_flight: int = Field(default=16, ge=1, le=256)
    track_write_status: bool = True
    write_status_timeout_seconds: float = Field(default=120.0, ge=0, le=3600)
    request_timeout_seconds: float = Field(default=30.0, ge=1, le=300)

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("the API token is empty")
        return value

    @field_validator("integration_id")
    @classmethod
    def _strip_integration(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the integration id is empty")
        return value.strip()

    @field_validator("api_url")
    @classmethod
    def _safe_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"api_url must be an http(s) URL such as {PRODUCTION_URL}")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise ValueError(
                "api_url must use https (plain http is only allowed for a local sandbox on "
                "127.0.0.1 or localhost), so the token is never sent in clear text"
            )
        if parts.query or parts.fragment or parts.username:
            raise ValueError("api_url must be a plain base URL without credentials or query")
        return url

    @field_validator("source_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            return validate_zone(value)
        except InvalidTimeValue as exc:
            raise ValueError(exc.reason) from None

    @property
    def api_host(self) -> str:
        return urlsplit(self.api_url).hostname or ""


def load_config(raw: Mapping[str, Any]) -> PropexoConfig:
    """Validate the raw config; a bad one raises ConfigError naming each bad option."""
    try:
        return PropexoConfig.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(f"The configuration is invalid: {problems}") from None
