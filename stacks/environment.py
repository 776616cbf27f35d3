"""Compose one environment's stacks: the stateful stack and the chosen inference stack."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk

from endpoint_configs.models import EnvironmentConfig
from stacks.compliance import add_rule_packs
from stacks.realtime_stack import RealtimeInferenceStack
from stacks.stateful import StatefulStack

INFERENCE_STACKS: dict[str, type[RealtimeInferenceStack]] = {"realtime": RealtimeInferenceStack}


@dataclass(frozen=True)
class EnvironmentStacks:
    """What ``add_environment`` created."""

    stateful: StatefulStack
    inference: cdk.Stack


def add_environment(app: cdk.App, config: EnvironmentConfig, endpoint_type: str) -> EnvironmentStacks:
    """Add ``<project>-<env>-stateful`` and ``<project>-<env>-<endpoint_type>`` to ``app``.

    Tags every resource with the config's tags plus project and environment, and runs the
    cdk-nag packs on the whole app.
    """
    environment = cdk.Environment(account=config.account, region=config.region)
    stateful = StatefulStack(
        app,
        config.stack_name("stateful"),
        config=config.stateful,
        env=environment,
        description=f"{config.project} {config.environment}: KMS key, artifact bucket, alarm topic",
        termination_protection=config.environment == "prod",
    )
    inference = INFERENCE_STACKS[endpoint_type](
        app,
        config.stack_name(endpoint_type),
        config=config,
        store_exports=stateful.exports,
        env=environment,
        description=f"{config.project} {config.environment}: {endpoint_type} SageMaker inference",
    )
    inference.add_stack_dependency(stateful)
    for key, value in {"project": config.project, "environment": config.environment, **config.tags}.items():
        cdk.Tags.of(stateful).add(key, value)
        cdk.Tags.of(inference).add(key, value)
    add_rule_packs(app)
    return EnvironmentStacks(stateful=stateful, inference=inference)
