"""Shared kit for the endpoint client tests: moto with our fixes under fake credentials, the minimal
resources a deployed workload leaves in AWS (no cdk deploy: that takes minutes), and model routers
that stand in for the model behind an endpoint."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from endpoint_configs import EnvironmentConfig, load_environment_config
from local_aws.moto_fixes import ModelRouter, RoutedInvocation, install, use_model_router
from local_aws.state import ServerState

ENV = "dev"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/execution"
IMAGE = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/inference:latest"
ENVIRONMENT_BUCKET = "minilm-embeddings-dev-stateful-bucket"
CREDENTIAL_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


class Embeds:
    """A model router whose model answers every request with a small embedding and the request's
    size, served by the variant ``AllTraffic``."""

    def invoke(
        self,
        account_id: str,
        region: str,
        endpoint_name: str,
        body: bytes,
        *,
        content_type: str,
        accept: str | None,
    ) -> RoutedInvocation | None:
        answer = {"embeddings": [[0.125, -0.5]], "request_bytes": len(body)}
        return RoutedInvocation("AllTraffic", 200, json.dumps(answer).encode(), "application/json", None)


class Fails:
    """A model router whose model answers every request with a 500 and a two-line message."""

    def invoke(
        self,
        account_id: str,
        region: str,
        endpoint_name: str,
        body: bytes,
        *,
        content_type: str,
        accept: str | None,
    ) -> RoutedInvocation | None:
        return RoutedInvocation("AllTraffic", 500, b"model_fn failed:\nout of memory", "text/plain", "boom")


@pytest.fixture(scope="session")
def config() -> EnvironmentConfig:
    return load_environment_config(ENV)


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Fake keys in the environment, and nothing else the credential chain could find."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws(fake_credentials: None) -> Iterator[None]:
    """moto with every fix of the local AWS, fresh for each test."""
    install()
    with mock_aws():
        yield


def _routed(router: ModelRouter) -> Iterator[None]:
    use_model_router(router)
    try:
        yield
    finally:
        use_model_router(None)


@pytest.fixture
def embeds() -> Iterator[None]:
    """GIVEN deployed models that answer with an embedding."""
    yield from _routed(Embeds())


@pytest.fixture
def fails() -> Iterator[None]:
    """GIVEN deployed models that answer with a 500."""
    yield from _routed(Fails())


@pytest.fixture(scope="module")
def moto_server() -> Iterator[ServerState]:
    """moto's server with every fix, in this process on a free loopback port, as the local AWS runs it."""
    install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield ServerState(pid=os.getpid(), port=server.get_host_and_port()[1])
    finally:
        server.stop()


def create_endpoint(clients: Any, name: str, *, async_output: str | None = None) -> None:
    """A SageMaker model, endpoint config (asynchronous when ``async_output`` is an S3 prefix) and
    endpoint named ``name``."""
    sagemaker = clients("sagemaker")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
    settings: dict[str, Any] = {"ProductionVariants": [{**variant, "InitialInstanceCount": 1}]}
    if async_output is not None:
        settings["AsyncInferenceConfig"] = {
            "OutputConfig": {
                "S3OutputPath": f"{async_output}output/",
                "S3FailurePath": f"{async_output}failure/",
            }
        }
    sagemaker.create_endpoint_config(EndpointConfigName=name, **settings)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def create_stack(
    clients: Any, name: str, outputs: dict[str, str], exports: dict[str, str] | None = None
) -> None:
    """A CloudFormation stack with the given outputs (and exported ones), around one topic."""
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            **{key: {"Value": value} for key, value in outputs.items()},
            **{
                f"Export{index}": {"Value": value, "Export": {"Name": export}}
                for index, (export, value) in enumerate((exports or {}).items())
            },
        },
    }
    clients("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def deploy_stateful(clients: Any, config: EnvironmentConfig) -> None:
    """The environment's bucket, exported under its fixed name as the stateful stack does."""
    clients("s3").create_bucket(Bucket=ENVIRONMENT_BUCKET)
    create_stack(
        clients,
        config.stack_name("stateful"),
        {},
        {config.stateful_exports.bucket_name: ENVIRONMENT_BUCKET},
    )


def deploy_async(clients: Any, config: EnvironmentConfig, kind: str = "async") -> str:
    """What the async stack leaves with default paths: the stateful bucket, the stack's outputs, and
    an endpoint writing under ``async/`` of that bucket. Returns the endpoint name."""
    deploy_stateful(clients, config)
    name = config.endpoint_name(kind)
    create_stack(
        clients,
        config.stack_name(kind),
        {"InputPrefix": "async/input/", "InvocationTimeoutSeconds": "600", "EndpointName": name},
    )
    create_endpoint(clients, name, async_output=f"s3://{ENVIRONMENT_BUCKET}/async/")
    return name


def moto_clients(service: str) -> Any:
    """A boto3 client of moto's in-process AWS (under ``mock_aws``)."""
    return boto3.client(service, region_name=REGION)
