"""local_aws.moto_models.cloudwatch: CloudWatch alarms through moto's CloudFormation."""

from __future__ import annotations

import boto3
import pytest

from tests.local_aws.conftest import REGION
from tests.local_aws.scaling_stack import (
    STACK,
    alarms,
    create_stack,
    delete_stack,
    scaling_policies,
    template,
    update_stack,
)


@pytest.fixture
def stack(aws: None) -> dict[str, str]:
    """The scaling stack (its alarms act on its step policy and topic), created; its outputs."""
    return create_stack()


def test_stack_puts_single_metric_alarms_acting_on_the_step_policy_and_topic(stack: dict[str, str]) -> None:
    found = alarms()
    backlog = found[stack["BacklogAlarmRef"]]
    assert backlog["AlarmName"].startswith(f"{STACK}-BacklogAlarm-")
    assert (backlog["Namespace"], backlog["MetricName"]) == (
        "AWS/SageMaker",
        "ApproximateBacklogSizePerInstance",
    )
    assert backlog["Dimensions"] == [{"Name": "EndpointName", "Value": "my-endpoint"}]
    assert (backlog["Statistic"], backlog["Period"], backlog["EvaluationPeriods"]) == ("Average", 60, 2)
    assert (backlog["Threshold"], backlog["ComparisonOperator"]) == (5.0, "GreaterThanOrEqualToThreshold")
    assert backlog["TreatMissingData"] == "notBreaching"
    assert backlog["AlarmActions"] == [scaling_policies()["backlog-steps"]["PolicyARN"]]

    latency = found["my-endpoint-p99-latency"]
    assert latency["ExtendedStatistic"] == "p99"
    assert "Statistic" not in latency
    [topic] = boto3.client("sns", region_name=REGION).list_topics()["Topics"]
    assert latency["OKActions"] == [topic["TopicArn"]]


def test_stack_puts_metric_math_alarm_with_its_queries(stack: dict[str, str]) -> None:
    alarm = alarms()["my-endpoint-error-rate"]
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Threshold"]) == (3, 2, 1.0)
    assert "MetricName" not in alarm
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    assert queries["rate"]["Expression"] == "100 * errors / invocations"
    assert queries["rate"]["ReturnData"] is True
    assert queries["errors"]["ReturnData"] is False
    assert queries["errors"]["MetricStat"] == {
        "Metric": {
            "Namespace": "AWS/SageMaker",
            "MetricName": "Invocation5XXErrors",
            "Dimensions": [{"Name": "EndpointName", "Value": "my-endpoint"}],
        },
        "Period": 60,
        "Stat": "Sum",
    }


def test_ref_and_getatt_of_an_alarm_return_its_name_and_arn(stack: dict[str, str]) -> None:
    backlog = next(
        alarm for alarm in alarms().values() if alarm["AlarmName"].startswith(f"{STACK}-BacklogAlarm-")
    )
    assert stack["BacklogAlarmRef"] == backlog["AlarmName"]
    assert stack["BacklogAlarmArn"] == backlog["AlarmArn"]


def test_stack_update_changes_the_threshold_in_place_and_keeps_the_generated_name(
    stack: dict[str, str],
) -> None:
    update_stack(template(backlog_threshold="8"))

    found = alarms()
    assert set(found) == {stack["BacklogAlarmRef"], "my-endpoint-p99-latency", "my-endpoint-error-rate"}
    assert found[stack["BacklogAlarmRef"]]["Threshold"] == 8.0


def test_stack_delete_removes_the_alarms(stack: dict[str, str]) -> None:
    delete_stack()

    assert alarms() == {}
