"""The real-time workload stack: instance variants, data capture, autoscaling per variant."""

from __future__ import annotations

from typing import Any

from constructs import Construct

from endpoint_configs import RealtimeEndpoint
from sagemaker_constructs.dashboard import WorkloadDashboard
from sagemaker_constructs.scaling import INSTANCE_COUNT, VariantScaling
from stacks import props
from stacks.workload_stack import EndpointStack


class RealtimeInferenceStack(EndpointStack[RealtimeEndpoint]):
    """A real-time endpoint with the block's variants (each on its image build), data capture to
    the environment's bucket, and a scalable target per variant with ``autoscaling``.
    Exposes ``endpoint``, ``autoscaling`` (by variant name) and ``dashboard`` besides the base's
    attributes.
    """

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        block = self.block
        model_names = {v.name: self.model_name_for(v.instance_type) for v in block.variants}
        capture = props.data_capture(block.data_capture)
        self.endpoint = self.add_endpoint(
            props.instance_variants(
                block.variants,
                model_names,
                load_timeouts=self.load_timeouts,
                volume_sizes=self.volume_sizes,
            ),
            capture_bucket=self.store.bucket,
            data_capture=capture,
        )
        if capture is not None:
            capture_policy = self.served.execution_role.grant_data_capture(
                bucket=self.store.bucket, prefix=capture.s3_prefix
            )
            # SageMaker checks that the role may write captures when it creates the endpoint.
            self.endpoint.endpoint.node.add_dependency(capture_policy)
        self.autoscaling = {
            variant.name: VariantScaling(
                self,
                f"Scaling-{variant.name}",
                endpoint_name=self.endpoint_name,
                variant_name=variant.name,
                endpoint=self.endpoint.endpoint,
                dimension=INSTANCE_COUNT,
                bounds=props.capacity_bounds(variant.autoscaling),
                target_value=variant.autoscaling.target_invocations_per_instance,
            )
            for variant in block.variants
            if variant.autoscaling is not None
        }
        self.dashboard = WorkloadDashboard.real_time(
            self,
            "Dashboard",
            dashboard_name=self.stack_name,
            endpoint_name=self.endpoint_name,
            variant_names=self.endpoint.variant_names,
            alarms=self.watched_alarms(),
        )
