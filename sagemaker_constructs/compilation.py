"""SageMaker Neo compilation as a deploy-time step: the model a workload serves is compiled for
its hardware by a compilation job that the stack declares.

CloudFormation has no resource for compilation jobs, so ``NeoCompilation`` is a custom resource
(``Custom::NeoCompilationJob``) on the CDK Provider framework: ``on_event`` starts the job (or
reuses the finished job of the same inputs), ``is_complete`` waits for it, fails the deployment
with the job's ``FailureReason``, and adds the input's other files (inference code, tokenizer) to
the compiled archive, as the SageMaker Python SDK does before it deploys a compiled model. Deleting
or replacing the resource stops a job that still runs. The handler is
``sagemaker_constructs/neo_compilation_handler/index.py`` (boto3 only), deployed as an asset.
https://docs.aws.amazon.com/sagemaker/latest/dg/neo-job-compilation.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources
from constructs import Construct

from sagemaker_constructs.compliance import acknowledge, acknowledge_wildcard_resources, rendered_for_nag
from sagemaker_constructs.model_data import ArtifactLocation, ModelData

HANDLER_DIR = Path(__file__).with_name("neo_compilation_handler")
RESOURCE_TYPE = "Custom::NeoCompilationJob"
PROVIDER_TOTAL_TIMEOUT_MAX = cdk.Duration.hours(2)
"""The Provider framework waits at most 2 hours in all."""
WAIT_MARGIN_SECONDS = 600
"""Beyond the job's own limit: queueing, and adding the inference code to the compiled archive."""


@dataclass(frozen=True)
class NeoTarget:
    """What Neo compiles for: a ``device`` (``TargetDevice``, e.g. ``ml_c5``), or a platform
    (``platform_os`` and ``platform_arch``, optional ``platform_accelerator``)."""

    device: str | None = None
    platform_os: str | None = None
    platform_arch: str | None = None
    platform_accelerator: str | None = None

    def __post_init__(self) -> None:
        if (self.device is None) == (self.platform_os is None or self.platform_arch is None):
            raise ValueError("NeoTarget needs a device, or platform_os with platform_arch (not both)")


@dataclass(frozen=True)
class CompilationJobSpec:
    """One compilation job's settings, as ``CreateCompilationJob`` takes them.

    ``framework`` (e.g. ``PYTORCH``) and ``framework_version`` (e.g. ``2.0``; None where the API
    takes none), ``data_input_config`` (JSON of input name to shape; None: Neo derives it),
    ``compiler_options`` (None: none), ``max_runtime_seconds`` (60-6600, default 900: the
    deployment waits for the job within the Provider framework's 2 hours).
    """

    framework: str
    framework_version: str | None
    target: NeoTarget
    data_input_config: str | None = None
    compiler_options: str | None = None
    max_runtime_seconds: int = 900

    def __post_init__(self) -> None:
        if not 60 <= self.max_runtime_seconds <= 6600:
            raise ValueError(f"max_runtime_seconds must be 60-6600, got {self.max_runtime_seconds}")


def _arn(stack: cdk.Stack, service: str) -> str:
    """``arn:<partition>:<service>:<region>:<account>``, without the resource part."""
    return f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}"


class NeoCompilation(Construct):
    """Compile ``source`` (a Neo-ready model.tar.gz) with SageMaker Neo during ``cdk deploy``.

    Jobs are named ``<job_name_prefix>-<hash of the inputs>`` (prefix at most 50 characters), so
    the same inputs reuse the finished job and start none. Outputs go under ``output_prefix``
    (ending in ``/``) of ``bucket``, encrypted with ``key``.

    Least privilege: the compile role reads only the input object and writes only under the
    output prefix; the handler may create, describe, stop and delete only jobs with its prefix
    and pass only the compile role. Exposes ``compiled`` (the ``ArtifactLocation`` a model
    serves), ``job_name``, ``compiled_model_url``, ``compile_role``, ``resource`` and ``provider``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: ArtifactLocation,
        job: CompilationJobSpec,
        job_name_prefix: str,
        bucket: s3.IBucket,
        output_prefix: str,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        if len(job_name_prefix) > 50:
            raise ValueError(f"job_name_prefix must be at most 50 characters, got {job_name_prefix!r}")
        if not output_prefix.endswith("/"):
            raise ValueError(f"output_prefix must end with '/', got {output_prefix!r}")
        stack = cdk.Stack.of(self)
        self.source = ModelData(self, "Source", location=source)
        if self.source.model_data_url is None:
            raise ValueError("Neo reads one model.tar.gz: give an s3_uri or a local archive, not a prefix")
        outputs = bucket.arn_for_objects(f"{output_prefix}*")
        # Neo's input must end in .tar.gz (InputConfig.S3Uri); a CDK asset's key ends in .gz, so the
        # handler copies it into the bucket first, under a key named by the asset's hash.
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_InputConfig.html
        staged: str | None = None
        if self.source.asset is not None:
            staged = f"{output_prefix}input/{self.source.asset.asset_hash}.tar.gz"
        compile_reads = (
            [iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(staged)])]
            if staged is not None
            else self.source.read_statements
        )
        jobs = f"{_arn(stack, 'sagemaker')}:compilation-job/{job_name_prefix}-*"
        s3_via = {"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}}
        prefix_reason = (
            f"Compiled archives get names chosen per job; the grant covers only the '{output_prefix}' "
            "prefix of the environment's bucket."
        )

        self.compile_role = iam.Role(
            self,
            "CompileRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Neo compilation jobs {job_name_prefix}-*: read the input, write the output",
        )
        log_group = f"{_arn(stack, 'logs')}:log-group:/aws/sagemaker/CompilationJobs"
        self._policy(
            "CompilePolicy",
            self.compile_role,
            [
                *compile_reads,
                iam.PolicyStatement(actions=["s3:PutObject"], resources=[outputs]),
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{output_prefix}*"]}},
                ),
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions=s3_via,
                ),
                iam.PolicyStatement(
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group, f"{log_group}:log-stream:{job_name_prefix}-*"],
                ),
            ],
            reasons={
                outputs: prefix_reason,
                f"{log_group}:log-stream:{job_name_prefix}-*": "SageMaker names a compilation job's "
                "log streams after the job; the grant covers this workload's job prefix only.",
            },
        )

        handler_logs = logs.LogGroup(
            self,
            "HandlerLogs",
            encryption_key=key,
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        log_write = iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"{handler_logs.log_group_arn}:*"],
        )
        log_reason = (
            "Lambda names its log streams per execution environment; the grant covers this log group only."
        )
        start_role = self._function_role("StartRole", "starts, stops and deletes the Neo compilation jobs")
        start_policy = self._policy(
            "StartPolicy",
            start_role,
            [
                iam.PolicyStatement(
                    actions=[
                        "sagemaker:CreateCompilationJob",
                        "sagemaker:DescribeCompilationJob",
                        "sagemaker:StopCompilationJob",
                        "sagemaker:DeleteCompilationJob",
                    ],
                    resources=[jobs],
                ),
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[self.compile_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                ),
                *(
                    [
                        *self.source.read_statements,
                        iam.PolicyStatement(
                            actions=["s3:PutObject"], resources=[bucket.arn_for_objects(staged)]
                        ),
                        # A multipart copy to an SSE-KMS object needs Decrypt too.
                        iam.PolicyStatement(
                            actions=["kms:GenerateDataKey", "kms:Decrypt"],
                            resources=[key.key_arn],
                            conditions=s3_via,
                        ),
                    ]
                    if staged is not None
                    else []
                ),
                log_write,
            ],
            reasons={jobs: self._jobs_reason(job_name_prefix), log_write.resources[0]: log_reason},
        )
        wait_role = self._function_role(
            "WaitRole", "waits for the Neo compilation jobs and repacks their output"
        )
        wait_policy = self._policy(
            "WaitPolicy",
            wait_role,
            [
                iam.PolicyStatement(actions=["sagemaker:DescribeCompilationJob"], resources=[jobs]),
                *compile_reads,
                iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[outputs]),
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{output_prefix}*"]}},
                ),
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn], conditions=s3_via
                ),
                log_write,
            ],
            reasons={
                jobs: self._jobs_reason(job_name_prefix),
                outputs: prefix_reason,
                log_write.resources[0]: log_reason,
            },
        )
        code = lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"])
        common = {
            "runtime": lambda_.Runtime.PYTHON_3_14,
            "code": code,
            "log_group": handler_logs,
            "architecture": lambda_.Architecture.ARM_64,
        }
        on_event = lambda_.Function(
            self,
            "Start",
            handler="index.on_event",
            role=start_role.without_policy_updates(),
            timeout=cdk.Duration.minutes(5),  # a server-side copy of the input, then one API call
            description=f"Starts Neo compilation jobs {job_name_prefix}-*",
            **common,  # type: ignore[arg-type]
        )
        is_complete = lambda_.Function(
            self,
            "Wait",
            handler="index.is_complete",
            role=wait_role.without_policy_updates(),
            timeout=cdk.Duration.minutes(10),
            memory_size=1024,
            ephemeral_storage_size=cdk.Size.gibibytes(4),
            description=f"Waits for Neo compilation jobs {job_name_prefix}-* and adds the inference code",
            **common,  # type: ignore[arg-type]
        )
        total = min(
            job.max_runtime_seconds + WAIT_MARGIN_SECONDS, int(PROVIDER_TOTAL_TIMEOUT_MAX.to_seconds())
        )
        waiter_logs = logs.LogGroup(
            self,
            "WaiterLogs",
            encryption_key=key,
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.provider = custom_resources.Provider(
            self,
            "Provider",
            on_event_handler=on_event,
            is_complete_handler=is_complete,
            query_interval=cdk.Duration.seconds(30),
            total_timeout=cdk.Duration.seconds(total),
            log_group=handler_logs,
            # The Provider leaves its waiter's logging off unless told otherwise.
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=custom_resources.LogOptions(
                destination=waiter_logs, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        self._acknowledge_provider(on_event, is_complete)
        self._skip_checkov_where_nag_is_acknowledged()
        self._depend_on_policies_not_roles(
            {on_event: start_policy.node.default_child, is_complete: wait_policy.node.default_child}
        )
        target = job.target
        properties: dict[str, str] = {
            "JobNamePrefix": job_name_prefix,
            "RoleArn": self.compile_role.role_arn,
            "InputS3Uri": self.source.model_data_url,
            "Framework": job.framework,
            "OutputS3Prefix": f"s3://{bucket.bucket_name}/{output_prefix}",
            "KmsKeyId": key.key_arn,
            "MaxRuntimeInSeconds": str(job.max_runtime_seconds),
        }
        optional = {
            "StagedInputS3Uri": f"s3://{bucket.bucket_name}/{staged}" if staged is not None else None,
            "FrameworkVersion": job.framework_version,
            "DataInputConfig": job.data_input_config,
            "CompilerOptions": job.compiler_options,
            "TargetDevice": target.device,
            "TargetPlatformOs": target.platform_os,
            "TargetPlatformArch": target.platform_arch,
            "TargetPlatformAccelerator": target.platform_accelerator,
        }
        properties.update({name: value for name, value in optional.items() if value is not None})
        self.resource = cdk.CustomResource(
            self,
            "Job",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
        )
        self.job_name = self.resource.ref
        self.compiled_model_url = self.resource.get_att_string("ModelArtifact")
        self.compiled = ArtifactLocation(s3_uri=self.compiled_model_url, readable_objects_arn=outputs)

    def _skip_checkov_where_nag_is_acknowledged(self) -> None:
        """checkov's Lambda rules are cdk-nag's HIPAA ones acknowledged above; checkov reads skips,
        with their reasons, from the template's metadata."""
        lambda_skips = [
            {
                "id": "CKV_AWS_116",
                "comment": "Invoked synchronously by the CDK Provider framework, which "
                "reports every failure to CloudFormation: nothing to dead-letter.",
            },
            {
                "id": "CKV_AWS_115",
                "comment": "Runs only while this stack deploys; reserved concurrency "
                "would take capacity from the account and buy nothing.",
            },
            {
                "id": "CKV_AWS_117",
                "comment": "Calls only AWS APIs (SageMaker, S3, Lambda); a VPC would "
                "need endpoints for each and protect no data.",
            },
            {
                "id": "CKV_AWS_173",
                "comment": "The Provider framework's environment holds only the "
                "handler function names, no secrets; Lambda encrypts it at rest with an AWS key.",
            },
        ]
        for construct in self.node.find_all():
            if isinstance(construct, lambda_.CfnFunction):
                construct.add_metadata("checkov", {"skip": lambda_skips})
        waiter_policy = (
            self.provider.node.find_child("waiter-state-machine")
            .node.find_child("Role")
            .node.find_child("DefaultPolicy")
        )
        cfn_policy = waiter_policy.node.default_child
        assert isinstance(cfn_policy, cdk.CfnResource)
        cfn_policy.add_metadata(
            "checkov",
            {
                "skip": [
                    {
                        "id": "CKV_AWS_111",
                        "comment": "CloudWatch Logs delivery actions, which the waiter "
                        "needs to log, support no resource-level permissions.",
                    }
                ]
            },
        )

    def _depend_on_policies_not_roles(self, handler_policies: dict[lambda_.Function, Any]) -> None:
        """CDK makes each function (and the waiter) depend on its role, which the role reference
        already orders (cfn-lint W3005). What invocations need is the role's policy, so each depends
        on that alone: the handlers on their managed policies, the Provider's own functions and
        waiter on their default policies."""
        stack = cdk.Stack.of(self)
        policies: dict[Any, Any] = dict(handler_policies)
        for name, role_path in (
            ("framework-onEvent", "ServiceRole"),
            ("framework-isComplete", "ServiceRole"),
            ("framework-onTimeout", "ServiceRole"),
            ("waiter-state-machine", "Role"),
        ):
            owner = self.provider.node.find_child(name)
            policies[owner] = (
                owner.node.find_child(role_path).node.find_child("DefaultPolicy").node.default_child
            )
        for owner, policy in policies.items():
            resource = owner.node.default_child
            assert isinstance(resource, cdk.CfnResource)
            assert isinstance(policy, cdk.CfnResource)
            resource.add_override("DependsOn", [stack.get_logical_id(policy)])

    def _acknowledge_provider(self, *handlers: lambda_.IFunction) -> None:
        """The CDK Provider framework's own functions, roles and waiter take no such settings."""
        acknowledge(
            self,
            "HIPAA.Security-LambdaDLQ",
            "Invoked synchronously, by CloudFormation through the CDK Provider framework, which reports "
            "every failure back to CloudFormation: there is nothing to dead-letter.",
        )
        acknowledge(
            self,
            "HIPAA.Security-LambdaConcurrency",
            "Runs only while this stack deploys, a handful of invocations; reserved concurrency would "
            "take capacity from the account and buy nothing.",
        )
        acknowledge(
            self,
            "HIPAA.Security-LambdaInsideVPC",
            "Calls only the SageMaker, S3 and Lambda APIs; in a VPC it would need endpoints for each "
            "and would protect no data that is not already encrypted in S3.",
        )
        acknowledge(
            self.provider,
            "HIPAA.Security-IAMNoInlinePolicy",
            "The CDK Provider framework grants its functions and waiter the right to invoke each other "
            "with default (inline) policies, which it does not let callers replace.",
        )
        acknowledge(
            self.provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The CDK Provider framework's own functions run with the AWS managed basic execution role "
            "(log writes only).",
        )
        acknowledge(
            self.provider,
            "AwsSolutions-SF2",
            "The waiter state machine only calls is_complete at intervals; the handlers log every "
            "decision, so X-Ray tracing would add cost and no insight.",
        )
        acknowledge(
            self.provider,
            "AwsSolutions-IAM5[Resource::*]",
            "The waiter state machine delivers its logs to CloudWatch Logs, whose log-delivery actions "
            "support no resource-level permissions "
            "(https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).",
        )
        framework = [
            self.provider.node.find_child(name) for name in ("framework-isComplete", "framework-onTimeout")
        ]
        for function in [*handlers, *(f for f in framework if isinstance(f, lambda_.Function))]:
            acknowledge(
                self.provider,
                f"AwsSolutions-IAM5[Resource::{rendered_for_nag(self, function.function_arn)}:*]",
                "Invoking a Lambda function covers its versions and aliases (ARN:*); the grant names "
                "this construct's functions only.",
            )

    @staticmethod
    def _jobs_reason(prefix: str) -> str:
        return f"Job names end in a hash of the inputs; the grant covers only jobs named {prefix}-*."

    def _function_role(self, construct_id: str, does: str) -> iam.Role:
        return iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Lambda that {does}",
        )

    def _policy(
        self,
        construct_id: str,
        role: iam.Role,
        statements: list[iam.PolicyStatement],
        *,
        reasons: dict[str, str],
    ) -> iam.ManagedPolicy:
        """A customer managed policy (HIPAA.Security-IAMNoInlinePolicy) for ``role``; each resource
        ending in ``*`` is acknowledged in cdk-nag with its reason from ``reasons``."""
        policy = iam.ManagedPolicy(self, construct_id, roles=[role], statements=statements)
        acknowledge_wildcard_resources(policy, statements, reasons.__getitem__)
        return policy
