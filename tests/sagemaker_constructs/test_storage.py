"""EncryptedModelStore and ImportedModelStore: encrypted, SSL-only, versioned storage that outlives
endpoint replacement, and references to it by export name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk.assertions import Match, Template

from sagemaker_constructs.compliance import RULE_PACKS
from sagemaker_constructs.storage import EncryptedModelStore, ImportedModelStore
from tests.sagemaker_constructs.support import acknowledged, bare_stack, logical_id, nag_findings


@dataclass(frozen=True)
class Exports:
    key_arn: str = "models-dev-key-arn"
    bucket_arn: str = "models-dev-bucket-arn"
    bucket_name: str = "models-dev-bucket-name"
    topic_arn: str = "models-dev-topic-arn"


@dataclass(frozen=True)
class Stores:
    stack: cdk.Stack
    template: Template
    resources: dict[str, Any]
    kept: EncryptedModelStore
    disposable: EncryptedModelStore


@pytest.fixture(scope="module")
def stores() -> Stores:
    stack = bare_stack("StorageCheck")
    kept = EncryptedModelStore(
        stack,
        "Kept",
        noncurrent_version_expiration_days=7,
        access_log_expiration_days=30,
        alarm_emails=["ops@example.com", "ml@example.com"],
    )
    disposable = EncryptedModelStore(stack, "Disposable", retain_on_delete=False)
    template = Template.from_stack(stack)
    return Stores(stack, template, dict(template.to_json()["Resources"]), kept, disposable)


def test_key_is_rotated(stores: Stores) -> None:
    stores.template.resource_count_is("AWS::KMS::Key", 2)
    stores.template.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_key_lets_cloudwatch_of_this_account_publish_to_the_encrypted_topic(stores: Stores) -> None:
    stores.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Resource": "*",
                        }
                    ]
                )
            }
        },
    )


def test_artifact_bucket_is_encrypted_with_the_store_key(stores: Stores) -> None:
    key = logical_id(stores.kept.key)
    stores.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]},
                            "SSEAlgorithm": "aws:kms",
                        },
                    }
                ]
            },
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": logical_id(stores.kept.access_log_bucket)},
                "LogFilePrefix": "artifacts/",
            },
        },
    )


def test_access_log_bucket_uses_sse_s3_because_log_delivery_supports_nothing_else(stores: Stores) -> None:
    log_buckets = stores.template.find_resources(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "LoggingConfiguration": Match.absent(),
            }
        },
    )
    assert set(log_buckets) == {
        logical_id(stores.kept.access_log_bucket),
        logical_id(stores.disposable.access_log_bucket),
    }
    assert acknowledged(stores.kept.access_log_bucket)["HIPAA.Security-S3DefaultEncryptionKMS"]


def test_every_bucket_blocks_public_access_and_is_versioned(stores: Stores) -> None:
    stores.template.resource_count_is("AWS::S3::Bucket", 4)
    stores.template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    )


def test_every_bucket_policy_denies_requests_without_ssl(stores: Stores) -> None:
    stores.template.resource_count_is("AWS::S3::BucketPolicy", 4)
    stores.template.all_resources_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Effect": "Deny",
                            }
                        )
                    ]
                )
            }
        },
    )


def test_lifecycle_rules_follow_the_props(stores: Stores) -> None:
    def rules(bucket: str) -> object:
        return stores.resources[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]

    assert rules(logical_id(stores.kept.bucket)) == [
        {
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
            "Status": "Enabled",
        }
    ]
    assert rules(logical_id(stores.kept.access_log_bucket)) == [
        {"ExpirationInDays": 30, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}, "Status": "Enabled"}
    ]


def test_lifecycle_defaults_keep_old_versions_30_days_and_access_logs_90(stores: Stores) -> None:
    artifacts = stores.resources[logical_id(stores.disposable.bucket)]["Properties"]
    logs = stores.resources[logical_id(stores.disposable.access_log_bucket)]["Properties"]
    assert artifacts["LifecycleConfiguration"]["Rules"][0]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 30
    }
    assert logs["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90


def test_alarm_topic_is_encrypted_with_the_store_key_and_ssl_only(stores: Stores) -> None:
    topic = logical_id(stores.kept.alarm_topic)
    stores.template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [logical_id(stores.kept.key), "Arn"]}}
    )
    stores.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Effect": "Deny",
                            }
                        )
                    ]
                )
            },
        },
    )


def test_retain_on_delete_keeps_key_and_buckets(stores: Stores) -> None:
    kept = {logical_id(c) for c in (stores.kept.key, stores.kept.bucket, stores.kept.access_log_bucket)}
    retained = {
        **stores.template.find_resources("AWS::KMS::Key", {"DeletionPolicy": "Retain"}),
        **stores.template.find_resources(
            "AWS::S3::Bucket", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
        ),
    }
    assert set(retained) == kept


def test_retain_on_delete_false_deletes_key_and_buckets(stores: Stores) -> None:
    store = stores.disposable
    disposable = {logical_id(c) for c in (store.key, store.bucket, store.access_log_bucket)}
    deleted = {
        **stores.template.find_resources("AWS::KMS::Key", {"DeletionPolicy": "Delete"}),
        **stores.template.find_resources(
            "AWS::S3::Bucket", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}
        ),
    }
    assert set(deleted) == disposable


def test_each_alarm_email_subscribes_to_the_topic(stores: Stores) -> None:
    topic = {"Ref": logical_id(stores.kept.alarm_topic)}
    stores.template.resource_count_is("AWS::SNS::Subscription", 2)
    for email in ("ops@example.com", "ml@example.com"):
        stores.template.has_resource_properties(
            "AWS::SNS::Subscription", {"Endpoint": email, "Protocol": "email", "TopicArn": topic}
        )


def test_skipped_checks_carry_reasons(stores: Stores) -> None:
    for bucket in (stores.kept.bucket, stores.kept.access_log_bucket):
        assert len(acknowledged(bucket)["HIPAA.Security-S3BucketReplicationEnabled"]) >= 40
    stores.template.has_resource(
        "AWS::S3::Bucket",
        {
            "Metadata": {
                "checkov": {"skip": [{"id": "CKV_AWS_18", "comment": Match.string_like_regexp(".{20,}")}]}
            }
        },
    )


@pytest.mark.parametrize("pack", RULE_PACKS, ids=lambda p: p.__name__)
def test_store_passes_the_rule_packs(stores: Stores, pack: type[cdk_nag.NagPack]) -> None:
    assert nag_findings(stores.stack, pack) == []


def test_imported_store_reads_each_export_by_name() -> None:
    stack = bare_stack("ImportCheck")
    store = ImportedModelStore(stack, "Store", exports=Exports())
    assert stack.resolve(store.key.key_arn) == {"Fn::ImportValue": "models-dev-key-arn"}
    assert stack.resolve(store.bucket.bucket_arn) == {"Fn::ImportValue": "models-dev-bucket-arn"}
    assert stack.resolve(store.bucket.bucket_name) == {"Fn::ImportValue": "models-dev-bucket-name"}
    assert stack.resolve(store.alarm_topic.topic_arn) == {"Fn::ImportValue": "models-dev-topic-arn"}
    encryption_key = store.bucket.encryption_key
    assert encryption_key is not None
    assert stack.resolve(encryption_key.key_arn) == {"Fn::ImportValue": "models-dev-key-arn"}
    assert store.exports == Exports()


def test_imported_store_creates_no_resources() -> None:
    stack = bare_stack("ImportOnlyCheck")
    ImportedModelStore(stack, "Store", exports=Exports())
    assert not [c for c in stack.node.find_all() if isinstance(c, cdk.CfnResource)]
