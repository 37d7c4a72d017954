"""moto's S3 server of the tests: :class:`mlrsir.bench.s3_server.S3Server` (``mlrsir bench remote``
uses the same one)."""

from mlrsir.bench.s3_server import REGION, S3Server

__all__ = ["REGION", "S3Server"]
