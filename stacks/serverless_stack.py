"""The serverless inference stack: served model, serverless endpoint, provisioned concurrency scaling."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from endpoint_configs.images import SERVERLESS_IMAGE_INSTANCE_TYPE, image_uri
from endpoint_configs.models import EnvironmentConfig, ServerlessEndpoint
from stacks.inference_endpoint import InferenceEndpoint, serverless_variant
from stacks.model_data import ArtifactLocation
from stacks.served_model import ServedModel
from stacks.stateful import ImportedModelStore, StoreExports
from stacks.variant_autoscaling import PROVISIONED_CONCURRENCY, VariantScaling


class ServerlessInferenceStack(cdk.Stack):
    """Wires the serverless constructs for one environment to its stateful stack's exports.

    The model runs the CPU build of its image, without VPC or network isolation (serverless
    supports neither). With ``provisioned_concurrency_scaling`` the provisioned concurrency is a
    scalable target. Exposes ``served``, ``endpoint`` and ``autoscaling`` (or None).
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
        block = config.block(ServerlessEndpoint)
        endpoint_name = config.endpoint_name("serverless")
        image = image_uri(
            config.model.image, region=config.region, instance_type=SERVERLESS_IMAGE_INSTANCE_TYPE
        )
        self.served = ServedModel.for_endpoint(
            self,
            "Served",
            config=config,
            endpoint_type="serverless",
            artifact=artifact,
            image_uris=[image],
            key=store.key,
        )
        self.endpoint = InferenceEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            production_variants=[serverless_variant(block, self.served.model_names[image])],
            key=store.key,
            deployment=block.deployment,
            alarm_topic=store.alarm_topic,
        )
        self.served.execution_role.grant_describe_alarms(self.endpoint.rollback_alarms)
        scaling = block.provisioned_concurrency_scaling
        self.autoscaling = (
            VariantScaling(
                self,
                f"Scaling-{block.variant_name}",
                endpoint_name=endpoint_name,
                variant_name=block.variant_name,
                endpoint=self.endpoint.endpoint,
                dimension=PROVISIONED_CONCURRENCY,
                scaling=scaling,
                target_value=scaling.target_utilization,
            )
            if scaling is not None
            else None
        )
        cdk.CfnOutput(self, "EndpointName", value=endpoint_name, description="Invoke this endpoint by name")
