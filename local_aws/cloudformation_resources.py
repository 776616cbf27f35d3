"""CloudFormation models for the resource types moto 5.2 skips, backed by moto's own services.

moto's CloudFormation ignores resource types it has no model for, with only a warning. The models
here cover the ones our stacks use:

- ``AWS::ApplicationAutoScaling::ScalableTarget`` (with ``ScheduledActions``),
- ``AWS::ApplicationAutoScaling::ScalingPolicy`` (target tracking and step scaling),
- ``AWS::CloudWatch::Alarm`` (single-metric and metric-math alarms).

Each one stores its state in moto's Application Auto Scaling or CloudWatch backend, so after
``create_stack`` the ordinary describe calls return what the template declared. Ref and Fn::GetAtt
return what real CloudFormation returns. ``install()`` also mends five places where moto differs
from AWS: current SageMaker instance families (g5, g6, inf2, p5 ...), current scalable dimensions
(serverless provisioned concurrency), explicit SageMaker model, endpoint-config and endpoint names,
CloudFormation-style tags on KMS keys, and asynchronous results, which it now writes under the
endpoint config's S3 output path. Call it before
creating stacks.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterator
from typing import Any

import botocore.session
from moto.applicationautoscaling import models as autoscaling_models
from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    applicationautoscaling_backends,
)
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.cloudwatch.models import (
    CloudWatchBackend,
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import JsonRESTError
from moto.iam.models import Role as IamRole
from moto.iam.models import iam_backends
from moto.kms.models import Key
from moto.s3.models import s3_backends
from moto.sagemaker.exceptions import ValidationError as SageMakerValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, sagemaker_backends
from moto.sagemaker.models import Model as SageMakerModel
from moto.sagemakerruntime.models import SageMakerRuntimeBackend
from moto.utilities.utils import get_partition

from endpoint_configs.limits import hosting_instance_types

__all__ = ["AlarmResource", "ScalableTargetResource", "ScalingPolicyResource", "install"]

# CloudFormation hands over template values as written, so numbers and booleans may be strings.
# The API types of the properties these resources use, by property name:
_INTEGERS = frozenset(
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
_FLOATS = frozenset({"TargetValue", "MetricIntervalLowerBound", "MetricIntervalUpperBound", "Threshold"})
_BOOLEANS = frozenset(
    {
        "DisableScaleIn",
        "ReturnData",
        "ActionsEnabled",
        "DynamicScalingInSuspended",
        "DynamicScalingOutSuspended",
        "ScheduledScalingSuspended",
    }
)


def _typed(value: Any, key: str = "") -> Any:
    """Return ``value`` with the numbers and booleans inside it converted to their API types."""
    if isinstance(value, dict):
        return {k: _typed(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, key) for v in value]
    if key in _INTEGERS:
        return int(float(value))
    if key in _FLOATS:
        return float(value)
    if key in _BOOLEANS and isinstance(value, str):
        return value.lower() == "true"
    return value


def _properties(cloudformation_json: dict[str, Any]) -> Any:
    """The resource's Properties with API types.

    Typed ``Any``: it is template JSON, and moto's signatures say ``str`` where None is valid.
    """
    return _typed(cloudformation_json.get("Properties") or {})


@contextlib.contextmanager
def _as_stack_error() -> Iterator[None]:
    """Re-raise Application Auto Scaling's JSON errors as a CloudFormation error, which boto3 can parse."""
    try:
        yield
    except JsonRESTError as error:
        raise ValidationError(message=f"{error.error_type}: {error.message}") from error


def _autoscaling(account_id: str, region_name: str) -> ApplicationAutoscalingBackend:
    return applicationautoscaling_backends[account_id][region_name]


def _cloudwatch(account_id: str, region_name: str) -> CloudWatchBackend:
    return cloudwatch_backends[account_id][region_name]


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
        props = _properties(cloudformation_json)
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


class _ArnAttribute:
    """``Fn::GetAtt <resource>.Arn`` for the models below. A mixin, not a base class: moto finds
    models through ``CloudFormationModel.__subclasses__()``, which lists direct subclasses only."""

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


def _policy_target(props: Any) -> tuple[str, str, str]:
    """A policy's (ServiceNamespace, ResourceId, ScalableDimension), given outright or in ScalingTargetId."""
    if all(key in props for key in ("ServiceNamespace", "ResourceId", "ScalableDimension")):
        return props["ServiceNamespace"], props["ResourceId"], props["ScalableDimension"]
    resource_id, dimension, namespace = props["ScalingTargetId"].rsplit("|", 2)
    return namespace, resource_id, dimension


class ScalingPolicyResource(_ArnAttribute, CloudFormationModel):
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
        props = _properties(cloudformation_json)
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


class AlarmResource(_ArnAttribute, CloudFormationModel):
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
        props = _properties(cloudformation_json)
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


_PATCHED = "_local_aws_accepts_botocore_instance_types"


def _accept_current_sagemaker_instance_types() -> None:
    """Let endpoint configs use any instance type in botocore's SageMaker model; moto's list is dated.

    Wraps ``FakeEndpointConfig.validate_instance_type``; anything botocore does not know still gets
    moto's original check and error. Safe to call more than once.
    """
    original = FakeEndpointConfig.validate_instance_type
    if getattr(original, _PATCHED, False):
        return
    known = frozenset(hosting_instance_types())

    @functools.wraps(original)
    def validate_instance_type(self: FakeEndpointConfig, instance_type: str) -> None:
        if instance_type not in known:
            original(self, instance_type)

    setattr(validate_instance_type, _PATCHED, True)
    FakeEndpointConfig.validate_instance_type = validate_instance_type  # type: ignore[method-assign]


def _accept_cloudformation_tags_on_kms_keys() -> None:
    """moto's KMS key model passes CloudFormation's ``Key``/``Value`` tags to an API that expects
    ``TagKey``/``TagValue`` and fails with ``KeyError: 'TagKey'``; translate them first."""
    original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def create_from_cloudformation_json(
        cls: type[Key],
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Key:
        properties = cloudformation_json.get("Properties", {})
        tags = properties.get("Tags") or []
        if tags and "Key" in tags[0]:
            properties = {**properties, "Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags]}
            cloudformation_json = {**cloudformation_json, "Properties": properties}
        created: Key = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        return created

    setattr(create_from_cloudformation_json, _PATCHED, True)
    Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign, assignment, arg-type]


def _accept_current_scalable_dimensions() -> None:
    """moto's Application Auto Scaling knows a dated list of dimensions (no
    ``sagemaker:variant:DesiredProvisionedConcurrency``), in its API layer and its backend; accept
    every dimension in botocore's model for the namespace it names, and leave everything else to
    moto's original checks."""
    original_check = autoscaling_models._target_params_are_valid
    if getattr(original_check, _PATCHED, False):
        return
    model = botocore.session.get_session().get_service_model("application-autoscaling")
    known = frozenset(model.shape_for("ScalableDimension").enum)

    def is_current(namespace: str | None, dimension: str | None) -> bool:
        return dimension in known and str(dimension).split(":", 1)[0] == namespace

    @functools.wraps(original_check)
    def target_params_are_valid(namespace: str, resource_id: str, dimension: str) -> bool:
        return is_current(namespace, dimension) or bool(original_check(namespace, resource_id, dimension))

    original_validate = ApplicationAutoScalingResponse._validate_params

    @functools.wraps(original_validate)
    def validate_params(self: ApplicationAutoScalingResponse) -> None:
        if not is_current(self._get_param("ServiceNamespace"), self._get_param("ScalableDimension")):
            original_validate(self)

    setattr(target_params_are_valid, _PATCHED, True)
    autoscaling_models._target_params_are_valid = target_params_are_valid  # type: ignore[assignment]
    ApplicationAutoScalingResponse._validate_params = validate_params  # type: ignore[method-assign]


def _deliver_async_results_to_configured_paths() -> None:
    """moto answers InvokeEndpointAsync for any name and puts the result in a new random bucket;
    SageMaker puts it under the endpoint config's S3OutputPath (S3FailurePath on failure). Check
    that the endpoint exists, then move moto's result to where SageMaker would write it."""
    original = SageMakerRuntimeBackend.invoke_endpoint_async
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def invoke_endpoint_async(
        self: SageMakerRuntimeBackend, endpoint_name: str, input_location: str
    ) -> tuple[str, str]:
        sagemaker = sagemaker_backends[self.account_id][self.region_name]
        endpoint = sagemaker.endpoints.get(endpoint_name)
        if endpoint is None:
            raise SageMakerValidationError(
                message=f"Endpoint {endpoint_name} of account {self.account_id} not found."
            )
        config = sagemaker.endpoint_configs[endpoint.endpoint_config_name]
        output = config.async_inference_config.get("OutputConfig") or {}
        moto_output, moto_failure = original(self, endpoint_name, input_location)
        if not output:
            return moto_output, moto_failure
        storage = s3_backends[self.account_id][self.partition]
        name = f"{uuid.uuid5(uuid.NAMESPACE_URL, f'{endpoint_name}/{input_location}')}.out"
        destinations = (
            f"{output['S3OutputPath'].rstrip('/')}/{name}",
            f"{output['S3FailurePath'].rstrip('/')}/{name}",
        )
        for source, target in zip((moto_output, moto_failure), destinations, strict=True):
            bucket, key = source.removeprefix("s3://").split("/", 1)
            result = storage.get_object(bucket, key) if key in storage.get_bucket(bucket).keys else None
            if result is not None:
                target_bucket, target_key = target.removeprefix("s3://").split("/", 1)
                storage.put_object(target_bucket, target_key, result.value)
        return destinations

    setattr(invoke_endpoint_async, _PATCHED, True)
    SageMakerRuntimeBackend.invoke_endpoint_async = invoke_endpoint_async  # type: ignore[method-assign]


def _detach_managed_policies_before_deleting_roles() -> None:
    """Deleting a stack fails in moto when it deletes a role before the customer managed policies
    attached to it ("must detach all policies first"); CloudFormation detaches them. Do that."""
    original = IamRole.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def delete_from_cloudformation_json(
        cls: type[IamRole], resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        role = next((r for r in backend.roles.values() if r.name == resource_name), None)
        for policy_arn in list(role.managed_policies) if role else []:
            backend.detach_role_policy(policy_arn, resource_name)
        original(cls, resource_name, cloudformation_json, account_id, region_name)

    setattr(delete_from_cloudformation_json, _PATCHED, True)
    IamRole.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)  # type: ignore[method-assign, assignment]


def _honour_explicit_sagemaker_names() -> None:
    """moto names SageMaker models, endpoint configs and endpoints ``<stack>-<logical id>-<random>``
    even when the template sets a name; real CloudFormation uses the given name, and clients call
    endpoints by it. Declaring the name property makes moto's parser use it when present."""
    for model, name_property in (
        (FakeEndpoint, "EndpointName"),
        (FakeEndpointConfig, "EndpointConfigName"),
        (SageMakerModel, "ModelName"),
    ):
        model.cloudformation_name_type = staticmethod(lambda name=name_property: name)  # type: ignore[method-assign]


def install() -> None:
    """Make moto's CloudFormation use the models above and accept current SageMaker instance types.

    moto builds its map of resource types once (``lru_cache``) from ``CloudFormationModel``
    subclasses; the classes exist once this module is imported, and clearing the caches makes moto
    see them even if it built the map earlier. Idempotent.
    """
    _accept_current_sagemaker_instance_types()
    _accept_cloudformation_tags_on_kms_keys()
    _honour_explicit_sagemaker_names()
    _accept_current_scalable_dimensions()
    _deliver_async_results_to_configured_paths()
    _detach_managed_policies_before_deleting_roles()
    for name in ("get_model_list", "get_model_map", "get_name_type_map"):
        cached: Any = getattr(parsing, name, None)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()
