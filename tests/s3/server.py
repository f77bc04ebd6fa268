"""A real S3-compatible server for the object storage tests: moto's standalone server, over
HTTP on a loopback port, in a thread of the test process (not moto's in-process mock: boto3 and
django-storages send real requests and read real answers).

It checks credentials as S3 does: one IAM user with an access key is made, then every request
must be signed with that key (a wrong secret gets 403 SignatureDoesNotMatch).
"""

from __future__ import annotations

import json
import logging
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

BUCKET = "changeflow-test"
REGION = "us-east-1"
_ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                      "Resource": "*"}]}  # fmt: skip


@dataclass
class S3Server:
    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    server: Any = field(default=None, repr=False)

    def start(self) -> S3Server:
        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
        # Port 0: the kernel gives the listening socket a free port as it binds (no race with
        # another process between choosing a port and binding it).
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        setup = {"endpoint_url": self.endpoint, "region_name": REGION,
                 "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}  # fmt: skip
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="changeflow")
        iam.put_user_policy(
            UserName="changeflow", PolicyName="all", PolicyDocument=json.dumps(_ALLOW_ALL)
        )
        key = iam.create_access_key(UserName="changeflow")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        boto3.client("s3", **setup).create_bucket(Bucket=BUCKET)
        # From now on every request must be signed with the key above.
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our loopback
            answer.read()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def env(self, **overrides: str) -> dict[str, str]:
        """The CHANGEFLOW_S3_* variables of a site on this server, under a prefix of its own."""
        return {
            "CHANGEFLOW_S3_BUCKET": BUCKET,
            "CHANGEFLOW_S3_ENDPOINT_URL": self.endpoint,
            "CHANGEFLOW_S3_REGION": REGION,
            "CHANGEFLOW_S3_ACCESS_KEY_ID": self.access_key,
            "CHANGEFLOW_S3_SECRET_ACCESS_KEY": self.secret_key,
            "CHANGEFLOW_S3_PREFIX": f"site-{uuid.uuid4().hex[:12]}/",
            "CHANGEFLOW_S3_ADDRESSING_STYLE": "path",
            **overrides,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
        )  # fmt: skip

    def objects(self, prefix: str) -> dict[str, bytes]:
        """Every object under ``prefix`` (the key without it → its bytes), read directly."""
        client = self.client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for entry in page.get("Contents", ()):
                body = client.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
                found[entry["Key"][len(prefix) :]] = body
        return found
