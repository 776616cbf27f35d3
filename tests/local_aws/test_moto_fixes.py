"""local_aws.moto_fixes: the registry, and one test per registered fix showing moto now behaves like AWS.

Each fix's test is named ``test_fix_<name>_...`` (dashes as underscores); the last test checks that
every registered fix has one, here or in another module of this folder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.cloudformation import parsing
from moto.sagemaker.models import FakeEndpointConfig
from moto.sagemakerruntime.models import sagemakerruntime_backends

from local_aws import moto_fixes
from local_aws.moto_fixes import (
    accept_current_sagemaker_instance_types,
    applied_fixes,
    install,
    moto_fix,
    registered_fixes,
)
from local_aws.moto_models import AlarmResource, ScalableTargetResource, ScalingPolicyResource
from tests.local_aws.conftest import ACCOUNT_ID, IMAGE, REGION, ROLE_ARN

HERE = Path(__file__).parent


# -- the registry ------------------------------------------------------------------------------------


def test_fixes_have_unique_names_and_one_line_descriptions_and_docstrings() -> None:
    fixes = registered_fixes()
    names = [fix.name for fix in fixes]
    assert len(names) == len(set(names)) >= 8
    for fix in fixes:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", fix.name), fix.name
        assert fix.description.startswith("moto"), fix.name
        assert "\n" not in fix.description, fix.name
        assert ";" in fix.description, fix.name  # how moto differs; what the fix does
        assert "moto" in (fix.patch.__doc__ or ""), fix.name


def test_install_applies_every_registered_fix() -> None:
    install()

    assert applied_fixes() == {fix.name for fix in registered_fixes()}


def test_a_fix_applies_once_however_often_it_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_fixes, "_REGISTRY", {})
    monkeypatch.setattr(moto_fixes, "_APPLIED", set())
    calls: list[str] = []

    @moto_fix("test-only", "moto differs; the fix counts its calls")
    def counting() -> None:
        """moto differs here only for this test."""
        calls.append("applied")

    counting()
    counting()
    moto_fixes.install()

    assert calls == ["applied"]
    assert [fix.name for fix in moto_fixes.registered_fixes()] == ["test-only"]
    assert counting.__doc__ == "moto differs here only for this test."


def test_a_fix_name_is_registered_once() -> None:
    before = registered_fixes()

    with pytest.raises(ValueError, match="'kms-key-tags' is already registered"):
        moto_fix("kms-key-tags", "moto differs; a second fix of the same name")(lambda: None)

    assert registered_fixes() == before


def test_every_registered_fix_has_a_test_named_after_it() -> None:
    sources = "\n".join(path.read_text() for path in HERE.rglob("test_*.py"))
    slugs = sorted((fix.name.replace("-", "_") for fix in registered_fixes()), key=len, reverse=True)
    covered = set()
    for test in re.findall(r"^def test_fix_(\w+)\(", sources, flags=re.MULTILINE):
        # the longest fix name the test's name starts with (sagemaker_invoke_endpoint_async, not ..._endpoint)
        covered.add(next((slug for slug in slugs if test.startswith(f"{slug}_")), None))
    assert sorted(set(slugs) - covered) == []


# -- cloudformation-resource-models --------------------------------------------------------------------


def test_fix_cloudformation_resource_models_are_in_motos_type_map(aws: None) -> None:
    model_map = parsing.get_model_map()

    assert model_map["AWS::ApplicationAutoScaling::ScalableTarget"] is ScalableTargetResource
    assert model_map["AWS::ApplicationAutoScaling::ScalingPolicy"] is ScalingPolicyResource
    assert model_map["AWS::CloudWatch::Alarm"] is AlarmResource


@pytest.mark.slow
def test_fix_cloudformation_resource_models_registered_after_moto_built_its_type_map() -> None:
    code = """
from moto.cloudformation import parsing
parsing.get_model_map()
from local_aws.moto_fixes import install
assert "AWS::CloudWatch::Alarm" not in parsing.get_model_map()
install()
assert parsing.get_model_map()["AWS::CloudWatch::Alarm"].__name__ == "AlarmResource"
"""
    subprocess.run([sys.executable, "-c", code], cwd=HERE.parents[1], check=True)


# -- sagemaker-instance-types -------------------------------------------------------------------------


def create_endpoint_config(instance_type: str) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    name = instance_type.replace(".", "-")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"config-{name}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": instance_type,
                "InitialInstanceCount": 1,
            }
        ],
    )


def test_fix_sagemaker_instance_types_accepts_g5(aws: None) -> None:
    create_endpoint_config("ml.g5.xlarge")

    configs = boto3.client("sagemaker", region_name=REGION).list_endpoint_configs()["EndpointConfigs"]
    assert [config["EndpointConfigName"] for config in configs] == ["config-ml-g5-xlarge"]


def test_endpoint_config_still_rejects_unknown_instance_type(aws: None) -> None:
    with pytest.raises(
        ClientError, match=r"Value 'ml\.bogus\.large' at 'instanceType' failed to satisfy"
    ) as error:
        create_endpoint_config("ml.bogus.large")

    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_install_again_keeps_the_single_instance_type_wrapper(aws: None) -> None:
    check = FakeEndpointConfig.validate_instance_type

    install()
    accept_current_sagemaker_instance_types()

    assert FakeEndpointConfig.validate_instance_type is check
    create_endpoint_config("ml.g5.xlarge")


# -- kms-key-tags -------------------------------------------------------------------------------------


def test_fix_kms_key_tags_in_cloudformation_form_are_kept(aws: None) -> None:
    template = {
        "Resources": {
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "EnableKeyRotation": True,
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ],
                    },
                    "Tags": [{"Key": "project", "Value": "lean-deploy"}],
                },
            }
        }
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="key", TemplateBody=json.dumps(template)
    )

    kms = boto3.client("kms", region_name=REGION)
    [key] = kms.list_keys()["Keys"]
    tags = kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
    assert tags == [{"TagKey": "project", "TagValue": "lean-deploy"}]


# -- sagemaker-explicit-names -------------------------------------------------------------------------


def _hosting_template(model_data_url: str, *, endpoint_name: str = "updated-endpoint") -> str:
    """A model, an endpoint config naming it and an endpoint on that config (Fn::GetAtt both)."""
    return json.dumps(
        {
            "Resources": {
                "Model": {
                    "Type": "AWS::SageMaker::Model",
                    "Properties": {
                        "ExecutionRoleArn": ROLE_ARN,
                        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": model_data_url},
                    },
                },
                "Config": {
                    "Type": "AWS::SageMaker::EndpointConfig",
                    "Properties": {
                        "ProductionVariants": [
                            {
                                "VariantName": "AllTraffic",
                                "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                                "InstanceType": "ml.m5.large",
                                "InitialInstanceCount": 1,
                            }
                        ]
                    },
                },
                "Endpoint": {
                    "Type": "AWS::SageMaker::Endpoint",
                    "Properties": {
                        "EndpointName": endpoint_name,
                        "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
                    },
                },
            }
        }
    )


def test_fix_sagemaker_explicit_names_endpoint_name_in_a_template_is_kept(aws: None) -> None:
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="named",
        TemplateBody=_hosting_template("s3://models/a.tar.gz", endpoint_name="named-endpoint"),
    )
    endpoints = boto3.client("sagemaker", region_name=REGION).list_endpoints()["Endpoints"]
    assert [e["EndpointName"] for e in endpoints] == ["named-endpoint"]


# -- cloudformation-sagemaker-dependent-updates --------------------------------------------------------


def test_fix_cloudformation_sagemaker_dependent_updates_endpoint_serves_the_new_model(aws: None) -> None:
    # GIVEN an endpoint deployed from a stack whose model reads artifact A
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName="hosting", TemplateBody=_hosting_template("s3://models/a.tar.gz"))
    # WHEN only the model's artifact changes (the config and endpoint text stay the same)
    cloudformation.update_stack(StackName="hosting", TemplateBody=_hosting_template("s3://models/b.tar.gz"))
    # THEN the endpoint's config names the new model, which reads artifact B, as in AWS
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    config_name = sagemaker.describe_endpoint(EndpointName="updated-endpoint")["EndpointConfigName"]
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://models/b.tar.gz"
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == [variant["ModelName"]]


# -- scalable-dimensions ------------------------------------------------------------------------------


def test_fix_scalable_dimensions_accepts_provisioned_concurrency_and_not_bogus_ones(aws: None) -> None:
    autoscaling = boto3.client("application-autoscaling", region_name=REGION)
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/serverless-ep/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredProvisionedConcurrency",
        MinCapacity=1,
        MaxCapacity=4,
    )
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    with pytest.raises(ClientError, match=r"Value 'sagemaker:variant:Bogus' at 'scalableDimension' failed"):
        autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId="endpoint/serverless-ep/variant/AllTraffic",
            ScalableDimension="sagemaker:variant:Bogus",
            MinCapacity=1,
            MaxCapacity=4,
        )


# -- iam-role-deletion --------------------------------------------------------------------------------


ROLE_WITH_MANAGED_POLICY = {
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        },
        "Policy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Roles": [{"Ref": "Role"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                },
            },
        },
    }
}


def test_fix_iam_role_deletion_detaches_managed_policies_when_the_stack_is_deleted(aws: None) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName="role",
        TemplateBody=json.dumps(ROLE_WITH_MANAGED_POLICY),
        Capabilities=["CAPABILITY_IAM"],
    )
    iam = boto3.client("iam", region_name=REGION)
    assert len(iam.list_roles()["Roles"]) == 1

    cloudformation.delete_stack(StackName="role")

    assert iam.list_roles()["Roles"] == []
    [stack] = cloudformation.list_stacks()["StackSummaries"]
    assert stack["StackStatus"] == "DELETE_COMPLETE"


# -- sagemaker-invoke-endpoint-async (with a model: tests/local_aws/test_model_routing.py) -------------


def _async_endpoint(name: str, output: str) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        AsyncInferenceConfig={
            "OutputConfig": {"S3OutputPath": f"{output}out/", "S3FailurePath": f"{output}fail/"}
        },
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def test_fix_sagemaker_invoke_endpoint_async_result_lands_under_the_configured_output_path(
    aws: None,
) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="async-results")
    _async_endpoint("async-ep", "s3://async-results/")
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    response = runtime.invoke_endpoint_async(
        EndpointName="async-ep", InputLocation="s3://async-results/in/1.json"
    )
    assert response["OutputLocation"].startswith("s3://async-results/out/")
    assert response["FailureLocation"].startswith("s3://async-results/fail/")
    key = response["OutputLocation"].removeprefix("s3://async-results/")
    body = boto3.client("s3", region_name=REGION).get_object(Bucket="async-results", Key=key)["Body"].read()
    assert json.loads(body) == {"default": "response"}
    again = runtime.invoke_endpoint_async(
        EndpointName="async-ep", InputLocation="s3://async-results/in/1.json"
    )
    assert again["OutputLocation"] == response["OutputLocation"]


def test_async_failure_lands_under_the_configured_failure_path_only(aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="async-results")
    _async_endpoint("async-ep", "s3://async-results/")
    sagemakerruntime_backends[ACCOUNT_ID][REGION].async_results_queue.append((True, "inference failed"))

    response = boto3.client("sagemaker-runtime", region_name=REGION).invoke_endpoint_async(
        EndpointName="async-ep", InputLocation="s3://async-results/in/2.json"
    )

    key = response["FailureLocation"].removeprefix("s3://async-results/")
    assert key.startswith("fail/")
    assert s3.get_object(Bucket="async-results", Key=key)["Body"].read() == b"inference failed"
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket="async-results")["Contents"]]
    assert listed == [key]


def test_async_invocation_of_an_unknown_endpoint_is_rejected(aws: None) -> None:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    with pytest.raises(ClientError, match="Endpoint no-such-endpoint of account 123456789012 not found"):
        runtime.invoke_endpoint_async(EndpointName="no-such-endpoint", InputLocation="s3://b-1/in.json")


# -- sagemaker-runtime-unknown-endpoints ----------------------------------------------------------------


def test_fix_sagemaker_runtime_unknown_endpoints_invoke_endpoint_raises_validation_error(aws: None) -> None:
    # GIVEN no endpoint named no-such-endpoint
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    # WHEN it is invoked
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"{}", ContentType="application/json")
    # THEN SageMaker's ValidationError, not a canned body
    error = raised.value.response
    assert error["Error"] == {
        "Code": "ValidationError",
        "Message": f"Endpoint no-such-endpoint of account {ACCOUNT_ID} not found.",
    }
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_fix_sagemaker_runtime_unknown_endpoints_invoke_endpoint_async_raises_validation_error(
    aws: None,
) -> None:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint_async(EndpointName="no-such-endpoint", InputLocation="s3://b-1/in.json")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# -- cloudformation-termination-protection and cloudformation-export-imports ---------------------------


def _exporting_stack(cloudformation: Any, name: str, *, protected: bool = False) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}, "Export": {"Name": f"{name}-topic-arn"}}},
    }
    cloudformation.create_stack(
        StackName=name, TemplateBody=json.dumps(template), EnableTerminationProtection=protected
    )


def _importing_stack(cloudformation: Any, name: str, export_name: str) -> None:
    template = {
        "Resources": {
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"Tags": [{"Key": "topic", "Value": {"Fn::ImportValue": export_name}}]},
            }
        }
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


def _live_stacks(cloudformation: Any) -> list[str]:
    return sorted(s["StackName"] for s in cloudformation.describe_stacks()["Stacks"])


def test_fix_cloudformation_termination_protection_refuses_to_delete_a_protected_stack(aws: None) -> None:
    # GIVEN a stack created with termination protection
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    _exporting_stack(cloudformation, "kept", protected=True)
    # WHEN it is deleted
    with pytest.raises(ClientError) as raised:
        cloudformation.delete_stack(StackName="kept")
    # THEN CloudFormation's refusal, and the stack is still there
    assert raised.value.response["Error"] == {
        "Code": "ValidationError",
        "Message": "Stack [kept] cannot be deleted while TerminationProtection is enabled",
        "Type": "Sender",
    }
    assert _live_stacks(cloudformation) == ["kept"]


def test_fix_cloudformation_termination_protection_turned_off_lets_the_stack_be_deleted(aws: None) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    _exporting_stack(cloudformation, "kept", protected=True)

    cloudformation.update_termination_protection(StackName="kept", EnableTerminationProtection=False)

    assert (
        cloudformation.describe_stacks(StackName="kept")["Stacks"][0]["EnableTerminationProtection"] is False
    )
    cloudformation.delete_stack(StackName="kept")
    assert _live_stacks(cloudformation) == []


def test_fix_cloudformation_export_imports_refuses_to_delete_an_export_in_use(aws: None) -> None:
    # GIVEN a stack whose export two other stacks import
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    _exporting_stack(cloudformation, "base")
    _importing_stack(cloudformation, "user-a", "base-topic-arn")
    _importing_stack(cloudformation, "user-b", "base-topic-arn")
    # WHEN the exporting stack is deleted (CloudFormation accepts the call)
    cloudformation.delete_stack(StackName="base")
    # THEN the deletion is canceled: the stack keeps its status, its newest event names the export
    # and its importers, and nothing is deleted
    (stack,) = cloudformation.describe_stacks(StackName="base")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    newest = cloudformation.describe_stack_events(StackName="base")["StackEvents"][0]
    assert newest["ResourceStatusReason"] == (
        "Delete canceled. Cannot delete export base-topic-arn as it is in use by user-a and user-b."
    )
    assert cloudformation.list_imports(ExportName="base-topic-arn")["Imports"] == ["user-a", "user-b"]
    assert _live_stacks(cloudformation) == ["base", "user-a", "user-b"]


def test_an_export_no_longer_imported_is_deleted_with_its_stack(aws: None) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    _exporting_stack(cloudformation, "base")
    _importing_stack(cloudformation, "user-a", "base-topic-arn")

    cloudformation.delete_stack(StackName="user-a")
    cloudformation.delete_stack(StackName="base")

    assert _live_stacks(cloudformation) == []
    assert cloudformation.list_exports()["Exports"] == []


def test_fix_s3_eventbridge_notifications_object_events_reach_a_rule(aws: None) -> None:
    # GIVEN a bucket created by CloudFormation with EventBridge notifications, and a rule that
    # sends its object-created events under a prefix to a queue
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="new-input")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    template = {
        "Resources": {
            "Data": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": "batch-data-b",
                    "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
                },
            }
        }
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="data", TemplateBody=json.dumps(template)
    )
    events = boto3.client("events", region_name=REGION)
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["batch-data-b"]}, "object": {"key": [{"prefix": "in/"}]}},
    }
    events.put_rule(Name="input-created", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="input-created", Targets=[{"Id": "queue", "Arn": queue_arn}])
    # WHEN objects are uploaded inside and outside the prefix
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket="batch-data-b", Key="in/part-1.jsonl", Body=b"{}\n")
    s3.put_object(Bucket="batch-data-b", Key="elsewhere/x", Body=b"{}\n")
    # THEN one event, for the object under the prefix, waits in the queue
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in messages] == ["in/part-1.jsonl"]


def test_fix_stepfunctions_execution_names_unnamed_starts_get_their_own_names(aws: None) -> None:
    # GIVEN a state machine, started twice without a name (as EventBridge Scheduler starts it)
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    machine = stepfunctions.create_state_machine(
        name="checks", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    first = stepfunctions.start_execution(stateMachineArn=machine)["executionArn"]
    # WHEN it is started again without a name THEN it runs as a second execution with its own name
    second = stepfunctions.start_execution(stateMachineArn=machine)["executionArn"]
    assert first != second
    assert not first.endswith(":None")
