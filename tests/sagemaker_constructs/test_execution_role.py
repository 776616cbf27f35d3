"""ModelExecutionRole: what SageMaker may do with an endpoint's models, and nothing more."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from app import cdk_json_context
from sagemaker_constructs.compliance import RULE_PACKS, rendered_for_nag
from sagemaker_constructs.execution_role import ModelExecutionRole, ModelLogs, ecr_repository_arn
from sagemaker_constructs.model_data import ArtifactLocation, ModelData
from tests.sagemaker_constructs.support import ENV, acknowledged, logical_id, nag_findings

OWN_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/minilm-serving"
DLC_IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"


@dataclass(frozen=True)
class Roles:
    app: cdk.App
    stack: cdk.Stack
    template: Template
    resources: dict[str, Any]
    key: kms.Key
    bucket: s3.Bucket
    alarm: cloudwatch.Alarm
    plain: ModelExecutionRole
    in_vpc: ModelExecutionRole
    extra_policy: iam.ManagedPolicy
    capture_policy: iam.ManagedPolicy

    def statements(self, policy: iam.ManagedPolicy) -> list[Any]:
        document: dict[str, Any] = self.resources[logical_id(policy)]["Properties"]["PolicyDocument"]
        return list(document["Statement"])

    def actions(self, policy: iam.ManagedPolicy) -> set[str]:
        found: set[str] = set()
        for statement in self.statements(policy):
            action = statement["Action"]
            found.update([action] if isinstance(action, str) else action)
        return found


def _add_roles(stack: cdk.Stack) -> tuple[ModelExecutionRole, ModelExecutionRole]:
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    plain = ModelExecutionRole(
        stack,
        "Plain",
        model_data=ModelData(
            stack, "Object", location=ArtifactLocation(s3_uri="s3://models-b/minilm/model.tar.gz")
        ),
        image_uris=[f"{OWN_IMAGE}:1.0-cpu", f"{OWN_IMAGE}:1.0-gpu", DLC_IMAGE],
        logs=ModelLogs.of_endpoint("minilm-dev"),
        key=key,
        in_vpc=False,
    )
    in_vpc = ModelExecutionRole(
        stack,
        "InVpc",
        model_data=ModelData(stack, "Prefix", location=ArtifactLocation(s3_prefix="s3://models-b/llm/")),
        image_uris=[DLC_IMAGE],
        logs=ModelLogs.of_endpoint("llm-dev"),
        key=key,
        in_vpc=True,
    )
    return plain, in_vpc


@pytest.fixture(scope="module")
def roles() -> Roles:
    app = cdk.App(context=cdk_json_context())
    stack = cdk.Stack(app, "ExecutionRoleCheck", env=ENV)
    plain, in_vpc = _add_roles(stack)
    key = stack.node.find_child("Key")
    assert isinstance(key, kms.Key)
    bucket = s3.Bucket(stack, "Bucket", encryption=s3.BucketEncryption.KMS, encryption_key=key)
    alarm = cloudwatch.Alarm(
        stack,
        "Alarm",
        metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocations"),
        threshold=1,
        evaluation_periods=1,
    )
    extra_policy = plain.add_policy(
        "FeaturesPolicy",
        [
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects("features/*"), bucket.arn_for_objects("schema.json")],
            )
        ],
        prefix_reason="The model reads feature files written under generated keys of one prefix.",
    )
    capture_policy = plain.grant_data_capture(bucket=bucket, prefix="data-capture")
    plain.grant_describe_alarms([alarm])
    in_vpc.grant_describe_alarms([])
    # The same roles where account, region and partition are tokens, for cdk-nag's rendering.
    _add_roles(cdk.Stack(app, "AgnosticRoleCheck"))
    template = Template.from_stack(stack)
    return Roles(
        app=app,
        stack=stack,
        template=template,
        resources=dict(template.to_json()["Resources"]),
        key=key,
        bucket=bucket,
        alarm=alarm,
        plain=plain,
        in_vpc=in_vpc,
        extra_policy=extra_policy,
        capture_policy=capture_policy,
    )


def test_role_is_assumed_by_sagemaker_only(roles: Roles) -> None:
    roles.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                    }
                ]
            },
            "Description": "SageMaker execution role for endpoint minilm-dev",
        },
    )


def test_role_has_no_aws_managed_policies_and_no_inline_policies(roles: Roles) -> None:
    roles.template.resource_count_is("AWS::IAM::Role", 2)
    roles.template.all_resources_properties("AWS::IAM::Role", {"ManagedPolicyArns": Match.absent()})
    roles.template.resource_count_is("AWS::IAM::Policy", 0)


def test_customer_managed_policy_is_attached_to_the_role(roles: Roles) -> None:
    role = {"Ref": logical_id(roles.plain.role)}
    for policy in (roles.plain.policy, roles.extra_policy, roles.capture_policy):
        assert roles.resources[logical_id(policy)]["Properties"]["Roles"] == [role]


def test_role_reads_exactly_the_artifact_object(roles: Roles) -> None:
    assert {
        "Action": "s3:GetObject",
        "Effect": "Allow",
        "Resource": "arn:aws:s3:::models-b/minilm/model.tar.gz",
    } in roles.statements(roles.plain.policy)


def test_uncompressed_artifact_prefix_is_read_and_acknowledged(roles: Roles) -> None:
    assert {
        "Action": "s3:GetObject",
        "Effect": "Allow",
        "Resource": "arn:aws:s3:::models-b/llm/*",
    } in roles.statements(roles.in_vpc.policy)
    assert "AwsSolutions-IAM5[Resource::arn:aws:s3:::models-b/llm/*]" in acknowledged(roles.in_vpc.policy)


def test_key_decrypts_only_through_s3_of_the_stack_region(roles: Roles) -> None:
    assert {
        "Action": "kms:Decrypt",
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [logical_id(roles.key), "Arn"]},
    } in roles.statements(roles.plain.policy)


def test_images_are_pulled_from_their_repositories_only(roles: Roles) -> None:
    pulls = [s for s in roles.statements(roles.plain.policy) if "ecr:BatchGetImage" in s["Action"]]
    assert pulls == [
        {
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Effect": "Allow",
            "Resource": [
                "arn:aws:ecr:eu-west-1:123456789012:repository/minilm-serving",
                "arn:aws:ecr:eu-west-1:763104351884:repository/pytorch-inference",
            ],
        }
    ]


def test_logs_are_written_to_the_endpoint_log_group_only(roles: Roles) -> None:
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/minilm-dev"
    assert {
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Effect": "Allow",
        "Resource": [group, f"{group}:log-stream:*"],
    } in roles.statements(roles.plain.policy)


def test_metrics_are_put_only_in_the_sagemaker_namespaces(roles: Roles) -> None:
    assert {
        "Action": "cloudwatch:PutMetricData",
        "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
        "Effect": "Allow",
        "Resource": "*",
    } in roles.statements(roles.plain.policy)


def test_network_interface_actions_are_granted_only_in_a_vpc(roles: Roles) -> None:
    eni = {
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
    }
    assert eni <= roles.actions(roles.in_vpc.policy)
    assert not {a for a in roles.actions(roles.plain.policy) if a.startswith("ec2:")}
    assert "ecr:GetAuthorizationToken" in roles.actions(roles.plain.policy)


def test_add_policy_acknowledges_prefix_wildcards_as_cdk_nag_renders_them(roles: Roles) -> None:
    prefix = rendered_for_nag(roles.stack, roles.bucket.arn_for_objects("features/*"))
    assert prefix == f"<{logical_id(roles.bucket)}.Arn>/features/*"
    assert acknowledged(roles.extra_policy) == {
        f"AwsSolutions-IAM5[Resource::{prefix}]": (
            "The model reads feature files written under generated keys of one prefix."
        )
    }


def test_data_capture_writes_under_its_prefix_with_the_key(roles: Roles) -> None:
    bucket_arn = {"Fn::GetAtt": [logical_id(roles.bucket), "Arn"]}
    assert roles.statements(roles.capture_policy) == [
        {
            "Action": "s3:PutObject",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [bucket_arn, "/data-capture/*"]]},
        },
        {
            "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [logical_id(roles.key), "Arn"]},
        },
    ]
    assert list(acknowledged(roles.capture_policy)) == [
        f"AwsSolutions-IAM5[Resource::<{logical_id(roles.bucket)}.Arn>/data-capture/*]"
    ]


def test_describe_alarms_is_granted_on_the_rollback_alarms_only(roles: Roles) -> None:
    assert {
        "Action": "cloudwatch:DescribeAlarms",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [logical_id(roles.alarm), "Arn"]},
    } in roles.statements(roles.plain.policy)
    assert "cloudwatch:DescribeAlarms" not in roles.actions(roles.in_vpc.policy)


@pytest.mark.parametrize("pack", RULE_PACKS, ids=lambda p: p.__name__)
def test_every_wildcard_is_acknowledged_with_the_id_cdk_nag_reports(
    roles: Roles, pack: type[cdk_nag.NagPack]
) -> None:
    """Both stacks: literal ARNs, and ARNs whose account, region and partition are tokens."""
    for stack_id in ("ExecutionRoleCheck", "AgnosticRoleCheck"):
        for role_id in ("Plain", "InVpc"):
            role = roles.app.node.find_child(stack_id).node.find_child(role_id)
            assert nag_findings(role, pack) == [], role.node.path


def test_ecr_repository_arn_of_a_china_region_image() -> None:
    uri = "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-inference@sha256:0123abcd"
    assert ecr_repository_arn("aws-cn", uri) == (
        "arn:aws-cn:ecr:cn-north-1:727897471807:repository/pytorch-inference"
    )


def test_image_outside_ecr_is_rejected() -> None:
    """GIVEN an image from Docker Hub WHEN its repository ARN is asked for THEN it is rejected."""
    with pytest.raises(ValueError, match=re.escape("not an ECR image URI: docker.io/library/python:3.12")):
        ecr_repository_arn("aws", "docker.io/library/python:3.12")
