"""A real S3-compatible HTTP server for the object-storage tests: moto's ``moto_server`` on a free port.

Each test module that needs one starts it in a module-scoped fixture (``moto_s3()``) and takes a fresh bucket
per test (``MotoS3.bucket``). Without moto the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port

# moto accepts any credentials; these keep botocore off the machine's own profiles and instance metadata
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "aiforge-test", "AWS_SECRET_ACCESS_KEY": "aiforge-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


@dataclass(frozen=True)
class MotoS3:
    endpoint: str

    def client(self) -> Any:
        """A boto3 S3 client of the server: the tests look at (and tamper with) the raw objects through it."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

    def bucket(self) -> str:
        """A new empty bucket."""
        name = f"aiforge-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, url: str) -> dict[str, str]:
        """The environment that points a workspace's artifacts at ``url`` on this server."""
        return {**CREDENTIALS, "AIFORGE_ARTIFACTS_URL": url, "AIFORGE_S3_ENDPOINT_URL": self.endpoint}

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix`` in ``bucket``, key -> bytes."""
        client = self.client()
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
        return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


@contextmanager
def moto_s3(folder: Path) -> Iterator[MotoS3]:
    """``moto_server`` on a free port of 127.0.0.1 until the block ends (its log in ``folder``)."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("moto_server is not installed: the dev extra has moto[server]")
        pytest.skip("no moto_server (pip install 'moto[server]')")
    pytest.importorskip("s3fs")
    port = free_port()
    log = folder / "moto.log"
    with log.open("w") as fh:
        process = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=fh, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "moto_server did not start in 30 s:\n" + log.read_text()
                time.sleep(0.05)
        yield MotoS3(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
