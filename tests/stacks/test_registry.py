"""The registry of workload kinds: one entry per config block, each with its stack and invocation."""

from __future__ import annotations

import pytest

from endpoint_configs import WORKLOAD_BLOCKS, WORKLOAD_KINDS
from stacks.registry import WORKLOAD_KINDS as REGISTRY
from stacks.registry import Invocation
from stacks.workload_stack import WorkloadStack


def test_every_config_block_has_one_registry_entry_in_the_same_order() -> None:
    assert tuple(kind.block for kind in REGISTRY.values()) == WORKLOAD_BLOCKS
    assert tuple(REGISTRY) == WORKLOAD_KINDS


@pytest.mark.parametrize("name", WORKLOAD_KINDS)
def test_entry_is_named_after_its_blocks_type(name: str) -> None:
    kind = REGISTRY[name]
    assert kind.name == name == kind.block.kind()
    assert issubclass(kind.stack, WorkloadStack)


def test_invocation_of_each_kind() -> None:
    assert {name: kind.invocation for name, kind in REGISTRY.items()} == {
        "realtime": Invocation.SYNCHRONOUS,
        "serverless": Invocation.SYNCHRONOUS,
        "async": Invocation.ASYNCHRONOUS,
        "batch": Invocation.JOB,
    }
