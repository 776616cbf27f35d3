"""deployment_config: each guardrail policy as the endpoint's DeploymentConfig."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.assertions import Template

from sagemaker_constructs.guardrails import (
    BlueGreenDeployment,
    GuardedDeployment,
    RollingDeployment,
    TrafficShift,
    deployment_config,
)
from tests.sagemaker_constructs.support import bare_stack

DEPLOYMENTS = {
    "all-at-once": GuardedDeployment(BlueGreenDeployment()),
    "canary": GuardedDeployment(
        BlueGreenDeployment(
            TrafficShift("CANARY", size_percent=10, wait_interval_seconds=600),
            termination_wait_seconds=120,
            maximum_execution_timeout_seconds=7200,
        ),
        additional_alarm_names=("minilm-dev-errors", "minilm-dev-latency"),
    ),
    "linear": GuardedDeployment(BlueGreenDeployment(TrafficShift("LINEAR", size_percent=25))),
    "rolling": GuardedDeployment(RollingDeployment()),
    "rolling-batched-rollback": GuardedDeployment(
        RollingDeployment(
            maximum_batch_percent=50,
            wait_interval_seconds=60,
            rollback_maximum_batch_percent=10,
            maximum_execution_timeout_seconds=1800,
        )
    ),
}
ALARMS = ["rollback-5xx", "rollback-latency"]


@pytest.fixture(scope="module")
def configs() -> dict[str, Any]:
    """The synthesized DeploymentConfig of an endpoint per deployment, by name."""
    stack = bare_stack("GuardrailsCheck")
    for name, deployment in DEPLOYMENTS.items():
        sagemaker.CfnEndpoint(
            stack,
            name,
            endpoint_name=f"ep-{name}",
            endpoint_config_name="config",
            deployment_config=deployment_config(deployment, ALARMS),
        )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SageMaker::Endpoint", len(DEPLOYMENTS))
    found = template.find_resources("AWS::SageMaker::Endpoint")
    return {
        str(r["Properties"]["EndpointName"]).removeprefix("ep-"): r["Properties"]["DeploymentConfig"]
        for r in found.values()
    }


def _rollback(*names: str) -> dict[str, Any]:
    return {"Alarms": [{"AlarmName": name} for name in names]}


def test_all_at_once_shifts_everything_after_the_default_bake_time(configs: dict[str, Any]) -> None:
    assert configs["all-at-once"] == {
        "AutoRollbackConfiguration": _rollback(*ALARMS),
        "BlueGreenUpdatePolicy": {
            "MaximumExecutionTimeoutInSeconds": 3600,
            "TerminationWaitInSeconds": 0,
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300},
        },
    }


def test_canary_shifts_its_size_first(configs: dict[str, Any]) -> None:
    policy = configs["canary"]["BlueGreenUpdatePolicy"]
    assert policy == {
        "MaximumExecutionTimeoutInSeconds": 7200,
        "TerminationWaitInSeconds": 120,
        "TrafficRoutingConfiguration": {
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            "Type": "CANARY",
            "WaitIntervalInSeconds": 600,
        },
    }


def test_linear_shifts_in_steps_of_its_size(configs: dict[str, Any]) -> None:
    routing = configs["linear"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        "Type": "LINEAR",
        "WaitIntervalInSeconds": 300,
    }


def test_additional_alarms_roll_back_after_the_given_ones(configs: dict[str, Any]) -> None:
    assert configs["canary"]["AutoRollbackConfiguration"] == _rollback(
        *ALARMS, "minilm-dev-errors", "minilm-dev-latency"
    )


def test_rolling_replaces_20_percent_at_a_time_and_rolls_back_at_once(configs: dict[str, Any]) -> None:
    assert configs["rolling"] == {
        "AutoRollbackConfiguration": _rollback(*ALARMS),
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
            "MaximumExecutionTimeoutInSeconds": 3600,
            "WaitIntervalInSeconds": 300,
        },
    }


def test_rolling_with_a_rollback_batch_rolls_back_in_batches(configs: dict[str, Any]) -> None:
    assert configs["rolling-batched-rollback"]["RollingUpdatePolicy"] == {
        "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
        "MaximumExecutionTimeoutInSeconds": 1800,
        "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 60,
    }


def test_blue_green_and_rolling_exclude_each_other(configs: dict[str, Any]) -> None:
    for name, config in configs.items():
        rolling = isinstance(DEPLOYMENTS[name].policy, RollingDeployment)
        assert ("RollingUpdatePolicy" in config) is rolling, name
        assert ("BlueGreenUpdatePolicy" in config) is not rolling, name


@pytest.mark.parametrize(
    ("mode", "size_percent", "message"),
    [
        ("ALL_AT_ONCE", 10, "size_percent is not used with ALL_AT_ONCE"),
        ("CANARY", None, "size_percent is required"),
        ("LINEAR", None, "size_percent is required"),
    ],
)
def test_traffic_shift_needs_a_size_exactly_when_it_shifts_in_steps(
    mode: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"], size_percent: int | None, message: str
) -> None:
    # GIVEN a shift mode and size that do not go together, WHEN built, THEN it says which is wrong
    with pytest.raises(ValueError, match=message):
        TrafficShift(mode, size_percent=size_percent)
