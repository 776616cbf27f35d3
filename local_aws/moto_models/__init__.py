"""moto CloudFormation models, one module per AWS service, for resource types moto 5.2 skips.

moto's CloudFormation ignores resource types it has no model for, with only a warning. Importing
this package defines models (``CloudFormationModel`` subclasses) for the ones our stacks use, each
backed by moto's own service backend:

- :mod:`~local_aws.moto_models.application_autoscaling`: ``AWS::ApplicationAutoScaling::ScalableTarget``
  and ``AWS::ApplicationAutoScaling::ScalingPolicy``;
- :mod:`~local_aws.moto_models.cloudwatch`: ``AWS::CloudWatch::Alarm``;
- :mod:`~local_aws.moto_models.budgets`: ``AWS::Budgets::Budget``.

:mod:`~local_aws.moto_models.properties` holds the typed-property helpers they share.
``local_aws.install()`` makes moto's CloudFormation see them.
"""

from local_aws.moto_models.application_autoscaling import ScalableTargetResource, ScalingPolicyResource
from local_aws.moto_models.budgets import BudgetResource
from local_aws.moto_models.cloudwatch import AlarmResource

__all__ = [
    "RESOURCE_TYPES",
    "AlarmResource",
    "BudgetResource",
    "ScalableTargetResource",
    "ScalingPolicyResource",
]

RESOURCE_TYPES = tuple(
    model.cloudformation_type()
    for model in (ScalableTargetResource, ScalingPolicyResource, AlarmResource, BudgetResource)
)
"""The CloudFormation types these models teach moto."""
