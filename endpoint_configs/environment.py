"""One deployment environment: ``endpoint_configs/<env>.yaml`` as an ``EnvironmentConfig``.

``WORKLOAD_BLOCKS`` lists the workload kinds' config blocks once; the ``endpoints`` union, the
kind names and the per-kind checks all derive from it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from endpoint_configs import naming
from endpoint_configs.async_inference import AsyncEndpoint
from endpoint_configs.batch import BatchTransform
from endpoint_configs.common import ProjectName, RegionName, StrictModel
from endpoint_configs.cost import BudgetConfig, TrafficProfile
from endpoint_configs.model import ModelConfig
from endpoint_configs.monitoring import IdleGuard
from endpoint_configs.realtime import RealtimeEndpoint
from endpoint_configs.serverless import ServerlessEndpoint
from endpoint_configs.workload import EndpointSettings, WorkloadBlock

WORKLOAD_BLOCKS: tuple[type[WorkloadBlock], ...] = (
    RealtimeEndpoint,
    ServerlessEndpoint,
    AsyncEndpoint,
    BatchTransform,
)
"""Every workload kind's config block; the stacks' registry pairs each with its stack."""

WORKLOAD_KINDS: tuple[str, ...] = tuple(block.kind() for block in WORKLOAD_BLOCKS)
"""The kinds' names, as ``type:`` in a block and ``-c endpoint_type=`` on the command line."""

if TYPE_CHECKING:
    EndpointBlock = WorkloadBlock
else:
    EndpointBlock = Annotated[Union[WORKLOAD_BLOCKS], Field(discriminator="type")]  # noqa: UP007

REQUIRED_TAGS: tuple[str, ...] = ("cost-center",)


def _check_environment_name(value: str) -> str:
    if not re.fullmatch(r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?", value):
        raise ValueError(
            "allowed: lowercase letters, digits and hyphens, 1-16 characters, starting with a letter "
            "and not ending with a hyphen (it becomes part of stack and endpoint names), e.g. eu-prod"
        )
    return value


EnvironmentName = Annotated[str, AfterValidator(_check_environment_name)]


class StatefulConfig(StrictModel):
    """Resources that outlive endpoint replacement: KMS key, buckets, alarm topic."""

    retain_on_delete: bool = Field(
        default=True, description="Keep key, buckets and topic when the stack is deleted. Default: true."
    )
    termination_protection: bool = Field(
        default=True,
        description="CloudFormation refuses to delete the stateful stack until this is turned off. "
        "Default: true.",
    )
    noncurrent_version_expiration_days: int = Field(
        default=30, ge=1, le=3650, description="Delete old object versions after, 1-3650. Default: 30."
    )
    access_log_expiration_days: int = Field(
        default=90, ge=1, le=3650, description="Delete access logs after, 1-3650. Default: 90."
    )
    alarm_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list, max_length=10, description="Subscribed to the alarm topic. Default: none."
    )


PRODUCTION_NAME = re.compile(r"(^|-)prod(uction)?($|-)")


def is_production_name(environment: str) -> bool:
    """Whether an environment's name marks it as production (prod, production, eu-prod, prod-2)."""
    return bool(PRODUCTION_NAME.search(environment))


class EnvironmentConfig(StrictModel):
    """One deployment environment (dev, staging, prod, qa, eu-prod ...): the model, the stateful
    resources, one block per workload kind it offers, and tags."""

    project: ProjectName = Field(
        description="Lowercase letters, digits and hyphens, 3-32 characters; stacks are "
        "<project>-<env>-<purpose>.",
    )
    environment: EnvironmentName = Field(
        description="Lowercase letters, digits and hyphens, 1-16 characters, starting with a letter; "
        "must match the file name.",
    )
    account: str | None = Field(
        default=None, pattern=r"^\d{12}$", description="12-digit account. Default: the CLI's."
    )
    region: RegionName = Field(description="AWS region where SageMaker runs, e.g. us-east-1.")
    tags: dict[
        Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.:/=+@ -]+$")],
        Annotated[str, Field(max_length=256, pattern=r"^[\w.:/=+@ -]*$")],
    ] = Field(description="Tags on every resource; must include cost-center.")
    model: ModelConfig
    stateful: StatefulConfig = Field(default_factory=StatefulConfig)
    default_endpoint_type: str = Field(description="Used when -c endpoint_type is not given.")
    endpoints: list[EndpointBlock] = Field(
        min_length=1, description="One block per workload kind this environment offers."
    )
    traffic: TrafficProfile | None = Field(
        default=None,
        description="The expected workload: the cost advisor's input and synth's cost estimate. "
        "Default: none (no estimate, no budget guard).",
    )
    budget: BudgetConfig | None = Field(
        default=None,
        description="A monthly AWS Budgets budget on the environment's tags, with alerts. Default: none.",
    )
    idle_guard: IdleGuard | None = Field(
        default=None,
        description="Report or delete an endpoint with no invocations for idle_hours. Default: none.",
    )

    @field_validator("idle_guard")
    @classmethod
    def _no_deletes_in_production(cls, guard: IdleGuard | None, info: ValidationInfo) -> IdleGuard | None:
        name = str(info.data.get("environment", ""))
        deletes = guard is not None and guard.action == "delete" and not guard.allow_delete_in_production
        if deletes and is_production_name(name):
            raise ValueError(
                f"action 'delete' in production environment '{name}' would take its endpoint down "
                "when traffic pauses; use action: notify, or set allow_delete_in_production: true"
            )
        return guard

    @property
    def is_production(self) -> bool:
        """``prod``, ``production`` and names with them as a hyphenated part (``eu-prod``)."""
        return is_production_name(self.environment)

    @model_validator(mode="after")
    def _consistent(self) -> EnvironmentConfig:
        missing = [t for t in REQUIRED_TAGS if t not in self.tags]
        if missing:
            raise ValueError(f"tags must include {', '.join(missing)} (cost allocation)")
        types = [e.type for e in self.endpoints]
        duplicates = sorted({t for t in types if types.count(t) > 1})
        if duplicates:
            raise ValueError(f"one block per endpoint type; repeated: {', '.join(duplicates)}")
        if self.default_endpoint_type not in types:
            raise ValueError(
                f"default_endpoint_type '{self.default_endpoint_type}' has no block in 'endpoints'; "
                f"allowed: {', '.join(types)}"
            )
        for block in self.endpoints:
            if self.model.vpc is not None and block.VPC_UNSUPPORTED:
                raise ValueError(f"model.vpc is set, but {block.type} endpoints cannot run in a VPC")
            if self.network_isolation(block) and block.NETWORK_ISOLATION_UNSUPPORTED:
                raise ValueError(
                    f"{block.type} endpoints do not support network isolation: set network_isolation: "
                    f"false in the {block.type} block (model.network_isolation is true)"
                )
        return self

    def network_isolation(self, block: WorkloadBlock) -> bool:
        """The block's own setting, or the model's."""
        return self.model.network_isolation if block.network_isolation is None else block.network_isolation

    @property
    def offered_endpoint_types(self) -> tuple[str, ...]:
        return tuple(e.type for e in self.endpoints)

    def workload(self, kind: str) -> WorkloadBlock:
        """The block of workload ``kind`` (``KeyError`` when the environment does not offer it)."""
        for block in self.endpoints:
            if block.type == kind:
                return block
        raise KeyError(kind)

    def workload_path(self, kind: str) -> str:
        """The block's field path in messages, e.g. ``endpoints[1]``."""
        return f"endpoints[{self.offered_endpoint_types.index(kind)}]"

    def endpoint_name(self, kind: str) -> str:
        """The configured endpoint name, or ``<project>-<env>-<kind>`` (at most 59 characters, so
        always a valid SageMaker name)."""
        block = self.workload(kind)
        own = block.endpoint_name if isinstance(block, EndpointSettings) else None
        return own or self.stack_name(kind)

    def stack_name(self, purpose: str) -> str:
        return naming.stack_name(self.project, self.environment, purpose)

    @property
    def stateful_exports(self) -> naming.StatefulExports:
        return naming.StatefulExports.of(self.stack_name(naming.STATEFUL_PURPOSE))
