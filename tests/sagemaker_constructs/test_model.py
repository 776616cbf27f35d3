"""ServedModel and SageMakerModel: one SageMaker model per distinct image, one role, one artifact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from sagemaker_constructs.execution_role import ModelLogs
from sagemaker_constructs.model import SageMakerModel, ServedModel, VpcPlacement
from sagemaker_constructs.model_data import ArtifactLocation
from tests.sagemaker_constructs.support import bare_stack, logical_id

CPU_IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
GPU_IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6.0-gpu-py312"
PLACEMENT = VpcPlacement(
    subnet_ids=("subnet-0123456789abcdef0", "subnet-0fedcba9876543210"),
    security_group_ids=("sg-0123456789abcdef0",),
)


@dataclass(frozen=True)
class Models:
    stack: cdk.Stack
    template: Template
    resources: dict[str, Any]
    isolated: ServedModel
    open: ServedModel

    def model(self, served: ServedModel, construct_id: str) -> dict[str, Any]:
        construct = served.node.find_child(construct_id)
        assert isinstance(construct, SageMakerModel)
        resource: dict[str, Any] = self.resources[logical_id(construct.cfn_model)]
        return resource


@pytest.fixture(scope="module")
def models() -> Models:
    stack = bare_stack("ModelCheck")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    isolated = ServedModel(
        stack,
        "Isolated",
        artifact=ArtifactLocation(s3_uri="s3://models-b/minilm/model.tar.gz"),
        image_uris=[CPU_IMAGE, GPU_IMAGE, CPU_IMAGE],
        logs=ModelLogs.of_endpoint("minilm-dev"),
        key=key,
        environment={"SAGEMAKER_PROGRAM": "inference.py", "HF_HUB_OFFLINE": "1", "MMS_MAX_WORKERS": "1"},
    )
    open_model = ServedModel(
        stack,
        "Open",
        artifact=ArtifactLocation(s3_prefix="s3://models-b/llm/"),
        image_uris=[GPU_IMAGE],
        logs=ModelLogs.of_endpoint("llm-dev"),
        key=key,
        network_isolation=False,
        vpc=PLACEMENT,
    )
    template = Template.from_stack(stack)
    return Models(stack, template, dict(template.to_json()["Resources"]), isolated, open_model)


def test_one_model_per_distinct_image_in_first_seen_order(models: Models) -> None:
    models.template.resource_count_is("AWS::SageMaker::Model", 3)
    assert list(models.isolated.model_names) == [CPU_IMAGE, GPU_IMAGE]
    assert models.model(models.isolated, "Model")["Properties"]["PrimaryContainer"]["Image"] == CPU_IMAGE
    assert models.model(models.isolated, "Model2")["Properties"]["PrimaryContainer"]["Image"] == GPU_IMAGE


def test_model_names_are_generated_by_cloudformation(models: Models) -> None:
    model = models.isolated.node.find_child("Model")
    assert isinstance(model, SageMakerModel)
    assert models.stack.resolve(models.isolated.model_names[CPU_IMAGE]) == {
        "Fn::GetAtt": [logical_id(model.cfn_model), "ModelName"]
    }
    models.template.all_resources_properties("AWS::SageMaker::Model", {"ModelName": Match.absent()})


def test_all_models_of_an_endpoint_share_one_role_and_one_artifact(models: Models) -> None:
    role = {"Fn::GetAtt": [logical_id(models.isolated.execution_role.role), "Arn"]}
    for construct_id in ("Model", "Model2"):
        properties = models.model(models.isolated, construct_id)["Properties"]
        assert properties["ExecutionRoleArn"] == role
        assert properties["PrimaryContainer"]["ModelDataUrl"] == "s3://models-b/minilm/model.tar.gz"
    models.template.resource_count_is("AWS::IAM::Role", 2)


def test_models_are_network_isolated_by_default(models: Models) -> None:
    assert models.model(models.isolated, "Model")["Properties"]["EnableNetworkIsolation"] is True
    assert models.model(models.open, "Model")["Properties"]["EnableNetworkIsolation"] is False


def test_vpc_config_only_with_a_vpc_placement(models: Models) -> None:
    assert "VpcConfig" not in models.model(models.isolated, "Model")["Properties"]
    assert models.model(models.open, "Model")["Properties"]["VpcConfig"] == {
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "Subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    }


def test_role_may_manage_network_interfaces_only_in_a_vpc(models: Models) -> None:
    def actions(served: ServedModel) -> str:
        resource = models.resources[logical_id(served.execution_role.policy)]
        return str(resource["Properties"]["PolicyDocument"])

    assert "ec2:CreateNetworkInterface" in actions(models.open)
    assert "ec2:" not in actions(models.isolated)


def test_environment_is_sorted_by_name(models: Models) -> None:
    environment = models.model(models.isolated, "Model2")["Properties"]["PrimaryContainer"]["Environment"]
    assert list(environment.items()) == [
        ("HF_HUB_OFFLINE", "1"),
        ("MMS_MAX_WORKERS", "1"),
        ("SAGEMAKER_PROGRAM", "inference.py"),
    ]


def test_no_environment_leaves_the_property_out(models: Models) -> None:
    assert "Environment" not in models.model(models.open, "Model")["Properties"]["PrimaryContainer"]


def test_uncompressed_prefix_is_read_through_model_data_source(models: Models) -> None:
    container = models.model(models.open, "Model")["Properties"]["PrimaryContainer"]
    assert "ModelDataUrl" not in container
    assert container["ModelDataSource"] == {
        "S3DataSource": {"CompressionType": "None", "S3DataType": "S3Prefix", "S3Uri": "s3://models-b/llm/"}
    }


def test_models_are_created_after_the_role_policy(models: Models) -> None:
    """SageMaker checks access to the image and the artifact when it creates the model."""
    for served, construct_ids in ((models.isolated, ("Model", "Model2")), (models.open, ("Model",))):
        policy = logical_id(served.execution_role.policy)
        for construct_id in construct_ids:
            assert models.model(served, construct_id)["DependsOn"] == [policy]


def test_served_model_without_an_image_is_a_programming_error() -> None:
    # GIVEN no image URI
    stack = bare_stack("NoImageCheck")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    # WHEN a served model is built THEN it is refused before anything is created
    with pytest.raises(ValueError, match="needs at least one image URI"):
        ServedModel(
            stack,
            "Served",
            artifact=ArtifactLocation(s3_uri="s3://models-b/minilm/model.tar.gz"),
            image_uris=[],
            logs=ModelLogs.of_endpoint("minilm-dev"),
            key=key,
        )
    assert not stack.node.find_child("Served").node.children
