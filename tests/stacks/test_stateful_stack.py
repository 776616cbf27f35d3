"""The stateful stack: KMS key with rotation, SSL-only versioned buckets with access logs, KMS topic."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from endpoint_configs import load_environment_config
from tests.conftest import SynthesizedEnvironment


@pytest.fixture(scope="module")
def prod(synthesized: dict[str, SynthesizedEnvironment]) -> SynthesizedEnvironment:
    return synthesized["prod"]


def _resources(env: SynthesizedEnvironment, type_name: str) -> dict[str, Any]:
    return dict(env.template("stateful").find_resources(type_name))


def test_stack_is_named_project_env_purpose(synthesized: dict[str, SynthesizedEnvironment]) -> None:
    for env, synth in synthesized.items():
        project = load_environment_config(env).project
        assert synth.stack("stateful").stack_name == f"{project}-{env}-stateful"


def test_kms_key_rotates(prod: SynthesizedEnvironment) -> None:
    prod.template("stateful").has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_cloudwatch_may_use_the_key_only_for_this_account(prod: SynthesizedEnvironment) -> None:
    prod.template("stateful").has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_artifact_bucket_is_kms_encrypted_versioned_private_and_logged(prod: SynthesizedEnvironment) -> None:
    prod.template("stateful").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": {"Fn::GetAtt": [Match.string_like_regexp("^StoreKey"), "Arn"]},
                        },
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": Match.string_like_regexp("^StoreAccessLogs")},
                "LogFilePrefix": "artifacts/",
            },
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                        "Status": "Enabled",
                    }
                ]
            },
        },
    )


def test_every_bucket_policy_denies_requests_without_tls(prod: SynthesizedEnvironment) -> None:
    policies = _resources(prod, "AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        deny = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Action"] == "s3:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_access_log_bucket_uses_s3_managed_keys_and_expires_logs(prod: SynthesizedEnvironment) -> None:
    prod.template("stateful").has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 365})]},
        },
    )


def test_alarm_topic_is_kms_encrypted_and_tls_only(prod: SynthesizedEnvironment) -> None:
    template = prod.template("stateful")
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^StoreKey"), "Arn"]}},
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_alarm_emails_are_subscribed(prod: SynthesizedEnvironment) -> None:
    prod.template("stateful").has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ml-platform-oncall@example.com"}
    )


def test_prod_retains_state_and_dev_deletes_it(synthesized: dict[str, SynthesizedEnvironment]) -> None:
    for env, policy in (("prod", "Retain"), ("dev", "Delete")):
        for type_name in ("AWS::KMS::Key", "AWS::S3::Bucket"):
            for resource in _resources(synthesized[env], type_name).values():
                assert resource["DeletionPolicy"] == policy, (env, type_name)


def test_termination_protection_follows_the_config(synthesized: dict[str, SynthesizedEnvironment]) -> None:
    # prod.yaml leaves termination_protection at its default (true); dev.yaml turns it off.
    assert synthesized["prod"].stack("stateful").termination_protection is True
    assert synthesized["dev"].stack("stateful").termination_protection is False


STATEFUL_LOGICAL_IDS = {
    "StoreKey7A3C02BD": "AWS::KMS::Key",
    "StoreAccessLogs087BBF22": "AWS::S3::Bucket",
    "StoreArtifactsD98A7408": "AWS::S3::Bucket",
    "StoreAlarmsEF7446C2": "AWS::SNS::Topic",
}
"""A changed logical ID makes CloudFormation replace the resource: a new key cannot decrypt what
the old one encrypted, and a new bucket starts empty. Change these only with a migration."""


def test_stateful_resources_keep_their_logical_ids(synthesized: dict[str, SynthesizedEnvironment]) -> None:
    for env, synth in synthesized.items():
        resources = synth.template_json("stateful")["Resources"]
        kept = {
            logical_id: resources[logical_id]["Type"]
            for logical_id in STATEFUL_LOGICAL_IDS
            if logical_id in resources
        }
        assert kept == STATEFUL_LOGICAL_IDS, env


def test_exports_have_stable_names(prod: SynthesizedEnvironment) -> None:
    outputs = prod.template_json("stateful")["Outputs"]
    names = sorted(o["Export"]["Name"] for o in outputs.values())
    assert names == [
        "minilm-embeddings-prod-stateful-alarm-topic-arn",
        "minilm-embeddings-prod-stateful-bucket-arn",
        "minilm-embeddings-prod-stateful-bucket-name",
        "minilm-embeddings-prod-stateful-key-arn",
    ]


def test_every_taggable_resource_carries_config_tags(prod: SynthesizedEnvironment) -> None:
    expected = {
        "cost-center": "ml-platform-prod",
        "owner": "ml-platform",
        "data-classification": "internal",
        "project": "minilm-embeddings",
        "environment": "prod",
    }
    tagged = 0
    for resource in prod.template_json("stateful")["Resources"].values():
        tags = resource.get("Properties", {}).get("Tags")
        if tags is not None:
            assert {t["Key"]: t["Value"] for t in tags} == expected
            tagged += 1
    assert tagged == 4  # key, two buckets, topic


# --- budget --------------------------------------------------------------------------------------


def test_budget_covers_the_environment_tags_monthly_with_alerts_to_topic_and_emails(
    prod: SynthesizedEnvironment,
) -> None:
    (budget,) = _resources(prod, "AWS::Budgets::Budget").values()
    topic = next(iter(_resources(prod, "AWS::SNS::Topic")))
    subscribers = [
        {"SubscriptionType": "SNS", "Address": {"Ref": topic}},
        {"SubscriptionType": "EMAIL", "Address": "ml-platform-finance@example.com"},
    ]
    properties = dict(budget["Properties"])
    assert {t["Key"]: t["Value"] for t in properties.pop("ResourceTags")} == {
        "cost-center": "ml-platform-prod",
        "data-classification": "internal",
        "environment": "prod",
        "owner": "ml-platform",
        "project": "minilm-embeddings",
    }
    assert properties == {
        "Budget": {
            "BudgetName": "minilm-embeddings-prod-monthly",
            "BudgetType": "COST",
            "TimeUnit": "MONTHLY",
            "BudgetLimit": {"Amount": 3000, "Unit": "USD"},
            "FilterExpression": {
                "And": [
                    {"Tags": {"Key": "user:environment", "Values": ["prod"], "MatchOptions": ["EQUALS"]}},
                    {
                        "Tags": {
                            "Key": "user:project",
                            "Values": ["minilm-embeddings"],
                            "MatchOptions": ["EQUALS"],
                        }
                    },
                ]
            },
        },
        "NotificationsWithSubscribers": [
            {
                "Notification": {
                    "ComparisonOperator": "GREATER_THAN",
                    "NotificationType": spend,
                    "Threshold": threshold,
                    "ThresholdType": "PERCENTAGE",
                },
                "Subscribers": subscribers,
            }
            for spend, threshold in (("ACTUAL", 80), ("FORECASTED", 100))
        ],
    }


def test_only_this_accounts_budgets_may_publish_to_the_topic_and_use_its_key(
    prod: SynthesizedEnvironment,
) -> None:
    conditions = {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {"Fn::Join": ["", ["arn:aws:budgets::", {"Ref": "AWS::AccountId"}, ":*"]]}
        },
    }
    (policy,) = _resources(prod, "AWS::SNS::TopicPolicy").values()
    topic = next(iter(_resources(prod, "AWS::SNS::Topic")))
    budgets_statement = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "budgets.amazonaws.com"}
    ]
    assert budgets_statement == [
        {
            "Sid": "AWSBudgetsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "budgets.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": {"Ref": topic},
            "Condition": conditions,
        }
    ]
    (key,) = _resources(prod, "AWS::KMS::Key").values()
    key_statement = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AWSBudgetsUseKeyForTopic"
    ]
    assert key_statement == [
        {
            "Sid": "AWSBudgetsUseKeyForTopic",
            "Effect": "Allow",
            "Principal": {"Service": "budgets.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": conditions,
        }
    ]


def test_the_budget_is_created_after_the_topic_accepts_its_messages(prod: SynthesizedEnvironment) -> None:
    (budget,) = _resources(prod, "AWS::Budgets::Budget").values()
    (policy_id,) = _resources(prod, "AWS::SNS::TopicPolicy")
    assert policy_id in budget["DependsOn"]


def test_environments_without_a_budget_block_get_no_budget(
    synthesized: dict[str, SynthesizedEnvironment],
) -> None:
    assert _resources(synthesized["neo"], "AWS::Budgets::Budget") == {}
