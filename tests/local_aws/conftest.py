"""Shared kit for the local AWS tests: fake credentials, moto with our fixes (in-process, or as a
server on loopback), a stub model artifact."""

from __future__ import annotations

import os
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from local_aws.moto_fixes import install
from local_aws.state import ServerState

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/autoscaling"
IMAGE = f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/inference:latest"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}

STUB_HANDLER = """
import json

def model_fn(model_dir):
    return {"model_dir": model_dir}

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    if data in (b"fail", "fail"):
        raise ValueError("the stub model refuses 'fail'")
    return {"handler": "stub", "bytes": len(data)}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""
"""A model that answers with the size of the request, and fails on the body ``fail``."""


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can reach a real account (not autouse: the deploy tests here
    bring their own environment)."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    """moto with every fix applied, fresh for each test, under fake credentials."""
    install()
    with mock_aws():
        yield


def stub_artifact(directory: Path) -> Path:
    """A ``model.tar.gz`` with ``code/inference.py`` = :data:`STUB_HANDLER` and a dummy weights file."""
    source = directory / "stub"
    (source / "code").mkdir(parents=True)
    (source / "code" / "inference.py").write_text(STUB_HANDLER)
    (source / "weights.bin").write_bytes(b"not a model")
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for child in sorted(source.iterdir()):
            tar.add(child, arcname=child.name)
    return archive


@pytest.fixture(scope="module")
def moto_server() -> Iterator[ServerState]:
    """moto's server with every fix, in this process on a free loopback port, as the local AWS
    runs it; the state names this process, so the deploy driver can be pointed at it."""
    install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield ServerState(pid=os.getpid(), port=server.get_host_and_port()[1])
    finally:
        server.stop()


@pytest.fixture
def local_aws(moto_server: ServerState) -> ServerState:
    """The module's moto server, emptied for this test."""
    request = urllib.request.Request(f"{moto_server.url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_server


def local_client(service: str, state: ServerState) -> Any:
    """A boto3 client of ``state``'s server, with dummy keys."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=state.url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
