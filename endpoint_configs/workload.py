"""What every workload block has, whatever its kind: the ``type`` that names the kind, network
isolation, the instance types it runs on, and the checks that need the built artifact.

A workload kind is one module defining a subclass of ``WorkloadBlock`` (and, for endpoints, of
``EndpointSettings``) with ``type: Literal["<kind>"]``; ``endpoint_configs.environment`` lists the
blocks once in ``WORKLOAD_BLOCKS`` and the stacks' registry pairs each block with its stack.
"""

from __future__ import annotations

import typing
from typing import ClassVar

from pydantic import Field, model_validator

from endpoint_configs.common import SageMakerName, StrictModel
from endpoint_configs.errors import Problem
from endpoint_configs.guardrails import DeploymentGuardrails
from endpoint_configs.monitoring import EndpointAlarms


class WorkloadBlock(StrictModel):
    """Base of every workload block (one per kind in an environment's ``endpoints`` list)."""

    MAX_PAYLOAD_MB: ClassVar[int]
    """The request payload limit of the kind, from ``limits``."""
    VPC_UNSUPPORTED: ClassVar[str | None] = None
    """Why the kind cannot run in a VPC (with an AWS doc link), or None when it can."""
    NETWORK_ISOLATION_UNSUPPORTED: ClassVar[str | None] = None
    """Why the kind cannot isolate the container from the network, or None when it can."""

    type: str
    network_isolation: bool | None = Field(
        default=None,
        description="Overrides model.network_isolation. Default: the model's.",
    )

    @classmethod
    def kind(cls) -> str:
        """The kind's name: the value of the block's ``type`` literal, e.g. ``realtime``."""
        (name,) = typing.get_args(cls.model_fields["type"].annotation)
        return str(name)

    def instance_type_fields(self) -> dict[str, str]:
        """The block's instance type fields (path inside the block -> instance type); none for
        serverless."""
        return {}

    def instance_types(self) -> list[str]:
        """The ML instance types the workload runs on (none for serverless)."""
        return list(self.instance_type_fields().values())

    def image_instance_types(self) -> list[str]:
        """The instance types whose container build (CPU or GPU) the workload needs."""
        return self.instance_types()

    def memory_problems(self, required_mb: int, *, path: str) -> list[Problem]:
        """Problems serving a model that needs ``required_mb`` MB (manifest estimate); ``path`` is
        the block's field path for messages. Instance-backed kinds have none yet."""
        del required_mb, path
        return []


class EndpointSettings(WorkloadBlock):
    """What every endpoint block has: its name, how updates roll out, and network isolation."""

    endpoint_name: SageMakerName | None = Field(
        default=None,
        description="Default: <project>-<env>-<type> (clients call the endpoint by name).",
    )
    deployment: DeploymentGuardrails | None = Field(
        default=None,
        description="Update guardrails (serverless: blue/green only). Default: the service's "
        "blue/green, all at once, no alarms.",
    )
    alarms: EndpointAlarms = Field(
        default_factory=EndpointAlarms,
        description="Error, latency and waste alarms to the alarm topic; the deployment rolls back "
        "on the error and latency ones. Default: 5xx above 0 a minute, p99 above 1000 ms.",
    )

    @model_validator(mode="after")
    def _rollback_alarms_exist(self) -> EndpointSettings:
        if self.deployment is None:
            return self
        switched_off = {
            "errors": ("max_5xx_errors_per_minute", self.alarms.max_5xx_errors_per_minute),
            "latency": ("latency", self.alarms.latency),
        }
        for name in self.deployment.rollback_alarms.endpoint_alarms:
            field, value = switched_off[name]
            if value is None:
                raise ValueError(
                    f"deployment.rollback_alarms.endpoint_alarms lists {name!r} but alarms.{field} "
                    f"is null (off); set alarms.{field} or leave {name!r} out"
                )
        return self
