"""local_aws.model_routing: invocations of deployed endpoints run the deployed (stub) model.

One module-wide moto holds a stub artifact in S3 and three endpoints of the three kinds, all on
that one artifact, so one local server serves them all; each kind keeps its own payload limit
(real-time 6 MB, serverless 4 MB, asynchronous 1 GB). The invocations go through boto3 and moto's
runtime, as ``make deploy-local`` calls them, and reach the server in-process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from endpoint_configs.limits import ASYNC_MAX_PAYLOAD_MB, REALTIME_MAX_PAYLOAD_MB, SERVERLESS_MAX_PAYLOAD_MB
from local_aws.model_routing import LocalModels, route_invocations
from local_aws.moto_fixes import install
from tests.local_aws.conftest import CREDENTIALS, IMAGE, REGION, ROLE_ARN, stub_artifact

MB = 1024 * 1024
BUCKET = "routing-artifacts"
CHINA = "cn-north-1"


def _deploy(region: str, bucket: str, artifact_bytes: bytes) -> None:
    """The stub artifact in ``bucket`` and the endpoints ``realtime``, ``serverless`` and ``async`` on it."""
    s3 = boto3.client("s3", region_name=region)
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=artifact_bytes)
    sagemaker = boto3.client("sagemaker", region_name=region)
    sagemaker.create_model(
        ModelName="stub",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz"},
    )
    instance = {"ModelName": "stub", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    configs: dict[str, dict[str, Any]] = {
        "realtime": {
            "ProductionVariants": [
                {"VariantName": "Blue", "InitialVariantWeight": 1.0, **instance},
                {"VariantName": "Green", "InitialVariantWeight": 3.0, **instance},
            ]
        },
        "serverless": {
            "ProductionVariants": [
                {
                    "VariantName": "Serverless",
                    "ModelName": "stub",
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1},
                }
            ]
        },
        "async": {
            "ProductionVariants": [{"VariantName": "Queued", **instance}],
            "AsyncInferenceConfig": {
                "OutputConfig": {
                    "S3OutputPath": f"s3://{bucket}/async/out/",
                    "S3FailurePath": f"s3://{bucket}/async/fail/",
                }
            },
        },
    }
    for name, config in configs.items():
        sagemaker.create_endpoint_config(EndpointConfigName=name, **config)
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModels]:
    """moto with the endpoints deployed in us-east-1 (and a copy in cn-north-1), routed to local models."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        install()
        with mock_aws():
            artifact = stub_artifact(tmp_path_factory.mktemp("artifact")).read_bytes()
            _deploy(REGION, BUCKET, artifact)
            local = LocalModels(tmp_path_factory.mktemp("artifacts"))
            route_invocations(local)
            try:
                yield local
            finally:
                route_invocations(None)
                local.close()


def invoke(endpoint: str, body: bytes, region: str = REGION) -> dict[str, Any]:
    runtime = boto3.client("sagemaker-runtime", region_name=region)
    response: dict[str, Any] = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType="application/json"
    )
    return response


def sized(size: int) -> bytes:
    """A JSON request of exactly ``size`` bytes."""
    envelope = b'{"inputs": ""}'
    return b'{"inputs": "' + b"x" * (size - len(envelope)) + b'"}'


def test_fix_sagemaker_invoke_endpoint_runs_the_model_of_the_heaviest_variant(models: LocalModels) -> None:
    response = invoke("realtime", b'{"inputs": "hello"}')

    assert json.loads(response["Body"].read()) == {"handler": "stub", "bytes": 19}
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "Green"


def test_a_single_variant_endpoint_names_its_variant(models: LocalModels) -> None:
    response = invoke("serverless", b"{}")

    assert response["InvokedProductionVariant"] == "Serverless"


def test_a_5_mb_body_is_accepted_by_a_realtime_endpoint(models: LocalModels) -> None:
    assert SERVERLESS_MAX_PAYLOAD_MB < 5 < REALTIME_MAX_PAYLOAD_MB

    response = invoke("realtime", sized(5 * MB))

    assert json.loads(response["Body"].read())["bytes"] == 5 * MB


def test_a_5_mb_body_is_rejected_by_a_serverless_endpoint(models: LocalModels) -> None:
    with pytest.raises(ClientError) as error:
        invoke("serverless", sized(5 * MB))

    assert error.value.response["Error"]["Code"] == "ModelError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error.value.response["OriginalStatusCode"] == 413
    assert f"exceeds the {SERVERLESS_MAX_PAYLOAD_MB * MB}-byte payload limit" in str(error.value)


def test_fix_sagemaker_invoke_endpoint_async_runs_the_model_on_a_7_mb_request(models: LocalModels) -> None:
    assert REALTIME_MAX_PAYLOAD_MB < 7 < ASYNC_MAX_PAYLOAD_MB
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="async/in/big.json", Body=sized(7 * MB))

    response = boto3.client("sagemaker-runtime", region_name=REGION).invoke_endpoint_async(
        EndpointName="async", InputLocation=f"s3://{BUCKET}/async/in/big.json"
    )

    assert response["OutputLocation"].startswith(f"s3://{BUCKET}/async/out/")
    key = response["OutputLocation"].removeprefix(f"s3://{BUCKET}/")
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == {
        "handler": "stub",
        "bytes": 7 * MB,
    }


def test_async_model_failure_lands_under_the_failure_path(models: LocalModels) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="async/in/fail.json", Body=b"fail")

    response = boto3.client("sagemaker-runtime", region_name=REGION).invoke_endpoint_async(
        EndpointName="async", InputLocation=f"s3://{BUCKET}/async/in/fail.json"
    )

    key = response["FailureLocation"].removeprefix(f"s3://{BUCKET}/")
    assert key.startswith("async/fail/")
    assert b"refuses 'fail'" in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    output_key = response["OutputLocation"].removeprefix(f"s3://{BUCKET}/")
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket=BUCKET, Key=output_key)


def test_an_endpoint_in_another_partition_reads_its_artifact_from_that_partition(
    models: LocalModels, tmp_path_factory: pytest.TempPathFactory
) -> None:
    artifact = stub_artifact(tmp_path_factory.mktemp("china")).read_bytes()
    _deploy(CHINA, "routing-artifacts-cn", artifact)

    response = invoke("realtime", b'{"inputs": "ni hao"}', region=CHINA)

    assert json.loads(response["Body"].read()) == {"handler": "stub", "bytes": 20}


def test_a_model_error_reaches_boto3_as_sagemakers_model_error(models: LocalModels) -> None:
    # GIVEN a deployed model that fails on the body "fail"
    # WHEN it is invoked with that body
    with pytest.raises(ClientError) as raised:
        invoke("realtime", b"fail")
    # THEN boto3 raises ModelError (424) with every field of botocore's ModelError shape
    response = raised.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] >= 400
    assert "refuses 'fail'" in response["OriginalMessage"]
    assert response["LogStreamArn"] == (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/realtime"
    )
    assert response["Error"]["Message"].startswith(
        f"Received server error ({response['OriginalStatusCode']})"
    )


def test_an_unknown_endpoint_is_a_validation_error_with_a_model_router_too(models: LocalModels) -> None:
    with pytest.raises(ClientError) as raised:
        invoke("no-such-endpoint", b"{}")

    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert (
        raised.value.response["Error"]["Message"]
        == "Endpoint no-such-endpoint of account 123456789012 not found."
    )
