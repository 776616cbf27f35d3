"""Template properties with API types, shared by the CloudFormation models in this package.

CloudFormation hands resource properties over as written in the template, so numbers and booleans
may arrive as strings (``"60"``, ``"true"``). The backends behind our models expect the API types;
:func:`properties` converts the values of the property names below, wherever they appear.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

# The API types of the properties our models use, by property name.
INTEGERS = frozenset(
    {
        "MinCapacity",
        "MaxCapacity",
        "ScaleInCooldown",
        "ScaleOutCooldown",
        "Cooldown",
        "MinAdjustmentMagnitude",
        "ScalingAdjustment",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "Period",
    }
)
FLOATS = frozenset({"TargetValue", "MetricIntervalLowerBound", "MetricIntervalUpperBound", "Threshold"})
BOOLEANS = frozenset(
    {
        "DisableScaleIn",
        "ReturnData",
        "ActionsEnabled",
        "DynamicScalingInSuspended",
        "DynamicScalingOutSuspended",
        "ScheduledScalingSuspended",
    }
)


def typed(value: Any, key: str = "") -> Any:
    """Return ``value`` with the numbers and booleans inside it converted to their API types."""
    if isinstance(value, dict):
        return {k: typed(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v, key) for v in value]
    if key in INTEGERS:
        return int(float(value))
    if key in FLOATS:
        return float(value)
    if key in BOOLEANS and isinstance(value, str):
        return value.lower() == "true"
    return value


def properties(cloudformation_json: dict[str, Any]) -> Any:
    """The resource's Properties with API types.

    Typed ``Any``: it is template JSON, and moto's signatures say ``str`` where None is valid.
    """
    return typed(cloudformation_json.get("Properties") or {})


class ArnAttribute:
    """``Fn::GetAtt <resource>.Arn`` for models whose Arn is ``self.arn``.

    A mixin, not a base class: moto finds models through ``CloudFormationModel.__subclasses__()``,
    which lists direct subclasses only, so each model subclasses ``CloudFormationModel`` itself.
    """

    arn: str

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True
