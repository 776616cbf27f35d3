"""An endpoint's own alarms: 5xx errors and model latency over all its variants, and waste
(instances that are barely used). The error and latency alarms are also the ones a guarded
deployment rolls back on: ``InferenceEndpoint`` takes them as ``rollback_alarms``, one alarm
serving both purposes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from sagemaker_constructs.metrics import endpoint_metric

PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")
MAX_ALARM_HOURS = 168
"""Period x EvaluationPeriods <= 7 days for periods of an hour or more.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"""


@dataclass(frozen=True)
class LatencyThreshold:
    """Model latency of the worst variant above ``max_ms`` at ``statistic`` (a percentile such as
    ``p99``, the default)."""

    max_ms: float
    statistic: str = "p99"

    def __post_init__(self) -> None:
        if not PERCENTILE.match(self.statistic) or float(self.statistic[1:]) <= 0:
            raise ValueError(f"latency statistic {self.statistic!r}: allowed p0.01-p100, e.g. p99")
        if self.max_ms <= 0:
            raise ValueError(f"latency max_ms {self.max_ms}: must be > 0")


@dataclass(frozen=True)
class WasteThreshold:
    """Fewer than ``min_invocations_per_instance_per_hour`` on the busiest variant for ``hours``
    hours in a row (1-168, default 6)."""

    min_invocations_per_instance_per_hour: int
    hours: int = 6

    def __post_init__(self) -> None:
        if self.min_invocations_per_instance_per_hour < 1:
            raise ValueError("min_invocations_per_instance_per_hour must be >= 1")
        if not 1 <= self.hours <= MAX_ALARM_HOURS:
            raise ValueError(f"waste hours {self.hours}: allowed 1-{MAX_ALARM_HOURS}")


@dataclass(frozen=True)
class AlarmThresholds:
    """5xx errors a minute over all variants above ``max_5xx_errors_per_minute`` (default 0; None:
    no alarm) and ``latency`` (default p99 above 1000 ms; None: no alarm), each for
    ``evaluation_minutes`` minutes in a row (1-60, default 2); ``waste`` (default: no alarm)."""

    max_5xx_errors_per_minute: int | None = 0
    latency: LatencyThreshold | None = LatencyThreshold(max_ms=1000)
    evaluation_minutes: int = 2
    waste: WasteThreshold | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.evaluation_minutes <= 60:
            raise ValueError(f"evaluation_minutes {self.evaluation_minutes}: allowed 1-60")


class EndpointAlarms(Construct):
    """The alarms of one endpoint, each sent to ``alarm_topic``:

    - ``errors``: ``Invocation5XXErrors`` summed over the variants (missing data as 0);
    - ``latency``: the worst variant's ``ModelLatency`` at the threshold's percentile;
    - ``waste``: the busiest variant's ``InvocationsPerInstance`` an hour below the threshold for
      the threshold's hours. ``idle_instances_bill=True`` (real-time: instances run whether or not
      requests come) counts an hour without data as zero invocations; an async endpoint that scales
      to zero has no instances to waste then, so its missing hours are not breaching. The
      description names what to do and ``advice_command``.

    Exposes ``errors``, ``latency``, ``waste`` (each an alarm or None) and ``alarms`` (those that
    exist, in that order).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_names: Sequence[str],
        thresholds: AlarmThresholds,
        alarm_topic: sns.ITopic,
        idle_instances_bill: bool = True,
        advice_command: str = "make advise",
    ) -> None:
        super().__init__(scope, construct_id)
        if not variant_names:
            raise ValueError(f"{endpoint_name}: alarms need at least one variant name")
        self._endpoint_name = endpoint_name
        self._variants = list(variant_names)
        minute = cdk.Duration.minutes(1)
        self.errors: cloudwatch.Alarm | None = None
        self.latency: cloudwatch.Alarm | None = None
        self.waste: cloudwatch.Alarm | None = None
        if thresholds.max_5xx_errors_per_minute is not None:
            self.errors = self._math_alarm(
                "Errors",
                expression=" + ".join(f"FILL(e{i}, 0)" for i in range(len(self._variants))),
                metrics=self._per_variant("e", "Invocation5XXErrors", "Sum"),
                label="5xx errors, all variants",
                threshold=thresholds.max_5xx_errors_per_minute,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                periods=thresholds.evaluation_minutes,
                period=minute,
                missing=cloudwatch.TreatMissingData.NOT_BREACHING,
                description=f"more than {thresholds.max_5xx_errors_per_minute} 5xx errors a minute "
                "(all variants): the model or its container fails requests; read the endpoint's "
                "logs. Rolls back a deployment in progress.",
            )
        if thresholds.latency is not None:
            latency = thresholds.latency
            self.latency = self._math_alarm(
                "Latency",
                expression=f"MAX([{', '.join(f'l{i}' for i in range(len(self._variants)))}])",
                metrics=self._per_variant("l", "ModelLatency", latency.statistic),
                label=f"{latency.statistic} model latency (us), worst variant",
                threshold=latency.max_ms * 1000,  # SageMaker reports ModelLatency in microseconds
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                periods=thresholds.evaluation_minutes,
                period=minute,
                missing=cloudwatch.TreatMissingData.NOT_BREACHING,
                description=f"{latency.statistic} model latency above {latency.max_ms:g} ms: scale "
                "out, use a faster instance type, or shrink the model. Rolls back a deployment in "
                "progress.",
            )
        if thresholds.waste is not None:
            waste = thresholds.waste
            fill = "FILL({}, 0)" if idle_instances_bill else "{}"
            self.waste = self._math_alarm(
                "Waste",
                expression=f"MAX([{', '.join(fill.format(f'w{i}') for i in range(len(self._variants)))}])",
                metrics=self._per_variant("w", "InvocationsPerInstance", "Sum"),
                label="invocations per instance an hour, busiest variant",
                threshold=waste.min_invocations_per_instance_per_hour,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                periods=waste.hours,
                period=cdk.Duration.hours(1),
                missing=(
                    cloudwatch.TreatMissingData.BREACHING
                    if idle_instances_bill
                    else cloudwatch.TreatMissingData.NOT_BREACHING
                ),
                description=f"fewer than {waste.min_invocations_per_instance_per_hour} invocations per "
                f"instance an hour for {waste.hours} h: the instances are mostly idle and billed. "
                "Use a smaller instance type, lower min_capacity, add an off-hours schedule, or switch "
                f"to serverless or async with scale-to-zero; `{advice_command}` prices each option.",
            )
        self.alarms = [a for a in (self.errors, self.latency, self.waste) if a is not None]
        for alarm in self.alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))

    def _per_variant(self, prefix: str, name: str, statistic: str) -> dict[str, cloudwatch.IMetric]:
        return {
            f"{prefix}{i}": endpoint_metric(self._endpoint_name, name, statistic, variant)
            for i, variant in enumerate(self._variants)
        }

    def _math_alarm(
        self,
        construct_id: str,
        *,
        expression: str,
        metrics: dict[str, cloudwatch.IMetric],
        label: str,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        periods: int,
        period: cdk.Duration,
        missing: cloudwatch.TreatMissingData,
        description: str,
    ) -> cloudwatch.Alarm:
        math = cloudwatch.MathExpression(
            expression=expression, using_metrics=metrics, label=label, period=period
        )
        return math.create_alarm(
            self,
            construct_id,
            alarm_description=f"{self._endpoint_name}: {description}",
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            treat_missing_data=missing,
        )
