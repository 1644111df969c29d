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
    model_validator,
)

from destination_propexo.errors import ConfigError
from destination_propexo.propexo.inflight import MAX_IN_FLIGHT
from destination_propexo.records.mapping import API_FIELDS, normalise_column
from destination_propexo.records.timezones import InvalidTimeValue, validate_zone
from destination_propexo.records.vendors import (
    APPOINTMENT_TYPES,
    MAX_DURATION_MINUTES,
    TITLE_LIMIT,
    AppointmentDefaults,
    utf16_length,
)

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
        if not normalise_column(value):
            # It would name every column that reads as empty ("_", "-", a lone BOM).
            raise ValueError(
                f"the source column name {value.strip()!r} reads as empty (column names are "
                "matched ignoring separators and invisible characters)"
            )
        return value.strip()

    @field_validator("api_field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in API_FIELDS:
            raise ValueError(f"{value!r} is not an API field; use one of {', '.join(API_FIELDS)}")
        return value


class PropertyTimezone(BaseModel):
    """One `property_timezones` entry: the IANA zone of a property's wall clock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    property_id: str = Field(min_length=1)
    timezone: str

    @field_validator("property_id")
    @classmethod
    def _property_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the property id is empty")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            return validate_zone(value)
        except InvalidTimeValue as exc:
            raise ValueError(exc.reason) from None


# Airbyte's data-activation destinations (Salesforce, HubSpot, Customer.io) share the
# `object_storage_config` block; these models read it field for field. Their hidden fields
# (flattening, compression, path_format, file_name_format) are read too: a value this connector
# cannot honour is a ConfigError naming the field, never ignored.
DEFAULT_PATH_FORMAT = "{sync_id}/{namespace}/{stream_name}/"
DEFAULT_FILE_NAME_FORMAT = "{date}_{timestamp}_{part_number}{format_extension}"
NO_FLATTENING = "No flattening"
ROLE_ARN_PATTERN = r"arn:[a-z0-9-]+:iam::[0-9]*:role/\S+"


def _no_flattening(value: str) -> str:
    if value != NO_FLATTENING:
        raise ValueError(
            f"{value!r} is not supported: a rejected record keeps its data as one JSON value "
            f"(a column named data in CSV); use {NO_FLATTENING!r}"
        )
    return value


class CsvFormat(BaseModel):
    """Rejected records as CSV, one row per record, the record's data as a JSON column (`.csv`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format_type: Literal["CSV"] = "CSV"
    flattening: str = NO_FLATTENING

    _flattening = field_validator("flattening")(_no_flattening)


class JsonLinesFormat(BaseModel):
    """Rejected records as JSON lines, one object per record (`.jsonl`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format_type: Literal["JSONL"] = "JSONL"
    flattening: str = NO_FLATTENING

    _flattening = field_validator("flattening")(_no_flattening)


class NoCompression(BaseModel):
    """Objects are written as they are."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    compression_type: Literal["No Compression"] = "No Compression"


class GzipCompression(BaseModel):
    """Objects are gzip-compressed, their names ending in `.gz`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    compression_type: Literal["GZIP"] = "GZIP"


class NoObjectStorage(BaseModel):
    """Rejected records are not written to object storage."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    storage_type: Literal["None"] = "None"


def _blank_is_none(value: Any) -> Any:
    # The Airbyte UI sends an emptied optional field as "".
    return None if isinstance(value, str) and not value.strip() else value


class S3ObjectStorage(BaseModel):
    """An S3 or S3-compatible bucket that receives the rejected records of each sync.

    Credentials: the access keys, or a role (`role_arn`) assumed with STS, from the access keys
    when given and otherwise from the AWS credentials of the environment (as Airbyte Cloud
    provides them); see outputs/object_store.py.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    storage_type: Literal["S3"]
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    role_arn: str | None = None
    s3_bucket_name: str
    s3_bucket_region: str = ""
    s3_endpoint: str | None = None
    bucket_path: str
    format: CsvFormat | JsonLinesFormat = Field(
        default_factory=CsvFormat, discriminator="format_type"
    )
    compression: NoCompression | GzipCompression = Field(
        default_factory=NoCompression, discriminator="compression_type"
    )
    path_format: str = DEFAULT_PATH_FORMAT
    file_name_format: str = DEFAULT_FILE_NAME_FORMAT

    @field_validator("access_key_id", "secret_access_key", mode="before")
    @classmethod
    def _key_or_none(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        value = _blank_is_none(value)
        return value.strip() if isinstance(value, str) else value

    @field_validator("role_arn", mode="before")
    @classmethod
    def _role(cls, value: Any) -> Any:
        value = _blank_is_none(value)
        if isinstance(value, str):
            value = value.strip()
            if not re.fullmatch(ROLE_ARN_PATTERN, value):
                raise ValueError(
                    f"{value!r} is not the ARN of an IAM role, such as "
                    "arn:aws:iam::123456789012:role/airbyte-rejected-records"
                )
        return value

    @field_validator("format", mode="before")
    @classmethod
    def _format_by_name(cls, value: Any) -> Any:
        # Airbyte's spec gives the default format by name ("CSV"), not as the object.
        return {"format_type": value} if isinstance(value, str) else value

    @field_validator("path_format")
    @classmethod
    def _default_path(cls, value: str) -> str:
        if value.strip() not in ("", DEFAULT_PATH_FORMAT):
            raise ValueError(
                f"only {DEFAULT_PATH_FORMAT!r} is written (under the prefix path); "
                "leave it empty or at that default"
            )
        return DEFAULT_PATH_FORMAT

    @field_validator("file_name_format")
    @classmethod
    def _default_file_name(cls, value: str) -> str:
        if value.strip() not in ("", DEFAULT_FILE_NAME_FORMAT):
            raise ValueError(
                f"only {DEFAULT_FILE_NAME_FORMAT!r} is written; leave it empty or at that default"
            )
        return DEFAULT_FILE_NAME_FORMAT

    @field_validator("s3_bucket_name")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        name = value.strip()
        if not name or "/" in name or any(c.isspace() for c in name):
            raise ValueError(
                f"{value!r} is not a bucket name: one without spaces or '/', e.g. airbyte-rejected"
            )
        return name

    @field_validator("s3_bucket_region", mode="before")
    @classmethod
    def _region_code(cls, value: Any) -> Any:
        # Emptied (null, as an API client may send it, or ""): no region, as for MinIO.
        if value is None:
            return ""
        if not isinstance(value, str):
            return value  # pydantic says it must be a string
        region = value.strip().lower()
        if region and not re.fullmatch(REGION_PATTERN, region):
            raise ValueError(f"{value!r} is not a region code such as us-east-1; or leave it empty")
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

    @model_validator(mode="after")
    def _credentials(self) -> S3ObjectStorage:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "Access Key ID without Secret Access Key or the other way round: give both, "
                "or neither with a Role ARN"
            )
        if self.access_key_id is None and self.role_arn is None:
            raise ValueError(
                "give Access Key ID and Secret Access Key, or a Role ARN to assume with the "
                "AWS credentials of the environment"
            )
        return self


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
    default_duration_minutes: int | None = Field(default=None, ge=1, le=MAX_DURATION_MINUTES)
    default_appointment_type: str | None = None
    default_title: str | None = Field(default=None, max_length=TITLE_LIMIT)
    property_timezones: list[PropertyTimezone] = Field(default_factory=list)
    dry_run: bool = False
    rejected_records_path: str | None = None
    max_rejected_percent: int | None = Field(default=None, ge=1, le=100)
    object_storage_config: ObjectStorage = Field(default_factory=NoObjectStorage)
    # The outcomes dataset (outputs/outcome_entry.py): every record's final outcome.
    outcomes_path: str | None = None
    write_outcomes: bool = True

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
            # pydantic names the field; the value is named as a row's zone names it.
            raise ValueError(f"{exc.reason} (got {exc.value})") from None

    @field_validator("rejected_records_path", "outcomes_path")
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

    @field_validator("default_appointment_type")
    @classmethod
    def _entrata_type(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value.strip().upper() not in APPOINTMENT_TYPES:
            raise ValueError(f"must be one of {', '.join(APPOINTMENT_TYPES)}")
        return value.strip().upper()

    @field_validator("default_title")
    @classmethod
    def _title_or_none(cls, value: str | None) -> str | None:
        # The Airbyte UI sends an emptied optional field as "": that means no default.
        if value is not None and utf16_length(value) > TITLE_LIMIT:
            # Propexo counts UTF-16 code units (an emoji is 2), as its Zod schemas do.
            raise ValueError(
                f"is {utf16_length(value)} characters as Propexo counts them (an emoji counts "
                f"2); at most {TITLE_LIMIT}"
            )
        return value if value is None or value.strip() else None

    @field_validator("property_timezones")
    @classmethod
    def _one_zone_per_property(cls, entries: list[PropertyTimezone]) -> list[PropertyTimezone]:
        seen: dict[str, str] = {}
        for entry in entries:
            if entry.property_id in seen and seen[entry.property_id] != entry.timezone:
                raise ValueError(
                    f"property {entry.property_id!r} is given two zones "
                    f"({seen[entry.property_id]} and {entry.timezone}); keep one"
                )
            seen[entry.property_id] = entry.timezone
        return entries

    @property
    def appointment_defaults(self) -> AppointmentDefaults:
        """What fills a vendor's field a row leaves empty."""
        return AppointmentDefaults(
            duration_minutes=self.default_duration_minutes,
            appointment_type=self.default_appointment_type,
            title=self.default_title,
        )

    @property
    def stated_zones(self) -> dict[str, str]:
        """`property_timezones` as property id -> IANA zone."""
        return {entry.property_id: entry.timezone for entry in self.property_timezones}

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
