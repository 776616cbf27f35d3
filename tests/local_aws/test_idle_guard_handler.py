"""The idle guard's Lambda handler against the local AWS (moto's server, as ``make deploy-local``
runs it), reached the way the deployed function reaches SageMaker: boto3's default client, pointed
at the server by ``AWS_ENDPOINT_URL``.

- an ALARM event deletes the endpoint named by ``ENDPOINT_NAME`` and nothing else: not the other
  endpoint, not its endpoint config, not its model;
- a second ALARM finds it gone and succeeds; an OK event does nothing; an endpoint being changed is
  left alone; names in the event are never acted on;
- ``create-endpoint`` with the same name and config brings it back as it was (the restore command);
- ``make restore`` (and ``make deploy-local`` before it deploys) restores an endpoint from the
  config its stack publishes (``endpoint_client.restore.restore_deleted_endpoint``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from moto.sagemaker.models import sagemaker_backends

from endpoint_client import AwsClients
from endpoint_client.errors import NotDeployedError, StackOutputMissingError
from endpoint_client.restore import restore_deleted_endpoint
from endpoint_configs import load_environment_config
from local_aws.state import ServerState
from sagemaker_constructs.idle_guard_handler.index import handler
from tests.local_aws.conftest import ACCOUNT_ID, IMAGE, REGION, ROLE_ARN, local_client

IDLE = "idle-endpoint"
BUSY = "busy-endpoint"


def alarm_event(state: str, *, endpoint_in_event: str = BUSY) -> dict[str, Any]:
    """What CloudWatch sends a Lambda alarm action (abridged); the alarm's configuration names an
    endpoint the handler must not act on.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-actions"""
    return {
        "source": "aws.cloudwatch",
        "alarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:idle",
        "accountId": ACCOUNT_ID,
        "region": REGION,
        "alarmData": {
            "alarmName": "idle",
            "state": {"value": state, "reason": "Threshold Crossed: 6 datapoints were less than 1.0"},
            "previousState": {"value": "OK" if state == "ALARM" else "ALARM"},
            "configuration": {
                "metrics": [
                    {
                        "id": "m0",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/SageMaker",
                                "name": "Invocations",
                                "dimensions": {
                                    "EndpointName": endpoint_in_event,
                                    "VariantName": "AllTraffic",
                                },
                            }
                        },
                    }
                ]
            },
        },
    }


@pytest.fixture
def sagemaker(local_aws: ServerState, monkeypatch: pytest.MonkeyPatch) -> Any:
    """GIVEN two endpoints, each with its own endpoint config and model, and the handler's
    environment: boto3 pointed at the local AWS, ``ENDPOINT_NAME`` the idle one."""
    for name, value in local_aws.environment().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("ENDPOINT_NAME", IDLE)
    client = local_client("sagemaker", local_aws)
    for endpoint in (IDLE, BUSY):
        client.create_model(
            ModelName=f"{endpoint}-model", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE}
        )
        client.create_endpoint_config(
            EndpointConfigName=f"{endpoint}-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{endpoint}-model",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        )
        client.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")
    return client


def _endpoints(sagemaker: Any) -> list[str]:
    return sorted(e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"])


def _configs_and_models(sagemaker: Any) -> tuple[list[str], list[str]]:
    configs = sorted(c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"])
    models = sorted(m["ModelName"] for m in sagemaker.list_models()["Models"])
    return configs, models


def test_alarm_deletes_only_the_guarded_endpoint_and_keeps_its_config_and_model(
    sagemaker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kept = _configs_and_models(sagemaker)
    # WHEN the idle alarm enters ALARM (its event naming the other endpoint)
    with caplog.at_level(logging.INFO):
        result = handler(alarm_event("ALARM"), None)
    # THEN the guarded endpoint is deleted, the other stays, configs and models all stay
    assert result["endpoint"] == IDLE
    assert result["action"] == "deleted"
    assert _endpoints(sagemaker) == [BUSY]
    assert _configs_and_models(sagemaker) == kept
    # and it logged one JSON line saying so
    (line,) = [r.getMessage() for r in caplog.records if r.name.endswith("index")]
    assert json.loads(line) == result


def test_after_acting_it_resets_its_alarm_so_an_endpoint_left_idle_is_deleted_again(
    sagemaker: Any, local_aws: ServerState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the guard's own alarm, in ALARM (it acts only when its state changes)
    cloudwatch = local_client("cloudwatch", local_aws)
    alarm = f"{IDLE}-idle-guard"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm, MetricName="Invocations", Namespace="AWS/SageMaker", Statistic="Sum",
        Period=3600, EvaluationPeriods=24, Threshold=1, ComparisonOperator="LessThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="idle")
    monkeypatch.setenv("ALARM_NAME", alarm)
    # WHEN the handler deletes the endpoint
    result = handler(alarm_event("ALARM"), None)
    # THEN the alarm is OK again: restored and still idle, the endpoint is deleted again later
    assert result["action"] == "deleted"
    assert result["reason"].endswith(f"; alarm {alarm} reset to OK")
    (state,) = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert state["StateValue"] == "OK"


def test_a_failed_reset_is_reported_and_does_not_undo_the_deletion(
    sagemaker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an alarm name that does not exist (CloudWatch refuses to reset it)
    monkeypatch.setenv("ALARM_NAME", "no-such-alarm")
    result = handler(alarm_event("ALARM"), None)
    assert result["action"] == "deleted"
    assert "the alarm no-such-alarm could not be reset" in result["reason"]


def test_a_second_alarm_finds_it_gone_and_succeeds(sagemaker: Any) -> None:
    handler(alarm_event("ALARM"), None)
    # WHEN the alarm action runs again (Lambda retries asynchronous invocations)
    result = handler(alarm_event("ALARM"), None)
    # THEN it is not an error
    assert result["action"] == "already-gone"
    assert result["reason"] == "the endpoint does not exist"
    assert _endpoints(sagemaker) == [BUSY]


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_other_states_do_nothing(sagemaker: Any, state: str) -> None:
    result = handler(alarm_event(state), None)
    assert result["action"] == "skipped"
    assert state in result["reason"]
    assert _endpoints(sagemaker) == [BUSY, IDLE]


def test_an_event_that_is_not_an_alarm_does_nothing(sagemaker: Any) -> None:
    result = handler({"EndpointName": BUSY}, None)
    assert result["action"] == "skipped"
    assert _endpoints(sagemaker) == [BUSY, IDLE]


@pytest.mark.parametrize("status", ["Creating", "Updating"])
def test_an_endpoint_being_changed_is_left_alone(sagemaker: Any, status: str) -> None:
    # GIVEN the endpoint in a transitional state (moto's endpoints are InService at once)
    sagemaker_backends[ACCOUNT_ID][REGION].endpoints[IDLE].endpoint_status = status
    result = handler(alarm_event("ALARM"), None)
    assert result["action"] == "skipped"
    assert status in result["reason"]
    assert _endpoints(sagemaker) == [BUSY, IDLE]


def test_create_endpoint_with_the_same_name_and_config_restores_it(sagemaker: Any) -> None:
    before = sagemaker.describe_endpoint(EndpointName=IDLE)
    handler(alarm_event("ALARM"), None)
    # WHEN the restore command runs: create-endpoint with the same name and config
    sagemaker.create_endpoint(EndpointName=IDLE, EndpointConfigName=f"{IDLE}-config")
    # THEN the endpoint is back, with the same config and variants
    after = sagemaker.describe_endpoint(EndpointName=IDLE)
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert [v["VariantName"] for v in after["ProductionVariants"]] == ["AllTraffic"]
    assert _endpoints(sagemaker) == [BUSY, IDLE]


# -- make deploy-local restores it -----------------------------------------------------------------

STACK_TEMPLATE = {
    "Resources": {
        "Model": {
            "Type": "AWS::SageMaker::Model",
            "Properties": {"ExecutionRoleArn": ROLE_ARN, "PrimaryContainer": {"Image": IMAGE}},
        },
        "Config": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ]
            },
        },
        "Endpoint": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {
                "EndpointName": "{endpoint}",
                "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
            },
        },
    },
    "Outputs": {"EndpointConfigName": {"Value": {"Fn::GetAtt": ["Config", "EndpointConfigName"]}}},
}
"""A workload stack as the real-time stack has it, in small: model, endpoint config, endpoint and
the output naming the config."""


@pytest.fixture
def deployed(local_aws: ServerState) -> tuple[AwsClients, Any]:
    """GIVEN dev's real-time stack deployed to the local AWS (a small stand-in template)."""
    config = load_environment_config("dev")
    clients = AwsClients.local(local_aws.url, config.region)
    template = json.loads(json.dumps(STACK_TEMPLATE).replace("{endpoint}", config.endpoint_name("realtime")))
    cloudformation = clients("cloudformation")
    cloudformation.create_stack(StackName=config.stack_name("realtime"), TemplateBody=json.dumps(template))
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=config.stack_name("realtime"), WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    return clients, config


def test_deploy_local_restores_an_endpoint_the_guard_deleted(deployed: tuple[AwsClients, Any]) -> None:
    clients, config = deployed
    sagemaker = clients("sagemaker")
    name = config.endpoint_name("realtime")
    config_name = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    # nothing to do while the endpoint exists
    assert restore_deleted_endpoint(clients, config, "realtime") is None
    # WHEN the endpoint is deleted (as the idle guard does) and deploy-local runs again
    sagemaker.delete_endpoint(EndpointName=name)
    line = restore_deleted_endpoint(clients, config, "realtime")
    # THEN the endpoint is back, from the config the stack created, and one line says so
    assert line == f"{name} was deleted (the idle guard?); restoring it from endpoint config {config_name}"
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"] == config_name


def test_restore_without_the_stack_says_it_is_not_deployed(local_aws: ServerState) -> None:
    config = load_environment_config("dev")
    clients = AwsClients.local(local_aws.url, config.region)
    with pytest.raises(NotDeployedError, match="stack minilm-embeddings-dev-serverless is not deployed"):
        restore_deleted_endpoint(clients, config, "serverless")


def test_a_stack_without_the_config_output_is_not_guessed(deployed: tuple[AwsClients, Any]) -> None:
    # GIVEN a stack deployed before it published its endpoint config
    clients, config = deployed
    stack = config.stack_name("realtime")
    template = json.loads(json.dumps(STACK_TEMPLATE).replace("{endpoint}", config.endpoint_name("realtime")))
    del template["Outputs"]
    clients("cloudformation").update_stack(StackName=stack, TemplateBody=json.dumps(template))
    clients("cloudformation").get_waiter("stack_update_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    clients("sagemaker").delete_endpoint(EndpointName=config.endpoint_name("realtime"))
    # WHEN restored, THEN it says what the stack lacks instead of guessing a config
    with pytest.raises(StackOutputMissingError, match="EndpointConfigName output"):
        restore_deleted_endpoint(clients, config, "realtime")
