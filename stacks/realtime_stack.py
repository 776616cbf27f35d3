"""The real-time inference stack: execution role, models, endpoint, per-variant autoscaling."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from endpoint_configs.images import image_uri
from endpoint_configs.models import EnvironmentConfig
from stacks.execution_role import ModelExecutionRole
from stacks.model_data import ArtifactLocation, ModelData
from stacks.realtime_endpoint import RealtimeEndpoint
from stacks.sagemaker_model import SageMakerModel
from stacks.stateful import ImportedModelStore, StoreExports
from stacks.variant_autoscaling import InstanceVariantAutoscaling


class RealtimeInferenceStack(cdk.Stack):
    """Wires the real-time constructs for one environment to its stateful stack's exports.

    One model per distinct container image (a GPU variant gets the GPU build of the framework
    image); every variant with an ``autoscaling`` block gets its own scalable target.
    Exposes ``model_data``, ``execution_role``, ``models``, ``endpoint`` and ``autoscaling`` (by
    variant name).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        store_exports: StoreExports,
        artifact: ArtifactLocation,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        store = ImportedModelStore(self, "Store", exports=store_exports)
        block = config.endpoint("realtime")
        endpoint_name = config.endpoint_name("realtime")
        images = {
            v.name: image_uri(config.model.image, region=config.region, instance_type=v.instance_type)
            for v in block.variants
        }
        distinct_images = list(dict.fromkeys(images.values()))
        vpc = config.model.vpc

        self.model_data = ModelData(self, "ModelData", location=artifact)
        self.execution_role = ModelExecutionRole(
            self,
            "ExecutionRole",
            model_data=self.model_data,
            image_uris=distinct_images,
            endpoint_name=endpoint_name,
            key=store.key,
            in_vpc=vpc is not None,
        )
        self.models = [
            SageMakerModel(
                self,
                "Model" if index == 0 else f"Model{index + 1}",
                image_uri=uri,
                model_data=self.model_data,
                role=self.execution_role.role,
                environment=config.model.environment,
                network_isolation=config.model.network_isolation,
                subnet_ids=vpc.subnet_ids if vpc else (),
                security_group_ids=vpc.security_group_ids if vpc else (),
            )
            for index, uri in enumerate(distinct_images)
        ]
        for model in self.models:
            # SageMaker checks image and artifact access when the model is created.
            model.node.add_dependency(self.execution_role.policy)
        model_by_image = dict(zip(distinct_images, self.models, strict=True))
        self.endpoint = RealtimeEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            variants=block.variants,
            model_names={name: model_by_image[uri].model_name for name, uri in images.items()},
            key=store.key,
            capture_bucket=store.bucket,
            data_capture=block.data_capture,
            deployment=block.deployment,
            alarm_topic=store.alarm_topic,
        )
        if block.data_capture is not None:
            capture_policy = self.execution_role.grant_data_capture(
                bucket=store.bucket, prefix=block.data_capture.s3_prefix
            )
            # SageMaker checks that the role may write captures when it creates the endpoint.
            self.endpoint.endpoint.node.add_dependency(capture_policy)
        self.execution_role.grant_describe_alarms(self.endpoint.rollback_alarms)

        self.autoscaling = {
            variant.name: InstanceVariantAutoscaling(
                self,
                f"Scaling-{variant.name}",
                endpoint_name=endpoint_name,
                variant_name=variant.name,
                scaling=variant.autoscaling,
                endpoint=self.endpoint.endpoint,
            )
            for variant in block.variants
            if variant.autoscaling is not None
        }
        cdk.CfnOutput(self, "EndpointName", value=endpoint_name, description="Invoke this endpoint by name")
