"""The S3 boundary: one boto3 client from the typed config, and every botocore failure mapped
to a ConfigError that says what failed and names the bucket and object, never a credential.

boto3 rather than hand-written request signing: it signs (SigV4) for Amazon S3 and
S3-compatible stores alike and retries throttled and dropped requests.

Credentials, as in Airbyte's data-activation destinations: the access keys; or a role
(`role_arn`) assumed with STS AssumeRole, from the access keys when given and otherwise from
the AWS credentials of the environment (in Airbyte Cloud the platform's, with the workspace id
as external id in `AWS_ASSUME_ROLE_EXTERNAL_ID`). The role's credentials are renewed before
they expire, so a sync longer than the role's session keeps writing. With `s3_endpoint` set,
STS is asked at the same URL (MinIO serves its STS API there).
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    ProfileNotFound,
)

from destination_propexo.config import S3ObjectStorage
from destination_propexo.errors import ConfigError, ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3's own default region, and the one MinIO and most S3-compatible stores answer to.
DEFAULT_REGION = "us-east-1"
WHERE = "object_storage_config"
# Shown in the role's CloudTrail entries: who wrote with it.
ROLE_SESSION_NAME = "airbyte-destination-propexo"
EXTERNAL_ID_VARIABLE = "AWS_ASSUME_ROLE_EXTERNAL_ID"


def assume_role_arguments(role_arn: str, environ: Mapping[str, str]) -> dict[str, str]:
    """STS AssumeRole's arguments: the role, this connector's session name, and the external id
    Airbyte gives in `AWS_ASSUME_ROLE_EXTERNAL_ID` (the workspace id in Airbyte Cloud), if any."""
    arguments = {"RoleArn": role_arn, "RoleSessionName": ROLE_SESSION_NAME}
    external_id = environ.get(EXTERNAL_ID_VARIABLE, "").strip()
    if external_id:
        arguments["ExternalId"] = external_id
    return arguments


class _AssumedRole(CredentialProvider):
    """Hands boto3 the role's credentials, fetched on first use and renewed before expiry."""

    METHOD = "assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def _client_config(storage: S3ObjectStorage) -> Config:
    return Config(
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        # Stores reached by URL (MinIO in a cluster) rarely resolve bucket.host names.
        s3={"addressing_style": "path" if storage.s3_endpoint else "auto"},
        # Checksum headers only where S3 requires them: several S3-compatible stores
        # refuse the ones boto3 adds by default since 1.36.
        request_checksum_calculation="when_required",
        # The store is the one configured, never one named by AWS_ENDPOINT_URL
        # (botocore-stubs do not list this botocore option yet).
        ignore_configured_endpoint_urls=True,  # type: ignore[call-arg]
    )


def _session(storage: S3ObjectStorage, environ: Mapping[str, str]) -> boto3.Session:
    """A boto3 session with the configured keys, or with the role assumed from them (or from
    the environment's credentials); ConfigError when there is nothing to assume it with."""
    region = storage.s3_bucket_region or DEFAULT_REGION
    source = boto3.Session(
        region_name=region,
        aws_access_key_id=(
            storage.access_key_id.get_secret_value() if storage.access_key_id else None
        ),
        aws_secret_access_key=(
            storage.secret_access_key.get_secret_value() if storage.secret_access_key else None
        ),
    )
    if storage.role_arn is None:
        return source
    source_credentials = source.get_credentials()
    if source_credentials is None:
        raise ConfigError(
            f"{WHERE}: no AWS credentials to assume the role {storage.role_arn} with. Give "
            "Access Key ID and Secret Access Key, or run where AWS credentials are in the "
            "environment."
        )
    arguments = assume_role_arguments(storage.role_arn, environ)
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=functools.partial(
            source.client,
            endpoint_url=storage.s3_endpoint,
            region_name=region,
            config=_client_config(storage),
        ),
        source_credentials=source_credentials,
        role_arn=arguments.pop("RoleArn"),
        extra_args=arguments,
    )
    credentials = DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method=_AssumedRole.METHOD
    )
    assumed = botocore.session.Session()
    assumed.register_component(
        "credential_provider", CredentialResolver([_AssumedRole(credentials)])
    )
    return boto3.Session(botocore_session=assumed, region_name=region)


def _environment_failure(exc: BotoCoreError) -> ConfigError:
    """The AWS settings of the environment (AWS_PROFILE, the AWS config files) keep boto3 from
    making a client: a ConfigError saying which, before any request."""
    if isinstance(exc, ProfileNotFound):
        profile = exc.kwargs.get("profile")
        return ConfigError(
            f"{WHERE}: the AWS profile {profile!r} named by AWS_PROFILE is in none of the AWS "
            "config files, so no S3 client can be made. Unset AWS_PROFILE where the connector "
            "runs, or add that profile."
        )
    return ConfigError(
        f"{WHERE}: the AWS settings of the environment (AWS_* variables, the AWS config files) "
        f"keep any S3 client from being made: {type(exc).__name__}: {exc}"
    )


class ObjectStore:
    """Puts and deletes objects in the configured bucket; failures are ConfigErrors."""

    def __init__(self, storage: S3ObjectStorage, environ: Mapping[str, str] = os.environ) -> None:
        self.bucket = storage.s3_bucket_name
        # Whether a write has succeeded in this run: a failure after it is the service's.
        self._worked = False
        self.prefix = storage.bucket_path
        self.role_arn = storage.role_arn
        try:
            self._client: S3Client = _session(storage, environ).client(
                "s3",
                endpoint_url=storage.s3_endpoint,
                region_name=storage.s3_bucket_region or DEFAULT_REGION,
                config=_client_config(storage),
            )
        except BotoCoreError as exc:
            raise _environment_failure(exc) from None
        self.endpoint = storage.s3_endpoint or self._client.meta.endpoint_url

    def __repr__(self) -> str:
        return f"ObjectStore(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    def probe(self) -> None:
        """Write and delete a small object under the prefix, as `check` and each sync do first."""
        name = f"_airbyte_connection_test_{uuid.uuid4().hex}"
        key = f"{self.prefix}/{name}" if self.prefix else name
        self.put(key, b"destination-propexo connection check\n", "text/plain")
        self.delete(key)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._owned(exc, "write", key) from None
        self._worked = True

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self._owned(exc, "delete", key) from None

    def _owned(
        self, exc: BotoCoreError | ClientError, action: str, key: str
    ) -> ConfigError | ServiceUnavailable:
        """Whose failure it is: storage that had worked in this run and now cannot be reached
        or answers 5xx is the service's (transient: the next attempt writes again); anything
        else, and anything before it ever worked, is the configuration's."""
        failure = self._failure(exc, action, key)
        if not self._worked:
            return failure
        status = (
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if isinstance(exc, ClientError)
            else None
        )
        if isinstance(exc, BotoCoreError) or (isinstance(status, int) and status >= 500):
            return ServiceUnavailable(
                f"{failure} It had worked earlier in this sync, so the sync stops as a "
                "transient failure; the next attempt writes the rejections again."
            )
        return failure

    def _failure(self, exc: BotoCoreError | ClientError, action: str, key: str) -> ConfigError:
        target = self.url(key)
        if isinstance(exc, EndpointConnectionError):
            return ConfigError(
                f"{WHERE}: the S3 endpoint {self.endpoint} is unreachable (could not {action} "
                f"{target}). Check S3 Endpoint, and that Airbyte can reach it."
            )
        if isinstance(exc, BotoCoreError):
            return ConfigError(
                f"{WHERE}: could not {action} {target} at {self.endpoint}: "
                f"{type(exc).__name__}: {exc}"
            )
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if exc.operation_name == "AssumeRole":
            return ConfigError(
                f"{WHERE}: could not assume the role {self.role_arn} ({code or 'error'}: "
                f"{error.get('Message') or 'no message'}; could not {action} {target}). The "
                "credentials need sts:AssumeRole on the role, and its trust policy must allow "
                "them (and the external id, if it requires one)."
            )
        if code == "NoSuchBucket":
            return ConfigError(
                f"{WHERE}: the bucket {self.bucket!r} does not exist at {self.endpoint} (could "
                f"not {action} {target}). Create it, or correct S3 Bucket Name."
            )
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
            which = (
                "the Access Key ID is not known"
                if code == "InvalidAccessKeyId"
                else "the Secret Access Key does not match the Access Key ID"
            )
            return ConfigError(
                f"{WHERE}: {self.endpoint} refused the credentials ({code}: {which}; could "
                f"not {action} {target}). Check Access Key ID and Secret Access Key."
            )
        if code == "AccessDenied":
            resource = "/".join(part for part in (self.bucket, self.prefix, "*") if part)
            return ConfigError(
                f"{WHERE}: access denied to {action} {target} (AccessDenied). The credentials "
                f"need s3:PutObject and s3:DeleteObject on arn:aws:s3:::{resource}."
            )
        if code in (
            "AuthorizationHeaderMalformed",
            "PermanentRedirect",
            "IllegalLocationConstraint",
        ):
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            region = error.get("Region") or headers.get("x-amz-bucket-region")
            fix = f"Set S3 Bucket Region to {region!r}." if region else "Set S3 Bucket Region."
            return ConfigError(
                f"{WHERE}: the bucket {self.bucket!r} is not in region "
                f"{self._client.meta.region_name!r} ({code}; could not {action} {target}). {fix}"
            )
        message = error.get("Message") or "no message"
        return ConfigError(
            f"{WHERE}: could not {action} {target} at {self.endpoint}: {code or 'error'}: "
            f"{message} (HTTP {status})"
        )
