"""The serverless workload stack: one serverless variant, provisioned-concurrency scaling."""

from __future__ import annotations

from typing import Any

from constructs import Construct

from endpoint_configs import ServerlessEndpoint
from sagemaker_constructs.dashboard import WorkloadDashboard
from sagemaker_constructs.scaling import PROVISIONED_CONCURRENCY, VariantScaling
from stacks import props
from stacks.workload_stack import EndpointStack


class ServerlessInferenceStack(EndpointStack[ServerlessEndpoint]):
    """A serverless endpoint running the CPU build of the image (validation keeps VPC and network
    isolation off). With ``provisioned_concurrency_scaling`` the provisioned concurrency is a
    scalable target. Exposes ``endpoint``, ``autoscaling`` (or None) and
    ``dashboard`` besides the base's.
    """

    IDLE_INSTANCES_BILL = False  # billed per request

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        block = self.block
        (image_type,) = block.image_instance_types()
        self.endpoint = self.add_endpoint([props.serverless_variant(block, self.model_name_for(image_type))])
        self.dashboard = WorkloadDashboard.serverless(
            self,
            "Dashboard",
            dashboard_name=self.stack_name,
            endpoint_name=self.endpoint_name,
            variant_names=self.endpoint.variant_names,
            alarms=self.watched_alarms(),
            provisioned_concurrency=block.provisioned_concurrency is not None,
        )
        scaling = block.provisioned_concurrency_scaling
        self.autoscaling = (
            VariantScaling(
                self,
                f"Scaling-{block.variant_name}",
                endpoint_name=self.endpoint_name,
                variant_name=block.variant_name,
                endpoint=self.endpoint.endpoint,
                dimension=PROVISIONED_CONCURRENCY,
                bounds=props.capacity_bounds(scaling),
                target_value=scaling.target_utilization,
            )
            if scaling is not None
            else None
        )
