"""Alarms on an asynchronous endpoint's queue: backlog too large, oldest request too old,
invocations failing."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from sagemaker_constructs.metrics import endpoint_metric


@dataclass(frozen=True)
class QueueThresholds:
    """Alarm above ``max_backlog_size`` queued requests (default 100, 5 minutes running), an oldest
    request older than ``max_oldest_request_age_seconds`` (default 1800, 5 minutes running), or more
    than ``max_invocation_failures_per_5_minutes`` failures (default 0: any failure)."""

    max_backlog_size: int = 100
    max_oldest_request_age_seconds: int = 1800
    max_invocation_failures_per_5_minutes: int = 0


@dataclass(frozen=True)
class _QueueCheck:
    alarm_id: str
    metric_name: str
    statistic: str
    threshold: int
    period_minutes: int
    evaluation_periods: int
    what: str


class AsyncQueueAlarms(Construct):
    """Alarms on an asynchronous endpoint's queue, sent to ``alarm_topic``.

    Exposes ``alarms`` (backlog size, oldest request age, invocation failures, in that order).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        alarm_topic: sns.ITopic,
        thresholds: QueueThresholds = QueueThresholds(),
    ) -> None:
        super().__init__(scope, construct_id)
        checks = (
            _QueueCheck(
                "BacklogSize", "ApproximateBacklogSize", "Average", thresholds.max_backlog_size, 1, 5,
                "queued requests",
            ),
            _QueueCheck(
                "OldestRequestAge", "ApproximateAgeOfOldestRequest", "Maximum",
                thresholds.max_oldest_request_age_seconds, 1, 5, "age of the oldest queued request (s)",
            ),
            _QueueCheck(
                "InvocationFailures", "InvocationFailures", "Sum",
                thresholds.max_invocation_failures_per_5_minutes, 5, 1, "failed invocations in 5 minutes",
            ),
        )  # fmt: skip
        self.alarms: list[cloudwatch.Alarm] = []
        for check in checks:
            alarm = cloudwatch.Alarm(
                self,
                check.alarm_id,
                alarm_description=f"{endpoint_name}: {check.what} above {check.threshold}",
                metric=endpoint_metric(endpoint_name, check.metric_name, check.statistic).with_(
                    period=cdk.Duration.minutes(check.period_minutes)
                ),
                threshold=check.threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=check.evaluation_periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
            self.alarms.append(alarm)
