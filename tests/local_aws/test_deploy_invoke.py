"""Where ``make deploy-local`` puts an asynchronous request: the input path the deployed stack
publishes (configured, or the default prefix in the environment's bucket), read back from moto's
CloudFormation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from endpoint_configs import load_environment_config
from local_aws.deploy import async_input_location

CONFIG = load_environment_config("dev")


def _stack(cloudformation: Any, name: str, outputs: dict[str, dict[str, Any]]) -> None:
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": outputs,
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def cloudformation() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("cloudformation", region_name=CONFIG.region)
        _stack(
            client,
            CONFIG.stack_name("stateful"),
            {"Bucket": {"Value": "env-bucket", "Export": {"Name": CONFIG.stateful_exports.bucket_name}}},
        )
        yield client


def test_default_input_goes_under_the_published_prefix_of_the_environment_bucket(cloudformation: Any) -> None:
    _stack(cloudformation, CONFIG.stack_name("async"), {"InputPrefix": {"Value": "async/input/"}})
    assert async_input_location(cloudformation, CONFIG, "async") == ("env-bucket", "async/input/")


def test_configured_input_path_is_used_instead_of_the_default(cloudformation: Any) -> None:
    # GIVEN a deployed async stack whose block sets input_path (the InputPath output)
    _stack(cloudformation, CONFIG.stack_name("async"), {"InputPath": {"Value": "s3://requests-b/queue/in/"}})
    # WHEN the local deploy looks up where to upload the sample request
    # THEN it is that path, not async/input/ in the environment bucket
    assert async_input_location(cloudformation, CONFIG, "async") == ("requests-b", "queue/in/")
