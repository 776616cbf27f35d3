"""Encrypted storage that outlives endpoint replacement: KMS key, artifact and data-capture bucket,
access-log bucket and alarm topic; and references to them from other stacks by export name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from sagemaker_constructs.compliance import acknowledge


class EncryptedModelStore(Construct):
    """A customer-managed KMS key (rotated yearly), the artifact and data-capture bucket it
    encrypts (its object events go to EventBridge), the bucket that receives its access logs, and an
    encrypted alarm topic.

    ``retain_on_delete`` (default true) keeps the key and both buckets when the stack is deleted
    (the topic holds no data and goes); old object
    versions expire after ``noncurrent_version_expiration_days`` (default 30), access logs after
    ``access_log_expiration_days`` (default 90); ``alarm_emails`` (default none) subscribe to the topic.

    Exposes ``key``, ``bucket``, ``access_log_bucket`` and ``alarm_topic``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retain_on_delete: bool = True,
        noncurrent_version_expiration_days: int = 30,
        access_log_expiration_days: int = 90,
        alarm_emails: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        removal = cdk.RemovalPolicy.RETAIN if retain_on_delete else cdk.RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts model artifacts, captured data, endpoint storage and alarm topics",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # S3 server access log delivery supports SSE-S3 only, not SSE-KMS.
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=cdk.Duration.days(access_log_expiration_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                )
            ],
            removal_policy=removal,
        )
        self.bucket = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=cdk.Duration.days(noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=removal,
        )
        # Object events go to EventBridge (batch jobs start on new input). The CloudFormation property
        # needs no custom resource, unlike the L2's event_bridge_enabled.
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html
        _cfn(self.bucket).add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        self.alarm_topic = sns.Topic(
            self, "Alarms", display_name="SageMaker endpoint alarms", master_key=self.key, enforce_ssl=True
        )
        # CloudWatch publishes alarm notifications to the KMS-encrypted topic.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
            )
        )
        # CloudWatch Logs encrypts this account's log groups (e.g. state machine logs) with the key.
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        stack = cdk.Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                        )
                    }
                },
            )
        )
        for email in alarm_emails:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(email))

        reason_replication = (
            "Cross-region replication doubles storage cost; artifacts are rebuilt from source and "
            "the bucket is versioned against accidental deletes."
        )
        acknowledge(self.bucket, "HIPAA.Security-S3BucketReplicationEnabled", reason_replication)
        acknowledge(self.access_log_bucket, "HIPAA.Security-S3BucketReplicationEnabled", reason_replication)
        # checkov reads skips, with their reasons, from the template's metadata.
        _cfn(self.access_log_bucket).add_metadata(
            "checkov",
            {"skip": [{"id": "CKV_AWS_18", "comment": "Access-log destination; logging it would recurse."}]},
        )
        acknowledge(
            self.access_log_bucket,
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "S3 server access log delivery only supports SSE-S3 on the destination bucket.",
        )


def _cfn(construct: Construct) -> cdk.CfnResource:
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnResource)
    return child


class StoreExportNames(Protocol):
    """Names of the CloudFormation exports of an ``EncryptedModelStore``'s key, bucket and topic."""

    @property
    def key_arn(self) -> str: ...
    @property
    def bucket_arn(self) -> str: ...
    @property
    def bucket_name(self) -> str: ...
    @property
    def topic_arn(self) -> str: ...


class ImportedModelStore(Construct):
    """References to an ``EncryptedModelStore`` in another stack, through its named exports.

    Named exports keep the inference stack independent of the stateful stack's construct tree.
    Exposes ``key``, ``bucket``, ``alarm_topic`` and ``exports``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, exports: StoreExportNames) -> None:
        super().__init__(scope, construct_id)
        self.exports = exports
        self.key = kms.Key.from_key_arn(self, "Key", cdk.Fn.import_value(exports.key_arn))
        self.bucket = s3.Bucket.from_bucket_attributes(
            self,
            "Bucket",
            bucket_arn=cdk.Fn.import_value(exports.bucket_arn),
            bucket_name=cdk.Fn.import_value(exports.bucket_name),
            encryption_key=self.key,
        )
        self.alarm_topic = sns.Topic.from_topic_arn(
            self, "AlarmTopic", cdk.Fn.import_value(exports.topic_arn)
        )
