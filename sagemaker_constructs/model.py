"""What every inference stack serves: the artifact, its execution role, and the SageMaker models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import aws_kms as kms
from constructs import Construct

from endpoint_configs.models import EnvironmentConfig, VpcConfig
from stacks.execution_role import ModelExecutionRole
from stacks.model_data import ArtifactLocation, ModelData
from stacks.sagemaker_model import SageMakerModel


class ServedModel(Construct):
    """One ``SageMakerModel`` per distinct container image (a GPU variant gets the GPU build), all
    reading the same artifact with one least-privilege execution role.

    Exposes ``model_data``, ``execution_role`` and ``model_names`` (model name by image URI).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        artifact: ArtifactLocation,
        image_uris: Sequence[str],
        endpoint_name: str,
        key: kms.IKey,
        environment: Mapping[str, str],
        network_isolation: bool,
        vpc: VpcConfig | None,
    ) -> None:
        super().__init__(scope, construct_id)
        distinct = list(dict.fromkeys(image_uris))
        self.model_data = ModelData(self, "ModelData", location=artifact)
        self.execution_role = ModelExecutionRole(
            self,
            "ExecutionRole",
            model_data=self.model_data,
            image_uris=distinct,
            endpoint_name=endpoint_name,
            key=key,
            in_vpc=vpc is not None,
        )
        self.model_names: dict[str, str] = {}
        for index, uri in enumerate(distinct):
            model = SageMakerModel(
                self,
                "Model" if index == 0 else f"Model{index + 1}",
                image_uri=uri,
                model_data=self.model_data,
                role=self.execution_role.role,
                environment=environment,
                network_isolation=network_isolation,
                subnet_ids=vpc.subnet_ids if vpc else (),
                security_group_ids=vpc.security_group_ids if vpc else (),
            )
            # SageMaker checks image and artifact access when the model is created.
            model.node.add_dependency(self.execution_role.policy)
            self.model_names[uri] = model.model_name

    @classmethod
    def for_endpoint(
        cls,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        endpoint_type: str,
        artifact: ArtifactLocation,
        image_uris: Sequence[str],
        key: kms.IKey,
    ) -> ServedModel:
        """The served model of one endpoint block: its name, the model's environment, and the
        block's network settings (validation keeps VPC and isolation off for serverless)."""
        return cls(
            scope,
            construct_id,
            artifact=artifact,
            image_uris=image_uris,
            endpoint_name=config.endpoint_name(endpoint_type),
            key=key,
            environment=config.model.environment,
            network_isolation=config.network_isolation(endpoint_type),
            vpc=config.model.vpc,
        )
