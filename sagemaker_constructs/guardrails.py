"""Deployment guardrails for an endpoint: how an update shifts traffic or replaces instances, and
which alarms roll it back. Plain frozen dataclasses, mapped to ``AWS::SageMaker::Endpoint``'s
``DeploymentConfig``. https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from aws_cdk import aws_sagemaker as sagemaker


@dataclass(frozen=True)
class TrafficShift:
    """How blue/green moves traffic: ``ALL_AT_ONCE``; ``CANARY`` (``size_percent`` 1-50 first);
    ``LINEAR`` (``size_percent`` 10-50 per step). ``wait_interval_seconds`` (0-3600, default 300)
    is the bake time after each shift."""

    mode: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = "ALL_AT_ONCE"
    size_percent: int | None = None
    wait_interval_seconds: int = 300

    def __post_init__(self) -> None:
        if (self.mode == "ALL_AT_ONCE") != (self.size_percent is None):
            raise ValueError(
                f"traffic shift {self.mode}: size_percent is "
                + ("not used with ALL_AT_ONCE" if self.size_percent is not None else "required")
            )


@dataclass(frozen=True)
class BlueGreenDeployment:
    """A new fleet takes traffic per ``traffic_shift``; the old one is kept for
    ``termination_wait_seconds`` (0-3600, default 0). The whole update may take
    ``maximum_execution_timeout_seconds`` (600-28800, default 3600)."""

    traffic_shift: TrafficShift = TrafficShift()
    termination_wait_seconds: int = 0
    maximum_execution_timeout_seconds: int = 3600


@dataclass(frozen=True)
class RollingDeployment:
    """Instances replaced in batches of ``maximum_batch_percent`` (5-50, default 20) with
    ``wait_interval_seconds`` (0-3600, default 300) between them; rollback in batches of
    ``rollback_maximum_batch_percent`` (default: all at once). Single-variant endpoints only."""

    maximum_batch_percent: int = 20
    wait_interval_seconds: int = 300
    rollback_maximum_batch_percent: int | None = None
    maximum_execution_timeout_seconds: int = 3600


@dataclass(frozen=True)
class GuardedDeployment:
    """An update ``policy`` (blue/green or rolling) that rolls back when one of the endpoint's
    alarms fires (``InferenceEndpoint``'s ``rollback_alarms``) or one of
    ``additional_alarm_names``; 1-10 alarms in all."""

    policy: BlueGreenDeployment | RollingDeployment
    additional_alarm_names: tuple[str, ...] = ()


ROLLBACK_ALARMS = range(1, 11)
"""https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AutoRollbackConfig.html"""


def _percent(value: int) -> sagemaker.CfnEndpoint.CapacitySizeProperty:
    return sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=value)


def deployment_config(
    deployment: GuardedDeployment, alarm_names: Sequence[str]
) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
    """The endpoint's ``DeploymentConfig``, rolling back on ``alarm_names`` and the additional ones."""
    names = [*alarm_names, *deployment.additional_alarm_names]
    rollback = sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
        alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=name) for name in names]
    )
    policy = deployment.policy
    if isinstance(policy, BlueGreenDeployment):
        shift = policy.traffic_shift
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            auto_rollback_configuration=rollback,
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                    type=shift.mode,
                    wait_interval_in_seconds=shift.wait_interval_seconds,
                    canary_size=_percent(shift.size_percent)
                    if shift.mode == "CANARY" and shift.size_percent
                    else None,
                    linear_step_size=_percent(shift.size_percent)
                    if shift.mode == "LINEAR" and shift.size_percent
                    else None,
                ),
                termination_wait_in_seconds=policy.termination_wait_seconds,
                maximum_execution_timeout_in_seconds=policy.maximum_execution_timeout_seconds,
            ),
        )
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        auto_rollback_configuration=rollback,
        rolling_update_policy=sagemaker.CfnEndpoint.RollingUpdatePolicyProperty(
            maximum_batch_size=_percent(policy.maximum_batch_percent),
            wait_interval_in_seconds=policy.wait_interval_seconds,
            maximum_execution_timeout_in_seconds=policy.maximum_execution_timeout_seconds,
            rollback_maximum_batch_size=(
                _percent(policy.rollback_maximum_batch_percent)
                if policy.rollback_maximum_batch_percent is not None
                else None
            ),
        ),
    )
