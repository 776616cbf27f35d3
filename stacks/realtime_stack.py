"""The real-time inference stack: served model, endpoint with instance variants, autoscaling."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from endpoint_configs.images import image_uri
from endpoint_configs.models import EnvironmentConfig, RealtimeEndpoint
from stacks.inference_endpoint import InferenceEndpoint, instance_variants, storage_key_rejection
from stacks.model_data import ArtifactLocation
from stacks.served_model import ServedModel
from stacks.stateful import ImportedModelStore, StoreExports
from stacks.variant_autoscaling import INSTANCE_COUNT, VariantScaling


class RealtimeInferenceStack(cdk.Stack):
    """Wires the real-time constructs for one environment to its stateful stack's exports.

    Every variant with an ``autoscaling`` block gets its own scalable target.
    Exposes ``served``, ``endpoint`` and ``autoscaling`` (by variant name).
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
        block = config.block(RealtimeEndpoint)
        endpoint_name = config.endpoint_name("realtime")
        images = {
            v.name: image_uri(config.model.image, region=config.region, instance_type=v.instance_type)
            for v in block.variants
        }
        self.served = ServedModel.for_endpoint(
            self,
            "Served",
            config=config,
            endpoint_type="realtime",
            artifact=artifact,
            image_uris=list(images.values()),
            key=store.key,
        )
        model_names = {name: self.served.model_names[uri] for name, uri in images.items()}
        self.endpoint = InferenceEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            production_variants=instance_variants(block.variants, model_names),
            key=store.key,
            key_rejected_because=storage_key_rejection(block.variants),
            capture_bucket=store.bucket,
            data_capture=block.data_capture,
            deployment=block.deployment,
            alarm_topic=store.alarm_topic,
        )
        role = self.served.execution_role
        if block.data_capture is not None:
            capture_policy = role.grant_data_capture(bucket=store.bucket, prefix=block.data_capture.s3_prefix)
            # SageMaker checks that the role may write captures when it creates the endpoint.
            self.endpoint.endpoint.node.add_dependency(capture_policy)
        role.grant_describe_alarms(self.endpoint.rollback_alarms)

        self.autoscaling = {
            variant.name: VariantScaling(
                self,
                f"Scaling-{variant.name}",
                endpoint_name=endpoint_name,
                variant_name=variant.name,
                endpoint=self.endpoint.endpoint,
                dimension=INSTANCE_COUNT,
                scaling=variant.autoscaling,
                target_value=variant.autoscaling.target_invocations_per_instance,
            )
            for variant in block.variants
            if variant.autoscaling is not None
        }
        cdk.CfnOutput(self, "EndpointName", value=endpoint_name, description="Invoke this endpoint by name")
