"""Where moto 5.2 differs from AWS in ways our stacks meet, and the fix for each.

Each fix is a small function registered with :func:`moto_fix` under a name and a one-line
description of how moto differs from AWS and what the fix does. The registry applies a fix once
(calling the decorated function again does nothing), lists the fixes (:func:`registered_fixes`),
and the README's list of moto fixes is checked against it. :func:`install` applies them all and
makes moto's CloudFormation see the models in :mod:`local_aws.moto_models`; call it before creating
stacks.

Two fixes answer invocations with the deployed model when a model router is in use
(:func:`use_model_router`; :mod:`local_aws.model_routing` provides the router that runs artifacts
through ``local_serving``). Without a router, invocations get moto's canned answers, delivered
where SageMaker would deliver them. Errors are raised as the services raise them
(:class:`ModelError`, :class:`EndpointNotFound`, CloudFormation's ``ValidationError``), so boto3
and the cdk CLI see what they would see in AWS.
"""

from __future__ import annotations

import functools
import os
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import botocore.session
from moto.applicationautoscaling import models as autoscaling_models
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError as CloudFormationValidationError
from moto.cloudformation.models import CloudFormationBackend, Stack
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.config import default_user_config
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.iam.models import Role as IamRole
from moto.iam.models import iam_backends
from moto.kms.models import Key
from moto.s3.models import FakeBucket, S3Backend, s3_backends
from moto.sagemaker.exceptions import MissingModel
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    FakeTransformJob,
    SageMakerModelBackend,
    sagemaker_backends,
)
from moto.sagemaker.models import Model as SageMakerModel
from moto.sagemaker.utils import arn_formatter
from moto.sagemakerruntime.models import SageMakerRuntimeBackend
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.models import StepFunctionBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import get_backend as stepfunctions_backend
from moto.stepfunctions.utils import cfn_to_api_tags
from moto.utilities.utils import get_partition

import local_aws.moto_models  # noqa: F401  (defines the CloudFormation models moto looks for)
from endpoint_configs.limits import hosting_instance_types
from local_aws import compilation_jobs, custom_resources
from local_aws.transform_jobs import ModelRunner, SageMakerTaskService, run_transform_job

__all__ = [
    "EndpointNotFound",
    "ModelError",
    "ModelRouter",
    "MotoFix",
    "RoutedInvocation",
    "applied_fixes",
    "apply_fix",
    "execute_state_machines",
    "fixes_markdown",
    "install",
    "moto_fix",
    "registered_fixes",
    "use_model_router",
]


# -- the registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MotoFix:
    """One registered fix: its name, how moto differs from AWS and what the fix does, and its patch."""

    name: str
    description: str
    patch: Callable[[], None]


_REGISTRY: dict[str, MotoFix] = {}
_APPLIED: set[str] = set()
_LOCK = threading.RLock()


def moto_fix(name: str, description: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register the decorated function as the fix ``name``; calling it applies the fix once.

    ``description`` is one line: how moto differs from AWS, and what the fix does. A name is
    registered once.
    """

    def register(patch: Callable[[], None]) -> Callable[[], None]:
        if name in _REGISTRY:
            raise ValueError(f"a moto fix named {name!r} is already registered")
        _REGISTRY[name] = MotoFix(name=name, description=description, patch=patch)

        @functools.wraps(patch)
        def apply_once() -> None:
            apply_fix(name)

        return apply_once

    return register


def apply_fix(name: str) -> None:
    """Apply the registered fix ``name`` unless it is applied already."""
    with _LOCK:
        if name not in _APPLIED:
            _REGISTRY[name].patch()
            _APPLIED.add(name)


def registered_fixes() -> tuple[MotoFix, ...]:
    """Every registered fix, in the order :func:`install` applies them."""
    return tuple(_REGISTRY.values())


def applied_fixes() -> frozenset[str]:
    """The names of the fixes applied in this process."""
    with _LOCK:
        return frozenset(_APPLIED)


def install() -> None:
    """Apply every registered fix, then clear moto's CloudFormation parsing caches. Idempotent.

    moto builds its maps of resource types and name properties once (``lru_cache``) from
    ``CloudFormationModel`` subclasses; clearing the caches makes it see our models and the name
    properties declared by the fixes, even if it built the maps earlier.
    """
    for fix in registered_fixes():
        apply_fix(fix.name)
    _clear_parsing_caches()


def fixes_markdown(width: int = 100) -> str:
    """The registered fixes as the README lists them: one ``- `name`: description`` item each."""
    items = (
        textwrap.fill(
            f"- `{fix.name}`: {fix.description}.", width=width, subsequent_indent="  ", break_on_hyphens=False
        )
        for fix in registered_fixes()
    )
    return "\n".join(items)


def _clear_parsing_caches() -> None:
    for name in ("get_model_list", "get_model_map", "get_name_type_map"):
        cached: Any = getattr(parsing, name, None)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


# -- the model router used by the invocation fixes -----------------------------------------------------


@dataclass(frozen=True)
class RoutedInvocation:
    """What a deployed model answered: the variant that served it, and the container's reply."""

    variant_name: str
    status: int
    body: bytes
    content_type: str | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.status < 400


class ModelRouter(Protocol):
    """Runs an invocation of a deployed endpoint on its model; None when it has no model for it."""

    def invoke(
        self,
        account_id: str,
        region: str,
        endpoint_name: str,
        body: bytes,
        *,
        content_type: str,
        accept: str | None,
    ) -> RoutedInvocation | None: ...


_ROUTER: list[ModelRouter] = []


def use_model_router(router: ModelRouter | None) -> None:
    """Send invocations to ``router`` from now on (None: moto's canned answers again)."""
    with _LOCK:
        _ROUTER[:] = [router] if router is not None else []


def _router() -> ModelRouter | None:
    with _LOCK:
        return _ROUTER[0] if _ROUTER else None


# -- errors as the services raise them -------------------------------------------------------------


class ModelError(ServiceException):
    """SageMaker Runtime's ModelError (HTTP 424): the model's container answered with an error.

    The fields are botocore's ``ModelError`` shape; boto3 puts them next to ``Error`` in the
    ``ClientError``'s response (``OriginalStatusCode``, ``OriginalMessage``, ``LogStreamArn``).
    """

    code = "ModelError"

    def __init__(self, account_id: str, region: str, endpoint_name: str, status: int, original: str) -> None:
        kind = "client" if status < 500 else "server"
        group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
        console = (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logEventViewer:group={group}"
        )
        super().__init__(
            f'Received {kind} error ({status}) from primary with message "{original}". '
            f"See {console} in account {account_id} for more information."
        )
        self.original_status_code = status
        self.original_message = original
        self.log_stream_arn = f"arn:{get_partition(region)}:logs:{region}:{account_id}:log-group:{group}"


class EndpointNotFound(ServiceException):
    """SageMaker Runtime's ValidationError (HTTP 400) for an endpoint that does not exist."""

    code = "ValidationError"

    def __init__(self, account_id: str, endpoint_name: str) -> None:
        super().__init__(f"Endpoint {endpoint_name} of account {account_id} not found.")


def _require_endpoint(account_id: str, region: str, endpoint_name: str) -> FakeEndpoint:
    """The endpoint, or :class:`EndpointNotFound` as SageMaker raises it."""
    endpoint: FakeEndpoint | None = sagemaker_backends[account_id][region].endpoints.get(endpoint_name)
    if endpoint is None:
        raise EndpointNotFound(account_id, endpoint_name)
    return endpoint


def _invoked_endpoint_name(response: SageMakerRuntimeResponse) -> str:
    """The endpoint an invocation names (``/endpoints/<name>/invocations``)."""
    return str(response._get_params().get("EndpointName") or response.path.split("/")[2])


# -- the fixes, in the order install() applies them ---------------------------------------------------


@moto_fix(
    "cloudformation-resource-models",
    "moto's CloudFormation skips `AWS::ApplicationAutoScaling::ScalableTarget`, `ScalingPolicy`, "
    "`AWS::CloudWatch::Alarm` and `AWS::Budgets::Budget` with only a warning; models in "
    "`local_aws.moto_models` create them in moto's own backends",
)
def register_cloudformation_models() -> None:
    """moto's CloudFormation warns and skips resource types it has no model for, so
    ``AWS::ApplicationAutoScaling::ScalableTarget``, ``ScalingPolicy``, ``AWS::CloudWatch::Alarm``
    and ``AWS::Budgets::Budget`` never exist; CloudFormation creates them. The models in
    :mod:`local_aws.moto_models` exist once this module is imported; clearing moto's cached type map
    makes it see them."""
    _clear_parsing_caches()


@moto_fix(
    "sagemaker-instance-types",
    "moto rejects current SageMaker instance families (g5, g6, inf2, p5 ...); endpoint configs accept"
    " every instance type in botocore's SageMaker model, other types still get moto's check",
)
def accept_current_sagemaker_instance_types() -> None:
    """moto's ``FakeEndpointConfig.validate_instance_type`` checks a dated list; SageMaker accepts
    every current family. Types botocore knows pass; anything else still gets moto's original check
    and error."""
    original = FakeEndpointConfig.validate_instance_type
    known = frozenset(hosting_instance_types())

    @functools.wraps(original)
    def validate_instance_type(self: FakeEndpointConfig, instance_type: str) -> None:
        if instance_type not in known:
            original(self, instance_type)

    FakeEndpointConfig.validate_instance_type = validate_instance_type  # type: ignore[method-assign]


@moto_fix(
    "kms-key-tags",
    "moto's `AWS::KMS::Key` hands CloudFormation's `Key`/`Value` tags to an API expecting "
    "`TagKey`/`TagValue` and fails; the tags are translated first",
)
def accept_cloudformation_tags_on_kms_keys() -> None:
    """moto's KMS key model hands CloudFormation's ``Key``/``Value`` tags to its ``TagKey``/``TagValue``
    API and fails with ``KeyError: 'TagKey'``; CloudFormation creates the key with its tags."""
    original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

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

    Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign, assignment, arg-type]


@moto_fix(
    "sagemaker-explicit-names",
    "moto ignores the names a template gives SageMaker models, endpoint configs and endpoints and "
    "generates `<stack>-<logical id>-<random>`; the given names are used, as in CloudFormation",
)
def honour_explicit_sagemaker_names() -> None:
    """moto ignores ``ModelName``, ``EndpointConfigName`` and ``EndpointName`` in templates; real
    CloudFormation uses them, and clients call endpoints by name. Declaring the name property makes
    moto's parser use it when present (and generate one when absent)."""
    for model, name_property in (
        (FakeEndpoint, "EndpointName"),
        (FakeEndpointConfig, "EndpointConfigName"),
        (SageMakerModel, "ModelName"),
    ):
        model.cloudformation_name_type = staticmethod(lambda name=name_property: name)  # type: ignore[method-assign]


@moto_fix(
    "scalable-dimensions",
    "moto's Application Auto Scaling rejects newer scalable dimensions such as "
    "`sagemaker:variant:DesiredProvisionedConcurrency`; every dimension in botocore's model is "
    "accepted for its namespace",
)
def accept_current_scalable_dimensions() -> None:
    """moto checks dimensions against a dated list, in its API layer and its backend, and rejects
    ``sagemaker:variant:DesiredProvisionedConcurrency`` (serverless provisioned concurrency), which
    AWS accepts. Dimensions in botocore's model pass; everything else keeps moto's original checks."""
    original_check = autoscaling_models._target_params_are_valid
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

    autoscaling_models._target_params_are_valid = target_params_are_valid  # type: ignore[assignment]
    ApplicationAutoScalingResponse._validate_params = validate_params  # type: ignore[method-assign]


@moto_fix(
    "iam-role-deletion",
    "moto's stack deletion fails when it deletes a role that still has customer managed policies "
    "attached; they are detached first, as CloudFormation does",
)
def detach_managed_policies_before_deleting_roles() -> None:
    """moto's stack deletion may delete a role while customer managed policies are still attached,
    and fails with "must detach all policies first"; CloudFormation detaches them."""
    original = IamRole.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    @functools.wraps(original)
    def delete_from_cloudformation_json(
        cls: type[IamRole], resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        role = next((r for r in backend.roles.values() if r.name == resource_name), None)
        for policy_arn in list(role.managed_policies) if role else []:
            backend.detach_role_policy(policy_arn, resource_name)
        original(cls, resource_name, cloudformation_json, account_id, region_name)

    IamRole.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)  # type: ignore[method-assign, assignment]


@moto_fix(
    "sagemaker-invoke-endpoint",
    "moto's InvokeEndpoint answers with a canned body; with a model router in use "
    "(`local_aws.model_routing`), the deployed model answers, naming the production variant that "
    "served it, and a model's error answer is SageMaker's ModelError (424) with `OriginalStatusCode`, "
    "`OriginalMessage` and `LogStreamArn`",
)
def route_invoke_endpoint() -> None:
    """moto's ``InvokeEndpoint`` returns canned (or queued) bodies and the variant name
    ``invoked_production_variant``; SageMaker runs the model of the variant it picks. With a model
    router (:func:`use_model_router`) that has a model for an existing endpoint, the model answers;
    a container error becomes SageMaker's :class:`ModelError` (424) with the original status and
    message. Otherwise moto answers as before."""
    original = SageMakerRuntimeResponse.invoke_endpoint

    @functools.wraps(original)
    def invoke_endpoint(self: SageMakerRuntimeResponse) -> Any:
        router = _router()
        endpoint_name = _invoked_endpoint_name(self)
        if (
            router is None
            or endpoint_name not in sagemaker_backends[self.current_account][self.region].endpoints
        ):
            return original(self)
        raw = self.raw_body
        routed = router.invoke(
            self.current_account,
            self.region,
            endpoint_name,
            raw if isinstance(raw, bytes) else str(raw).encode(),
            content_type=self.headers.get("Content-Type", "application/json"),
            accept=self.headers.get("Accept"),
        )
        if routed is None:
            return original(self)
        if not routed.ok:
            original_message = routed.body.decode(errors="replace").strip() or str(routed.reason or "")
            raise ModelError(
                self.current_account, self.region, endpoint_name, routed.status, original_message
            )
        headers = {"x-Amzn-Invoked-Production-Variant": routed.variant_name}
        if routed.content_type:
            headers["Content-Type"] = routed.content_type
        return 200, headers, routed.body

    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]


@moto_fix(
    "sagemaker-invoke-endpoint-async",
    "moto's InvokeEndpointAsync writes a canned result to a random bucket; the result (the deployed "
    "model's, with a model router) lands under the endpoint config's S3OutputPath, or S3FailurePath on "
    "failure",
)
def deliver_async_invocations_like_sagemaker() -> None:
    """moto's ``InvokeEndpointAsync`` never runs a model, and writes to
    ``s3://sagemaker-output-<random>/``. SageMaker runs the model on the request at
    ``InputLocation``, and writes ``<id>.out`` under the endpoint config's ``S3OutputPath``, or
    ``<id>-error.out`` under ``S3FailurePath`` when the model fails. This one wrapper does that: the
    model router's model answers when it has one, moto's canned (or queued) result otherwise. An
    unknown endpoint is :class:`EndpointNotFound` (see ``sagemaker-runtime-unknown-endpoints``); an
    endpoint without an async output config keeps moto's answer."""
    original = SageMakerRuntimeBackend.invoke_endpoint_async

    @functools.wraps(original)
    def invoke_endpoint_async(
        self: SageMakerRuntimeBackend, endpoint_name: str, input_location: str
    ) -> tuple[str, str]:
        sagemaker = sagemaker_backends[self.account_id][self.region_name]
        endpoint = _require_endpoint(self.account_id, self.region_name, endpoint_name)
        config = sagemaker.endpoint_configs[endpoint.endpoint_config_name]
        output = (config.async_inference_config or {}).get("OutputConfig") or {}
        if not output.get("S3OutputPath"):
            return original(self, endpoint_name, input_location)
        storage = s3_backends[self.account_id][self.partition]
        succeeded, data = _run_model(self, storage, endpoint_name, input_location)
        if succeeded is None:
            succeeded, data = _moto_result(storage, *original(self, endpoint_name, input_location))
        name = uuid.uuid5(uuid.NAMESPACE_URL, f"{endpoint_name}/{input_location}")
        output_location = f"{output['S3OutputPath'].rstrip('/')}/{name}.out"
        failure_prefix = (output.get("S3FailurePath") or output["S3OutputPath"]).rstrip("/")
        failure_location = f"{failure_prefix}/{name}-error.out"
        written, stale = (
            (output_location, failure_location) if succeeded else (failure_location, output_location)
        )
        stale_bucket, _, stale_key = stale.removeprefix("s3://").partition("/")
        if stale_key in storage.get_bucket(stale_bucket).keys:
            storage.delete_object(stale_bucket, stale_key)
        bucket, _, key = written.removeprefix("s3://").partition("/")
        storage.put_object(bucket, key, data)
        return output_location, failure_location

    SageMakerRuntimeBackend.invoke_endpoint_async = invoke_endpoint_async  # type: ignore[method-assign]


@moto_fix(
    "sagemaker-runtime-unknown-endpoints",
    "moto's InvokeEndpoint answers `body` for an endpoint that does not exist, and its "
    "InvokeEndpointAsync error has the code ValidationException; both raise SageMaker's "
    "ValidationError (400) with the message `Endpoint X of account Y not found`",
)
def reject_unknown_endpoints() -> None:
    """moto's ``InvokeEndpoint`` never looks the endpoint up, so a mistyped name gets a canned
    ``b'body'``; SageMaker answers ``ValidationError`` (400) "Endpoint X of account Y not found.", the
    code botocore's SageMaker Runtime model names (moto's own SageMaker error says
    ValidationException). Both invocation APIs check the endpoint first, with or without a model
    router."""
    for name in ("invoke_endpoint", "invoke_endpoint_async"):
        original = getattr(SageMakerRuntimeResponse, name)

        def checked(self: SageMakerRuntimeResponse, original: Callable[..., Any] = original) -> Any:
            _require_endpoint(self.current_account, self.region, _invoked_endpoint_name(self))
            return original(self)

        setattr(SageMakerRuntimeResponse, name, functools.wraps(original)(checked))


def _stack_to_delete(backend: CloudFormationBackend, name_or_stack_id: str) -> Stack | None:
    """The live stack DeleteStack names, by id or by name (None: DeleteStack does nothing)."""
    if name_or_stack_id in backend.stacks:
        stack: Stack = backend.stacks[name_or_stack_id]
        return stack
    return next((s for s in backend.stacks.values() if s.name == name_or_stack_id), None)


def _protected(stack: Stack) -> bool:
    return str(stack.enable_termination_protection).lower() == "true"


@moto_fix(
    "cloudformation-termination-protection",
    "moto keeps a stack's EnableTerminationProtection but deletes protected stacks and lacks "
    "UpdateTerminationProtection; DeleteStack of a protected stack raises ValidationError "
    '"Stack [X] cannot be deleted while TerminationProtection is enabled", and '
    "UpdateTerminationProtection turns it on or off",
)
def honour_termination_protection() -> None:
    """moto stores ``EnableTerminationProtection`` from CreateStack and reports it, but DeleteStack
    deletes the stack anyway, and ``UpdateTerminationProtection`` (which ``cdk deploy`` calls when a
    stack's setting changes) is not implemented. CloudFormation refuses with ValidationError and
    lets the setting be changed."""
    original_delete = CloudFormationBackend.delete_stack

    @functools.wraps(original_delete)
    def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
        stack = _stack_to_delete(self, name_or_stack_id)
        if stack is not None and _protected(stack):
            raise CloudFormationValidationError(
                message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
            )
        original_delete(self, name_or_stack_id)

    def update_termination_protection(self: CloudFormationResponse) -> ActionResult:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        stack.enable_termination_protection = (
            str(self._get_param("EnableTerminationProtection")).lower() == "true"
        )
        return ActionResult({"StackId": stack.stack_id})

    CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]
    CloudFormationResponse.update_termination_protection = update_termination_protection  # type: ignore[attr-defined]


def _imported_names(template: Any) -> Iterator[str]:
    """The export names a template imports by a literal name (``{"Fn::ImportValue": "name"}``, as
    the CDK writes them)."""
    if isinstance(template, dict):
        for key, value in template.items():
            if key == "Fn::ImportValue" and isinstance(value, str):
                yield value
            else:
                yield from _imported_names(value)
    elif isinstance(template, list):
        for item in template:
            yield from _imported_names(item)


def _importers(backend: CloudFormationBackend, export_name: str) -> list[str]:
    """Names of the live stacks that import ``export_name``, in creation order."""
    return [
        stack.name
        for stack in backend.stacks.values()
        if stack.status != "DELETE_COMPLETE" and export_name in set(_imported_names(stack.template_dict))
    ]


@moto_fix(
    "cloudformation-export-imports",
    "moto deletes a stack whose exports other stacks still import, and lacks ListImports; "
    "DeleteStack is accepted but the stack stays as it was, with a stack event whose reason is "
    '"Delete canceled. Cannot delete export X as it is in use by Y.", and ListImports names the '
    "importing stacks",
)
def refuse_deleting_exports_in_use() -> None:
    """moto resolves ``Fn::ImportValue`` once, at creation, and forgets the import: deleting the
    exporting stack succeeds and leaves importers pointing at nothing, and ``ListImports`` is not
    implemented. CloudFormation accepts the DeleteStack call, then cancels the deletion of a stack
    whose export another stack imports: the stack keeps its status and an event gives the reason
    (https://repost.aws/knowledge-center/cloudformation-stack-export-name-error). The importers
    are found in the live stacks' templates."""
    original_delete = CloudFormationBackend.delete_stack

    @functools.wraps(original_delete)
    def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
        stack = _stack_to_delete(self, name_or_stack_id)
        for export in stack.exports if stack is not None else []:
            importers = [name for name in _importers(self, export.name) if stack and name != stack.name]
            if stack is not None and importers:
                in_use_by = " and ".join(importers)
                stack._add_stack_event(
                    stack.status,
                    resource_status_reason=(
                        f"Delete canceled. Cannot delete export {export.name} as it is in use by {in_use_by}."
                    ),
                )
                return
        original_delete(self, name_or_stack_id)

    def list_imports(self: CloudFormationResponse) -> ActionResult:
        export_name = self._get_param("ExportName")
        importers = _importers(self.cloudformation_backend, export_name)
        if not importers:
            raise CloudFormationValidationError(
                message=f"Export '{export_name}' is not imported by any stack."
            )
        return ActionResult({"Imports": importers})

    CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]
    CloudFormationResponse.list_imports = list_imports  # type: ignore[attr-defined]


def _run_model(
    runtime: SageMakerRuntimeBackend, storage: S3Backend, endpoint_name: str, input_location: str
) -> tuple[bool | None, bytes]:
    """(succeeded, result or failure message) from the router's model; (None, b"") without one."""
    router = _router()
    if router is None:
        return None, b""
    bucket, _, key = input_location.removeprefix("s3://").partition("/")
    try:
        request = storage.get_object(bucket, key)
    except Exception:  # moto raises its own S3 errors for a missing bucket or key
        request = None
    if request is None:
        return False, f"could not read the input {input_location}".encode()
    routed = router.invoke(
        runtime.account_id,
        runtime.region_name,
        endpoint_name,
        request.value,
        content_type="application/json",
        accept=None,
    )
    if routed is None:
        return None, b""
    return routed.ok, routed.body if routed.ok else str(routed.reason).encode()


def _moto_result(storage: S3Backend, output_location: str, failure_location: str) -> tuple[bool, bytes]:
    """moto's canned result, read from the random bucket it wrote it to."""
    for succeeded, location in ((True, output_location), (False, failure_location)):
        bucket, _, key = location.removeprefix("s3://").partition("/")
        if key in storage.get_bucket(bucket).keys:
            stored = storage.get_object(bucket, key)
            if stored is not None:
                return succeeded, bytes(stored.value)
    return False, b"moto wrote no result"


# -- Step Functions and batch transform --------------------------------------------------------------


def execute_state_machines(server_port: int | None = None) -> None:
    """Have moto's Step Functions run executions (``stepfunctions.execute_state_machine``, off by
    default: executions then stay RUNNING and run nothing), as the local AWS does.

    Tasks reach other services through boto3 at ``http://localhost:$MOTO_PORT`` when no ``mock_aws``
    intercepts calls; ``server_port`` is the port of the ``ThreadedMotoServer`` in this process
    (moto's own ``moto_server`` command sets ``MOTO_PORT``, ``ThreadedMotoServer`` does not).
    """
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    if server_port is not None:
        os.environ["MOTO_PORT"] = str(server_port)


def _api_shape(value: Any) -> Any:
    """CloudFormation's PascalCase property as the Step Functions API's camelCase shape."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _api_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_api_shape(item) for item in value]
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


@moto_fix(
    "s3-eventbridge-notifications",
    "moto's CloudFormation ignores a bucket's NotificationConfiguration, so a bucket created with "
    "EventBridge notifications sends none; the EventBridge setting is applied to the bucket, and object "
    "events reach EventBridge rules as in AWS",
)
def apply_bucket_eventbridge_notifications() -> None:
    """moto's ``AWS::S3::Bucket`` model creates the bucket and applies encryption and tags only. S3
    sends object events to EventBridge when the bucket's notification configuration has
    ``EventBridgeConfiguration``; moto's S3 does that too once the configuration is set, which this
    fix does for buckets CloudFormation creates with it."""
    original = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    @functools.wraps(original)
    def create_from_cloudformation_json(
        cls: type[FakeBucket],
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FakeBucket:
        bucket: FakeBucket = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        notifications = (cloudformation_json.get("Properties") or {}).get("NotificationConfiguration") or {}
        event_bridge = notifications.get("EventBridgeConfiguration") or {}
        if str(event_bridge.get("EventBridgeEnabled", "")).lower() == "true":
            backend = s3_backends[account_id][get_partition(region_name)]
            backend.put_bucket_notification_configuration(bucket.name, {"EventBridgeConfiguration": {}})
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign, assignment, arg-type]


@moto_fix(
    "stepfunctions-execution-names",
    "moto names an execution started without a name `None`, so the second such start fails with "
    "ExecutionAlreadyExists; Step Functions generates a UUID, as for executions EventBridge Scheduler "
    "starts",
)
def generate_execution_names() -> None:
    """StartExecution's ``name`` is optional; AWS generates a UUID when it is missing. moto passes the
    missing name on as None and keeps the execution under it. Both of moto's Step Functions backends
    (the one that stores and the one that runs) get the name."""
    for backend_class in (StepFunctionBackend, StepFunctionsParserBackend):
        original = backend_class.__dict__["start_execution"]

        def start_execution(
            self: Any,
            state_machine_arn: str,
            name: str | None = None,
            *args: Any,
            _original: Any = original,
            **kwargs: Any,
        ) -> Any:
            return _original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

        backend_class.start_execution = functools.wraps(original)(start_execution)  # type: ignore[method-assign]


@moto_fix(
    "stepfunctions-cloudformation-state-machines",
    "moto's CloudFormation creates state machines in one Step Functions backend while, with "
    "`stepfunctions.execute_state_machine` on, its API reads them from the other (the executing one), "
    "so a deployed state machine is not found, it drops the logging, tracing and type settings, and "
    "the names it generates (`<stack>-<logical id>-<random>`) can pass Step Functions' 80 characters; "
    "CloudFormation creates, updates and deletes them where the API looks, with those settings and "
    "names as CloudFormation generates them (`<logical id>-<random>`)",
)
def deploy_state_machines_where_the_api_looks() -> None:
    """moto has two Step Functions backends: ``stepfunctions_backends`` (stores definitions) and
    ``stepfunctions_parser_backends`` (also runs them), chosen per request by
    ``moto.stepfunctions.responses.get_backend`` from ``stepfunctions.execute_state_machine``. Its
    ``AWS::StepFunctions::StateMachine`` model always uses the first, so with execution on,
    StartExecution of a deployed state machine raises StateMachineDoesNotExist. In AWS the state
    machine CloudFormation creates is the one the API runs. The model's three handlers look the
    backend up the way the API does (the parser backend also validates the definition, as AWS does)."""
    model = stepfunctions_models.StateMachine

    def backend(account_id: str, region_name: str) -> Any:
        return stepfunctions_backend(account_id, region_name)

    def create(
        cls: type[Any],
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        tags = cfn_to_api_tags(properties.get("Tags", []))
        logical_id = kwargs.get("LogicalId")
        generated = f"{logical_id[:67]}-{uuid.uuid4().hex[:12]}" if logical_id else resource_name
        return backend(account_id, region_name).create_state_machine(
            properties.get("StateMachineName", generated),
            properties.get("DefinitionString", ""),
            properties.get("RoleArn", ""),
            tags=tags,
            loggingConfiguration=_api_shape(properties.get("LoggingConfiguration")),
            tracingConfiguration=_api_shape(properties.get("TracingConfiguration")),
            sm_type=properties.get("StateMachineType"),
        )

    def delete(
        cls: type[Any], resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend(account_id, region_name).delete_state_machine(resource_name)

    def update(
        cls: type[Any],
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("StateMachineName", original_resource.name)
        if name != original_resource.name:  # replacement
            cloudformation_json["Properties"] = original_resource.get_cfn_properties(properties)
            created = create(cls, name, cloudformation_json, account_id, region_name)
            delete(cls, original_resource.arn, cloudformation_json, account_id, region_name)
            return created
        sfn = backend(account_id, region_name)
        updated = sfn.update_state_machine(
            original_resource.arn,
            definition=properties.get("DefinitionString"),
            role_arn=properties.get("RoleArn"),
        )
        sfn.tagger.tag_resource(updated.arn, cfn_to_api_tags(properties.get("Tags", [])))
        return updated

    model.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign, assignment, arg-type]
    model.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[method-assign, assignment]
    model.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign, assignment]


@moto_fix(
    "stepfunctions-sagemaker-sync",
    "moto's Step Functions fails a `sagemaker:createTransformJob.sync` task with \"Unsupported .sync "
    'callback procedure"; the task creates the transform job, waits for it to end and hands on '
    "DescribeTransformJob's answer (timestamps in epoch milliseconds), and a Failed job fails the task "
    "with `States.TaskFailed` and that answer as cause, so a Catch runs",
)
def run_sagemaker_sync_tasks() -> None:
    """moto's interpreter picks a task implementation per service in
    ``state_task_factory.state_task_service_for``; SageMaker gets a forwarder that supports only
    request-response and ``.waitForTaskToken``. SageMaker tasks get
    :class:`local_aws.transform_jobs.SageMakerTaskService` instead: the same forwarding, plus
    ``createTransformJob.sync`` (see its docstring for the failure names)."""
    original = state_task_factory.state_task_service_for  # type: ignore[attr-defined]

    @functools.wraps(original)
    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return SageMakerTaskService()
        return original(service_name=service_name)

    state_task_factory.state_task_service_for = state_task_service_for  # type: ignore[attr-defined]


@moto_fix(
    "sagemaker-transform-jobs",
    "moto's CreateTransformJob accepts a model that does not exist and completes the job at once "
    "without reading or writing anything; a missing model is SageMaker's ValidationException, and "
    "with a model router in use (`local_aws.model_routing`) the job runs in the background: the model "
    "answers every record under `S3Uri` (SplitType None/Line, BatchStrategy, MaxPayloadInMB), one "
    "`<key>.out` per input object lands under `S3OutputPath` (answers joined by newlines with "
    "AssembleWith Line), and the job is InProgress, then Completed, or Failed with a FailureReason "
    "naming the object and the model's message (in DescribeTransformJob and ListTransformJobs); "
    "without a router, or for a model without a local "
    "artifact, moto's behaviour stays (Completed, nothing written)",
)
def run_transform_jobs() -> None:
    """SageMaker runs a transform job after CreateTransformJob returns: the job is ``InProgress``
    while the model transforms the input, then ``Completed`` or ``Failed`` (DescribeTransformJob and
    ListTransformJobs report status, times and ``FailureReason``). moto stores it as ``Completed``
    with no output, never checks the model, and leaves ``FailureReason`` out of its job summaries.
    With a model router that can run models by name (:class:`local_aws.transform_jobs.ModelRunner`),
    :func:`local_aws.transform_jobs.run_transform_job` runs the job on a daemon thread."""
    original = SageMakerModelBackend.create_transform_job

    @functools.wraps(original)
    def create_transform_job(
        self: SageMakerModelBackend, transform_job_name: str, model_name: str, **kwargs: Any
    ) -> FakeTransformJob:
        if model_name not in self._models:
            raise MissingModel(model=arn_formatter("model", model_name, self.account_id, self.region_name))
        job: FakeTransformJob = original(
            self, transform_job_name=transform_job_name, model_name=model_name, **kwargs
        )
        router = _router()
        if isinstance(router, ModelRunner):
            job.transform_job_status = "InProgress"
            job.transform_end_time = None
            threading.Thread(
                target=run_transform_job,
                args=(job, self.account_id, self.region_name, router),
                name=f"transform-job-{transform_job_name}",
                daemon=True,
            ).start()
        return job

    original_list = SageMakerModelBackend.list_transform_jobs

    @functools.wraps(original_list)
    def list_transform_jobs(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> dict[str, Any]:
        listed: dict[str, Any] = original_list(self, *args, **kwargs)
        for summary in listed["TransformJobSummaries"]:
            job = self.transform_jobs.get(summary["TransformJobName"])
            if job is not None and job.failure_reason:
                summary["FailureReason"] = job.failure_reason
            if summary.get("TransformEndTime") is None:
                summary.pop("TransformEndTime", None)
        return listed

    SageMakerModelBackend.create_transform_job = create_transform_job  # type: ignore[method-assign, assignment]
    SageMakerModelBackend.list_transform_jobs = list_transform_jobs  # type: ignore[method-assign]


@moto_fix(
    "sagemaker-compilation-jobs",
    "moto's CreateCompilationJob completes the job at once, writes nothing and names the output prefix "
    "as the compiled model; the job name and MaxRuntimeInSeconds are checked as botocore's model states "
    "them, a job whose input cannot be read ends FAILED with a FailureReason naming the S3 URI, and "
    "otherwise a stand-in for Neo (the local AWS cannot run Neo's compiler) copies the input unchanged "
    "to `<S3OutputLocation><stem>-<target>.tar.gz` (KMS from OutputConfig), names it in "
    "`ModelArtifacts.S3ModelArtifacts` and tags the job `local-aws:neo-stand-in`",
)
def stand_in_for_neo_compilation() -> None:
    """SageMaker Neo writes the compiled archive under ``S3OutputLocation`` and fails the job when it
    cannot read the input; moto only stores the request, ``COMPLETED``. The stand-in in
    :mod:`local_aws.compilation_jobs` writes the input there instead of a compiled model and marks the
    job (:func:`local_aws.compilation_jobs.stood_in_compilation_jobs`)."""
    compilation_jobs.stand_in_for_neo()


@moto_fix(
    "sagemaker-stop-compilation-job",
    "moto lacks StopCompilationJob; it stops a STARTING or INPROGRESS job (STOPPING, then STOPPED), "
    "a missing job is ResourceNotFound and a job in any other status a ValidationException",
)
def add_stop_compilation_job() -> None:
    """moto's SageMaker has no StopCompilationJob, which the Neo compilation handler calls when its
    resource is deleted while the job runs; :mod:`local_aws.compilation_jobs` adds it."""
    compilation_jobs.add_stop_compilation_job()


@moto_fix(
    "sagemaker-compilation-job-deletion",
    "moto's DeleteCompilationJob deletes a job in any status; a STARTING, INPROGRESS or STOPPING job is "
    "SageMaker's ValidationException (only COMPLETED, FAILED or STOPPED jobs can be deleted)",
)
def refuse_deleting_unfinished_compilation_jobs() -> None:
    """SageMaker deletes a compilation job only when it is COMPLETED, FAILED or STOPPED; moto deletes
    running ones too."""
    compilation_jobs.refuse_deleting_unfinished_jobs()


@moto_fix(
    "cloudformation-custom-resources",
    "moto's CloudFormation runs a `Custom::` resource's Lambda in Docker, waits forever without it, "
    "ignores FAILED responses and drops the resource on update; registered types "
    "(`local_aws.custom_resources.HANDLERS`: `Custom::NeoCompilationJob`) run their Provider-framework "
    "handlers in-process for Create, Update and Delete, and a failure is the resource's CREATE_FAILED "
    "event with the handler's message and a stack rolled back to ROLLBACK_COMPLETE "
    "(UPDATE_ROLLBACK_COMPLETE for an update)",
)
def run_custom_resources_in_process() -> None:
    """moto resolves every ``Custom::`` type to ``CustomModel``, which invokes the ``ServiceToken``
    function in Docker; the CDK Provider framework's functions would call back, but without Docker
    nothing does. :mod:`local_aws.custom_resources` runs the handlers of registered types instead."""
    custom_resources.run_custom_resources_in_process()


SAGEMAKER_HOSTING_TYPES = frozenset(
    {"AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint"}
)
"""What a changed model reaches: a new model is a new endpoint config, which the endpoint switches to."""


def _references(node: Any, logical_id: str) -> bool:
    """Whether a template fragment reads ``logical_id`` (Ref, Fn::GetAtt or Fn::Sub)."""
    if isinstance(node, dict):
        if node.get("Ref") == logical_id:
            return True
        attribute = node.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute[:1] == [logical_id]:
            return True
        if isinstance(attribute, str) and attribute.split(".", 1)[0] == logical_id:
            return True
        substituted = node.get("Fn::Sub")
        text = substituted[0] if isinstance(substituted, list) else substituted
        if isinstance(text, str) and ("${" + logical_id + "}" in text or "${" + logical_id + "." in text):
            return True
        return any(_references(value, logical_id) for value in node.values())
    if isinstance(node, list):
        return any(_references(item, logical_id) for item in node)
    return False


@moto_fix(
    "cloudformation-sagemaker-dependent-updates",
    "moto's stack update changes only resources whose own template text changed, so an endpoint config "
    "keeps a replaced model's old name and a model keeps a recompiled artifact's old URI; SageMaker "
    "models, endpoint configs and endpoints that read a changed resource (Ref, Fn::GetAtt, Fn::Sub) "
    "are updated too, as CloudFormation updates them when the value they read changes",
)
def update_sagemaker_resources_that_read_changed_ones() -> None:
    """CloudFormation re-resolves a reference when the resource it names changes (a replaced model
    has a new name; a compilation resource returns a new artifact) and updates the resources that
    read it. moto compares template text only. The hosting chain (model, endpoint config, endpoint)
    is what our stacks need re-resolved, and those moto types know how to update."""
    original = parsing.ResourceMap.build_resource_diff

    def build_resource_diff(
        self: parsing.ResourceMap, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        diff: dict[str, Any] = original(self, other_template, parameters)
        resources: dict[str, Any] = other_template["Resources"]
        changed = set(diff["Modify"])
        pending = list(changed)
        while pending:
            source = pending.pop()
            for name, resource in resources.items():
                if (
                    name not in changed
                    and name not in diff["Add"]
                    and resource.get("Type") in SAGEMAKER_HOSTING_TYPES
                    and _references(resource.get("Properties", {}), source)
                ):
                    changed.add(name)
                    pending.append(name)
        diff["Modify"] = [name for name in resources if name in changed]  # template order
        return diff

    parsing.ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]
