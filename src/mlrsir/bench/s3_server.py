"""moto's S3 API server on loopback, with IAM authentication on, for the remote-raster tests.

:class:`S3Server` starts ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (a free port),
creates an IAM user allowed ``s3:*`` with one access key, a bucket and the given objects,
then switches moto's request authentication on (``/moto-api/reset-auth`` with 0 free
requests), so a wrong key or secret is refused with 403 as AWS does. :meth:`gdal_env` gives
the environment GDAL and boto3 read (``AWS_S3_ENDPOINT=127.0.0.1:PORT``, ``AWS_HTTPS=NO``,
``AWS_VIRTUAL_HOSTING=FALSE``, the key). moto's backends live in this process: leaving
the block empties them and switches authentication off again.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

REGION = "us-east-1"


class S3Server:
    """``with S3Server("archive", {"scenes/a.tif": path}) as s3: s3.gdal_env()`` (module doc)."""

    def __init__(self, bucket: str, objects: dict[str, Path]):
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 (moto: test extra, only here)

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.bucket = bucket
        self.objects = dict(objects)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.key_id = ""
        self.secret = ""

    @property
    def endpoint(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"{host}:{port}"

    def __enter__(self) -> S3Server:
        import boto3  # noqa: PLC0415 (remote extra, only here)

        self._server.start()
        setup = {
            "endpoint_url": f"http://{self.endpoint}",
            "region_name": REGION,
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
        }
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=json.dumps(policy))
        s3 = boto3.client("s3", **setup)
        s3.create_bucket(Bucket=self.bucket)
        for key_name, path in self.objects.items():
            s3.upload_file(str(path), self.bucket, key_name)
        self._post("/moto-api/reset-auth", b"0")  # from now on every request is authenticated
        return self

    def _post(self, path: str, data: bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"}  # a form body would be parsed away
        request = urllib.request.Request(f"http://{self.endpoint}{path}", data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def __exit__(self, *exc) -> None:
        try:
            self._post("/moto-api/reset-auth", b"inf")  # moto's state is process-wide: leave it off, empty
            self._post("/moto-api/reset", b"")
        finally:
            self._server.stop()

    def gdal_env(self, key_id: str | None = None, secret: str | None = None) -> dict[str, str]:
        """The variables of a client of this server (the real key unless others are given)."""
        return {
            "AWS_S3_ENDPOINT": self.endpoint,
            "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": key_id or self.key_id,
            "AWS_SECRET_ACCESS_KEY": secret or self.secret,
        }
