"""A real S3 API for the tests: moto's server on 127.0.0.1, with IAM to refuse credentials."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import boto3
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

BUCKET = "propexo-rejected"
# What any client sends while credentials are not required (moto's default).
OPEN_KEY_ID = "AKIAOPENTESTKEY00000"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY0SECRET42"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class S3Server:
    """moto's S3 and IAM on a free port of 127.0.0.1; `reset` empties it between tests."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        self.accept_any_credentials()
        requests.post(f"{self.url}/moto-api/reset", timeout=10)

    def client(self, service: str = "s3", key_id: str = OPEN_KEY_ID, secret: str = SECRET) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str = BUCKET) -> None:
        self.client().create_bucket(Bucket=name)

    def objects(self, bucket: str = BUCKET, prefix: str = "") -> dict[str, bytes]:
        """Every object under the prefix, key -> body."""
        s3 = self.client()
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return {
            item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listing
        }

    def user_allowed(self, actions: list[str], resource: str) -> tuple[str, str]:
        """A new IAM user allowed only `actions` on `resource`; its key id and secret."""
        iam = self.client("iam")
        name = f"user-{len(iam.list_users()['Users'])}"
        iam.create_user(UserName=name)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}],
        }
        iam.put_user_policy(UserName=name, PolicyName="rejected", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def accept_any_credentials(self) -> None:
        """Back to moto's default: any key is accepted (to read what a test wrote)."""
        requests.post(f"{self.url}/moto-api/reset-auth", data=b"inf", timeout=10)

    def require_credentials(self) -> None:
        """From now on, only keys of IAM users are accepted, within their policies."""
        requests.post(f"{self.url}/moto-api/reset-auth", data=b"0", timeout=10)

    def storage(self, **overrides: Any) -> dict[str, Any]:
        """An `object_storage_config` block for this server."""
        return {
            "storage_type": "S3",
            "access_key_id": OPEN_KEY_ID,
            "secret_access_key": SECRET,
            "s3_bucket_name": BUCKET,
            "s3_bucket_region": "",
            "s3_endpoint": self.url,
            "bucket_path": "rejected",
            "format": {"format_type": "JSONL"},
            **overrides,
        }

    def role_allowed(self, actions: list[str], resource: str) -> str:
        """A new IAM role allowed only `actions` on `resource`, that any principal may assume;
        its ARN."""
        iam = self.client("iam")
        name = f"role-{len(iam.list_roles()['Roles'])}"
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ],
        }
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}],
        }
        iam.put_role_policy(RoleName=name, PolicyName="rejected", PolicyDocument=json.dumps(policy))
        return str(arn)
