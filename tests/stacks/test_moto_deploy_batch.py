"""The batch stack deployed into moto's CloudFormation, read back with boto3: the state machine
with its transform task, logging and tracing, the notification topic and the failed-run alarm."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import SynthesizedEnvironment, synthesize
from tests.stacks.moto_deploy import Deployed, deploy_to_moto


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    synth: SynthesizedEnvironment = synthesize("dev", tmp_path_factory.mktemp("moto-batch"), "batch")
    yield from deploy_to_moto(synth)


def _outputs(deployed: Deployed) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in deployed.stacks["batch"]["Outputs"]}


def test_both_stacks_are_created(deployed: Deployed) -> None:
    assert [s["StackStatus"] for s in deployed.stacks.values()] == ["CREATE_COMPLETE", "CREATE_COMPLETE"]


def test_the_state_machine_runs_a_transform_job_with_logs_and_tracing(deployed: Deployed) -> None:
    arn = _outputs(deployed)["StateMachineArn"]
    machine = deployed.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    definition = json.loads(machine["definition"])
    task = definition["States"]["RunTransformJob"]
    assert task["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    prefix = _outputs(deployed)["JobNamePrefix"]
    assert task["Parameters"]["TransformJobName.$"] == f"States.Format('{prefix}-{{}}', States.UUID())"
    assert machine["loggingConfiguration"]["level"] == "ALL"
    assert machine["tracingConfiguration"] == {"enabled": True}


def test_the_failed_run_alarm_watches_the_state_machine(deployed: Deployed) -> None:
    alarms = deployed.client("cloudwatch").describe_alarms()["MetricAlarms"]
    (alarm,) = [a for a in alarms if a["MetricName"] == "ExecutionsFailed"]
    (dimension,) = alarm["Dimensions"]
    assert dimension == {"Name": "StateMachineArn", "Value": _outputs(deployed)["StateMachineArn"]}
