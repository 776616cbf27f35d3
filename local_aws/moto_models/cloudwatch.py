"""CloudFormation model for CloudWatch alarms, which moto 5.2's CloudFormation skips.

``AWS::CloudWatch::Alarm`` (single-metric and metric-math alarms) stores the alarm in moto's
CloudWatch backend, so ``describe_alarms`` returns what the template declared. Ref is the alarm
name, GetAtt Arn its ARN, as in real CloudFormation.
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import (
    CloudWatchBackend,
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.core.common_models import CloudFormationModel

from local_aws.moto_models.properties import ArnAttribute, properties

__all__ = ["AlarmResource"]


def _cloudwatch(account_id: str, region_name: str) -> CloudWatchBackend:
    return cloudwatch_backends[account_id][region_name]


def _metric_data_query(query: Any) -> MetricDataQuery:
    """Build moto's MetricDataQuery from a CloudFormation ``MetricDataQuery``."""
    metric_stat = None
    if "MetricStat" in query:
        stat, metric = query["MetricStat"], query["MetricStat"]["Metric"]
        dimensions = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
        metric_stat = MetricStat(
            metric=Metric(metric["MetricName"], metric.get("Namespace"), dimensions),
            period=stat["Period"],
            stat=stat["Stat"],
            unit=stat.get("Unit"),
        )
    return MetricDataQuery(
        query_id=query["Id"],
        label=query.get("Label"),
        period=query.get("Period"),
        return_data=query.get("ReturnData"),
        expression=query.get("Expression"),
        metric_stat=metric_stat,
    )


class AlarmResource(ArnAttribute, CloudFormationModel):
    """``AWS::CloudWatch::Alarm``: a single-metric alarm, or a metric-math alarm from ``Metrics``.

    Without ``AlarmName`` the name is generated as ``<stack>-<logical id>-<random>`` and kept across
    updates. Ref is the alarm name, GetAtt Arn its ARN.
    """

    def __init__(self, name: str, arn: str, named_in_template: bool) -> None:
        self.name = name
        self.arn = arn
        self.named_in_template = named_in_template

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> AlarmResource:
        """Put the alarm, named ``resource_name`` (AlarmName, or the name moto generated)."""
        props = properties(cloudformation_json)
        alarm = _cloudwatch(account_id, region_name).put_metric_alarm(
            name=resource_name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            metric_data_queries=[_metric_data_query(query) for query in props.get("Metrics", [])],
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=props["EvaluationPeriods"],
            datapoints_to_alarm=props.get("DatapointsToAlarm"),
            period=props.get("Period"),
            threshold=props.get("Threshold"),
            statistic=props.get("Statistic"),
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions", []),
            alarm_actions=props.get("AlarmActions", []),
            ok_actions=props.get("OKActions", []),
            insufficient_data_actions=props.get("InsufficientDataActions", []),
            unit=props.get("Unit"),
            actions_enabled=props.get("ActionsEnabled", True),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=props.get("Tags"),
        )
        return cls(alarm.name, alarm.alarm_arn, "AlarmName" in props)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: AlarmResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> AlarmResource:
        """Overwrite the alarm in place; only a change of AlarmName replaces it."""
        name = new_resource_name
        if (
            "AlarmName" not in (cloudformation_json.get("Properties") or {})
            and not original_resource.named_in_template
        ):
            name = original_resource.name  # moto generated a fresh name; CloudFormation keeps the old one
        new = cls.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
        if new.name != original_resource.name:
            original_resource.delete(account_id, region_name)
        return new

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """Delete the alarm with this name."""
        _cloudwatch(account_id, region_name).delete_alarms([resource_name])

    def delete(self, account_id: str, region_name: str) -> None:
        """Called by moto's stack deletion and update."""
        self.delete_from_cloudformation_json(self.name, {}, account_id, region_name)
