"""CloudFormation models for Application Auto Scaling, which moto 5.2's CloudFormation skips.

- ``AWS::ApplicationAutoScaling::ScalableTarget`` (with ``ScheduledActions``),
- ``AWS::ApplicationAutoScaling::ScalingPolicy`` (target tracking and step scaling).

Both store their state in moto's Application Auto Scaling backend, so after ``create_stack`` the
ordinary describe calls return what the template declared. Ref and Fn::GetAtt return what real
CloudFormation returns. moto finds the models as ``CloudFormationModel`` subclasses once this
module is imported (see :func:`local_aws.moto_fixes.install`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    applicationautoscaling_backends,
)
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import JsonRESTError

from local_aws.moto_models.properties import ArnAttribute, properties

__all__ = ["ScalableTargetResource", "ScalingPolicyResource"]


@contextlib.contextmanager
def _as_stack_error() -> Iterator[None]:
    """Re-raise Application Auto Scaling's JSON errors as a CloudFormation error, which boto3 can parse."""
    try:
        yield
    except JsonRESTError as error:
        raise ValidationError(message=f"{error.error_type}: {error.message}") from error


def _autoscaling(account_id: str, region_name: str) -> ApplicationAutoscalingBackend:
    return applicationautoscaling_backends[account_id][region_name]


class ScalableTargetResource(CloudFormationModel):
    """``AWS::ApplicationAutoScaling::ScalableTarget``: a registered target and its scheduled actions.

    Ref (and GetAtt Id) is CloudFormation's id ``<ResourceId>|<ScalableDimension>|<ServiceNamespace>``.
    """

    def __init__(
        self,
        service_namespace: str,
        resource_id: str,
        scalable_dimension: str,
        scheduled_action_names: list[str],
    ) -> None:
        self.service_namespace = service_namespace
        self.resource_id = resource_id
        self.scalable_dimension = scalable_dimension
        self.scheduled_action_names = scheduled_action_names

    @property
    def physical_resource_id(self) -> str:
        return f"{self.resource_id}|{self.scalable_dimension}|{self.service_namespace}"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalableTarget"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Id":
            return self.physical_resource_id
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScalableTargetResource:
        """Register the target (updating it in place if it exists) and put its scheduled actions."""
        props = properties(cloudformation_json)
        backend = _autoscaling(account_id, region_name)
        namespace, resource_id, dimension = (
            props["ServiceNamespace"],
            props["ResourceId"],
            props["ScalableDimension"],
        )
        with _as_stack_error():
            target = backend.register_scalable_target(
                namespace,
                resource_id,
                dimension,
                min_capacity=props["MinCapacity"],
                max_capacity=props["MaxCapacity"],
                role_arn=props.get("RoleARN"),
                suspended_state=props.get("SuspendedState"),
            )
        target.role_arn = props.get("RoleARN")  # moto keeps the old role when it updates a target
        actions = props.get("ScheduledActions", [])
        for action in actions:
            backend.put_scheduled_action(
                service_namespace=namespace,
                schedule=action["Schedule"],
                timezone=action.get("Timezone"),
                scheduled_action_name=action["ScheduledActionName"],
                resource_id=resource_id,
                scalable_dimension=dimension,
                start_time=action.get("StartTime"),
                end_time=action.get("EndTime"),
                scalable_target_action=action.get("ScalableTargetAction"),
            )
        return cls(namespace, resource_id, dimension, [action["ScheduledActionName"] for action in actions])

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: ScalableTargetResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ScalableTargetResource:
        """Update the target in place, or replace it when its id changes."""
        new = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        if new.physical_resource_id != original_resource.physical_resource_id:
            original_resource.delete(account_id, region_name)
        else:
            for name in set(original_resource.scheduled_action_names) - set(new.scheduled_action_names):
                _autoscaling(account_id, region_name).delete_scheduled_action(
                    new.service_namespace, name, new.resource_id, new.scalable_dimension
                )
        return new

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """Deregister the target named by its Ref; like AWS, this drops its policies and scheduled actions."""
        resource_id, dimension, namespace = resource_name.rsplit("|", 2)
        backend = _autoscaling(account_id, region_name)
        target = (namespace, resource_id, dimension)
        for policy in list(backend.policies.values()):
            if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == target:
                backend.delete_scaling_policy(policy.policy_name, *target)
        for action in backend.describe_scheduled_actions("", namespace, resource_id, dimension):
            backend.delete_scheduled_action(namespace, action.scheduled_action_name, resource_id, dimension)
        with contextlib.suppress(AWSValidationException):  # already gone: CloudFormation deletes idempotently
            backend.deregister_scalable_target(namespace, resource_id, dimension)

    def delete(self, account_id: str, region_name: str) -> None:
        """Called by moto's stack deletion and update."""
        self.delete_from_cloudformation_json(self.physical_resource_id, {}, account_id, region_name)


def _policy_target(props: Any) -> tuple[str, str, str]:
    """A policy's (ServiceNamespace, ResourceId, ScalableDimension), given outright or in ScalingTargetId."""
    if all(key in props for key in ("ServiceNamespace", "ResourceId", "ScalableDimension")):
        return props["ServiceNamespace"], props["ResourceId"], props["ScalableDimension"]
    resource_id, dimension, namespace = props["ScalingTargetId"].rsplit("|", 2)
    return namespace, resource_id, dimension


class ScalingPolicyResource(ArnAttribute, CloudFormationModel):
    """``AWS::ApplicationAutoScaling::ScalingPolicy``: a target tracking or step scaling policy.

    The target comes from ``ScalingTargetId`` (a ScalableTarget Ref) unless ``ResourceId``,
    ``ScalableDimension`` and ``ServiceNamespace`` are given. Ref and GetAtt Arn are the policy ARN.
    """

    def __init__(
        self, policy_name: str, service_namespace: str, resource_id: str, scalable_dimension: str, arn: str
    ) -> None:
        self.policy_name = policy_name
        self.service_namespace = service_namespace
        self.resource_id = resource_id
        self.scalable_dimension = scalable_dimension
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "PolicyName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalingPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScalingPolicyResource:
        """Put the policy on its registered target; an existing policy of that name keeps its ARN."""
        props = properties(cloudformation_json)
        namespace, resource_id, dimension = _policy_target(props)
        backend = _autoscaling(account_id, region_name)
        if not backend.describe_scalable_targets(namespace, [resource_id], dimension):
            raise ValidationError(
                message=f"ObjectNotFoundException: No scalable target registered for service namespace: "
                f"{namespace}, resource ID: {resource_id}, scalable dimension: {dimension}"
            )
        key = FakeApplicationAutoscalingPolicy.formulate_key(namespace, resource_id, dimension, resource_name)
        existing = backend.policies.get(key)
        with _as_stack_error():
            policy = backend.put_scaling_policy(
                policy_name=resource_name,
                service_namespace=namespace,
                resource_id=resource_id,
                scalable_dimension=dimension,
                policy_body=props.get(f"{props['PolicyType']}PolicyConfiguration", {}),
                policy_type=props["PolicyType"],
            )
        if existing is not None:  # moto mints a new ARN on every put; AWS keeps the policy's ARN
            policy.policy_arn = existing.policy_arn
        return cls(resource_name, namespace, resource_id, dimension, policy.policy_arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: ScalingPolicyResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ScalingPolicyResource:
        """Update the policy in place, or replace it when its name or target changes."""
        new = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        if new.arn != original_resource.arn:
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
        """Delete the policy with this ARN, if it still exists."""
        backend = _autoscaling(account_id, region_name)
        for policy in list(backend.policies.values()):
            if policy.policy_arn == resource_name:
                backend.delete_scaling_policy(
                    policy.policy_name,
                    policy.service_namespace,
                    policy.resource_id,
                    policy.scalable_dimension,
                )

    def delete(self, account_id: str, region_name: str) -> None:
        """Called by moto's stack deletion and update."""
        self.delete_from_cloudformation_json(self.arn, {}, account_id, region_name)
