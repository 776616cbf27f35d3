"""The registry of workload kinds: for each, its config block, its stack, and how it is invoked.

``app.py`` picks the stack from here, and the local AWS the way to call what was deployed. The
config side lists the same blocks in ``endpoint_configs.WORKLOAD_BLOCKS`` (the configuration is
pure Python and cannot import the stacks); importing this module checks that the two agree.

Adding a kind: a config module with its block (added to ``WORKLOAD_BLOCKS``), a stack module, and
one entry here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from endpoint_configs import (
    WORKLOAD_BLOCKS,
    AsyncEndpoint,
    BatchTransform,
    RealtimeEndpoint,
    ServerlessEndpoint,
    WorkloadBlock,
)
from stacks.async_stack import AsyncInferenceStack
from stacks.batch_stack import BatchTransformStack
from stacks.realtime_stack import RealtimeInferenceStack
from stacks.serverless_stack import ServerlessInferenceStack
from stacks.workload_stack import WorkloadStack


class Invocation(enum.Enum):
    """How clients call a deployed workload."""

    SYNCHRONOUS = "InvokeEndpoint with the request in the body"
    ASYNCHRONOUS = "the request uploaded to S3, then InvokeEndpointAsync; the result appears in S3"
    JOB = "a job started on a schedule, on new input, or by hand"


@dataclass(frozen=True)
class WorkloadKind:
    """One kind of workload: its config block class, its stack class and how it is invoked."""

    block: type[WorkloadBlock]
    stack: type[WorkloadStack[Any]]
    invocation: Invocation

    @property
    def name(self) -> str:
        return self.block.kind()


WORKLOAD_KINDS: dict[str, WorkloadKind] = {
    kind.name: kind
    for kind in (
        WorkloadKind(RealtimeEndpoint, RealtimeInferenceStack, Invocation.SYNCHRONOUS),
        WorkloadKind(ServerlessEndpoint, ServerlessInferenceStack, Invocation.SYNCHRONOUS),
        WorkloadKind(AsyncEndpoint, AsyncInferenceStack, Invocation.ASYNCHRONOUS),
        WorkloadKind(BatchTransform, BatchTransformStack, Invocation.JOB),
    )
}

if tuple(kind.block for kind in WORKLOAD_KINDS.values()) != WORKLOAD_BLOCKS:
    raise ImportError(
        "stacks.registry.WORKLOAD_KINDS and endpoint_configs.WORKLOAD_BLOCKS list different blocks: "
        "give every config block one registry entry, in the same order"
    )
