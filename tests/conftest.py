"""Shared test kit: synthesize the real app (with cdk.json's context) once per test module."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

# Before the first aws_cdk import starts the jsii runtime.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from aws_cdk import assertions

import app as cdk_app
from endpoint_configs import (
    EndpointSettings,
    EnvironmentConfig,
    WorkloadBlock,
    available_environments,
    load_environment_config,
)

REPO = Path(__file__).resolve().parents[1]
Block = TypeVar("Block", bound=WorkloadBlock)


def block_of(config: EnvironmentConfig, block_class: type[Block]) -> Block:
    """The environment's block of ``block_class``, typed (fails the test when it has none)."""
    block = config.workload(block_class.kind())
    assert isinstance(block, block_class)
    return block


def endpoint_block(config: EnvironmentConfig, kind: str) -> EndpointSettings:
    """The environment's endpoint block of ``kind``."""
    block = config.workload(kind)
    assert isinstance(block, EndpointSettings)
    return block


ENVIRONMENTS = tuple(available_environments())
"""Every shipped environment file."""
TARGETS = tuple(
    (env, endpoint_type)
    for env in ENVIRONMENTS
    for endpoint_type in load_environment_config(env).offered_endpoint_types
)
"""Every (environment, endpoint type) the shipped configs offer."""
ENDPOINT_TARGETS = tuple(
    (env, kind)
    for env, kind in TARGETS
    if isinstance(load_environment_config(env).workload(kind), EndpointSettings)
)
"""The targets whose workload is an endpoint (not a job)."""


@dataclass
class SynthesizedEnvironment:
    """One environment synthesized through ``app.build_app``, as the cdk CLI would."""

    env: str
    endpoint_type: str
    app: cdk.App
    assembly: cdk.cx_api.CloudAssembly
    outdir: Path

    def stack(self, purpose: str) -> cdk.Stack:
        for child in self.app.node.children:
            if isinstance(child, cdk.Stack) and child.stack_name.endswith(f"-{self.env}-{purpose}"):
                return child
        raise KeyError(purpose)

    def template(self, purpose: str) -> assertions.Template:
        return assertions.Template.from_stack(self.stack(purpose))

    def template_json(self, purpose: str) -> dict[str, Any]:
        name = self.stack(purpose).stack_name
        data: dict[str, Any] = json.loads((self.outdir / f"{name}.template.json").read_text())
        return data


def synthesize(env: str, outdir: Path, endpoint_type: str = "default") -> SynthesizedEnvironment:
    context = {**cdk_app.cdk_json_context(), "env": env, "endpoint_type": endpoint_type}
    app = cdk.App(context=context, outdir=str(outdir))
    cdk_app.build_app(app)
    assembly = app.synth()
    config = load_environment_config(env)
    chosen = config.default_endpoint_type if endpoint_type == "default" else endpoint_type
    return SynthesizedEnvironment(env=env, endpoint_type=chosen, app=app, assembly=assembly, outdir=outdir)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SynthesizedEnvironment]:
    """Every environment with its default (real-time) endpoint, synthesized once per module."""
    return {env: synthesize(env, tmp_path_factory.mktemp(f"cdk-{env}")) for env in ENVIRONMENTS}


@pytest.fixture(scope="module")
def synthesized_targets(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], SynthesizedEnvironment]:
    """Every (environment, endpoint type) the configs offer, synthesized once per module."""
    return {
        (env, kind): synthesize(env, tmp_path_factory.mktemp(f"cdk-{env}-{kind}"), kind)
        for env, kind in TARGETS
    }
