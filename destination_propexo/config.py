"""The typed connector configuration, loaded once from the JSON that `spec.yaml` describes."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from destination_propexo.errors import ConfigError
from destination_propexo.propexo.inflight import MAX_IN_FLIGHT
from destination_propexo.records.mapping import API_FIELDS, normalise_column
from destination_propexo.records.timezones import InvalidTimeValue, validate_zone

PRODUCTION_URL = "https://api.propexo.com"
REGION_PATTERN = r"[a-z0-9]+(-[a-z0-9]+)*"
SANDBOX_URL = "https://api.sandbox.propexo.com"


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses, the only hosts allowed over plain http."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FieldMapping(BaseModel):
    """One `field_mappings` entry: a source column read as an API field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_column: str
    api_field: str

    @field_validator("source_column")
    @classmethod
    def _column_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the source column name is empty")
        return value.strip()

    @field_validator("api_field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in API_FIELDS:
            raise ValueError(f"{value!r} is not an API field; use one of {', '.join(API_FIELDS)}")
        return value


class JsonLinesFormat(BaseModel):
    """Rejected records as JSON lines, one object per record (`.jsonl`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format_type: Literal["JSONL"] = "JSONL"


class CsvFormat(BaseModel):
    """Rejected records as CSV, one row per record, the record's data as a JSON column (`.csv`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format_type: Literal["CSV"] = "CSV"


class NoObjectStorage(BaseModel):
    """Rejected records are not written to object storage."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    storage_type: Literal["None"] = "None"


class S3ObjectStorage(BaseModel):
    """An S3 or S3-compatible bucket that receives the rejected records of each sync."""

    # extra="ignore": Airbyte's own data-activation block has hidden options (role_arn,
    # compression, path_format...) that a copied config may carry and that do not apply here.
    model_config = ConfigDict(frozen=True, extra="ignore")

    storage_type: Literal["S3"]
    access_key_id: SecretStr
    secret_access_key: SecretStr
    s3_bucket_name: str
    s3_bucket_region: str = ""
    s3_endpoint: str | None = None
    bucket_path: str
    format: JsonLinesFormat | CsvFormat = Field(
        default_factory=JsonLinesFormat, discriminator="format_type"
    )

    @field_validator("access_key_id", "secret_access_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value().strip()
        if not key:
            raise ValueError("is empty")
        return SecretStr(key)

    @field_validator("s3_bucket_name")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        name = value.strip()
        if not name or "/" in name or any(c.isspace() for c in name):
            raise ValueError("must be a bucket name without spaces or '/', e.g. airbyte-rejected")
        return name

    @field_validator("s3_bucket_region")
    @classmethod
    def _region_code(cls, value: str) -> str:
        region = value.strip().lower()
        if region and not re.fullmatch(REGION_PATTERN, region):
            raise ValueError("must be a region code such as us-east-1, or empty")
        return region

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        # The Airbyte UI sends an emptied optional field as "": that means AWS itself.
        if value is None or not value.strip():
            return None
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://minio:9000")
        if parts.path or parts.query or parts.fragment or parts.username:
            raise ValueError("must be a plain URL without a path, credentials or query")
        return url

    @field_validator("bucket_path")
    @classmethod
    def _path_prefix(cls, value: str) -> str:
        path = value.strip().strip("/")
        if path and any(segment in ("", ".", "..") for segment in path.split("/")):
            raise ValueError("must not hold empty, '.' or '..' segments")
        return path


ObjectStorage = Annotated[NoObjectStorage | S3ObjectStorage, Field(discriminator="storage_type")]


class PropexoConfig(BaseModel):
    """What the user configures; see spec.yaml for each option's meaning."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    token: SecretStr
    integration_id: str = Field(min_length=1)
    api_url: str = PRODUCTION_URL
    source_timezone: str = "UTC"
    requests_per_minute: int = Field(default=150, ge=1, le=100_000)
    max_requests_in_flight: int | None = Field(default=None, ge=1, le=MAX_IN_FLIGHT)
    track_write_status: bool = True
    use_write_logs_feed: bool = True
    write_status_timeout_seconds: float = Field(default=120.0, ge=0, le=3600)
    request_timeout_seconds: float = Field(default=30.0, ge=1, le=300)
    field_mappings: list[FieldMapping] = Field(default_factory=list)
    dry_run: bool = False
    rejected_records_path: str | None = None
    max_rejected_percent: int | None = Field(default=None, ge=1, le=100)
    object_storage_config: ObjectStorage = Field(default_factory=NoObjectStorage)

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        # A token pasted with a trailing newline would make every request fail.
        token = value.get_secret_value().strip()
        if not token:
            raise ValueError("the API token is empty")
        return SecretStr(token)

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
        if parts.fragment or parts.username or parts.password:
            raise ValueError("api_url must be a plain base URL without credentials or fragment")
        extra = parts.path + (f"?{parts.query}" if parts.query else "")
        if extra:
            # Every request path starts at /v1/...: a base with a path would make each a 404.
            raise ValueError(
                f"api_url must be the API's base URL with no path or query: remove {extra!r} "
                f"(for example {PRODUCTION_URL})"
            )
        return url

    @field_validator("source_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            return validate_zone(value)
        except InvalidTimeValue as exc:
            raise ValueError(exc.reason) from None

    @field_validator("rejected_records_path")
    @classmethod
    def _path_or_none(cls, value: str | None) -> str | None:
        # The Airbyte UI sends an emptied optional field as "": that means no file.
        if value is None or not value.strip():
            return None
        if "\x00" in value:
            raise ValueError("the path contains a NUL character")
        return value.strip()

    @field_validator("field_mappings")
    @classmethod
    def _one_column_per_field(cls, mappings: list[FieldMapping]) -> list[FieldMapping]:
        # A column matched by its own name is only known per record, so that clash is a
        # record rejection (mapping.FieldMatcher); two mapped columns clash in every record.
        by_field: dict[str, str] = {}
        by_column: dict[str, str] = {}
        for mapping in mappings:
            column = normalise_column(mapping.source_column)
            if column in by_column:
                raise ValueError(
                    f"the source column {mapping.source_column!r} is listed twice (as "
                    f"{by_column[column]} and {mapping.api_field}); keep one entry"
                )
            if mapping.api_field in by_field:
                raise ValueError(
                    f"the columns {by_field[mapping.api_field]!r} and {mapping.source_column!r} "
                    f"both map to {mapping.api_field}; keep one"
                )
            by_column[column] = mapping.api_field
            by_field[mapping.api_field] = mapping.source_column
        return mappings

    @property
    def column_renames(self) -> dict[str, str]:
        """`field_mappings` as source column -> API field."""
        return {m.source_column: m.api_field for m in self.field_mappings}


def unknown_options(raw: Mapping[str, Any]) -> list[str]:
    """Top-level config keys the spec does not know (a misspelt option is otherwise ignored)."""
    return sorted(key for key in raw if key not in PropexoConfig.model_fields)


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
