"""The role SageMaker assumes to run a model: read one artifact, pull its images, write its logs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from sagemaker_constructs.compliance import acknowledge, acknowledge_wildcard_resources, rendered_for_nag
from sagemaker_constructs.model_data import ModelData

_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<repo>[^:@]+)"
)


def ecr_repository_arn(partition: str, image_uri: str) -> str:
    """The repository ARN of an ECR image URI (the account may be AWS's, for framework images)."""
    match = _ECR_URI.match(image_uri)
    if match is None:
        raise ValueError(f"not an ECR image URI: {image_uri}")
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repo']}"


@dataclass(frozen=True)
class ModelLogs:
    """Where SageMaker writes a workload's container logs: ``group``, and the streams starting with
    ``stream_prefix`` (all of the group's streams when empty). ``workload`` names it in the role's
    description."""

    workload: str
    group: str
    stream_prefix: str = ""

    @classmethod
    def of_endpoint(cls, endpoint_name: str) -> ModelLogs:
        return cls(f"endpoint {endpoint_name}", f"/aws/sagemaker/Endpoints/{endpoint_name}")

    @classmethod
    def of_transform_jobs(cls, job_name_prefix: str) -> ModelLogs:
        """Transform jobs share one log group; each job's streams start with its name."""
        return cls(
            f"transform jobs {job_name_prefix}-*", "/aws/sagemaker/TransformJobs", f"{job_name_prefix}-"
        )


class ModelExecutionRole(Construct):
    """Least-privilege execution role for one workload's models (an endpoint's, or transform jobs').

    Grants exactly: reading the model artifact (``ModelData.read_statements``: one object, or one
    prefix for uncompressed artifacts), ``kms:Decrypt`` on the environment key
    through S3 only, image pulls from the model's ECR repositories, log writes to ``logs``, and
    metric writes to the SageMaker namespaces. No AWS managed policy.
    ``grant_data_capture`` and ``grant_describe_alarms`` add what those features need.
    Exposes ``role``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_data: ModelData,
        image_uris: Sequence[str],
        logs: ModelLogs,
        key: kms.IKey,
        in_vpc: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker execution role for {logs.workload}",
        )
        # Customer managed policies, not inline ones (HIPAA.Security-IAMNoInlinePolicy).
        self.policy = iam.ManagedPolicy(self, "Policy", roles=[self.role])
        stack = cdk.Stack.of(self)
        self.policy.add_statements(*model_data.read_statements)
        for resource in model_data.wildcard_resources:
            acknowledge(
                self.policy,
                f"AwsSolutions-IAM5[Resource::{rendered_for_nag(self, resource)}]",
                "The artifact is read under a prefix (an uncompressed artifact's files, or a "
                "compilation job's output, whose name the job chooses); the grant covers that prefix only.",
            )
        self.policy.add_statements(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            )
        )
        self.policy.add_statements(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=sorted({ecr_repository_arn(stack.partition, uri) for uri in image_uris}),
            )
        )
        log_group = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{logs.group}"
        log_streams = f"{log_group}:log-stream:{logs.stream_prefix}*"
        self.policy.add_statements(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group, log_streams],
            )
        )
        # GetAuthorizationToken and PutMetricData have no resource-level permissions.
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html
        self.policy.add_statements(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        self.policy.add_statements(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
            )
        )
        if in_vpc:
            # Model containers in a VPC need ENI management; EC2 scopes these only by condition.
            # https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html
            self.policy.add_statements(
                iam.PolicyStatement(
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:CreateNetworkInterfacePermission",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DeleteNetworkInterfacePermission",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeVpcs",
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeSecurityGroups",
                    ],
                    resources=["*"],
                )
            )
        acknowledge(
            self.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken, cloudwatch:PutMetricData (limited by namespace condition) "
            "and the VPC network-interface actions support no resource-level permissions.",
        )
        acknowledge(
            self.policy,
            f"AwsSolutions-IAM5[Resource::{rendered_for_nag(self, log_streams)}]",
            "Log stream names are created by SageMaker per instance (and job); the grant is limited "
            "to this workload's log group and stream prefix.",
        )
        self._key = key

    def add_policy(
        self, construct_id: str, statements: Sequence[iam.PolicyStatement], *, prefix_reason: str
    ) -> iam.ManagedPolicy:
        """Attach a customer managed policy; each resource ending in ``*`` (an S3 prefix) is
        acknowledged in cdk-nag with ``prefix_reason``. Returns the policy, to depend on."""
        policy = iam.ManagedPolicy(self, construct_id, roles=[self.role], statements=list(statements))
        acknowledge_wildcard_resources(policy, statements, lambda _resource: prefix_reason)
        return policy

    def grant_data_capture(self, *, bucket: s3.IBucket, prefix: str) -> iam.ManagedPolicy:
        """Write captured requests and responses under ``prefix`` of ``bucket``, encrypted."""
        return self.add_policy(
            "DataCapturePolicy",
            [
                iam.PolicyStatement(
                    actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{prefix}/*")]
                ),
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Encrypt"], resources=[self._key.key_arn]
                ),
            ],
            prefix_reason=f"SageMaker writes capture files under generated keys; the grant is limited to "
            f"the '{prefix}/' prefix of the environment's bucket and holds nothing else.",
        )

    def grant_describe_alarms(self, alarms: Sequence[cloudwatch.IAlarm]) -> None:
        """SageMaker reads the rollback alarms with this role during a guarded deployment.

        https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html
        """
        if alarms:
            self.policy.add_statements(
                iam.PolicyStatement(
                    actions=["cloudwatch:DescribeAlarms"], resources=[a.alarm_arn for a in alarms]
                )
            )
