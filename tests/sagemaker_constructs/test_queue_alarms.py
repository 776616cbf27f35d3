"""AsyncQueueAlarms: backlog size, oldest request age and invocation failures of an async endpoint."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from sagemaker_constructs.queue_alarms import AsyncQueueAlarms, QueueThresholds
from tests.sagemaker_constructs.support import bare_stack, logical_id


@dataclass(frozen=True)
class QueueAlarms:
    template: Template
    topic: sns.Topic
    default: AsyncQueueAlarms
    strict: AsyncQueueAlarms


@pytest.fixture(scope="module")
def queue_alarms() -> QueueAlarms:
    stack = bare_stack("QueueAlarmsCheck")
    topic = sns.Topic(stack, "Alarms")
    default = AsyncQueueAlarms(stack, "Default", endpoint_name="llm-async", alarm_topic=topic)
    strict = AsyncQueueAlarms(
        stack,
        "Strict",
        endpoint_name="llm-async-prod",
        alarm_topic=topic,
        thresholds=QueueThresholds(
            max_backlog_size=10, max_oldest_request_age_seconds=600, max_invocation_failures_per_5_minutes=2
        ),
    )
    return QueueAlarms(Template.from_stack(stack), topic, default, strict)


def _alarm(endpoint: str, metric: str, statistic: str, period: int, periods: int, threshold: int) -> object:
    return Match.object_like(
        {
            "Namespace": "AWS/SageMaker",
            "MetricName": metric,
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
            "Statistic": statistic,
            "Period": period,
            "EvaluationPeriods": periods,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        }
    )


def test_three_alarms_per_endpoint(queue_alarms: QueueAlarms) -> None:
    queue_alarms.template.resource_count_is("AWS::CloudWatch::Alarm", 6)
    assert len(queue_alarms.default.alarms) == 3


def test_backlog_alarm_averages_queued_requests_over_five_minutes(queue_alarms: QueueAlarms) -> None:
    queue_alarms.template.has_resource_properties(
        "AWS::CloudWatch::Alarm", _alarm("llm-async", "ApproximateBacklogSize", "Average", 60, 5, 100)
    )


def test_age_alarm_takes_the_oldest_request_over_five_minutes(queue_alarms: QueueAlarms) -> None:
    queue_alarms.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        _alarm("llm-async", "ApproximateAgeOfOldestRequest", "Maximum", 60, 5, 1800),
    )


def test_failure_alarm_fires_on_any_failure_in_five_minutes(queue_alarms: QueueAlarms) -> None:
    queue_alarms.template.has_resource_properties(
        "AWS::CloudWatch::Alarm", _alarm("llm-async", "InvocationFailures", "Sum", 300, 1, 0)
    )


def test_thresholds_follow_the_props(queue_alarms: QueueAlarms) -> None:
    for metric, statistic, period, periods, threshold in (
        ("ApproximateBacklogSize", "Average", 60, 5, 10),
        ("ApproximateAgeOfOldestRequest", "Maximum", 60, 5, 600),
        ("InvocationFailures", "Sum", 300, 1, 2),
    ):
        queue_alarms.template.has_resource_properties(
            "AWS::CloudWatch::Alarm", _alarm("llm-async-prod", metric, statistic, period, periods, threshold)
        )


def test_alarms_are_exposed_in_order_backlog_age_failures(queue_alarms: QueueAlarms) -> None:
    resources = queue_alarms.template.to_json()["Resources"]
    metrics = [resources[logical_id(a)]["Properties"]["MetricName"] for a in queue_alarms.strict.alarms]
    assert metrics == ["ApproximateBacklogSize", "ApproximateAgeOfOldestRequest", "InvocationFailures"]


def test_every_alarm_notifies_the_topic_and_says_what_it_measures(queue_alarms: QueueAlarms) -> None:
    queue_alarms.template.all_resources_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmActions": [{"Ref": logical_id(queue_alarms.topic)}],
            "AlarmDescription": Match.string_like_regexp(r"^llm-async(-prod)?: .+ above \d+$"),
        },
    )
    queue_alarms.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"AlarmDescription": "llm-async-prod: age of the oldest queued request (s) above 600"},
    )
